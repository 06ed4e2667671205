"""Binz et al. (2022) decision making: heuristics and meta-learners fitted to people, and heuristics fitted
to meta-learners.

:func:`run_binz2022` fits every model to every participant of one experiment (one inverse temperature per
participant; context resets between the 30 tasks), scores them by BIC with each participant's real number of
trials (300) and compares them by random-effects Bayesian model selection on -BIC/2.

:func:`heuristic_analysis` asks which heuristic a meta-learner behaves like: it lets each trained decision
learner choose (at its own temperature, beta = 1) on fresh tasks of its training environment, then fits the
heuristics to those simulated choices exactly as to people (simulated agents = participants).  Binz et al.'s
finding is that resource-bounded meta-learners trained with a known cue ranking act like take-the-best and
those trained with known cue directions like equal weighting.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch

from mlcog.behaviour import BehaviouralModel, TrialBatch
from mlcog.cognitive.heuristics import HEURISTICS, make_heuristic
from mlcog.data.binz2022 import EXPERIMENTS, decision_batch, load_binz2022
from mlcog.experiments.comparisons import write_comparison
from mlcog.fit import ComparisonResult, compare
from mlcog.models.decision_learner import DecisionLearner, DecisionLearnerModel, load_decision_learner
from mlcog.models.zoo import family_names, resolve
from mlcog.tasks.decision import DecisionEnv, DecisionEnvConfig

DEFAULT_MODELS = ("ttb", "ttb-learned", "ew", "ew-positive", "tally", "wadd", "guess")
ANALYSIS_HEURISTICS = ("ttb", "ew", "ew-positive", "wadd", "guess")


def decision_model(spec: str) -> BehaviouralModel:
    """A heuristic by name (see :data:`~mlcog.cognitive.heuristics.HEURISTICS`) or a trained decision learner
    (a zoo name such as ``bmi-ranking-l2``, a ``model.safetensors`` file or a training run directory holding
    one), optionally labelled as ``label=path``."""
    if spec.strip().lower() in HEURISTICS:
        return make_heuristic(spec)
    label, _, target = spec.rpartition("=")
    path = Path(target)
    if target in family_names("decision"):
        path = resolve(target)
    if path.is_dir():
        path = path / "model.safetensors"
    if not path.is_file():
        raise ValueError(f"{spec!r} is neither a heuristic ({', '.join(sorted(HEURISTICS))}), a zoo decision "
                         f"learner ({', '.join(family_names('decision')) or 'none'}) nor a decision-learner "
                         f"checkpoint (no file {path})")
    return DecisionLearnerModel(path, name=label or target)


def run_binz2022(experiment: int, models: Sequence[str] | None = None, out_dir: str | Path | None = None, *,
                 n_starts: int = 3, method: str = "bfgs", seed: int = 0, echo=print) -> ComparisonResult:
    """Fit ``models`` (names or checkpoint paths; default :data:`DEFAULT_MODELS`) to every participant of
    experiment 1, 2 or 3 and compare them; writes tables, figures and an HTML page to ``out_dir``."""
    trials, report = load_binz2022(experiment)
    echo(report.summary())
    batch = decision_batch(trials)
    names = list(models or DEFAULT_MODELS)
    behavioural = [decision_model(n) for n in names]
    result = compare(batch, behavioural, subject="participant", n_starts=n_starts, method=method, seed=seed,
                     num_threads=1)
    echo(f"binz2022 experiment {experiment} ({EXPERIMENTS[experiment][2]}): {batch.n_units} participants")
    echo(result.summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if out_dir is not None:
        write_comparison(result, out_dir, f"Binz et al. (2022) experiment {experiment}: model comparison",
                         report.summary())
    return result


@dataclass(frozen=True)
class AnalysisConfig:
    """Simulated agents and tasks per learner (Binz et al.'s experiments: ~25 people x 30 tasks), the
    heuristics fitted and how the learner's choices are generated."""

    n_agents: int = 25
    n_tasks: int = 30
    seed: int = 0
    heuristics: tuple[str, ...] = ANALYSIS_HEURISTICS
    # "greedy": the learner picks the option its weights favour (ERMI's greedy evaluation), so the strategy
    # is read independently of how confident a resource-bounded network is (a strongly penalised network
    # has tiny logits, and sampling at beta = 1 would look like guessing whatever its weights do);
    # "sample": choices drawn at the network's own temperature.
    choice_rule: str = "greedy"


def env_batch(env: DecisionEnv, n_agents: int, n_tasks: int, generator: torch.Generator) -> TrialBatch:
    """``n_agents x n_tasks`` fresh tasks as a design (no choices); each agent is one fit unit."""
    ep = env.sample(n_agents * n_tasks, generator)
    S, T = ep.y.shape
    unit = torch.arange(n_agents).repeat_interleave(n_tasks)
    return TrialBatch(ep.x, ep.y.long(), None, torch.ones(S, T, dtype=torch.bool), unit,
                      pd.DataFrame({"participant": range(n_agents)}),
                      pd.DataFrame({"participant": unit.numpy(), "condition": range(S)}))


def simulate_learner(learner: DecisionLearner, batch: TrialBatch, generator: torch.Generator,
                     choice_rule: str = "greedy") -> TrialBatch:
    """The learner's choices on the batch's tasks: greedy (logit > 0) or sampled at beta = 1."""
    model = DecisionLearnerModel(learner)
    if choice_rule == "greedy":
        choices = ((model.logits(batch) > 0) & batch.mask).long()
    elif choice_rule == "sample":
        choices = model.simulate(batch, {"beta": torch.ones(batch.n_units, dtype=torch.float64)}, generator)
    else:
        raise ValueError(f"choice_rule must be 'greedy' or 'sample', got {choice_rule!r}")
    return batch.with_choices(choices)


def mean_gini(learner: DecisionLearner, batch: TrialBatch) -> float:
    """Mean Gini coefficient of |w_t| over trials: 0 = equal weights, (D-1)/D = a single cue."""
    with torch.no_grad():
        w = learner.weights(batch.stimuli.float(), batch.category.float()).abs().sort(-1).values
    D = w.shape[-1]
    k = torch.arange(1, D + 1, dtype=w.dtype)
    g = ((2 * k - D - 1) * w).sum(-1) / (D * w.sum(-1).clamp_min(1e-12))
    return float(g.mean())


def heuristic_analysis(learners: dict[str, str | Path | tuple[str, str | Path]], out_dir: str | Path | None = None,
                       config: AnalysisConfig | None = None, echo=print) -> pd.DataFrame:
    """Which heuristic best describes each learner's simulated choices in its training environment.

    Parameters
    ----------
    learners : label -> checkpoint (zoo name, file or run directory); the environment is the checkpoint's
        training condition.  A ``(condition, checkpoint)`` tuple evaluates in another condition.
    out_dir : where ``heuristic_analysis.csv`` (one row per learner x heuristic) goes.

    Returns
    -------
    DataFrame: learner, condition, lambda, val_acc, gini, heuristic, sum_bic, mean_pseudo_r2, pxp, n_best,
    winner (the heuristic with the lowest summed BIC for that learner).
    """
    from mlcog.models.checkpoint import read_metadata

    cfg = config or AnalysisConfig()
    rows = []
    for i, (label, spec) in enumerate(learners.items()):
        condition, path = spec if isinstance(spec, tuple) else (None, spec)
        path = resolve(path) if str(path) in family_names("decision") else Path(path)
        path = path / "model.safetensors" if path.is_dir() else path
        meta = read_metadata(path)
        train = meta.get("train_config", {})
        env_cfg = DecisionEnvConfig(**train.get("env", {}))
        condition = condition or env_cfg.condition
        learner = load_decision_learner(path)
        g = torch.Generator().manual_seed(cfg.seed * 7919 + i)
        batch = simulate_learner(learner, env_batch(DecisionEnv(env_cfg, condition=condition), cfg.n_agents,
                                                    cfg.n_tasks, g), g, cfg.choice_rule)
        res = compare(batch, [make_heuristic(h) for h in cfg.heuristics], subject="participant", n_starts=2,
                      seed=cfg.seed, num_threads=1)
        s = res.summary.set_index("model")
        winner = s["sum_bic"].idxmin()
        gini = mean_gini(learner, batch)
        for h in cfg.heuristics:
            rows.append({"learner": label, "condition": condition, "lambda": train.get("lambda_"),
                         "val_acc": meta.get("val_acc"), "gini": gini, "heuristic": h,
                         "sum_bic": float(s.loc[h, "sum_bic"]), "mean_pseudo_r2": float(s.loc[h, "mean_pseudo_r2"]),
                         "pxp": float(s.loc[h, "pxp"]), "n_best": int(s.loc[h, "n_best"]), "winner": winner})
        echo(f"{label} ({condition}): best described by {winner}; summed BIC "
             + ", ".join(f"{h} {s.loc[h, 'sum_bic']:.0f}" for h in cfg.heuristics))
    table = pd.DataFrame(rows)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        table.to_csv(Path(out_dir) / "heuristic_analysis.csv", index=False)
        plot_heuristic_analysis(table, Path(out_dir) / "heuristic_analysis.png")
    return table


def plot_heuristic_analysis(table: pd.DataFrame, path: str | Path) -> Path:
    """Summed BIC of each heuristic relative to the best one, per learner (0 = the winner)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wide = table.pivot_table(index="learner", columns="heuristic", values="sum_bic", sort=False)
    delta = wide.sub(wide.min(axis=1), axis=0)
    fig, ax = plt.subplots(figsize=(1.2 + 0.9 * len(delta), 3.2))
    delta.plot.bar(ax=ax, width=0.8)
    ax.set_ylabel("summed BIC - best")
    ax.set_xlabel("")
    ax.legend(title="heuristic", fontsize=7, ncols=2)
    ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
