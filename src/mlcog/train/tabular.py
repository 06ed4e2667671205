"""Meta-training a tabular prior-fitted network on the SCM prior of :mod:`mlcog.tasks.tabular`.

Each step draws a batch of tasks, shows the network every task's context rows with labels and its query rows
without, and minimises the cross-entropy of the query labels: the network learns the posterior predictive
distribution of the prior (Müller et al. 2022).  AdamW with linear warm-up then cosine decay, gradient
clipping 1.0, bf16 autocast on CUDA.

Run directory layout (as :mod:`mlcog.train.category`): ``config.json``, ``model.safetensors`` (weights and
config; :func:`mlcog.models.tabular_pfn.load_tabular_pfn` reads it), ``checkpoint.safetensors`` (plus
optimiser state, the prior's RNG state and the step, for ``resume``), ``metrics.jsonl`` and ``tb/``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mlcog.config import DictConfig
from mlcog.models.tabular_pfn import TabularPFN, TabularPFNConfig, save_tabular_pfn
from mlcog.tasks.tabular import TabularBatch, TabularPriorConfig, sample_batch
from mlcog.train.common import (
    MetricsLog,
    StopFlag,
    open_run,
    pick_device,
    restore_optimizer,
    save_training_checkpoint,
)


@dataclass(frozen=True)
class TabularTrainConfig(DictConfig):
    """Optimiser defaults as TabPFN v1 (Adam(W), lr 1e-4, warm-up then cosine); ``steps`` is a budget."""

    steps: int = 20_000
    lr: float = 1e-4
    warmup_steps: int = 1000
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 50
    eval_every: int = 500
    eval_batches: int = 8
    checkpoint_every: int = 500
    device: str = "auto"
    prior: TabularPriorConfig = field(default_factory=TabularPriorConfig)
    model: TabularPFNConfig = field(default_factory=TabularPFNConfig)

    def __post_init__(self) -> None:
        if (self.prior.max_features, self.prior.max_classes) != (self.model.max_features, self.model.max_classes):
            raise ValueError(f"prior and model disagree: prior gives <= {self.prior.max_features} features and "
                             f"<= {self.prior.max_classes} classes, model takes {self.model.max_features} "
                             f"and {self.model.max_classes}")


def learning_rate(cfg: TabularTrainConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def query_loss(model: TabularPFN, batch: TabularBatch) -> tuple[torch.Tensor, torch.Tensor]:
    n = batch.n_train
    logits = model(batch.x, batch.y[:, :n], batch.n_features, batch.n_classes)
    target = batch.y[:, n:]
    loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), target.reshape(-1))
    acc = (logits.argmax(-1) == target).float().mean()
    return loss, acc


@torch.no_grad()
def evaluate(model: TabularPFN, batches: list[TabularBatch], device: torch.device) -> dict[str, float]:
    was = model.training
    model.eval()
    losses, accs = zip(*(query_loss(model, b.to(device)) for b in batches), strict=True)
    model.train(was)
    return {"val_loss": float(torch.stack(losses).mean()), "val_acc": float(torch.stack(accs).mean())}


def train_tabular(cfg: TabularTrainConfig, out_dir: str | Path, *, resume: bool = False,
                  command: str | None = None, progress: bool = True) -> dict:
    """Train (or resume) a tabular PFN; returns a summary dict (``interrupted`` True after a signal)."""
    out = Path(out_dir)
    device = pick_device(cfg.device)
    ckpt_path = out / "checkpoint.safetensors"
    run = open_run(out, cfg, resume, command)
    start, meta, tensors, command = run.step, run.meta, run.tensors, run.command

    torch.manual_seed(cfg.seed)
    model = TabularPFN(cfg.model).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    data_rng = np.random.default_rng(cfg.seed * 1000 + 1)
    if tensors is not None:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        restore_optimizer(opt, tensors, meta["optim"])
        data_rng.bit_generator.state = meta["rng_data"]
        torch.set_rng_state(tensors["rng.torch"])
    # validation tasks from their own generator, so validating never shifts the training stream
    val_rng = np.random.default_rng(cfg.seed + 99_991)
    val = [sample_batch(cfg.prior, val_rng) for _ in range(cfg.eval_batches)]

    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps({"train_config": cfg.to_dict(), "command": command}, indent=2))
    log = MetricsLog(out, resume_step=start if resume else None)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")

    def save(step: int, metrics: dict) -> None:
        save_training_checkpoint(ckpt_path, model, opt, cfg, step, command, {"rng.torch": torch.get_rng_state()},
                                 rng_data=data_rng.bit_generator.state, **metrics)
        save_tabular_pfn(out / "model.safetensors", model, train_config=cfg.to_dict(), step=step,
                         command=command, **metrics)

    step, metrics, interrupted = start, {}, False
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress, desc="train tabular", dynamic_ncols=True)
    with StopFlag() as stop:
        model.train()
        while step < cfg.steps:
            for group in opt.param_groups:
                group["lr"] = learning_rate(cfg, step)
            batch = sample_batch(cfg.prior, data_rng).to(device)
            with autocast:
                loss, acc = query_loss(model, batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            if step % cfg.log_every == 0:
                log.log(step, train_loss=loss.item(), train_acc=acc.item(), lr=opt.param_groups[0]["lr"])
            if step % cfg.eval_every == 0 or step == cfg.steps:
                with autocast:
                    metrics = evaluate(model, val, device)
                log.log(step, **metrics)
                bar.set_postfix(val_acc=f"{metrics['val_acc']:.3f}", val_loss=f"{metrics['val_loss']:.3f}")
            bar.update(1)
            interrupted = stop.requested
            if step % cfg.checkpoint_every == 0 or step == cfg.steps or interrupted:
                save(step, metrics)
            if interrupted:
                break
    bar.close()
    log.close()
    return {"step": step, "interrupted": interrupted, "out_dir": str(out), **metrics}
