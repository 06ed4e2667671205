"""Meta-training: learning, exact resume (in process, after a crash, after SIGINT) and DDP under torchrun."""

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest
import torch
from conftest import tiny_config
from safetensors.torch import load_file

import mlcog.train.category as category
from mlcog.models import load_model
from mlcog.models.checkpoint import read_metadata
from mlcog.tasks.episodes import EpisodeOptions
from mlcog.train.category import TrainConfig, train_category
from mlcog.train.common import read_metrics

TINY_CLI = ["--prior", "linear", "--dims", "2", "--batch-size", "8", "--n-trials", "20", "--d-model", "16",
            "--n-heads", "2", "--n-layers", "1", "--d-ff", "32", "--device", "cpu", "--no-progress"]


def small_run(**overrides) -> TrainConfig:
    base = {"prior": "linear", "n_trials": 20, "batch_size": 8, "steps": 20, "log_every": 1, "eval_every": 5,
            "eval_tasks": 32, "checkpoint_every": 7, "device": "cpu",
            "model": tiny_config("decoder", n_features=2, n_layers=1, dropout=0.1)}  # dropout: RNG must resume
    return TrainConfig(**{**base, **overrides})


def comparable(rows):
    """Metrics without the wall-clock rate, which legitimately differs between runs."""
    return [{k: v for k, v in r.items() if k != "steps_per_s"} for r in rows]


def cli(*args, timeout=120):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env)


# -- learning -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("arch, prior, lr, steps, normalize", [
    # A tiny LSTM picks up the linear prior within 200 steps when stimuli keep the origin (normalize off);
    # with per-task min-max scaling the boundary's offset changes per task and takes far longer to learn.
    ("lstm", "linear", 1e-2, 200, False),
    ("decoder", "rmc", 1e-3, 150, True),
])
def test_tiny_run_lowers_validation_loss(tmp_path, arch, prior, lr, steps, normalize):
    cfg = TrainConfig(prior=prior, n_trials=30, batch_size=32, steps=steps, lr=lr, eval_every=10,
                      eval_tasks=128, checkpoint_every=1000, device="cpu",
                      episodes=EpisodeOptions(normalize=normalize), model=tiny_config(arch, n_features=2))
    summary = train_category(cfg, tmp_path, progress=False)
    assert summary["step"] == steps and not summary["interrupted"]
    val = [r["val_loss"] for r in read_metrics(tmp_path) if "val_loss" in r]
    assert len(val) == steps // 10
    assert val[-1] < val[0] - 0.07, val
    assert summary["val_acc"] > 0.65
    model = load_model(tmp_path)  # a run directory resolves to its model.safetensors
    assert model.config == cfg.model and read_metadata(tmp_path / "model.safetensors")["step"] == steps


# -- resume ---------------------------------------------------------------------------------------------------
def test_resume_continues_exactly(tmp_path):
    full, split = tmp_path / "full", tmp_path / "split"
    train_category(small_run(), full, progress=False)
    train_category(small_run(steps=10), split, progress=False)
    assert read_metadata(split / "checkpoint.safetensors")["step"] == 10
    train_category(small_run(), split, resume=True, progress=False)
    a, b = read_metrics(full), read_metrics(split)
    assert [r["train_loss"] for r in a if "train_loss" in r] == [r["train_loss"] for r in b if "train_loss" in r]
    assert comparable(a) == comparable(b)
    wa, wb = load_file(str(full / "model.safetensors")), load_file(str(split / "model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


class Crash(RuntimeError):
    pass


def test_resume_after_a_crash_drops_the_unsaved_steps(tmp_path, monkeypatch):
    full, crashed = tmp_path / "full", tmp_path / "crashed"
    train_category(small_run(), full, progress=False)

    real_make_prior = category.make_prior

    def crashing_prior(*args, **kwargs):
        prior, calls = real_make_prior(*args, **kwargs), {"train": 0}
        sample = prior.sample

        def sample_then_crash(batch_size, n_trials, generator, split="train"):
            if split == "train":
                calls["train"] += 1
                if calls["train"] == 10:  # die while starting step 10: the last checkpoint is step 7
                    raise Crash
            return sample(batch_size, n_trials, generator, split)

        prior.sample = sample_then_crash
        return prior

    monkeypatch.setattr(category, "make_prior", crashing_prior)
    with pytest.raises(Crash):
        train_category(small_run(), crashed, progress=False)
    monkeypatch.undo()
    assert read_metadata(crashed / "checkpoint.safetensors")["step"] == 7
    assert read_metrics(crashed)[-1]["step"] == 9  # steps 8 and 9 were logged but never checkpointed
    train_category(small_run(), crashed, resume=True, progress=False)
    assert comparable(read_metrics(full)) == comparable(read_metrics(crashed))


def test_resume_guards(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train_category(small_run(), tmp_path, resume=True, progress=False)
    train_category(small_run(steps=3), tmp_path, progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train_category(small_run(steps=3), tmp_path, progress=False)
    with pytest.raises(ValueError, match="only --steps may change"):
        train_category(small_run(steps=6, lr=1e-3), tmp_path, resume=True, progress=False)
    with pytest.raises(ValueError, match="max_len"):
        train_category(replace(small_run(), n_trials=2000), tmp_path / "long", progress=False)


# -- signals and processes -------------------------------------------------------------------------------------
def test_sigint_checkpoints_and_resume_finishes(tmp_path):
    out = tmp_path / "run"
    args = ["-m", "mlcog.cli", "train", "category", *TINY_CLI, "--out", str(out), "--steps", "300",
            "--checkpoint-every", "5", "--eval-every", "100"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    try:
        deadline = time.monotonic() + 90
        while not (out / "checkpoint.safetensors").exists():
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "no checkpoint within 90 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, output
    assert "--resume" in output
    stopped = read_metadata(out / "checkpoint.safetensors")["step"]
    assert 5 <= stopped < 300
    assert read_metadata(out / "model.safetensors")["step"] == stopped

    done = cli(*args, "--resume")
    assert done.returncode == 0, done.stdout + done.stderr
    assert read_metadata(out / "checkpoint.safetensors")["step"] == 300
    logged = [r["step"] for r in read_metrics(out) if "train_loss" in r]
    assert logged == list(range(10, 301, 10))  # every logged step exactly once across the two processes


def test_ddp_two_processes_on_cpu(tmp_path):
    out = tmp_path / "ddp"
    result = cli("-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone", "-m", "mlcog.cli",
                 "train", "category", *TINY_CLI, "--out", str(out), "--steps", "6", "--eval-every", "3",
                 "--checkpoint-every", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    ckpt = load_file(str(out / "checkpoint.safetensors"))
    assert {"rng.data.0", "rng.data.1"} <= set(ckpt)  # both ranks' data streams are saved for resume
    assert not torch.equal(ckpt["rng.data.0"], ckpt["rng.data.1"])
    assert read_metadata(out / "model.safetensors")["step"] == 6
    assert load_model(out).config.n_features == 2


def test_configs_round_trip_through_json_with_nested_configs_and_tuples():
    import json

    from mlcog.models.a2c import A2CConfig
    from mlcog.train.function import FunctionTrainConfig
    from mlcog.train.metarl import MetaRLConfig

    for cfg in (TrainConfig(), FunctionTrainConfig(), MetaRLConfig(model=A2CConfig(encoder=(32, 16)))):
        back = type(cfg).from_dict(json.loads(json.dumps(cfg.to_dict())))
        assert back == cfg  # nested dataclasses rebuilt, JSON lists back to tuples: a resume compares equal
    with pytest.raises(ValueError, match="unknown setting.*'n_layer'"):
        TrainConfig.from_dict({**TrainConfig().to_dict(), "model": {"n_layer": 3}})
