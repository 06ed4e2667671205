"""Meta-training a decision learner on the paired-comparison environments, optionally resource-bounded.

The loop: sample a batch of tasks from :class:`~mlcog.tasks.decision.DecisionEnv`, predict every choice from
the preceding comparisons, Bernoulli NLL against the feedback, AdamW step with gradient clipping 1.0.
Bounded meta-learned inference (Binz et al. 2022; ERMI's ``--ess``): AdamW's decoupled weight decay is the
resource penalty lambda on the network's weights, annealed linearly from ``lambda_init`` to ``lambda_``
over the first ``anneal_frac`` of the steps, so the network first learns the task and is then squeezed.
lambda = 0 is the unbounded meta-learner.  The original used schedule-free AdamW (not a dependency here);
plain AdamW applies the same decoupled decay.

Run directory layout (as :mod:`mlcog.train.category`): ``config.json``, ``model.safetensors`` (weights and
config; :func:`mlcog.models.decision_learner.load_decision_learner` reads it), ``checkpoint.safetensors``
(plus optimiser state, RNG states and step, for ``resume``), ``metrics.jsonl`` and ``tb/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mlcog.config import DictConfig
from mlcog.models.checkpoint import save_model
from mlcog.models.decision_learner import DecisionLearner, DecisionLearnerConfig
from mlcog.tasks.decision import DecisionEnv, DecisionEnvConfig, DecisionEpisodes
from mlcog.train.common import (
    MetricsLog,
    StopFlag,
    open_run,
    pick_device,
    restore_optimizer,
    save_training_checkpoint,
)


@dataclass(frozen=True)
class DecisionTrainConfig(DictConfig):
    """Defaults follow ERMI's decision recipe (lr 3e-4, batch 64, clipping 1.0, annealing over the first
    16.7% of training) except ``steps`` (the original: 1,000,000)."""

    steps: int = 20_000
    batch_size: int = 64
    lr: float = 3e-4
    lambda_: float = 0.0  # resource penalty (weight decay); the original grid: 0, 0.5, ..., 8
    lambda_init: float = 0.0
    anneal_frac: float = 0.167
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 50
    eval_every: int = 500
    eval_tasks: int = 1024
    checkpoint_every: int = 2000
    device: str = "auto"
    env: DecisionEnvConfig = field(default_factory=DecisionEnvConfig)
    model: DecisionLearnerConfig = field(default_factory=DecisionLearnerConfig)

    def __post_init__(self) -> None:
        if self.model.n_cues != self.env.n_cues:
            raise ValueError(f"model.n_cues ({self.model.n_cues}) must equal env.n_cues ({self.env.n_cues})")
        if self.lambda_ < 0 or self.lambda_init < 0:
            raise ValueError(f"lambda must be >= 0, got {self.lambda_} (init {self.lambda_init})")


def annealed_lambda(cfg: DecisionTrainConfig, step: int) -> float:
    """lambda at ``step``: linear from ``lambda_init`` to ``lambda_`` over ``anneal_frac * steps``, then flat."""
    span = max(1.0, cfg.anneal_frac * cfg.steps)
    return cfg.lambda_init + (cfg.lambda_ - cfg.lambda_init) * min(1.0, step / span)


def bernoulli_nll(logits: torch.Tensor, ep: DecisionEpisodes) -> tuple[torch.Tensor, torch.Tensor]:
    loss = F.binary_cross_entropy_with_logits(logits, ep.y)
    acc = ((logits > 0).float() == ep.y).float().mean()
    return loss, acc


@torch.no_grad()
def evaluate(model: DecisionLearner, ep: DecisionEpisodes) -> dict[str, float]:
    was = model.training
    model.eval()
    loss, acc = bernoulli_nll(model(ep.x, ep.y), ep)
    model.train(was)
    return {"val_loss": float(loss), "val_acc": float(acc), "weight_norm": model.weight_norm()}


def save_decision_model(path: str | Path, model: DecisionLearner, **metadata: object) -> None:
    """Weights + config, tagged so that :func:`load_decision_learner` refuses category checkpoints."""
    save_model(path, model, kind="decision_learner", **metadata)


def train_decision(cfg: DecisionTrainConfig, out_dir: str | Path, *, resume: bool = False,
                   command: str | None = None, progress: bool = True) -> dict:
    """Train (or resume) a decision learner; returns a summary dict (``interrupted`` True after a signal)."""
    out = Path(out_dir)
    device = pick_device(cfg.device)
    ckpt_path = out / "checkpoint.safetensors"
    run = open_run(out, cfg, resume, command)
    start, meta, tensors, command = run.step, run.meta, run.tensors, run.command

    env = DecisionEnv(cfg.env)
    torch.manual_seed(cfg.seed)
    model = DecisionLearner(cfg.model).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=annealed_lambda(cfg, start))
    data_gen = torch.Generator().manual_seed(cfg.seed * 1000 + 1)
    if tensors is not None:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        restore_optimizer(opt, tensors, meta["optim"])
        data_gen.set_state(tensors["rng.data"])
        torch.set_rng_state(tensors["rng.torch"])
    # validation tasks from their own generator, so validating never shifts the training stream
    val = env.sample(cfg.eval_tasks, torch.Generator().manual_seed(cfg.seed + 99_991)).to(device)

    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(
        {"train_config": cfg.to_dict(), "env": env.describe(), "command": command}, indent=2))
    log = MetricsLog(out, resume_step=start if resume else None)

    def save(step: int, metrics: dict) -> None:
        save_training_checkpoint(ckpt_path, model, opt, cfg, step, command,
                                 {"rng.data": data_gen.get_state(), "rng.torch": torch.get_rng_state()}, **metrics)
        save_decision_model(out / "model.safetensors", model, train_config=cfg.to_dict(), step=step,
                            command=command, **metrics)

    step, metrics, interrupted = start, {}, False
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress, desc="train decision", dynamic_ncols=True)
    with StopFlag() as stop:
        model.train()
        while step < cfg.steps:
            lam = annealed_lambda(cfg, step)
            for group in opt.param_groups:
                group["weight_decay"] = lam
            ep = env.sample(cfg.batch_size, data_gen).to(device)
            loss, acc = bernoulli_nll(model(ep.x, ep.y), ep)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            if step % cfg.log_every == 0:
                log.log(step, train_loss=loss.item(), train_acc=acc.item(), lambda_=lam)
            if step % cfg.eval_every == 0 or step == cfg.steps:
                metrics = evaluate(model, val)
                log.log(step, **metrics)
                bar.set_postfix(val_acc=f"{metrics['val_acc']:.3f}", norm=f"{metrics['weight_norm']:.1f}")
            bar.update(1)
            interrupted = stop.requested
            if step % cfg.checkpoint_every == 0 or step == cfg.steps or interrupted:
                save(step, metrics)
            if interrupted:
                break
    bar.close()
    log.close()
    return {"step": step, "interrupted": interrupted, "out_dir": str(out), **metrics}
