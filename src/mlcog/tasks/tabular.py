"""A structural-causal-model prior over tabular classification tasks, for prior-fitted networks (TabPFN-style).

Each task is a small random causal graph run forward on random causes: a random MLP whose every hidden unit is
a node (``h_{l+1} = act(h_l W + b) + noise``, with block-sparse ``W`` so that nodes depend on few parents).
One node of the last layer becomes the target; ``n_features`` other nodes, from any layer (so features can be
causes, siblings or effects of the target), become the features.  The continuous target is cut into
``n_classes`` classes at random quantiles and the class codes are permuted.
To look like real tables, some tasks get categorical features (a feature binned into 2-10 levels with shuffled
integer codes) and skewed features (a random monotone warp).

The choices follow TabPFN v1's MLP/SCM prior (Hollmann et al. 2023) in spirit: random depth, width, noise,
activation and sparsity per task; feature counts log-uniform in ``1..max_features``; classes 2 (half the
tasks) or uniform in ``3..max_classes``.  All rows of a batch share ``n_rows`` and the context size
``n_train``; a batch's row count is drawn log-uniformly and its size chosen to keep ``tokens_per_batch``
rows per step, so short and long contexts cost the same.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

_ACTIVATIONS = {
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "leaky_relu": lambda z: np.where(z > 0, z, 0.1 * z),
    "sin": np.sin,
    "abs": np.abs,
    "softplus": lambda z: np.logaddexp(0.0, z),
    "square": lambda z: z * z,
}


@dataclass(frozen=True)
class TabularPriorConfig:
    max_features: int = 100
    max_classes: int = 10
    min_rows: int = 64
    max_rows: int = 1024
    tokens_per_batch: int = 8192  # rows per step; tasks per batch = tokens_per_batch // n_rows
    min_train_frac: float = 0.2  # the context is this fraction of the rows at least ...
    max_train_frac: float = 0.9  # ... and at most this
    min_train_rows: int = 8
    p_binary: float = 0.5
    max_layers: int = 4
    min_hidden: int = 8
    max_hidden: int = 64
    max_causes: int = 16
    noise_min: float = 1e-3
    noise_max: float = 0.5
    max_sparsity: float = 0.8  # fraction of weights zeroed, drawn per task in [0, max_sparsity]
    p_categorical_task: float = 0.3  # tasks with some categorical features ...
    max_categorical_frac: float = 0.7  # ... and at most this fraction of them categorical
    p_warp_task: float = 0.3  # tasks whose features get a random monotone (skewing) warp

    def __post_init__(self) -> None:
        if not 2 <= self.max_classes:
            raise ValueError(f"max_classes must be >= 2, got {self.max_classes}")
        if not 1 <= self.max_features:
            raise ValueError(f"max_features must be >= 1, got {self.max_features}")
        if not self.min_rows <= self.max_rows or self.min_rows < 2 * self.min_train_rows:
            raise ValueError(f"need 2 * min_train_rows <= min_rows <= max_rows, got min_train_rows "
                             f"{self.min_train_rows}, rows {self.min_rows}..{self.max_rows}")
        if not 0 < self.min_train_frac <= self.max_train_frac < 1:
            raise ValueError("need 0 < min_train_frac <= max_train_frac < 1")
        if self.tokens_per_batch < self.max_rows:
            raise ValueError(f"tokens_per_batch ({self.tokens_per_batch}) must hold one task of max_rows "
                             f"({self.max_rows})")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TabularBatch:
    """``x`` (B, N, max_features) raw features, zero beyond each task's ``n_features``; ``y`` (B, N) codes
    in ``0..n_classes-1``; the first ``n_train`` rows of every task are the context, the rest are queries."""

    x: torch.Tensor
    y: torch.Tensor
    n_features: torch.Tensor  # (B,) long
    n_classes: torch.Tensor  # (B,) long
    n_train: int

    def to(self, device: torch.device | str) -> TabularBatch:
        return TabularBatch(self.x.to(device), self.y.to(device), self.n_features.to(device),
                            self.n_classes.to(device), self.n_train)


def _log_uniform_int(rng: np.random.Generator, lo: int, hi: int) -> int:
    return int(np.clip(np.round(np.exp(rng.uniform(np.log(lo), np.log(hi + 1)) - 0.5)), lo, hi))


def _warp(rng: np.random.Generator, col: np.ndarray) -> np.ndarray:
    z = (col - col.mean()) / (col.std() + 1e-8)
    kind = rng.integers(3)
    if kind == 0:
        return np.exp(rng.uniform(0.5, 2.0) * z)  # log-normal-like right skew
    if kind == 1:
        return np.sign(z) * np.abs(z) ** rng.uniform(1.5, 3.0)  # heavy tails
    return np.log1p(np.exp(rng.uniform(1.0, 4.0) * z))  # floor effect


def _categorical(rng: np.random.Generator, col: np.ndarray) -> np.ndarray:
    levels = int(rng.integers(2, 11))
    edges = np.quantile(col, np.sort(rng.uniform(0, 1, levels - 1)))
    codes = np.searchsorted(edges, col)
    return rng.permutation(levels)[codes].astype(np.float64)  # nominal: the code order carries no meaning


def sample_task(cfg: TabularPriorConfig, rng: np.random.Generator, n_rows: int, n_features: int,
                n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One task: features (n_rows, n_features) and class codes (n_rows,) from a random SCM."""
    n_layers = int(rng.integers(1, cfg.max_layers + 1))
    width = max(_log_uniform_int(rng, cfg.min_hidden, cfg.max_hidden), -(-(n_features + 1) // n_layers))
    n_causes = int(rng.integers(1, cfg.max_causes + 1))
    act = _ACTIVATIONS[rng.choice(list(_ACTIVATIONS))]
    noise = float(np.exp(rng.uniform(np.log(cfg.noise_min), np.log(cfg.noise_max))))
    sparsity = rng.uniform(0, cfg.max_sparsity)
    if rng.random() < 0.5:
        h = rng.normal(0, rng.uniform(0.5, 2.0, n_causes), (n_rows, n_causes))
    else:
        h = rng.uniform(-1, 1, (n_rows, n_causes)) * rng.uniform(0.5, 2.0, n_causes)
    nodes = []
    for _ in range(n_layers):
        w = rng.normal(0, 1 / np.sqrt(h.shape[1]), (h.shape[1], width))
        w *= rng.random(w.shape) >= sparsity
        w[rng.integers(h.shape[1], size=width), np.arange(width)] += rng.normal(0, 1, width)  # >= 1 parent
        h = act(h @ w + rng.normal(0, 0.5, width)) + rng.normal(0, noise, (n_rows, width))
        h = (h - h.mean(0)) / (h.std(0) + 1e-8)  # keeps deep graphs from saturating or exploding
        nodes.append(h)
    target_idx = int(rng.integers(width))
    target = nodes[-1][:, target_idx]
    pool = np.concatenate(nodes, axis=1)
    pool = np.delete(pool, pool.shape[1] - width + target_idx, axis=1)
    x = pool[:, rng.choice(pool.shape[1], n_features, replace=False)]
    # Classes: cuts at random quantiles of the target, class proportions Dirichlet(2): mostly balanced,
    # sometimes skewed (cuts at the values of random rows would leave many two-class tasks at 95:5).
    cuts = np.quantile(target, np.cumsum(rng.dirichlet(np.full(n_classes, 2.0)))[:-1])
    y = rng.permutation(n_classes)[np.searchsorted(cuts, target)]
    if rng.random() < cfg.p_warp_task:
        for j in np.flatnonzero(rng.random(n_features) < 0.5):
            x[:, j] = _warp(rng, x[:, j])
    if rng.random() < cfg.p_categorical_task:
        for j in np.flatnonzero(rng.random(n_features) < rng.uniform(0, cfg.max_categorical_frac)):
            x[:, j] = _categorical(rng, x[:, j])
    return x, y


def sample_batch(cfg: TabularPriorConfig, rng: np.random.Generator) -> TabularBatch:
    """A batch of tasks sharing a row count and a context size (see the module docstring)."""
    n_rows = _log_uniform_int(rng, cfg.min_rows, cfg.max_rows)
    n_tasks = max(1, cfg.tokens_per_batch // n_rows)
    n_train = int(np.clip(round(rng.uniform(cfg.min_train_frac, cfg.max_train_frac) * n_rows),
                          cfg.min_train_rows, n_rows - 1))
    x = np.zeros((n_tasks, n_rows, cfg.max_features), dtype=np.float32)
    y = np.zeros((n_tasks, n_rows), dtype=np.int64)
    n_feat = np.zeros(n_tasks, dtype=np.int64)
    n_cls = np.zeros(n_tasks, dtype=np.int64)
    for b in range(n_tasks):
        f = _log_uniform_int(rng, 1, cfg.max_features)
        k = 2 if cfg.max_classes == 2 or rng.random() < cfg.p_binary else int(rng.integers(3, cfg.max_classes + 1))
        xb, yb = sample_task(cfg, rng, n_rows, f, k)
        x[b, :, :f], y[b], n_feat[b], n_cls[b] = xb, yb, f, k
    return TabularBatch(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(n_feat),
                        torch.from_numpy(n_cls), n_train)
