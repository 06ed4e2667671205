"""Metalearning (in-context learning), fine-tuning (in-weight learning) and evaluation for the curricula.

* :func:`metalearn` trains an :class:`ICLTransformer` from scratch on freshly drawn episodes of one rotation
  and one study order (the reference's ``pretrain.py``; both studied and held-out queries are trained).
* :func:`finetune` trains a copy of a model on the studied items of *one* episode, context present, for
  ``n_blocks`` blocks: ``blocked`` alternates group A and group B (A, B, A, B), ``interleaved`` uses all
  studied items every step (``finetune.py``).  From a fresh model this is the "IWL only" control.
* :func:`accuracy` scores queries (all output heads must be right), optionally with an ablation.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from mlcog.models.checkpoint import CheckpointError, load_weights, read_metadata, save_model
from mlcog.models.icl_transformer import ICLTransformer, ICLTransformerConfig
from mlcog.tasks.curriculum import CategoryTask, Episodes, GridTask
from mlcog.train.common import MetricsLog, StopFlag, pick_device

Task = CategoryTask | GridTask
ABLATIONS = ("none", "mask", "noise")


def build_model(task: Task, seed: int, d_model: int = 64, n_heads: int = 8, n_layers: int = 4,
                d_ff: int = 128, split_answer: bool = False) -> ICLTransformer:
    """A freshly initialised transformer sized for ``task`` (same seed, same weights); ``split_answer``
    gives each study example's answer (label, or grid x and y) a position of its own."""
    torch.manual_seed(seed)
    config = ICLTransformerConfig(vocab_size=task.vocab_size, pad_id=task.pad_id, n_out_heads=task.n_heads,
                                  n_classes=task.n_classes, d_model=d_model, n_heads=n_heads,
                                  n_layers=n_layers, d_ff=d_ff, split_answer=task.n_heads if split_answer else 0)
    return ICLTransformer(config)


def query_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over queries and output heads (``logits (B, Q, H, C)``, targets ``(B, Q, H)``).
    """
    return F.cross_entropy(logits.flatten(0, 2), targets.flatten())


def ablation_inputs(kind: str, level: float, n_episodes: int, n_ctx: int, generator: torch.Generator
                    ) -> tuple[torch.Tensor | None, float]:
    """``(ctx_keep, value_noise)`` for an ablation: each study example dropped with probability ``level``
    (``mask``; fresh draws per call, as the reference) or value noise with sd ``level`` (``noise``)."""
    if kind not in ABLATIONS:
        raise ValueError(f"ablation {kind!r} is not one of {ABLATIONS}")
    if kind == "mask" and not 0 <= level <= 1:
        raise ValueError(f"mask probability must be in [0, 1], got {level}")
    if kind == "noise" and level < 0:
        raise ValueError(f"noise sd must be >= 0, got {level}")
    if kind == "mask" and level > 0:
        return torch.rand(n_episodes, n_ctx, generator=generator) >= level, 0.0
    if kind == "noise":
        return None, float(level)
    return None, 0.0


@torch.no_grad()
def accuracy(model: ICLTransformer, eps: Episodes, split: str = "test", ablation: str = "none",
             level: float = 0.0, seed: int = 0) -> torch.Tensor:
    """Per-episode accuracy ``(B,)`` on the ``train`` (studied) or ``test`` (held-out) queries."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    model.eval()
    device = next(model.parameters()).device
    eps = eps.to(device)
    gen = torch.Generator().manual_seed(seed)
    keep, noise = ablation_inputs(ablation, level, eps.n_episodes, eps.ctx.shape[1], gen)
    keep = None if keep is None else keep.to(device)
    x, y = (eps.train_x, eps.train_y) if split == "train" else (eps.test_x, eps.test_y)
    logits = model(eps.ctx, x, ctx_keep=keep, value_noise=noise, generator=gen)
    return (logits.argmax(-1) == y).all(-1).float().mean(1).cpu()


# -- metalearning --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetaConfig:
    """Metalearning on episodes of one rotation and study order (reference: rule-like, blocked).

    The reference trains 60k (category) or up to ~500k (grid) steps of 256 samples; these defaults are sized
    for a 2-core CPU (``n_steps`` x ``batch_size`` episodes, each carrying all of its queries).
    """

    n_steps: int = 1500
    batch_size: int = 32
    lr: float = 1e-3
    rotated: bool = False
    order: str = "blocked"
    d_model: int = 64
    n_heads: int = 8
    n_layers: int = 4
    d_ff: int = 128
    split_answer: bool = False  # each study example as stimulus + answer positions (see ICLTransformerConfig)
    seed: int = 0
    log_every: int = 100
    device: str = "cpu"  # "auto" picks CUDA when available


def _sample(task: Task, n: int, rotated: bool, order: str, seed: int, split: str = "train") -> Episodes:
    if isinstance(task, CategoryTask):
        return task.sample(n, rotated, order, split=split, seed=seed)
    return task.sample(n, rotated, order, seed=seed)


def metalearn(task: Task, cfg: MetaConfig, out_dir: str | Path | None = None) -> ICLTransformer:
    """Train a transformer from scratch so that in-context learning emerges; returns it in eval mode.

    With ``out_dir``: ``metrics.jsonl`` (loss, held-out accuracy) and ``model.safetensors`` are written there.
    """
    device = pick_device(cfg.device)
    model = build_model(task, cfg.seed, cfg.d_model, cfg.n_heads, cfg.n_layers, cfg.d_ff,
                        cfg.split_answer).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    log = None
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        log = MetricsLog(Path(out_dir), tensorboard=False)
    # Training episodes come from seeds cfg.seed * 1e6 + step, far from the evaluation seeds the study uses.
    base = (cfg.seed + 1) * 1_000_000
    with StopFlag() as stop:
        for step in range(cfg.n_steps):
            model.train()
            eps = _sample(task, cfg.batch_size, cfg.rotated, cfg.order, base + step).to(device)
            queries = torch.cat([eps.train_x, eps.test_x], 1)
            targets = torch.cat([eps.train_y, eps.test_y], 1)
            loss = query_loss(model(eps.ctx, queries), targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if log is not None and (step % cfg.log_every == 0 or step == cfg.n_steps - 1):
                val = _sample(task, 16, cfg.rotated, cfg.order, base - 1, split="test")
                log.log(step, loss=loss.item(), val_test_acc=float(accuracy(model, val).mean()))
            if stop.requested:
                break
    if log is not None:
        log.close()
        save_model(Path(out_dir) / "model.safetensors", model, meta_config=asdict(cfg))
    return model.eval()


def load_icl_model(path: str | Path) -> ICLTransformer:
    """A metalearned model saved by :func:`metalearn` (``model.safetensors``), in eval mode on the CPU."""
    meta = read_metadata(path)
    if "model_config" not in meta or "meta_config" not in meta:
        raise CheckpointError(f"{path}: not a curriculum-study checkpoint (no model_config/meta_config)")
    model = ICLTransformer(ICLTransformerConfig(**meta["model_config"]))
    return load_weights(model, path).eval()


# -- fine-tuning ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FinetuneConfig:
    """In-weight learning on one episode's studied items (reference: 4 blocks; steps and lr set for a CPU)."""

    n_blocks: int = 4
    steps_per_block: int = 50
    lr: float = 1e-3
    ablation: str = "none"
    level: float = 0.0

    def __post_init__(self) -> None:
        if self.ablation not in ABLATIONS:
            raise ValueError(f"ablation {self.ablation!r} is not one of {ABLATIONS}")


def block_schedule(curriculum: str, n_blocks: int) -> list[str]:
    """The studied-item group of each block: A, B, A, B, ... (blocked) or 'all' every block (interleaved)."""
    if curriculum == "blocked":
        return ["A" if i % 2 == 0 else "B" for i in range(n_blocks)]
    if curriculum == "interleaved":
        return ["all"] * n_blocks
    raise ValueError(f"curriculum must be 'blocked' or 'interleaved', got {curriculum!r}")


def finetune(model: ICLTransformer, episode: Episodes, curriculum: str, cfg: FinetuneConfig, seed: int = 0
             ) -> tuple[ICLTransformer, list[float]]:
    """Fine-tune a copy of ``model`` on the studied items of one episode; returns it and the loss curve."""
    if episode.n_episodes != 1:
        raise ValueError(f"finetune takes one episode, got {episode.n_episodes}")
    tuned = copy.deepcopy(model).train()
    episode = episode.to(next(model.parameters()).device)
    opt = torch.optim.Adam(tuned.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(seed)
    groups = {"A": episode.train_group[0] == 0, "B": episode.train_group[0] == 1,
              "all": torch.ones_like(episode.train_group[0], dtype=torch.bool)}
    losses = []
    for block in block_schedule(curriculum, cfg.n_blocks):
        sel = groups[block]
        x, y = episode.train_x[:, sel], episode.train_y[:, sel]
        for _ in range(cfg.steps_per_block):
            keep, noise = ablation_inputs(cfg.ablation, cfg.level, 1, episode.ctx.shape[1], gen)
            keep = None if keep is None else keep.to(episode.ctx.device)
            loss = query_loss(tuned(episode.ctx, x, ctx_keep=keep, value_noise=noise, generator=gen), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return tuned.eval(), losses
