"""Checkpoints: safetensors files with the config in their metadata, written atomically, read without pickle.

One file holds everything needed either to use a model (``model.*`` tensors + config) or to resume training
(plus ``optim.*`` tensors, RNG states and the step).  Writing goes to a temporary file in the same directory
followed by :func:`os.replace`, so a crash mid-write never leaves a truncated checkpoint behind.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from mlcog.models.metalearner import MetaLearner, MetaLearnerConfig, build_model

FORMAT = "mlcog-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not match what was asked for."""


def atomic_save(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, object]) -> None:
    """Save tensors with JSON-encoded metadata to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, **{k: json.dumps(v) for k, v in metadata.items()}}
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, tmp, metadata=meta)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; a checkpoint should be readable like any file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_metadata(path: str | Path) -> dict[str, object]:
    """The decoded metadata of a checkpoint (no tensors loaded)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as exc:
        raise CheckpointError(f"{path} is not a safetensors checkpoint ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an mlcog checkpoint (format {meta.get('format')!r}, "
                              f"expected {FORMAT!r})")
    return {k: json.loads(v) for k, v in meta.items() if k != "format"}


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    read_metadata(path)  # validates the format first, with a clear message
    return load_file(str(path))


def save_model(path: str | Path, model: torch.nn.Module, **metadata: object) -> None:
    """Save a model's weights and ``model.config`` (plus any JSON-able metadata, e.g. the training command, or
    ``kind`` for model families whose loaders refuse checkpoints of another kind)."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    atomic_save(tensors, path, {"model_config": model.config.to_dict(), **metadata})


def model_from_checkpoint(path: str | Path, expect_arch: str | None = None,
                          map_location: str | torch.device = "cpu") -> MetaLearner:
    """Rebuild a meta-learner from a checkpoint, checking architecture and weight names."""
    meta = read_metadata(path)
    if "model_config" not in meta:
        raise CheckpointError(f"{path}: no model_config in the checkpoint metadata")
    try:
        config = MetaLearnerConfig(**meta["model_config"])
    except TypeError as exc:
        raise CheckpointError(f"{path}: model_config does not match MetaLearnerConfig ({exc})") from exc
    if expect_arch is not None and config.arch != expect_arch:
        raise CheckpointError(f"{path} holds a {config.arch!r} model, expected a {expect_arch!r} model")
    model = build_model(config)
    load_weights(model, path, what=f"a {config.arch!r} model")
    return model.to(map_location).eval()


def load_weights(model: torch.nn.Module, path: str | Path, what: str = "the recorded config") -> torch.nn.Module:
    """Load a checkpoint's ``model.*`` tensors into ``model``, naming missing, unexpected or misshapen weights."""
    state = {k[len("model."):]: v for k, v in load_tensors(path).items() if k.startswith("model.")}
    own = model.state_dict()
    if set(state) != set(own):
        missing, extra = sorted(set(own) - set(state))[:5], sorted(set(state) - set(own))[:5]
        raise CheckpointError(f"{path}: weights do not match {what} (missing {missing}, unexpected {extra})")
    # Same names but other shapes (weights from a different size than the recorded config) would otherwise
    # surface as load_state_dict's RuntimeError; report them as a checkpoint problem.
    wrong = [f"{k}: {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in state.items()
             if v.shape != own[k].shape]
    if wrong:
        raise CheckpointError(f"{path}: weight shapes do not match {what} "
                              f"(checkpoint vs config: {'; '.join(wrong[:3])})")
    model.load_state_dict(state)
    return model
