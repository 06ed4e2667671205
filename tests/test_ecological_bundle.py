"""The bundled LLM-generated (ecological) task set and the zoo model trained on it agree with each other and
with what the README and DATA.md promise."""

import json
from importlib import resources
from pathlib import Path

import pandas as pd
import torch

from mlcog.models.checkpoint import read_metadata
from mlcog.models.zoo import load_model, resolve
from mlcog.tasks.priors import FilePrior, read_task_file
from mlcog.train.category import evaluate

TASKS = Path(str(resources.files("mlcog") / "data" / "files" / "tasks"))
CSV = TASKS / "ecological_dim3.csv"


def test_bundled_set_has_the_promised_size_and_its_sidecar_matches():
    xs, ys, report = read_task_file(CSV, n_features=3)
    sidecar = json.loads((TASKS / "ecological_dim3.csv.json").read_text())
    # The floor: at least 1,000 three-feature tasks, every one usable by the file prior.
    assert report.n_kept >= 1000
    assert report.n_kept == report.n_tasks == sidecar["tasks_kept"]
    assert sum(report.excluded.values()) == 0
    assert report.n_rows == sidecar["rows_kept"]
    # Provenance travels with the data: prompt version and template, backend, rejections by reason.
    assert sidecar["prompt_version"] == sidecar["templates"]["version"]
    assert sidecar["backend"]["backend"] == "local" and sidecar["config"]["dims"] == 3
    assert sidecar["tasks_rejected"]["too few rows"] >= 0
    assert all(len(set(y.tolist())) == 2 and x.shape[1] == 3 for x, y in zip(xs, ys, strict=True))


def test_bundled_statistics_describe_the_bundled_set():
    stats = pd.read_csv(TASKS / "ecological_dim3_stats.csv").set_index("source")
    _, _, report = read_task_file(CSV, n_features=3)
    assert stats.loc["ecological_dim3", "tasks"] == report.n_kept
    assert {"real (CC18)", "prior: linear", "prior: mlp"} <= set(stats.index)


def test_zoo_model_was_trained_on_the_bundled_set_and_learns_its_held_out_tasks():
    meta = read_metadata(resolve("ecological-dim3"))
    assert meta["train_config"]["prior"] == "file"
    assert Path(meta["train_config"]["tasks_file"]).name == CSV.name
    model = load_model("ecological-dim3")
    prior = FilePrior(3, CSV, seed=meta["train_config"]["seed"])
    episodes = prior.sample(128, 40, torch.Generator().manual_seed(0), split="test")
    # Held-out generated tasks (never trained on) are learned in context well above chance.
    assert evaluate(model, episodes)["val_acc"] > 0.75


def test_demo_report_puts_the_generated_statistics_next_to_real_and_synthetic(tmp_path):
    from mlcog.experiments.demo import DEMO_BADHAM_MODELS, DEMO_SHEPARD_MODELS, ecological_statistics
    from mlcog.report.html import Report

    report = Report("t")
    ecological_statistics(report)
    page = report.write(tmp_path / "index.html").read_text()
    for source in ("ecological_dim3", "real (CC18)", "prior: linear", "SmolLM2-135M"):
        assert source in page
    assert "ecological-dim3" in DEMO_SHEPARD_MODELS and "ecological-dim3" in DEMO_BADHAM_MODELS
