"""Meta-training a function learner (causal transformer, Gaussian head) on a function-learning prior.

The loop: sample a batch of tasks from the prior (:mod:`mlcog.tasks.function`), predict every y_t from x_t
and the pairs before it, Gaussian NLL, Adam step with gradient clipping 1.0 (ERMI's recipe: Adam, lr 3e-4,
batch 64, 25 points per task, 100k steps).

Run directory layout (as :mod:`mlcog.train.decision`): ``config.json``, ``model.safetensors`` (weights and
config; :func:`mlcog.models.function_learner.load_function_learner` reads it), ``checkpoint.safetensors``
(plus optimiser state, RNG states and step, for ``resume``), ``metrics.jsonl`` and ``tb/``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from mlcog.config import DictConfig
from mlcog.models.function_learner import FunctionLearner, FunctionLearnerConfig, gaussian_nll, save_function_model
from mlcog.tasks.function import FUNCTION_PRIORS, FunctionEpisodes, GPConfig, LucasConfig, make_function_prior
from mlcog.train.common import (
    MetricsLog,
    StopFlag,
    open_run,
    pick_device,
    restore_optimizer,
    save_training_checkpoint,
)


@dataclass(frozen=True)
class FunctionTrainConfig(DictConfig):
    """Defaults follow ERMI's function-learning recipe except ``steps`` (the original: 100,000)."""

    prior: str = "lucas"  # lucas | gp | file
    tasks_file: str | None = None
    n_points: int = 25
    steps: int = 20_000
    batch_size: int = 64
    lr: float = 3e-4
    grad_clip: float = 1.0
    seed: int = 0
    log_every: int = 50
    eval_every: int = 500
    eval_tasks: int = 1024
    checkpoint_every: int = 2000
    device: str = "auto"
    lucas: LucasConfig = field(default_factory=LucasConfig)
    gp: GPConfig = field(default_factory=GPConfig)
    model: FunctionLearnerConfig = field(default_factory=FunctionLearnerConfig)

    def __post_init__(self) -> None:
        if self.prior not in FUNCTION_PRIORS:
            raise ValueError(f"unknown function prior {self.prior!r}; choose one of {FUNCTION_PRIORS}")
        if self.prior == "file" and not self.tasks_file:
            raise ValueError("--prior file needs --tasks-file")
        if self.n_points > self.model.max_len:
            raise ValueError(f"n_points ({self.n_points}) exceeds the model's max_len ({self.model.max_len})")

    def make_prior(self):
        return make_function_prior(self.prior, n_points=self.n_points, tasks_file=self.tasks_file,
                                   lucas=self.lucas, gp=self.gp, seed=self.seed)


def episode_loss(model: FunctionLearner, ep: FunctionEpisodes) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian NLL and mean squared error of the predictive mean (both over all positions)."""
    mean, std = model(ep.x, ep.y)
    return gaussian_nll(mean, std, ep.y), ((mean - ep.y) ** 2).mean()


@torch.no_grad()
def evaluate(model: FunctionLearner, ep: FunctionEpisodes) -> dict[str, float]:
    was = model.training
    model.eval()
    nll, mse = episode_loss(model, ep)
    mean, _ = model(ep.x, ep.y)
    late = float(((mean[:, -5:] - ep.y[:, -5:]) ** 2).mean())  # after ~20 points of context
    model.train(was)
    return {"val_nll": float(nll), "val_mse": float(mse), "val_mse_last5": late}


def train_function(cfg: FunctionTrainConfig, out_dir: str | Path, *, resume: bool = False,
                   command: str | None = None, progress: bool = True) -> dict:
    """Train (or resume) a function learner; returns a summary dict (``interrupted`` True after a signal)."""
    out = Path(out_dir)
    device = pick_device(cfg.device)
    ckpt_path = out / "checkpoint.safetensors"
    run = open_run(out, cfg, resume, command)
    start, meta, tensors, command = run.step, run.meta, run.tensors, run.command

    prior = cfg.make_prior()
    torch.manual_seed(cfg.seed)
    model = FunctionLearner(cfg.model).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    data_gen = torch.Generator().manual_seed(cfg.seed * 1000 + 1)
    if tensors is not None:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        restore_optimizer(opt, tensors, meta["optim"])
        data_gen.set_state(tensors["rng.data"])
        torch.set_rng_state(tensors["rng.torch"])
    # validation tasks from their own generator (the training mixture), so validating never shifts training
    val = prior.sample(cfg.eval_tasks, torch.Generator().manual_seed(cfg.seed + 99_991), split="val"
                       if cfg.prior == "file" else "train").to(device)

    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(
        {"train_config": cfg.to_dict(), "prior": prior.describe(), "command": command}, indent=2, default=str))
    log = MetricsLog(out, resume_step=start if resume else None)

    def save(step: int, metrics: dict) -> None:
        save_training_checkpoint(ckpt_path, model, opt, cfg, step, command,
                                 {"rng.data": data_gen.get_state(), "rng.torch": torch.get_rng_state()}, **metrics)
        save_function_model(out / "model.safetensors", model, train_config=cfg.to_dict(), step=step,
                            command=command, **metrics)

    step, metrics, interrupted = start, {}, False
    t0 = time.perf_counter()
    bar = tqdm(total=cfg.steps, initial=start, disable=not progress, desc="train function", dynamic_ncols=True)
    with StopFlag() as stop:
        model.train()
        while step < cfg.steps:
            ep = prior.sample(cfg.batch_size, data_gen).to(device)
            loss, mse = episode_loss(model, ep)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            step += 1
            if step % cfg.log_every == 0:
                log.log(step, train_nll=loss.item(), train_mse=mse.item())
            if step % cfg.eval_every == 0 or step == cfg.steps:
                metrics = evaluate(model, val)
                log.log(step, **metrics)
                bar.set_postfix(val_nll=f"{metrics['val_nll']:.3f}", val_mse=f"{metrics['val_mse']:.4f}")
            bar.update(1)
            interrupted = stop.requested
            if step % cfg.checkpoint_every == 0 or step == cfg.steps or interrupted:
                save(step, metrics)
            if interrupted:
                break
    bar.close()
    log.close()
    elapsed = time.perf_counter() - t0
    return {"step": step, "interrupted": interrupted, "out_dir": str(out),
            "steps_per_s": (step - start) / max(elapsed, 1e-9), **metrics}
