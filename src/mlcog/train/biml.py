"""Meta-training BIML (Lake & Baroni 2023) on random-grammar episodes, and the basic seq2seq baseline.

Each step draws ``batch_size`` fresh episodes from the meta-grammar (grammars equal to a validation grammar
or to MiniSCAN are rejected), turns each into its query sequences under ``variant`` (study items as copy
queries first, then the 10 generalisation queries with bias / noise transforms), and minimises the
token-level cross-entropy over all non-pad target tokens.  AdamW (lr 1e-3, betas 0.9/0.95, wd 0.01); the
learning rate warms up linearly from 1e-4 x lr over the first epoch, stays at lr for the second, then decays
linearly per epoch to 0.05 x lr at the last (the original schedule).  Validation loss on fixed plain
``algebraic`` episodes every ``eval_every`` steps; ``best.safetensors`` keeps the weights with the lowest
validation loss seen after ``save_best_skip`` of training (the paper's early-stopping variant).

The original trained on 100,000 pre-generated episodes for 50 epochs; here episodes are generated on the fly
(an endless stream from a seeded generator whose state is checkpointed, so ``resume`` continues exactly).

``variant="basic_seq2seq"`` is the paper's non-meta-learned baseline: plain seq2seq on the 14 study pairs of
the gold task (no study context, one fixed word/colour assignment, no re-mapping).

Run directory (as :mod:`mlcog.train.decision`): ``config.json``, ``model.safetensors`` (latest weights),
``best.safetensors``, ``checkpoint.safetensors``, ``metrics.jsonl``, ``tb/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mlcog.config import DictConfig
from mlcog.models.checkpoint import CheckpointError, load_weights, read_metadata, save_model
from mlcog.models.seq2seq import OUT_PAD, Seq2SeqConfig, Seq2SeqTransformer, encode_batch, source_tokens
from mlcog.tasks.biml import VARIANTS, EpisodeConfig, sample_episode, training_queries, validation_episodes
from mlcog.train.common import (
    MetricsLog,
    StopFlag,
    open_run,
    pick_device,
    restore_optimizer,
    save_training_checkpoint,
)

ALL_VARIANTS = VARIANTS + ("basic_seq2seq",)


@dataclass(frozen=True)
class BimlTrainConfig(DictConfig):
    """Defaults = the paper's recipe (50 epochs x 4,000 steps of 25 episodes, on a GPU)."""

    variant: str = "algebraic+biases"
    steps: int = 200_000
    steps_per_epoch: int = 4_000
    batch_size: int = 25
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.95
    weight_decay: float = 0.01
    warmup_start: float = 1e-4
    lr_end_factor: float = 0.05
    query_subsample: int = 0  # >0: keep this many random query sequences per episode (a CPU economy)
    n_val: int = 200
    eval_every: int = 100
    save_best_skip: float = 0.2
    checkpoint_every: int = 1000
    seed: int = 0
    device: str = "auto"
    episode: EpisodeConfig = field(default_factory=EpisodeConfig)
    model: Seq2SeqConfig = field(default_factory=Seq2SeqConfig)

    def __post_init__(self) -> None:
        if self.variant not in ALL_VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; expected one of {ALL_VARIANTS}")
        if self.steps < 1 or self.steps_per_epoch < 1 or self.batch_size < 1:
            raise ValueError("steps, steps_per_epoch and batch_size must be positive")


def lr_factor(cfg: BimlTrainConfig, step: int) -> float:
    """Multiplier of ``lr`` at 0-based ``step``: warm-up epoch, one flat epoch, then per-epoch linear decay."""
    epoch = step // cfg.steps_per_epoch
    n_epochs = max(1, -(-cfg.steps // cfg.steps_per_epoch))
    if epoch == 0:
        return cfg.warmup_start + (1 - cfg.warmup_start) * step / cfg.steps_per_epoch
    if n_epochs <= 2:
        return 1.0
    return 1.0 - (1.0 - cfg.lr_end_factor) * min(1.0, (epoch - 1) / (n_epochs - 2))


def episode_sequences(ep, variant: str, rng: np.random.Generator, cfg: BimlTrainConfig):
    """(sources, targets) of one training episode."""
    queries = training_queries(ep, variant, rng, cfg.episode)
    if cfg.query_subsample and cfg.query_subsample < len(queries):
        keep = rng.choice(len(queries), cfg.query_subsample, replace=False)
        queries = [queries[i] for i in sorted(keep)]
    return [source_tokens(x, ep.study) for x, _ in queries], [y for _, y in queries]


def sequence_loss(model: Seq2SeqTransformer, src, dec_in, dec_out) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean token cross-entropy (pads ignored) and per-sequence exact match under teacher forcing."""
    logits = model(src, dec_in)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), dec_out.reshape(-1), ignore_index=OUT_PAD)
    ok = (logits.argmax(-1) == dec_out) | (dec_out == OUT_PAD)
    return loss, ok.all(1).float()


def save_biml_model(path: str | Path, model: Seq2SeqTransformer, **metadata: object) -> None:
    save_model(path, model, kind="biml_seq2seq", **metadata)


def load_biml_model(path: str | Path, map_location: str | torch.device = "cpu") -> Seq2SeqTransformer:
    """A BIML / basic-seq2seq model from a checkpoint file or run directory (``best.safetensors`` first)."""
    path = Path(path)
    if path.is_dir():
        path = path / "best.safetensors" if (path / "best.safetensors").exists() else path / "model.safetensors"
    meta = read_metadata(path)
    if meta.get("kind") != "biml_seq2seq":
        raise CheckpointError(f"{path} is not a BIML seq2seq checkpoint (kind {meta.get('kind')!r})")
    model = Seq2SeqTransformer(Seq2SeqConfig(**meta["model_config"]))
    load_weights(model, path, what="a BIML seq2seq model")
    model.variant = meta.get("train_config", {}).get("variant", "algebraic+biases")
    return model.to(map_location).eval()


class _Batches:
    """The stream of training batches of one variant (state = the numpy generator, JSON-serialisable)."""

    def __init__(self, cfg: BimlTrainConfig, tabu: frozenset) -> None:
        self.cfg, self.tabu = cfg, tabu
        self.rng = np.random.default_rng(cfg.seed)
        if cfg.variant == "basic_seq2seq":
            from mlcog.experiments.biml import basic_seq2seq_pairs

            self.pairs = basic_seq2seq_pairs()

    def next(self):
        if self.cfg.variant == "basic_seq2seq":
            order = self.rng.permutation(len(self.pairs))
            pairs = [self.pairs[i] for i in order]
            return encode_batch([source_tokens(x, []) for x, _ in pairs], [y for _, y in pairs])
        sources, targets = [], []
        for _ in range(self.cfg.batch_size):
            s, t = episode_sequences(sample_episode(self.rng, self.cfg.episode, self.tabu), self.cfg.variant,
                                     self.rng, self.cfg)
            sources += s
            targets += t
        return encode_batch(sources, targets)


def _validation_batches(cfg: BimlTrainConfig, val_eps) -> list[tuple[torch.Tensor, ...]]:
    if cfg.variant == "basic_seq2seq":
        from mlcog.experiments.biml import basic_seq2seq_pairs

        pairs = basic_seq2seq_pairs()  # its training pairs: the gold queries must not select the model
        return [encode_batch([source_tokens(x, []) for x, _ in pairs], [y for _, y in pairs])]
    batches = []
    for i in range(0, len(val_eps), 25):
        sources, targets = [], []
        for ep in val_eps[i:i + 25]:
            for x, y in ep.study + ep.queries:  # plain algebraic episodes (DataAlg('val'))
                sources.append(source_tokens(x, ep.study))
                targets.append(y)
        batches.append(encode_batch(sources, targets))
    return batches


@torch.no_grad()
def validate(model: Seq2SeqTransformer, batches, device) -> dict[str, float]:
    was = model.training
    model.eval()
    total, n_tok, correct, n_seq = 0.0, 0, 0.0, 0
    for src, dec_in, dec_out in batches:
        src, dec_in, dec_out = src.to(device), dec_in.to(device), dec_out.to(device)
        loss, ok = sequence_loss(model, src, dec_in, dec_out)
        k = int((dec_out != OUT_PAD).sum())
        total += float(loss) * k
        n_tok += k
        correct += float(ok.sum())
        n_seq += len(ok)
    model.train(was)
    return {"val_loss": total / n_tok, "val_acc": correct / n_seq}


def train_biml(cfg: BimlTrainConfig, out_dir: str | Path, *, resume: bool = False, command: str | None = None,
               progress: bool = True) -> dict:
    """Train (or resume) a BIML model; returns a summary dict (``interrupted`` True after a signal)."""
    out = Path(out_dir)
    device = pick_device(cfg.device)
    run = open_run(out, cfg, resume, command)
    start, meta, tensors, command = run.step, run.meta, run.tensors, run.command

    val_eps = [] if cfg.variant == "basic_seq2seq" else validation_episodes(cfg.n_val, cfg.seed + 10_007,
                                                                             cfg.episode)
    tabu = frozenset(ep.grammar.key() for ep in val_eps)
    val_batches = _validation_batches(cfg, val_eps)
    torch.manual_seed(cfg.seed)
    model = Seq2SeqTransformer(cfg.model).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2),
                            weight_decay=cfg.weight_decay)
    batches = _Batches(cfg, tabu)
    best = float("inf")
    if tensors is not None:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        restore_optimizer(opt, tensors, meta["optim"])
        batches.rng.bit_generator.state = meta["rng_episodes"]
        torch.set_rng_state(tensors["rng.torch"])
        best = float(meta.get("best_val_loss", float("inf")))

    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps({"train_config": cfg.to_dict(), "command": command,
                                                 "n_params": model.n_params()}, indent=2))
    log = MetricsLog(out, resume_step=start if resume else None)

    def save(step: int, metrics: dict) -> None:
        save_training_checkpoint(out / "checkpoint.safetensors", model, opt, cfg, step, command,
                                 {"rng.torch": torch.get_rng_state()},
                                 rng_episodes=batches.rng.bit_generator.state, best_val_loss=best, **metrics)
        save_biml_model(out / "model.safetensors", model, train_config=cfg.to_dict(), step=step,
                        command=command, **metrics)

    step, metrics, interrupted = start, {}, False
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress, desc=f"train biml {cfg.variant}",
               dynamic_ncols=True)
    with StopFlag() as stop:
        model.train()
        while step < cfg.steps:
            for group in opt.param_groups:
                group["lr"] = cfg.lr * lr_factor(cfg, step)
            src, dec_in, dec_out = (t.to(device) for t in batches.next())
            loss, ok = sequence_loss(model, src, dec_in, dec_out)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            if step % cfg.eval_every == 0 or step == cfg.steps or step == 1:
                metrics = validate(model, val_batches, device)
                log.log(step, train_loss=loss.item(), train_acc=float(ok.mean()), lr=opt.param_groups[0]["lr"],
                        **metrics)
                bar.set_postfix(loss=f"{loss.item():.3f}", val=f"{metrics['val_loss']:.3f}",
                                acc=f"{metrics['val_acc']:.3f}")
                if step >= cfg.save_best_skip * cfg.steps and metrics["val_loss"] < best:
                    best = metrics["val_loss"]
                    save_biml_model(out / "best.safetensors", model, train_config=cfg.to_dict(), step=step,
                                    command=command, **metrics)
            bar.update(1)
            interrupted = stop.requested
            if step % cfg.checkpoint_every == 0 or step == cfg.steps or interrupted:
                save(step, metrics)
            if interrupted:
                break
    bar.close()
    log.close()
    return {"step": step, "interrupted": interrupted, "out_dir": str(out), "best_val_loss": best, **metrics}
