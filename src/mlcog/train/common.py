"""Pieces every training loop shares: devices, distributed set-up, graceful stops, metrics and optimiser state."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.distributed as dist


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {name!r} requested but CUDA is not available")
    return torch.device(name)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by ``torchrun`` (WORLD_SIZE > 1); a no-op otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size())


@dataclass
class RunStart:
    """Where a training run starts: step 0, or the state of its last checkpoint (``meta``, ``tensors``)."""

    step: int = 0
    meta: dict | None = None
    tensors: dict[str, torch.Tensor] | None = None
    command: str | None = None


def open_run(out: Path, cfg, resume: bool, command: str | None, *, check_existing: bool = True) -> RunStart:
    """Check a run directory and, with ``resume``, read its checkpoint.

    ``cfg`` is a frozen dataclass config with ``steps``, ``to_dict`` and ``from_dict``.  A resumed run must
    use the same config except ``steps``; a fresh run must not overwrite an existing one (``check_existing``
    is False on the non-main ranks of a distributed run, which never write).
    """
    from mlcog.models.checkpoint import load_tensors, read_metadata

    ckpt_path = out / "checkpoint.safetensors"
    if not resume:
        if check_existing and ckpt_path.exists():
            raise FileExistsError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        return RunStart(command=command)
    if not ckpt_path.exists():
        raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}")
    meta = read_metadata(ckpt_path)
    saved = type(cfg).from_dict(meta["train_config"])
    if replace(saved, steps=cfg.steps) != replace(cfg, steps=cfg.steps):
        raise ValueError(f"--resume: the config differs from the one in {out / 'config.json'}; resume with "
                         "the same options (only --steps may change)")
    return RunStart(int(meta["step"]), meta, load_tensors(ckpt_path), command or meta.get("command"))


class StopFlag:
    """Turns SIGINT/SIGTERM into a request to checkpoint and stop after the current step.

    A second signal restores the default behaviour, so a stuck run can still be killed.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopFlag:
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not in the main thread: signals cannot be caught there
                pass
        return self

    def _handle(self, signum, frame) -> None:
        self.requested = True
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def agreed(self, info: DistInfo) -> bool:
        """Whether any process was asked to stop (all processes must stop at the same step)."""
        if info.world_size == 1:
            return self.requested
        flag = torch.tensor([float(self.requested)])
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


class MetricsLog:
    """Metrics as JSON lines (always) and TensorBoard scalars (when tensorboard is installed)."""

    def __init__(self, out_dir: Path, resume_step: int | None = None, tensorboard: bool = True) -> None:
        self.path = out_dir / "metrics.jsonl"
        if resume_step is not None and self.path.exists():
            # Rows written after the checkpoint belong to steps that will be re-run: drop them so the
            # resumed log equals the log of an uninterrupted run.
            rows = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in rows if r["step"] <= resume_step))
        elif resume_step is None and self.path.exists():
            self.path.unlink()
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(out_dir / "tb"), purge_step=resume_step)
            except ImportError:
                self.writer = None

    def log(self, step: int, **values: float) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps({"step": step, **values}) + "\n")
        if self.writer is not None:
            for k, v in values.items():
                self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimiser state dict into tensors (for safetensors) and JSON-able rest."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optim.{idx}.{key}"] = value
            else:
                scalars[f"{idx}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def save_training_checkpoint(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, cfg, step: int,
                             command: str | None, state: dict[str, torch.Tensor], **metadata: object) -> None:
    """The resumable checkpoint of a training run: ``model.*`` weights, ``optim.*`` state, the loop's own
    tensors in ``state`` (RNG states ``rng.*``, environment or memory state), the config, the step and the
    command, plus any JSON-able ``metadata``."""
    from mlcog.models.checkpoint import atomic_save

    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt_tensors, opt_meta = optimizer_tensors(opt)
    tensors.update(opt_tensors)
    tensors.update(state)
    atomic_save(tensors, path, {"train_config": cfg.to_dict(), "step": step, "optim": opt_meta,
                                "command": command, **metadata})


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, idx, key = name.split(".", 2)
            state.setdefault(int(idx), {})[key] = value
    for name, value in meta["scalars"].items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
