"""A prior-fitted network for tabular classification (TabPFN v1's layout, written from its description).

Every row is one token: its features (zero-padded to ``max_features``) embedded linearly, plus, for context
rows, an embedding of its class.  Each layer lets every row attend to the context rows only, so queries never
see each other and the whole query set is scored in one pass; there are no positions, so the prediction does
not depend on the order of the context rows.  The head gives ``max_classes`` logits; classes a task does not
have are masked out.

Inputs are prepared the same way in training and at prediction (:func:`prepare_features`): each feature is
standardised with the context rows' mean and standard deviation, clipped, and the used features are scaled by
``sqrt(max_features / n_features)`` so that tasks with few features give embeddings of the same size as
tasks with many (TabPFN scales by the ratio itself).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from mlcog.models.checkpoint import CheckpointError, load_weights, read_metadata, save_model

KIND = "tabular_pfn"
CLIP = 6.0  # standardised features beyond +-6 sd are clipped: outliers would otherwise dominate a token


@dataclass(frozen=True)
class TabularPFNConfig:
    """Defaults: TabPFN v1's classifier (emsize 512, 12 layers, 4 heads, hidden 1024, <= 100 features,
    <= 10 classes); the bundled zoo model is a small CPU version (see ``mlcog models list --commands``)."""

    max_features: int = 100
    max_classes: int = 10
    d_model: int = 512
    n_heads: int = 4
    n_layers: int = 12
    d_ff: int = 1024
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")

    def to_dict(self) -> dict:
        return asdict(self)


def prepare_features(x: torch.Tensor, n_train: int, n_features: torch.Tensor) -> torch.Tensor:
    """Standardise (B, N, F) features with the first ``n_train`` rows' statistics; zero unused features."""
    ctx = x[:, :n_train]
    mean = ctx.mean(1, keepdim=True)
    std = ctx.std(1, keepdim=True, unbiased=False)
    z = ((x - mean) / torch.where(std > 1e-8, std, torch.ones_like(std))).clamp(-CLIP, CLIP)
    used = torch.arange(x.shape[-1], device=x.device)[None, :] < n_features[:, None]  # (B, F)
    scale = torch.sqrt(x.shape[-1] / n_features.clamp(min=1).to(x.dtype))[:, None, None]
    return z * used[:, None, :] * scale


class _Block(nn.Module):
    """Pre-norm transformer block whose attention reads keys and values from the context rows only."""

    def __init__(self, cfg: TabularPFNConfig) -> None:
        super().__init__()
        self.n_heads, self.dropout = cfg.n_heads, cfg.dropout
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ff = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, h: torch.Tensor, n_train: int) -> torch.Tensor:
        B, N, D = h.shape
        heads = lambda t: t.view(B, t.shape[1], self.n_heads, D // self.n_heads).transpose(1, 2)  # noqa: E731
        q, k, v = self.qkv(self.ln1(h)).split(D, dim=-1)
        att = F.scaled_dot_product_attention(heads(q), heads(k[:, :n_train]), heads(v[:, :n_train]),
                                             dropout_p=self.dropout if self.training else 0.0)
        h = h + self.drop(self.proj(att.transpose(1, 2).reshape(B, N, D)))
        return h + self.drop(self.ff(self.ln2(h)))


class TabularPFN(nn.Module):
    def __init__(self, config: TabularPFNConfig) -> None:
        super().__init__()
        self.config = config
        self.x_embed = nn.Linear(config.max_features, config.d_model)
        self.y_embed = nn.Embedding(config.max_classes, config.d_model)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.n_layers))
        self.ln_f = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.max_classes)

    def forward(self, x: torch.Tensor, y_train: torch.Tensor, n_features: torch.Tensor,
                n_classes: torch.Tensor) -> torch.Tensor:
        """Class logits (B, N - n_train, max_classes) for the query rows of raw features ``x`` (B, N, F)
        given the context labels ``y_train`` (B, n_train); classes >= ``n_classes`` get -inf."""
        B, N, Fx = x.shape
        n_train = y_train.shape[1]
        if Fx != self.config.max_features:
            raise ValueError(f"x has {Fx} feature columns, the model takes {self.config.max_features} (pad)")
        if not 0 < n_train < N:
            raise ValueError(f"need at least one context and one query row, got {n_train} of {N}")
        if int(n_classes.max()) > self.config.max_classes or int(y_train.max()) >= int(n_classes.max()):
            raise ValueError(f"class codes must be < n_classes <= {self.config.max_classes}")
        h = self.x_embed(prepare_features(x, n_train, n_features))
        h = torch.cat([h[:, :n_train] + self.y_embed(y_train), h[:, n_train:]], dim=1)
        for block in self.blocks:
            h = block(h, n_train)
        logits = self.head(self.ln_f(h[:, n_train:]))
        absent = torch.arange(self.config.max_classes, device=x.device)[None, :] >= n_classes[:, None]
        return logits.masked_fill(absent[:, None, :], float("-inf"))


def save_tabular_pfn(path: str | Path, model: TabularPFN, **metadata: object) -> None:
    """Weights + config, tagged ``kind`` so that the category loaders refuse it and vice versa."""
    save_model(path, model, kind=KIND, **metadata)


def is_tabular_pfn(path: str | Path) -> bool:
    return read_metadata(path).get("kind") == KIND


def load_tabular_pfn(path: str | Path, map_location: str | torch.device = "cpu") -> TabularPFN:
    meta = read_metadata(path)
    if meta.get("kind") != KIND:
        raise CheckpointError(f"{path} is not a tabular PFN checkpoint (kind {meta.get('kind')!r})")
    try:
        config = TabularPFNConfig(**meta["model_config"])
    except TypeError as exc:
        raise CheckpointError(f"{path}: model_config does not match TabularPFNConfig ({exc})") from exc
    model = load_weights(TabularPFN(config), path, what="a tabular PFN")
    return model.to(map_location).eval()
