"""Task statistics (the ERMI paper's data analysis), side by side for task sets of any origin.

Per task, on its stimuli ``x (n, D)`` and labels ``y (n,)``:

* **correlation**: mean absolute Pearson correlation over feature pairs (constant features left out);
* **sparsity**: Gini coefficient of the absolute weights of a logistic regression on z-scored features
  (0: all features matter equally; (D-1)/D: one feature alone).  All D weights are used (the original code
  dropped the first feature by taking ``params[1:]`` of a fit without intercept column);
* **linearity**: BIC of a linear logistic model minus the BIC of one with all pairwise interactions
  (``delta_bic`` < 0: the linear model is preferred);
* **learnability**: test accuracy of a logistic regression trained on the first ``n`` trials (trials shuffled
  once per task) and tested on the rest, for each ``n`` in ``train_sizes``.

Sources: generated-tasks CSVs (e.g. LLM-generated), the bundled OpenML-CC18 sets chunked as in the paper
(binary tasks without missing values, min-max scaled, ``SelectKBest(f_classif, k=D)``, consecutive chunks after a
shuffle), and the synthetic priors (``linear``, ``mlp``, ``rmc``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mlcog.tasks.episodes import EpisodeOptions
from mlcog.tasks.priors import bundled_tabular_dir, load_npz_dataset, make_prior, read_task_file

# Weak L2 keeps the fits finite on perfectly separable tasks (frequent in LLM-made and synthetic data), where
# maximum likelihood has no finite solution; it changes the log-likelihood of non-separable fits negligibly.
LOGREG_C = 100.0


@dataclass(frozen=True)
class StatsConfig:
    dims: int = 3
    real: bool = True
    priors: tuple[str, ...] = ("linear", "mlp", "rmc")
    n_tasks: int = 300  # tasks per synthetic prior and at most from real data
    n_trials: int = 100  # trials per synthetic task and per real-data chunk
    max_file_tasks: int = 0  # tasks analysed at most from each file (0 = all); a cap is reported
    train_sizes: tuple[int, ...] = (4, 8, 16, 32, 64)
    seed: int = 0


class _LogReg:
    """L2-penalised logistic regression (penalty ||w||^2 / (2C), intercept unpenalised, as scikit-learn's
    default objective) fitted by Newton's method: tasks are tiny, so this is ~100x faster than a generic solver."""

    def __init__(self, x: np.ndarray, y: np.ndarray, c: float = LOGREG_C, iters: int = 50) -> None:
        a = np.column_stack([np.ones(len(y)), x])
        reg = np.full(a.shape[1], 1.0 / c)
        reg[0] = 0.0
        w = np.zeros(a.shape[1])
        for _ in range(iters):
            p = 1.0 / (1.0 + np.exp(-np.clip(a @ w, -30, 30)))
            grad = a.T @ (p - y) + reg * w
            hess = (a * (p * (1 - p))[:, None]).T @ a + np.diag(reg + 1e-9)
            step = np.linalg.solve(hess, grad)
            w -= step
            if np.abs(step).max() < 1e-8:
                break
        self.intercept, self.coef = w[0], w[1:]

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(x @ self.coef + self.intercept, -30, 30)))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return (self.predict_proba(x) > 0.5).astype(float)


def _logreg(x: np.ndarray, y: np.ndarray) -> _LogReg:
    return _LogReg(x, y)


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std(0)
    return (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values (0: all equal; (n-1)/n: one value holds everything)."""
    v = np.sort(np.abs(np.asarray(values, dtype=float)))
    n, total = len(v), v.sum()
    if n == 0 or total == 0:
        return float("nan")
    i = np.arange(1, n + 1)
    return float(((2 * i - n - 1) * v).sum() / (n * total))


def mean_abs_correlation(x: np.ndarray) -> float:
    keep = x.std(0) > 0
    x = x[:, keep]
    if x.shape[1] < 2:
        return float("nan")
    c = np.corrcoef(x, rowvar=False)
    return float(np.abs(c[np.triu_indices_from(c, k=1)]).mean())


def _bic(x: np.ndarray, y: np.ndarray) -> float:
    model = _logreg(x, y)
    p = np.clip(model.predict_proba(x), 1e-12, 1 - 1e-12)
    ll = float(np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))
    k = x.shape[1] + 1
    return k * math.log(len(y)) - 2 * ll


def interactions(x: np.ndarray) -> np.ndarray:
    """Features plus all pairwise products."""
    d = x.shape[1]
    pairs = [x[:, i] * x[:, j] for i in range(d) for j in range(i + 1, d)]
    return np.column_stack([x, *pairs]) if pairs else x


def learning_curve(x: np.ndarray, y: np.ndarray, sizes: tuple[int, ...], rng: np.random.Generator) -> list[float]:
    """Accuracy on held-out trials after training on the first ``n`` (NaN where fewer than 2 test trials remain).
    With one class among the training trials the prediction is that class."""
    order = rng.permutation(len(y))
    x, y = x[order], y[order]
    acc = []
    for n in sizes:
        if n > len(y) - 2:
            acc.append(float("nan"))
            continue
        xt, yt = x[:n], y[:n]
        if len(np.unique(yt)) < 2:
            pred = np.full(len(y) - n, yt[0])
        else:
            pred = _logreg(xt, yt).predict(x[n:])
        acc.append(float((pred == y[n:]).mean()))
    return acc


def task_statistics(x: np.ndarray, y: np.ndarray, sizes: tuple[int, ...] = StatsConfig.train_sizes,
                    rng: np.random.Generator | None = None) -> dict:
    """All statistics of one task (``y`` binary 0/1 with both classes present)."""
    rng = rng or np.random.default_rng(0)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(np.unique(y)) < 2:
        raise ValueError("task statistics need both classes in a task")
    z = _zscore(x)
    row = {"n_trials": len(y), "correlation": mean_abs_correlation(x),
           "gini": gini(_logreg(z, y).coef)}
    bic_lin, bic_int = _bic(z, y), _bic(_zscore(interactions(z)), y)
    row.update({"bic_linear": bic_lin, "bic_interaction": bic_int, "delta_bic": bic_lin - bic_int})
    for n, a in zip(sizes, learning_curve(x, y, sizes, rng), strict=True):
        row[f"acc_{n}"] = a
    return row


# -- sources ------------------------------------------------------------------------------------------------
def file_tasks(path: str | Path, dims: int, max_tasks: int = 0) -> tuple[list, list, str]:
    """Usable tasks of a generated-tasks file (the first ``max_tasks`` if > 0) and a note of what was read."""
    xs, ys, report = read_task_file(path, dims)
    note = str(report)
    if 0 < max_tasks < len(xs):
        note += f"; analysed the first {max_tasks} of {len(xs)} usable tasks (max_file_tasks)"
        xs, ys = xs[:max_tasks], ys[:max_tasks]
    return xs, ys, note


def real_tasks(dims: int, chunk: int, max_tasks: int, seed: int, directory: str | Path | None = None):
    """CC18 chunks as in the paper: binary sets without NaNs, min-max, ``SelectKBest(f_classif, k=dims)``,
    rows shuffled and cut into chunks of ``chunk`` rows; chunks with one class only are skipped."""
    from sklearn.feature_selection import SelectKBest, f_classif

    rng = np.random.default_rng(seed)
    directory = Path(directory) if directory else bundled_tabular_dir()
    xs, ys = [], []
    for f in sorted(directory.glob("*.npz")):
        X, y = load_npz_dataset(f)
        if np.isnan(X).any() or len(np.unique(y)) != 2:
            continue
        span = X.max(0) - X.min(0)
        X = (X[:, span > 0] - X[:, span > 0].min(0)) / span[span > 0]
        if X.shape[1] < dims:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X = SelectKBest(f_classif, k=dims).fit_transform(X, y)
        y = (y == np.unique(y)[1]).astype(float)
        order = rng.permutation(len(y))
        for start in range(0, len(y) - chunk + 1, chunk):
            idx = order[start:start + chunk]
            if len(np.unique(y[idx])) == 2:
                xs.append(X[idx])
                ys.append(y[idx])
    if not xs:
        raise ValueError(f"no binary data set without missing values and >= {dims} features in {directory}")
    pick = rng.permutation(len(xs))[:max_tasks]
    return [xs[i] for i in pick], [ys[i] for i in pick]


def prior_tasks(name: str, dims: int, n_tasks: int, n_trials: int, seed: int):
    """Raw tasks from a synthetic prior (no normalisation, shuffling or polarity flips); one-class tasks dropped."""
    opts = EpisodeOptions(shuffle_trials=False, permute_features=False, random_polarity=False, normalize=False)
    prior = make_prior(name, dims, opts)
    ep = prior.sample(n_tasks, n_trials, torch.Generator().manual_seed(seed))
    xs, ys = [], []
    for x, y in zip(ep.x.numpy(), ep.y.numpy(), strict=True):
        if 0 < y.sum() < len(y):
            xs.append(x.astype(float))
            ys.append(y.astype(float))
    return xs, ys


def run_task_stats(files: list[str], cfg: StatsConfig, out: str | Path | None = None,
                   echo: Callable[[str], object] = lambda _: None) -> pd.DataFrame:
    """Statistics for every source; writes per-task and summary CSVs and a figure to ``out`` (if given).
    ``echo`` receives what was read from each file (kept and excluded tasks, any cap)."""
    sources: dict[str, tuple[list, list]] = {}
    notes = {}
    for f in files:
        xs, ys, note = file_tasks(f, cfg.dims, cfg.max_file_tasks)
        if not xs:
            raise ValueError(f"{note}: no usable task")
        sources[Path(f).stem] = (xs, ys)
        notes[Path(f).stem] = note
        echo(note)
    if cfg.real:
        sources["real (CC18)"] = real_tasks(cfg.dims, cfg.n_trials, cfg.n_tasks, cfg.seed)
    for p in cfg.priors:
        sources[f"prior: {p}"] = prior_tasks(p, cfg.dims, cfg.n_tasks, cfg.n_trials, cfg.seed)
    if not sources:
        raise ValueError("nothing to analyse: give task files, --real or --priors")
    rng = np.random.default_rng(cfg.seed)
    rows = []
    for name, (xs, ys) in sources.items():
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            if len(np.unique(y)) < 2:
                continue
            rows.append({"source": name, "task": i, **task_statistics(x, y, cfg.train_sizes, rng)})
    per_task = pd.DataFrame(rows)
    table = summarise(per_task, cfg.train_sizes)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        per_task.to_csv(out / "task_stats_per_task.csv", index=False)
        table.to_csv(out / "task_stats.csv", index=False)
        plot_task_stats(per_task, cfg.train_sizes, out / "task_stats.png")
        import json

        (out / "task_stats.json").write_text(json.dumps({"config": asdict(cfg), "files": notes}, indent=2))
    return table


def summarise(per_task: pd.DataFrame, sizes: tuple[int, ...]) -> pd.DataFrame:
    """Means per source; ``linear_preferred`` is the fraction of tasks where the linear model has the lower BIC."""
    g = per_task.groupby("source", sort=False)
    table = pd.DataFrame({
        "tasks": g.size(), "trials": g["n_trials"].mean(), "correlation": g["correlation"].mean(),
        "gini": g["gini"].mean(), "delta_bic": g["delta_bic"].mean(),
        "linear_preferred": g["delta_bic"].apply(lambda d: float((d < 0).mean())),
        **{f"acc_{n}": g[f"acc_{n}"].mean() for n in sizes},
    }).reset_index()
    return table


def plot_task_stats(per_task: pd.DataFrame, sizes: tuple[int, ...], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = list(dict.fromkeys(per_task["source"]))
    fig, axes = plt.subplots(1, 4, figsize=(17, 4))
    for ax, col, title in zip(axes[:3], ["correlation", "gini", "delta_bic"],
                              ["mean |feature correlation|", "sparsity (Gini of LR weights)",
                               "BIC linear - BIC interactions"], strict=True):
        data = [per_task.loc[per_task.source == s, col].dropna().to_numpy() for s in sources]
        ax.boxplot(data, showfliers=False)
        ax.set_xticks(range(1, len(sources) + 1), sources, rotation=30, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
    axes[2].axhline(0, color="grey", lw=0.8, ls="--")
    for s in sources:
        sub = per_task[per_task.source == s]
        m = [sub[f"acc_{n}"].mean() for n in sizes]
        se = [sub[f"acc_{n}"].std() / max(1, np.sqrt(sub[f"acc_{n}"].notna().sum())) for n in sizes]
        axes[3].errorbar(sizes, m, yerr=se, marker="o", label=s, capsize=2)
    axes[3].set_xscale("log", base=2)
    axes[3].set_xlabel("training trials")
    axes[3].set_ylabel("logistic-regression test accuracy")
    axes[3].set_title("learnability", fontsize=10)
    axes[3].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
