"""Meta-training an in-context category learner on a task prior.

The loop, in order: sample a batch of tasks from the prior, predict every label from the preceding trials,
binary cross-entropy on the real trials, Adam step; every ``eval_every`` steps validate on held-out tasks;
every ``checkpoint_every`` steps (and on SIGINT/SIGTERM) write the full training state atomically.  A resumed
run restores weights, optimiser moments, the data and dropout random states and the step, so it continues
exactly where the interrupted run stopped.

Run directory layout::

    config.json              the full TrainConfig and the command that produced it
    model.safetensors        weights + config (what evaluation and the zoo load)
    checkpoint.safetensors   weights, optimiser state, RNG states, step (what --resume loads)
    metrics.jsonl            train/val metrics, one JSON object per logged step
    tb/                      TensorBoard event files
"""

from __future__ import annotations

import gc
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from mlcog.config import DictConfig
from mlcog.models.checkpoint import save_model
from mlcog.models.metalearner import MetaLearner, MetaLearnerConfig, build_model
from mlcog.tasks.episodes import EpisodeOptions, Episodes
from mlcog.tasks.priors import make_prior
from mlcog.train.common import (
    MetricsLog,
    StopFlag,
    init_distributed,
    open_run,
    pick_device,
    restore_optimizer,
    save_training_checkpoint,
)


@dataclass(frozen=True)
class TrainConfig(DictConfig):
    """Defaults reproduce ERMI's MI dim-3 recipe except ``steps`` (the paper: 500,000)."""

    prior: str = "linear"  # linear | mlp | rmc | file | real
    tasks_file: str | None = None  # generated-tasks CSV for the 'file' prior
    n_trials: int = 100  # episode length (ERMI's max_steps)
    batch_size: int = 64
    steps: int = 10_000
    lr: float = 3e-4  # Adam, no schedule, clipping or weight decay, as the original
    seed: int = 0
    log_every: int = 10
    eval_every: int = 100
    eval_tasks: int = 256  # held-out tasks in the fixed validation set
    checkpoint_every: int = 500
    device: str = "auto"
    amp: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    compile: bool = False  # torch.compile the model
    episodes: EpisodeOptions = field(default_factory=EpisodeOptions)
    model: MetaLearnerConfig = field(default_factory=MetaLearnerConfig)


def masked_bce(logits: torch.Tensor, ep: Episodes) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean BCE and accuracy over real (unpadded) trials."""
    m = ep.mask.float()
    loss = (F.binary_cross_entropy_with_logits(logits.float(), ep.y, reduction="none") * m).sum() / m.sum()
    acc = (((logits > 0).float() == ep.y).float() * m).sum() / m.sum()
    return loss, acc


@torch.no_grad()
def evaluate(model: MetaLearner, ep: Episodes) -> dict[str, float]:
    was_training = model.training
    model.eval()
    loss, acc = masked_bce(model(ep.x, ep.y), ep)
    model.train(was_training)
    return {"val_loss": float(loss), "val_acc": float(acc)}


def _prior_from(cfg: TrainConfig):
    kwargs = {"path": cfg.tasks_file} if cfg.prior == "file" else {}
    if cfg.prior in ("rmc", "file", "real"):
        kwargs["seed"] = cfg.seed
    return make_prior(cfg.prior, cfg.model.n_features, cfg.episodes, **kwargs)


def train_category(cfg: TrainConfig, out_dir: str | Path, *, resume: bool = False, command: str | None = None,
                   progress: bool = True) -> dict:
    """Train (or resume) a meta-learner; returns a summary dict (``interrupted`` is True after a signal)."""
    out = Path(out_dir)
    device = pick_device(cfg.device)
    info = init_distributed(device)
    if cfg.n_trials > cfg.model.max_len:
        raise ValueError(f"n_trials {cfg.n_trials} exceeds the model's max_len {cfg.model.max_len}")

    ckpt_path = out / "checkpoint.safetensors"
    run = open_run(out, cfg, resume, command, check_existing=info.is_main)
    start_step, resume_meta, resume_tensors, command = run.step, run.meta, run.tensors, run.command

    prior = _prior_from(cfg)
    torch.manual_seed(cfg.seed + info.rank)
    model = build_model(cfg.model).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    data_gen = torch.Generator().manual_seed(cfg.seed * 1000 + info.rank)
    if resume_tensors is not None:
        model.load_state_dict({k[6:]: v for k, v in resume_tensors.items() if k.startswith("model.")})
        restore_optimizer(opt, resume_tensors, resume_meta["optim"])
        data_gen.set_state(resume_tensors[f"rng.data.{info.rank}"])
        torch.set_rng_state(resume_tensors[f"rng.torch.{info.rank}"])

    # Fixed validation tasks from the held-out split, drawn from their own generator so that validating
    # never shifts the training stream.
    val = prior.sample(cfg.eval_tasks, cfg.n_trials, torch.Generator().manual_seed(cfg.seed + 99_991),
                       split="val").to(device)
    net = model
    if info.world_size > 1:
        net = torch.nn.parallel.DistributedDataParallel(model)
    if cfg.compile:
        net = torch.compile(net)

    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(
            {"train_config": cfg.to_dict(), "prior": prior.describe(), "command": command}, indent=2))
    log = MetricsLog(out, resume_step=start_step if resume else None) if info.is_main else None

    def save(step: int, val_metrics: dict) -> None:
        gathered = [(data_gen.get_state(), torch.get_rng_state())]
        if info.world_size > 1:
            gathered = [None] * info.world_size
            torch.distributed.all_gather_object(gathered, (data_gen.get_state(), torch.get_rng_state()))
        if not info.is_main:
            return
        rng = {}
        for r, (g, t) in enumerate(gathered):
            rng[f"rng.data.{r}"], rng[f"rng.torch.{r}"] = g, t
        save_training_checkpoint(ckpt_path, model, opt, cfg, step, command, rng,
                                 model_config=cfg.model.to_dict(), **val_metrics)
        save_model(out / "model.safetensors", model, train_config=cfg.to_dict(), step=step, command=command,
                   **val_metrics)

    use_amp = cfg.amp and device.type == "cuda"
    step, val_metrics, interrupted = start_step, {}, False
    bar = tqdm(total=cfg.steps, initial=start_step, disable=not (progress and info.is_main), desc="train",
               dynamic_ncols=True)
    t0, steps_timed = time.perf_counter(), 0
    with StopFlag() as stop:
        net.train()
        while step < cfg.steps:
            ep = prior.sample(cfg.batch_size, cfg.n_trials, data_gen).to(device)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                logits = net(ep.x, ep.y)
            loss, acc = masked_bce(logits, ep)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            steps_timed += 1
            if step % cfg.log_every == 0 and log is not None:
                rate = steps_timed / (time.perf_counter() - t0)
                log.log(step, train_loss=loss.item(), train_acc=acc.item(), steps_per_s=rate)
                bar.set_postfix(loss=f"{loss.item():.3f}", **({"val_acc": f"{val_metrics['val_acc']:.3f}"}
                                                              if val_metrics else {}))
            if step % cfg.eval_every == 0 or step == cfg.steps:
                val_metrics = evaluate(model, val)
                if log is not None:
                    log.log(step, **val_metrics)
            bar.update(1)
            interrupted = stop.agreed(info)
            if step % cfg.checkpoint_every == 0 or step == cfg.steps or interrupted:
                save(step, val_metrics)
            if interrupted:
                break
    bar.close()
    if log is not None:
        log.close()
    if info.world_size > 1:
        # Free DDP first (its reducer holds gloo work objects), then leave the process group in step: exiting
        # with gloo's threads still owning work aborts the process.
        del net
        gc.collect()
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return {"step": step, "interrupted": interrupted, "out_dir": str(out), "is_main": info.is_main,
            "world_size": info.world_size, **val_metrics,
            "steps_per_s": steps_timed / max(time.perf_counter() - t0, 1e-9)}
