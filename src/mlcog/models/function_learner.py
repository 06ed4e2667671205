"""A meta-learner for 1-D function learning: a causal transformer with a Gaussian output head.

Built from the category meta-learner's blocks (:class:`~mlcog.models.metalearner.DecoderCore`), with ERMI's
``TransformerDecoderRegression`` interface:

* token t = ``[x_t, y_{t-1}]``, the current input and the previous target (0 at t = 0, as ERMI's synthetic
  environment), so the prediction for y_t depends on x_t and the labelled points before it only;
* head: ``Linear(d_model -> 2)`` gives the mean and log standard deviation of a Gaussian over y_t;
  training minimises the Gaussian negative log-likelihood.

Evaluation (:meth:`FunctionLearner.predict`) reads the predictive mean at query inputs after a labelled
context; all queries share one pass (each query attends to the whole context and to itself only).

Defaults are ERMI's size: d_model 64, 8 heads, 6 layers, feed-forward 256, dropout 0.1.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mlcog.models.checkpoint import CheckpointError, load_weights, read_metadata, save_model
from mlcog.models.metalearner import DecoderCore, MetaLearnerConfig

LOG_STD_RANGE = (-7.0, 3.0)  # keeps exp() finite early in training; far outside the scale of [-0.5, 0.5] data


@dataclass(frozen=True)
class FunctionLearnerConfig:
    d_model: int = 64
    n_heads: int = 8
    n_layers: int = 6
    d_ff: int = 256
    dropout: float = 0.1
    max_len: int = 128

    def core_config(self) -> MetaLearnerConfig:
        return MetaLearnerConfig(arch="decoder", n_features=1, d_model=self.d_model, n_heads=self.n_heads,
                                 n_layers=self.n_layers, d_ff=self.d_ff, dropout=self.dropout,
                                 max_len=self.max_len)

    def to_dict(self) -> dict:
        return asdict(self)


class FunctionLearner(nn.Module):
    """``forward(x, y) -> (mean, std)``, each ``(B, T)``: the predictive Gaussian of y_t given x_t and
    the pairs before t."""

    def __init__(self, config: FunctionLearnerConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = nn.Linear(2, config.d_model)
        self.core = DecoderCore(config.core_config())
        self.head = nn.Linear(config.d_model, 2)

    def _gaussian(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(h)
        return out[..., 0], torch.exp(out[..., 1].clamp(*LOG_STD_RANGE))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dim() != 2 or y.shape != x.shape:
            raise ValueError(f"x and y must both be (B, T); got {tuple(x.shape)} and {tuple(y.shape)}")
        prev = F.pad(y, (1, 0))[:, :-1]  # y_{t-1}, 0 at t = 0
        tok = torch.stack([x, prev.to(x.dtype)], dim=-1)
        return self._gaussian(self.core(self.embed(tok)))

    @torch.no_grad()
    def predict(self, ctx_x: torch.Tensor, ctx_y: torch.Tensor, query_x: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predictive mean and s.d. ``(B, Q)`` at ``query_x (B, Q)`` after the labelled context ``(B, C)``.

        Equivalent to running Q sequences ``context + query`` separately: every query sits at position C,
        carries the last context target as its feedback slot, and attends to the context and itself only.
        """
        B, C = ctx_x.shape
        Q = query_x.shape[1]
        if C + 1 > self.config.max_len:
            raise ValueError(f"a context of {C} points exceeds the model's max_len {self.config.max_len} - 1")
        prev_ctx = F.pad(ctx_y, (1, 0))[:, :-1]
        last = ctx_y[:, -1:].expand(B, Q) if C else torch.zeros(B, Q, dtype=query_x.dtype, device=query_x.device)
        tok = torch.stack([torch.cat([ctx_x, query_x], 1), torch.cat([prev_ctx, last], 1)], dim=-1)
        allowed = torch.ones(C + Q, C + Q, dtype=torch.bool, device=ctx_x.device).tril()
        allowed[C:, C:] = torch.eye(Q, dtype=torch.bool, device=ctx_x.device)
        positions = torch.cat([torch.arange(C), torch.full((Q,), C)]).to(ctx_x.device)
        h = self.core(self.embed(tok), attn_mask=allowed, positions=positions)
        return self._gaussian(h[:, C:])

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


def gaussian_nll(mean: torch.Tensor, std: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean negative log-density of y under N(mean, std^2), over all positions."""
    return (torch.log(std) + 0.5 * ((y - mean) / std) ** 2).mean() + 0.5 * math.log(2 * math.pi)


def save_function_model(path: str | Path, model: FunctionLearner, **metadata: object) -> None:
    """Weights + config, tagged so that :func:`load_function_learner` refuses other checkpoints."""
    save_model(path, model, kind="function_learner", **metadata)


def load_function_learner(path: str | Path) -> FunctionLearner:
    """Rebuild a :class:`FunctionLearner` from a ``model.safetensors`` written by the function trainer."""
    meta = read_metadata(path)
    if meta.get("kind") != "function_learner":
        raise CheckpointError(f"{path}: not a function-learner checkpoint (kind {meta.get('kind')!r})")
    model = FunctionLearner(FunctionLearnerConfig(**meta["model_config"]))
    return load_weights(model, path, what="a function learner").eval()


def function_zoo_names() -> list[str]:
    from mlcog.models.zoo import family_names

    return family_names("function")


def resolve_function_model(name_or_path: str | Path) -> Path:
    """A function-zoo name (``lucas``, ``gp``), a checkpoint file or a run directory -> checkpoint path."""
    from mlcog.models.zoo import resolve

    return resolve(name_or_path)


class FunctionLearnerRegressor:
    """A trained function learner behind the classic models' ``fit(x, y)`` / ``predict(x)`` interface.

    ``fit`` stores the labelled points as context; ``predict`` returns the predictive mean at each query,
    averaged over ``n_orders`` random orders of the context (the network is order-sensitive; people in
    the experiments saw the training points in random order).
    """

    def __init__(self, source: str | Path | FunctionLearner, n_orders: int = 10, seed: int = 0,
                 name: str | None = None) -> None:
        self.network = source if isinstance(source, FunctionLearner) else load_function_learner(
            resolve_function_model(source))
        self.network.eval()
        self.n_orders, self.seed = n_orders, seed
        self.name = name or (str(source) if not isinstance(source, FunctionLearner) else "function-learner")

    def fit(self, x, y) -> FunctionLearnerRegressor:
        self.x_ = torch.as_tensor(x, dtype=torch.float32).reshape(-1)
        self.y_ = torch.as_tensor(y, dtype=torch.float32).reshape(-1)
        if len(self.x_) != len(self.y_):
            raise ValueError(f"x and y must have the same length, got {len(self.x_)} and {len(self.y_)}")
        return self

    def predict(self, x, return_std: bool = False):
        q = torch.as_tensor(x, dtype=torch.float32).reshape(1, -1)
        g = torch.Generator().manual_seed(self.seed)
        orders = torch.stack([torch.randperm(len(self.x_), generator=g) for _ in range(self.n_orders)])
        mean, std = self.network.predict(self.x_[orders], self.y_[orders], q.expand(self.n_orders, -1))
        m = mean.mean(0).double().numpy()
        if not return_std:
            return m
        return m, std.mean(0).double().numpy()

    @torch.no_grad()
    def sequential(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Predictive means ``(B, T)`` of each y_t from the points before it (one causal pass)."""
        return self.network(x.float(), y.float())[0]
