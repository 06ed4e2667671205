"""Function-learning task priors: batched 1-D regression episodes of (x, y) pairs.

Three priors share one interface, ``sample(batch_size, generator) -> FunctionEpisodes``:

* :class:`LucasMixturePrior`, the synthetic prior of ERMI's "RMF"/"MI" comparator (Lucas et al. 2015,
  ERMI's ``SyntheticFunctionlearningTask``): x = linspace(-1, 1, T) in a random order; one of four
  components per task, positive linear ``w x + b``, negative linear ``-w x + b``, quadratic ``w x^2 + b``
  and RBF ``h exp(-d x^2)``, with mixture weights proportional to 8 : 1 : 0.1 : 0.01 for training (uniform
  in the ``test`` split) and every parameter ~ Gamma(shape 1.001, scale 1); then Gaussian noise (s.d. 0.01).
* :class:`GPPrior`, functions drawn from a Gaussian process (RBF, linear or RBF + linear kernel) at
  uniformly drawn inputs; not in the original, which used GPs only to describe task statistics.
* :class:`FunctionFilePrior`, tasks read from a CSV (e.g. LLM-generated tasks from :mod:`mlcog.generate`):
  tasks are split 80/10/10 by task id, rows are shuffled and resampled with replacement to T points
  (ERMI's ``--sample-to-match-max-steps``).

Every prior ends with ERMI's per-task min-max scaling of x and y to [-s, s], s = 0.5:
``2 s (v - min) / (max - min + 1e-6) - s``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mlcog.tasks.priors import TaskFileReport

LUCAS_COMPONENTS = ("positive_linear", "negative_linear", "quadratic", "rbf")
GP_KERNELS = ("rbf", "linear", "rbf+linear")
SPLITS = ("train", "val", "test")


def rescale(v: torch.Tensor, scale: float = 0.5) -> torch.Tensor:
    """Per-row min-max scaling of ``(B, T)`` values to [-scale, scale] (ERMI's ``stacked_normalized``)."""
    lo = v.min(dim=-1, keepdim=True).values
    hi = v.max(dim=-1, keepdim=True).values
    return 2 * scale * (v - lo) / (hi - lo + 1e-6) - scale


@dataclass
class FunctionEpisodes:
    """A batch of function-learning tasks.

    Attributes
    ----------
    x : float tensor ``(B, T)``, inputs (scaled to [-0.5, 0.5] per task).
    y : float tensor ``(B, T)``, targets (scaled to [-0.5, 0.5] per task).
    kind : long tensor ``(B,)``, the generating component (index into the prior's ``kinds``), -1 if unknown.
    """

    x: torch.Tensor
    y: torch.Tensor
    kind: torch.Tensor

    def to(self, device: torch.device | str) -> FunctionEpisodes:
        return FunctionEpisodes(self.x.to(device), self.y.to(device), self.kind.to(device))

    def __len__(self) -> int:
        return self.x.shape[0]


# -- Lucas et al. (2015) mixture -----------------------------------------------------------------------------
@dataclass(frozen=True)
class LucasConfig:
    """ERMI's synthetic function-learning prior (defaults = the original, noise 0.01 as the MI model)."""

    n_points: int = 25
    weights: tuple[float, ...] = (8.0, 1.0, 0.1, 0.01)  # positive linear, negative linear, quadratic, RBF
    gamma_shape: float = 1.001
    gamma_scale: float = 1.0
    noise: float = 0.01
    scale: float = 0.5

    def __post_init__(self) -> None:
        if len(self.weights) != 4 or min(self.weights) < 0 or sum(self.weights) <= 0:
            raise ValueError(f"weights must be 4 non-negative numbers (one per component {LUCAS_COMPONENTS}), "
                             f"got {self.weights}")
        if self.n_points < 2:
            raise ValueError(f"n_points must be >= 2, got {self.n_points}")


class LucasMixturePrior:
    """Lucas et al. (2015) mixture of positive-linear, negative-linear, quadratic and RBF functions."""

    name = "lucas"
    kinds = LUCAS_COMPONENTS

    def __init__(self, config: LucasConfig | None = None, **overrides) -> None:
        base = config or LucasConfig()
        self.config = LucasConfig(**{**base.__dict__, **overrides})

    def probabilities(self, split: str = "train") -> torch.Tensor:
        w = torch.tensor(self.config.weights if split == "train" else (1.0, 1.0, 1.0, 1.0), dtype=torch.float64)
        return w / w.sum()

    def functions(self, x: torch.Tensor, kind: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """Noise-free component values: x ``(B, T)``, kind ``(B,)``, params ``(B, 2)`` = (w or h, b or d)."""
        a, b = params[:, :1], params[:, 1:]
        out = torch.empty_like(x)
        parts = (a * x + b, -a * x + b, a * x**2 + b, a * torch.exp(-b * x**2))
        for k, values in enumerate(parts):
            sel = kind == k
            out[sel] = values[sel]
        return out

    def sample(self, batch_size: int, generator: torch.Generator | None = None, split: str = "train"
               ) -> FunctionEpisodes:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        g = generator or torch.Generator().manual_seed(0)
        c = self.config
        T = c.n_points
        order = torch.argsort(torch.rand(batch_size, T, generator=g), dim=1)
        x = torch.linspace(-1, 1, T)[order]
        kind = torch.multinomial(self.probabilities(split), batch_size, replacement=True, generator=g)
        params = _gamma(c.gamma_shape, c.gamma_scale, (batch_size, 2), g)
        y = self.functions(x, kind, params) + c.noise * torch.randn(batch_size, T, generator=g)
        return FunctionEpisodes(rescale(x, c.scale), rescale(y, c.scale), kind)

    def describe(self) -> dict:
        return {"prior": self.name, **self.config.__dict__}


def _gamma(shape: float, scale: float, size: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    """Gamma draws reproducible from ``generator`` (torch's Gamma sampler only uses the global RNG)."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.gamma(shape, scale, size=size)).float()


# -- Gaussian-process prior ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class GPConfig:
    """Functions f ~ GP(0, k) at x ~ U(-1, 1), y = f + noise, then min-max scaled.

    The RBF length-scale is drawn per task log-uniformly from ``lengthscale_range``; the linear kernel is
    ``bias^2 + x x'``.  ``kernel`` "mixture" draws one of the three kernels per task (equal probabilities).
    """

    kernel: str = "rbf+linear"  # rbf | linear | rbf+linear | mixture
    n_points: int = 25
    lengthscale_range: tuple[float, float] = (0.2, 1.0)
    rbf_variance: float = 1.0
    linear_variance: float = 1.0
    linear_bias: float = 1.0
    noise: float = 0.01
    scale: float = 0.5

    def __post_init__(self) -> None:
        if self.kernel not in (*GP_KERNELS, "mixture"):
            raise ValueError(f"unknown GP kernel {self.kernel!r}; choose one of {(*GP_KERNELS, 'mixture')}")
        lo, hi = self.lengthscale_range
        if not 0 < lo <= hi:
            raise ValueError(f"lengthscale_range must satisfy 0 < low <= high, got {self.lengthscale_range}")
        if self.n_points < 2:
            raise ValueError(f"n_points must be >= 2, got {self.n_points}")


def kernel_matrix(kernel: str, x1: torch.Tensor, x2: torch.Tensor, lengthscale: torch.Tensor | float = 0.5,
                  rbf_variance: float = 1.0, linear_variance: float = 1.0, linear_bias: float = 1.0
                  ) -> torch.Tensor:
    """Batched kernel ``(B, N, M)`` between ``x1 (B, N)`` and ``x2 (B, M)``; lengthscale scalar or ``(B,)``."""
    diff = x1[:, :, None] - x2[:, None, :]
    ls = torch.as_tensor(lengthscale, dtype=x1.dtype).reshape(-1, 1, 1)
    rbf = rbf_variance * torch.exp(-0.5 * (diff / ls) ** 2)
    lin = linear_bias**2 + linear_variance * x1[:, :, None] * x2[:, None, :]
    if kernel == "rbf":
        return rbf
    if kernel == "linear":
        return lin
    if kernel == "rbf+linear":
        return rbf + lin
    raise ValueError(f"unknown kernel {kernel!r}; choose one of {GP_KERNELS}")


class GPPrior:
    """Functions drawn from a Gaussian process (see :class:`GPConfig`)."""

    name = "gp"
    kinds = GP_KERNELS

    def __init__(self, config: GPConfig | None = None, **overrides) -> None:
        base = config or GPConfig()
        self.config = GPConfig(**{**base.__dict__, **overrides})

    def sample(self, batch_size: int, generator: torch.Generator | None = None, split: str = "train"
               ) -> FunctionEpisodes:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        g = generator or torch.Generator().manual_seed(0)
        c = self.config
        T = c.n_points
        x = (torch.rand(batch_size, T, generator=g, dtype=torch.float64) * 2 - 1)
        lo, hi = c.lengthscale_range
        ls = torch.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * torch.rand(batch_size, generator=g,
                                                                                 dtype=torch.float64))
        if c.kernel == "mixture":
            kind = torch.randint(0, len(GP_KERNELS), (batch_size,), generator=g)
        else:
            kind = torch.full((batch_size,), GP_KERNELS.index(c.kernel), dtype=torch.long)
        K = torch.empty(batch_size, T, T, dtype=torch.float64)
        for k, name in enumerate(GP_KERNELS):
            sel = kind == k
            if sel.any():
                K[sel] = kernel_matrix(name, x[sel], x[sel], ls[sel], c.rbf_variance, c.linear_variance,
                                       c.linear_bias)
        L = torch.linalg.cholesky(K + 1e-6 * torch.eye(T, dtype=torch.float64))
        f = (L @ torch.randn(batch_size, T, 1, generator=g, dtype=torch.float64)).squeeze(-1)
        y = f + c.noise * torch.randn(batch_size, T, generator=g, dtype=torch.float64)
        return FunctionEpisodes(rescale(x, c.scale).float(), rescale(y, c.scale).float(), kind)

    def describe(self) -> dict:
        return {"prior": self.name, **self.config.__dict__}


# -- tasks from a file ---------------------------------------------------------------------------------------
class FunctionFileError(ValueError):
    """A function-task CSV that does not follow the documented format."""


# What reading a function-task file kept and excluded (tasks, by reason): the category task files' report.
FunctionFileReport = TaskFileReport


def _number_column(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    values = pd.to_numeric(df[col], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FunctionFileError(f"{path}, line {i + 2}, column {col!r}: expected a finite number, got "
                                f"{df[col].iloc[i]!r}")
    return values


def _input_column(df: pd.DataFrame, path: Path) -> np.ndarray:
    """ERMI's ``input`` column: a one-element list such as ``[107.0]``."""
    out = np.empty(len(df))
    for i, text in enumerate(df["input"]):
        try:
            values = json.loads(str(text))
            if isinstance(values, int | float):
                values = [values]
            if not (isinstance(values, list) and len(values) == 1 and isinstance(values[0], int | float)):
                raise ValueError
        except ValueError:
            raise FunctionFileError(f"{path}, line {i + 2}, column 'input': expected one number or a one-element "
                                    f"list like '[107.0]', got {text!r}") from None
        if not math.isfinite(values[0]):
            raise FunctionFileError(f"{path}, line {i + 2}, column 'input': non-finite value {text!r}")
        out[i] = values[0]
    return out


def read_function_file(path: str | Path, min_points: int = 3) -> tuple[list[np.ndarray], list[np.ndarray],
                                                                       FunctionFileReport]:
    """Read function-learning tasks from a CSV.

    Accepted layouts: columns ``task_id, x, y`` (one row per point), or ERMI's generated-task layout
    ``input, target, trial_id, task_id`` with ``input`` a one-element list such as ``[107.0]``.  Malformed
    cells raise :class:`FunctionFileError` naming the file, line and column.  Tasks with fewer than
    ``min_points`` points or a constant x or y (nothing to learn, and min-max scaling is undefined) are
    excluded and counted in the report.

    Returns per-task arrays ``xs``, ``ys`` (in file order within a task) and the report.
    """
    path = Path(path)
    if not path.is_file():
        raise FunctionFileError(f"function tasks file not found: {path}")
    try:
        df = pd.read_csv(path)
    except Exception as exc:  # pandas raises several types for unreadable CSVs
        raise FunctionFileError(f"{path}: not a readable CSV ({exc})") from exc
    cols = set(df.columns)
    if {"task_id", "x", "y"} <= cols:
        x, y = _number_column(df, "x", path), _number_column(df, "y", path)
    elif {"task_id", "input", "target"} <= cols:
        x, y = _input_column(df, path), _number_column(df, "target", path)
    else:
        raise FunctionFileError(f"{path}: expected columns 'task_id, x, y' (or ERMI's 'input, target, trial_id, "
                                f"task_id'); found {list(df.columns)}")
    if df["task_id"].isna().any():
        i = int(np.flatnonzero(df["task_id"].isna().to_numpy())[0])
        raise FunctionFileError(f"{path}, line {i + 2}, column 'task_id': empty task id")
    report = FunctionFileReport(str(path), n_rows=len(df))
    reasons = {f"fewer than {min_points} points": 0, "constant x": 0, "constant y": 0}
    xs, ys = [], []
    order = df.sort_values("trial_id", kind="stable").index if "trial_id" in cols else df.index
    frame = pd.DataFrame({"task_id": df["task_id"], "x": x, "y": y}).loc[order]
    for _, task in frame.groupby("task_id", sort=True):
        report.n_tasks += 1
        tx, ty = task["x"].to_numpy(np.float64), task["y"].to_numpy(np.float64)
        if len(tx) < min_points:
            reasons[f"fewer than {min_points} points"] += 1
        elif np.ptp(tx) == 0:
            reasons["constant x"] += 1
        elif np.ptp(ty) == 0:
            reasons["constant y"] += 1
        else:
            xs.append(tx)
            ys.append(ty)
    report.n_kept = len(xs)
    report.excluded = reasons
    return xs, ys, report


class FunctionFilePrior:
    """Function-learning tasks from a CSV (see :func:`read_function_file`), resampled to ``n_points``.

    Tasks are split 80/10/10 (train/val/test) in a fixed random order given by ``seed``.  Each episode
    shuffles a task's rows and draws ``n_points`` of them with replacement, then min-max scales x and y.
    """

    name = "file"
    kinds = ("file",)

    def __init__(self, path: str | Path, n_points: int = 25, scale: float = 0.5, seed: int = 0,
                 min_points: int = 3) -> None:
        xs, ys, self.report = read_function_file(path, min_points)
        if len(xs) < 10:
            raise FunctionFileError(f"{self.report}: fewer than 10 usable tasks, cannot split 80/10/10")
        self.path, self.n_points, self.scale, self.seed = str(path), n_points, scale, seed
        perm = np.random.default_rng(seed).permutation(len(xs))
        n_train, n_val = int(0.8 * len(xs)), int(0.1 * len(xs))
        idx = {"train": perm[:n_train], "val": perm[n_train:n_train + n_val], "test": perm[n_train + n_val:]}
        self.tasks = {s: [(torch.tensor(xs[i]), torch.tensor(ys[i])) for i in ix] for s, ix in idx.items()}

    def sample(self, batch_size: int, generator: torch.Generator | None = None, split: str = "train"
               ) -> FunctionEpisodes:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        g = generator or torch.Generator().manual_seed(0)
        pool = self.tasks[split]
        if not pool:
            raise ValueError(f"{self.path}: the {split} split is empty")
        which = torch.randint(0, len(pool), (batch_size,), generator=g)
        x = torch.empty(batch_size, self.n_points, dtype=torch.float64)
        y = torch.empty_like(x)
        for b, i in enumerate(which.tolist()):
            tx, ty = pool[i]
            rows = torch.randint(0, len(tx), (self.n_points,), generator=g)
            x[b], y[b] = tx[rows], ty[rows]
        return FunctionEpisodes(rescale(x, self.scale).float(), rescale(y, self.scale).float(),
                                torch.zeros(batch_size, dtype=torch.long))

    def describe(self) -> dict:
        return {"prior": self.name, "path": self.path, "n_points": self.n_points, "scale": self.scale,
                "seed": self.seed, "kept": self.report.n_kept, "excluded": self.report.excluded,
                "split_sizes": {s: len(t) for s, t in self.tasks.items()}}


FUNCTION_PRIORS = ("lucas", "gp", "file")


def make_function_prior(name: str, *, n_points: int = 25, tasks_file: str | Path | None = None,
                        lucas: LucasConfig | None = None, gp: GPConfig | None = None, seed: int = 0):
    """A prior by name: ``lucas`` (Lucas et al. 2015 mixture), ``gp`` or ``file`` (needs ``tasks_file``)."""
    if name == "lucas":
        return LucasMixturePrior(lucas or LucasConfig(), n_points=n_points)
    if name == "gp":
        return GPPrior(gp or GPConfig(), n_points=n_points)
    if name == "file":
        if tasks_file is None:
            raise ValueError("the file prior needs a tasks file (--tasks-file)")
        return FunctionFilePrior(tasks_file, n_points=n_points, seed=seed)
    raise ValueError(f"unknown function prior {name!r}; choose one of {FUNCTION_PRIORS}")
