"""Function-learning experiments: DeLosh et al. (1997) extrapolation, Kwantes & Neal (2006) with the human
group means, and a learning-difficulty comparison across function types.

Every model is used through ``fit(x, y)`` / ``predict(x)``: the classic models of
:mod:`mlcog.cognitive.function` and trained function learners (zoo names ``lucas``/``gp``, a checkpoint, or
a run directory) wrapped in :class:`~mlcog.models.function_learner.FunctionLearnerRegressor`.  All models
work on the scale of the meta-learners' training tasks, ERMI's mapping of the experiments' 0-100 stimulus
and 0-250 response scales to [-0.5, 0.5]: ``x_n = x / 100 - 0.5`` and ``y_n = y / 250 - 0.5``; errors are
reported back on the response scale (0-250).

DeLosh, Busemeyer & McDaniel (1997): participants learned a linear (y = 2.2 x + 30), exponential
(y = 200 (1 - exp(-x / 25))) or quadratic (y = 210 - (x - 50)^2 / 12) function from inputs in the middle of
the range (30-70) and were then tested inside and outside it (0-100).  People extrapolated the linear
function nearly perfectly and extrapolated the non-linear functions in the right direction but with a bias
toward linear continuation.  The extrapolation-linearity index here quantifies that bias for models:
``linearity = rmse(pred, truth) / (rmse(pred, truth) + rmse(pred, linear))`` over the extrapolation
inputs, where *linear* is the least-squares line through the training points; 1 = the prediction is the
linear extrapolation, 0 = it is the true function, 0.5 = equidistant.

Kwantes & Neal (2006): the linear function with an offset, y = 2.2 x + 30, learned on the middle range
(30-70, *inferred*: the bundled human means match the function there and fall below it toward both ends)
and tested over 0-100; the human file holds 45 digitised group-mean responses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mlcog.cognitive.function import CLASSIC_FUNCTION_MODELS, make_function_model
from mlcog.models.function_learner import FunctionLearnerRegressor

X_RANGE, Y_RANGE = 100.0, 250.0
DELOSH_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "linear": lambda x: 2.2 * x + 30,
    "exponential": lambda x: 200 * (1 - np.exp(-x / 25)),
    "quadratic": lambda x: 210 - (x - 50) ** 2 / 12,
}
DEFAULT_MODELS = ("lucas", "gp", "gp-rbf", "gp-linear", "gp-rbf+linear", "poly-bic", "alm", "exam")


def to_unit(x: np.ndarray, y: np.ndarray | None = None):
    """Experiment scale (x 0-100, y 0-250) -> the meta-learners' [-0.5, 0.5] scale."""
    xn = np.asarray(x, dtype=np.float64) / X_RANGE - 0.5
    return xn if y is None else (xn, np.asarray(y, dtype=np.float64) / Y_RANGE - 0.5)


def from_unit_y(yn: np.ndarray) -> np.ndarray:
    return (np.asarray(yn) + 0.5) * Y_RANGE


def function_model(spec: str, seed: int = 0):
    """A classic model name (:data:`~mlcog.cognitive.function.CLASSIC_FUNCTION_MODELS`), or a function
    learner: zoo name, ``model.safetensors`` file or run directory, optionally labelled ``label=path``."""
    key = spec.strip().lower()
    if key in CLASSIC_FUNCTION_MODELS:
        if key in ("alm", "exam"):  # node grids over the whole stimulus and response scales
            return make_function_model(key, input_range=(-0.5, 0.5), output_range=(-0.5, 0.5))
        return make_function_model(key)
    label, _, target = spec.rpartition("=")
    try:
        return FunctionLearnerRegressor(target, seed=seed, name=label or target)
    except ValueError as exc:
        raise ValueError(f"{spec!r} is neither a classic function-learning model "
                         f"({', '.join(CLASSIC_FUNCTION_MODELS)}) nor a function-learner checkpoint ({exc})") from exc


def _label(spec: str) -> str:
    return spec.rpartition("=")[0] or spec


# -- DeLosh et al. (1997) ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DeLoshConfig:
    train_range: tuple[float, float] = (30.0, 70.0)
    n_train: int = 20  # distinct training inputs, evenly spaced over train_range
    test_x: tuple[float, ...] = tuple(float(v) for v in range(0, 101, 2))
    scaling: str = "experiment"  # experiment | context, see _fit_predict
    seed: int = 0


@dataclass
class FunctionExperimentResult:
    summary: pd.DataFrame  # one row per model (x function): the metrics
    predictions: pd.DataFrame  # long table: model, function, x, prediction (response scale), truth


SCALINGS = ("experiment", "context")


def _fit_predict(model, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                 scaling: str = "experiment") -> np.ndarray:
    """Fit on the training pairs and predict at ``x_test``, on the response scale.

    ``scaling`` (function learners only; classic models always use the experiment scale):
    ``experiment`` maps the whole 0-100 / 0-250 scales to [-0.5, 0.5] (ERMI's DeLosh environment), so the
    training points occupy only part of the unit range; ``context`` min-max scales the training points to
    [-0.5, 0.5] as every meta-training task is scaled, and maps the test inputs with the same affine map
    (extrapolation inputs then lie beyond +-0.5).
    """
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
    if scaling == "context" and isinstance(model, FunctionLearnerRegressor):
        (xl, xh), (yl, yh) = (x_train.min(), x_train.max()), (y_train.min(), y_train.max())
        xs = (x_train - xl) / (xh - xl) - 0.5
        ys = (y_train - yl) / (yh - yl) - 0.5
        pred = model.fit(xs, ys).predict((x_test - xl) / (xh - xl) - 0.5)
        return (pred + 0.5) * (yh - yl) + yl
    xn, yn = to_unit(x_train, y_train)
    return from_unit_y(model.fit(xn, yn).predict(to_unit(x_test)))


def _line_r2(x: np.ndarray, v: np.ndarray) -> float:
    """R^2 of the best straight line through ``v(x)``: 1 = the responses over the whole range are a line."""
    resid = v - np.polyval(np.polyfit(x, v, 1), x)
    return float(1 - resid.var() / v.var()) if v.var() > 0 else 1.0


def _rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def run_delosh1997(models: Sequence[str] | None = None, out_dir: str | Path | None = None,
                   config: DeLoshConfig | None = None, echo=print) -> FunctionExperimentResult:
    """Train every model on the middle range of each DeLosh function and test it over 0-100.

    Returns per model x function: ``rmse_interp`` (inside the training range) and ``rmse_extrap`` (outside)
    against the true function, ``rmse_to_linear`` (extrapolations vs the training points' least-squares
    line), ``linearity`` (see the module docstring; NaN for the linear function, where truth and line
    coincide), ``corr_extrap`` (correlation of the extrapolations with the truth) and ``straightness``
    (R^2 of the best line through the responses over 0-100, whichever line; ``truth_straightness`` is that
    of the true function: 1.00, 0.80 and 0.00 for the linear, exponential and quadratic functions).
    """
    cfg = config or DeLoshConfig()
    names = list(models or DEFAULT_MODELS)
    lo, hi = cfg.train_range
    x_train = np.linspace(lo, hi, cfg.n_train)
    x_test = np.asarray(cfg.test_x, dtype=np.float64)
    outside = (x_test < lo) | (x_test > hi)
    rows, preds = [], []
    for spec in names:
        for fname, f in DELOSH_FUNCTIONS.items():
            model = function_model(spec, cfg.seed)
            pred = _fit_predict(model, x_train, f(x_train), x_test, cfg.scaling)
            truth = f(x_test)
            line = np.polyval(np.polyfit(x_train, f(x_train), 1), x_test)
            r_true, r_line = _rmse(pred[outside], truth[outside]), _rmse(pred[outside], line[outside])
            rows.append({"model": _label(spec), "function": fname,
                         "rmse_interp": _rmse(pred[~outside], truth[~outside]), "rmse_extrap": r_true,
                         "rmse_to_linear": r_line,
                         "linearity": np.nan if fname == "linear" else r_true / (r_true + r_line + 1e-12),
                         "corr_extrap": float(np.corrcoef(pred[outside], truth[outside])[0, 1])
                         if np.std(pred[outside]) > 0 else np.nan,
                         "straightness": _line_r2(x_test, pred), "truth_straightness": _line_r2(x_test, truth)})
            preds.append(pd.DataFrame({"model": _label(spec), "function": fname, "x": x_test, "prediction": pred,
                                       "truth": truth, "linear": line, "extrapolation": outside}))
    res = FunctionExperimentResult(pd.DataFrame(rows), pd.concat(preds, ignore_index=True))
    echo(res.summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        res.summary.to_csv(out / "delosh1997_summary.csv", index=False)
        res.predictions.to_csv(out / "delosh1997_predictions.csv", index=False)
        plot_delosh(res.predictions, cfg.train_range, out / "delosh1997.png")
    return res


def plot_delosh(predictions: pd.DataFrame, train_range: tuple[float, float], path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    functions = list(dict.fromkeys(predictions["function"]))
    fig, axes = plt.subplots(1, len(functions), figsize=(4.2 * len(functions), 3.6), sharey=True)
    for ax, fname in zip(np.atleast_1d(axes), functions, strict=True):
        d = predictions[predictions["function"] == fname]
        first = d[d["model"] == d["model"].iloc[0]]
        ax.axvspan(*train_range, color="0.9", label="training range")
        ax.plot(first["x"], first["truth"], "k-", lw=2.5, label="true function")
        for model, dm in d.groupby("model", sort=False):
            ax.plot(dm["x"], dm["prediction"], lw=1.2, label=model)
        ax.set_title(fname)
        ax.set_xlabel("x")
    np.atleast_1d(axes)[0].set_ylabel("response")
    np.atleast_1d(axes)[-1].legend(fontsize=7, loc="lower right")
    fig.suptitle("DeLosh et al. (1997): extrapolation beyond the training range")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


# -- Kwantes & Neal (2006) ----------------------------------------------------------------------------------
KWANTES_FILE = "function/kwantes2006extrapolation.csv"


def load_kwantes2006(path: str | Path | None = None) -> pd.DataFrame:
    """The human group means (columns ``x``, ``y``); the bundled copy unless ``path`` is given."""
    from mlcog.data.schema import DataError

    p = Path(path) if path is not None else Path(str(resources.files("mlcog") / "data" / "files" / KWANTES_FILE))
    try:
        df = pd.read_csv(p)
    except Exception as exc:
        raise DataError(f"{p}: not a readable CSV ({exc})", source=str(p)) from exc
    for col in ("x", "y"):
        if col not in df.columns:
            raise DataError(f"{p}: missing column {col!r} (expected columns x, y; found {list(df.columns)})",
                            source=str(p), column=col)
        values = pd.to_numeric(df[col], errors="coerce")
        if values.isna().any():
            i = int(np.flatnonzero(values.isna().to_numpy())[0])
            raise DataError(f"{p}, line {i + 2}, column {col!r}: expected a number, got {df[col].iloc[i]!r}",
                            source=str(p), row=i + 2, column=col)
        df[col] = values.astype(float)
    return df[["x", "y"]]


@dataclass(frozen=True)
class KwantesConfig:
    train_range: tuple[float, float] = (30.0, 70.0)
    n_train: int = 20
    slope: float = 2.2
    intercept: float = 30.0
    scaling: str = "experiment"  # experiment | context, see _fit_predict
    seed: int = 0


def run_kwantes2006(models: Sequence[str] | None = None, out_dir: str | Path | None = None,
                    config: KwantesConfig | None = None, human_file: str | Path | None = None, echo=print
                    ) -> FunctionExperimentResult:
    """RMSE of every model's responses to the human group means of Kwantes & Neal (2006).

    Rows: one per model plus ``true function`` (the responses of a perfect learner); columns
    ``rmse_all``, ``rmse_extrap`` (human inputs outside the training range), ``rmse_interp``, and
    ``signed_low`` / ``signed_high`` (mean of model minus humans below / above the training range).
    """
    cfg = config or KwantesConfig()
    human = load_kwantes2006(human_file)
    names = list(models or DEFAULT_MODELS)
    lo, hi = cfg.train_range
    x_train = np.linspace(lo, hi, cfg.n_train)

    def f(x):
        return cfg.slope * x + cfg.intercept

    xh, yh = human["x"].to_numpy(), human["y"].to_numpy()
    outside = (xh < lo) | (xh > hi)
    rows, preds = [], []
    entries = [("true function", f(xh))] + [
        (_label(s), _fit_predict(function_model(s, cfg.seed), x_train, f(x_train), xh, cfg.scaling))
        for s in names]
    for label, pred in entries:
        rows.append({"model": label, "rmse_all": _rmse(pred, yh), "rmse_extrap": _rmse(pred[outside], yh[outside]),
                     "rmse_interp": _rmse(pred[~outside], yh[~outside]),
                     "signed_low": float(np.mean((pred - yh)[xh < lo])),
                     "signed_high": float(np.mean((pred - yh)[xh > hi]))})
        preds.append(pd.DataFrame({"model": label, "x": xh, "prediction": pred, "human": yh}))
    res = FunctionExperimentResult(pd.DataFrame(rows).sort_values("rmse_all", ignore_index=True),
                                   pd.concat(preds, ignore_index=True))
    echo(res.summary.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        res.summary.to_csv(out / "kwantes2006_rmse.csv", index=False)
        res.predictions.to_csv(out / "kwantes2006_predictions.csv", index=False)
        plot_kwantes(res.predictions, cfg.train_range, out / "kwantes2006.png")
    return res


def plot_kwantes(predictions: pd.DataFrame, train_range: tuple[float, float], path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    ax.axvspan(*train_range, color="0.9", label="training range")
    first = predictions[predictions["model"] == predictions["model"].iloc[0]]
    ax.plot(first["x"], first["human"], "ko", ms=4, label="humans (group means)")
    for model, d in predictions.groupby("model", sort=False):
        ax.plot(d["x"], d["prediction"], "--" if model == "true function" else "-", lw=1.2, label=model)
    ax.set_xlabel("x")
    ax.set_ylabel("response")
    ax.set_title("Kwantes & Neal (2006)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


# -- learning difficulty across function types -------------------------------------------------------------
DIFFICULTY_FUNCTIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "positive linear": lambda x: x,
    "negative linear": lambda x: -x,
    "exponential": lambda x: np.exp(4 * x),
    "quadratic": lambda x: x**2,
    "sinusoidal": lambda x: np.sin(2 * np.pi * x),
}


@dataclass(frozen=True)
class DifficultyConfig:
    """ERMI's ``EvaluateFunctionLearning``: 25 points per task, observation noise 0.1 on the [-0.5, 0.5]
    response scale; ``n_tasks`` random input sets/orders per function (classic models refit after every
    point, so they get ``n_tasks_classic``)."""

    n_points: int = 25
    noise: float = 0.1
    n_tasks: int = 200
    n_tasks_classic: int = 5
    seed: int = 0


def difficulty_tasks(fname: str, n_tasks: int, cfg: DifficultyConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """``n_tasks`` sequences of the function at uniform inputs, scaled to [-0.5, 0.5], plus noise."""
    rng = np.random.default_rng(cfg.seed + sum(map(ord, fname)))
    x = rng.uniform(-0.5, 0.5, (n_tasks, cfg.n_points))
    clean = DIFFICULTY_FUNCTIONS[fname](np.linspace(-0.5, 0.5, 201))
    lo, hi = clean.min(), clean.max()
    y = (DIFFICULTY_FUNCTIONS[fname](x) - lo) / (hi - lo) - 0.5 + cfg.noise * rng.standard_normal(x.shape)
    return torch.tensor(x), torch.tensor(y)


def sequential_errors(model, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Squared error of the prediction of each y_t from the points before it, ``(B, T)``; the first two
    trials of classic models (too few points to fit) are predicted as 0, the scale's midpoint."""
    if isinstance(model, FunctionLearnerRegressor):
        return ((model.sequential(x, y).double() - y) ** 2).numpy()
    B, T = y.shape
    pred = np.zeros((B, T))
    for b in range(B):
        for t in range(2, T):
            xb, yb = x[b, :t].numpy(), y[b, :t].numpy()
            pred[b, t] = model.fit(xb, yb).predict(x[b, t:t + 1].numpy())[0]
    return (pred - y.numpy()) ** 2


def run_difficulty(models: Sequence[str] | None = None, out_dir: str | Path | None = None,
                   config: DifficultyConfig | None = None, echo=print) -> pd.DataFrame:
    """Mean per-trial squared error of each model per function type (lower = easier to learn), and the
    rank of each function type for the model (1 = easiest).  People find positive linear functions
    easiest (e.g. Brehmer 1974; Busemeyer et al. 1997)."""
    cfg = config or DifficultyConfig()
    names = list(models or ("lucas", "gp", "gp-rbf+linear", "poly-bic"))
    rows = []
    for spec in names:
        for fname in DIFFICULTY_FUNCTIONS:
            model = function_model(spec, cfg.seed)
            n = cfg.n_tasks if isinstance(model, FunctionLearnerRegressor) else cfg.n_tasks_classic
            x, y = difficulty_tasks(fname, n, cfg)
            err = sequential_errors(model, x, y)
            rows.append({"model": _label(spec), "function": fname, "mse": float(err[:, 2:].mean()),
                         "mse_last10": float(err[:, -10:].mean()), "n_tasks": n})
    table = pd.DataFrame(rows)
    table["rank"] = table.groupby("model")["mse"].rank().astype(int)
    echo(table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "difficulty.csv", index=False)
        _plot_difficulty(table, out / "difficulty.png")
    return table


def _plot_difficulty(table: pd.DataFrame, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wide = table.pivot_table(index="model", columns="function", values="mse", sort=False)
    fig, ax = plt.subplots(figsize=(1.5 + 1.3 * len(wide), 3.4))
    wide.plot.bar(ax=ax, width=0.8)
    ax.set_ylabel("mean squared prediction error")
    ax.set_xlabel("")
    ax.set_title("Learning difficulty by function type")
    ax.legend(fontsize=7)
    ax.tick_params(axis="x", labelrotation=0)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
