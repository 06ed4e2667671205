"""The main job (``make demo``): the bundled zoo on the Shepard types and on Badham et al. (2017), one report.

Runs on 2 CPU cores in a few minutes: every model is a small bundled checkpoint or a classic model, and the
Badham fits are batched across participants.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from mlcog.experiments.shepard1961 import ShepardConfig, run_shepard1961
from mlcog.models.zoo import zoo_names, zoo_table
from mlcog.report.html import Report

# ecological-dim3 is ERMI's idea on a small scale: trained on tasks an offline LLM wrote (mlcog generate).
DEMO_SHEPARD_MODELS = ("mi-dim3", "pfn-dim3", "rmc-dim3", "ecological-dim3", "alcove")
DEMO_BADHAM_MODELS = ("mi-dim3", "pfn-dim3", "rmc-dim3", "ecological-dim3", "gcm", "prototype", "rule", "rulex")


@dataclass(frozen=True)
class DemoConfig:
    shepard_models: tuple[str, ...] = DEMO_SHEPARD_MODELS
    shepard: ShepardConfig = ShepardConfig(participants=64)
    badham_models: tuple[str, ...] = DEMO_BADHAM_MODELS
    badham: bool = True


def ecological_statistics(report: Report) -> None:
    """The bundled LLM-generated task set described as in the ERMI paper, next to real and synthetic tasks."""
    tasks = Path(str(resources.files("mlcog") / "data" / "files" / "tasks"))
    table, figure = tasks / "ecological_dim3_stats.csv", tasks / "ecological_dim3_stats.png"
    if not table.exists():
        return
    stats = pd.read_csv(table).dropna(axis=1, how="all")
    report.heading("Task statistics: LLM-generated vs real vs synthetic tasks (three features)")
    report.text("Means over tasks (mlcog tasks stats): mean |feature correlation|, sparsity (Gini of "
                "logistic-regression weights), BIC(linear) - BIC(pairwise interactions) and the share of tasks "
                "where the linear model wins, and logistic-regression accuracy after n training trials. Real = "
                "OpenML-CC18 sets chunked as in the paper. The generated tasks come from SmolLM2-135M, a 135M-"
                "parameter model run offline, not the paper's Claude: its rows are short and their features "
                "strongly inter-correlated (counting-like sequences), so they are not the ecological source "
                "the paper's tasks were.", note=True)
    report.table(stats)
    if figure.exists():
        report.figure(figure, "task statistics per source (bundled with the generated set)")


def run_demo(out_dir: str | Path, cfg: DemoConfig = DemoConfig(), echo=print) -> Path:
    """Run the demo, write ``index.html`` with tables and figures into ``out_dir``; returns the report path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = Report("mlcog demo: meta-learned category learning")
    report.text("Small meta-learners from mlcog's zoo, each meta-trained on one task prior (MI = linear, PFN = "
                "random MLP, RMC = Anderson's rational model, ecological = tasks written by a local language "
                "model), simulated on classic experiments and fitted to human learners, next to classic "
                "cognitive models.")
    zoo = zoo_table()
    report.heading("Models").table(zoo.drop(columns=["command"]))

    t0 = time.perf_counter()
    report.heading("Shepard, Hovland & Jenkins (1961): six category structures")
    report.text("Humans: Type I easiest, then II, then III/IV/V about equally, VI hardest. Error is P(error) per "
                f"16-trial block, {cfg.shepard.participants} simulated learners per type, beta = "
                f"{cfg.shepard.beta}.", note=True)
    rows = []
    for name in cfg.shepard_models:
        if name not in zoo_names() and name != "alcove":
            echo(f"skipping {name}: not in the zoo")
            continue
        res = run_shepard1961(name, cfg.shepard, out / "shepard1961" / name)
        row = dict(zip(res.summary["type"], res.summary["expected_error"], strict=True))
        rows.append({"model": name, **row, "I lowest & VI highest": res.ordering_holds})
        report.figure(res.figure, f"Shepard types, {name}")
    shepard = pd.DataFrame(rows)
    shepard.to_csv(out / "shepard1961_summary.csv", index=False)
    report.heading("Shepard summary: mean P(error) per type").table(shepard)
    echo("Shepard 1961, mean P(error) per type:")
    echo(shepard.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    echo(f"  ({time.perf_counter() - t0:.0f} s)")

    ecological_statistics(report)

    if cfg.badham:
        from mlcog.experiments.comparisons import run_comparison

        t0 = time.perf_counter()
        models = [m for m in cfg.badham_models if m in zoo_names() or "-dim" not in m]
        res = run_comparison("badham2017", models, out / "badham2017", echo=echo)
        report.heading("Badham et al. (2017): model comparison on 95 human learners")
        report.text("Meta-learners fit one inverse temperature per participant; classic models one parameter "
                    "set per participant and condition. BIC uses each participant's real trial count; model "
                    "frequencies and (protected) exceedance probabilities from random-effects BMS.", note=True)
        report.table(res.summary)
        for fig in ("model_frequencies", "best_model", "parameters"):
            path = out / "badham2017" / f"{fig}.png"
            if path.exists():
                report.figure(path, fig.replace("_", " "))
        echo(f"  ({time.perf_counter() - t0:.0f} s)")
    path = report.write(out / "index.html")
    echo(f"report: {path}")
    return path
