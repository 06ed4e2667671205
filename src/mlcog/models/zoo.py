"""The pretrained zoo: small checkpoints shipped inside the package, addressed by name.

Every command that takes a model accepts a zoo name (``mi-dim3``) or a path to a checkpoint file or run
directory.  Each checkpoint records in its metadata the exact ``mlcog train`` command that reproduces it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from mlcog.models.checkpoint import CheckpointError, model_from_checkpoint, read_metadata
from mlcog.models.metalearner import MetaLearner

# Names follow the ERMI paper: MI = linear prior, PFN = random-MLP prior, RMC = Anderson's rational model.
PRIOR_ALIASES = {"linear": "mi", "mlp": "pfn", "rmc": "rmc", "file": "ermi", "real": "real"}


def zoo_dir() -> Path:
    return Path(str(resources.files("mlcog") / "zoo"))


def zoo_names() -> list[str]:
    return sorted(p.stem for p in zoo_dir().glob("*.safetensors"))


def family_names(family: str) -> list[str]:
    """Zoo models of another family, kept in their own folder (``tabular``, ``decision``, ``rl``, ...)."""
    return sorted(p.stem for p in (zoo_dir() / family).glob("*.safetensors"))


def tabular_zoo_names() -> list[str]:
    """Tabular prior-fitted networks (:mod:`mlcog.models.tabular_pfn`), kept apart from the category models."""
    return family_names("tabular")


def resolve(name_or_path: str | Path) -> Path:
    """A zoo name (of any family), a checkpoint file, or a run directory (its ``model.safetensors``) ->
    checkpoint path."""
    text = str(name_or_path)
    if text in zoo_names():
        return zoo_dir() / f"{text}.safetensors"
    in_families = sorted(zoo_dir().glob(f"*/{text}.safetensors")) if text and "/" not in text else []
    if in_families:
        return in_families[0]
    path = Path(text)
    if path.is_dir():
        path = path / "model.safetensors"
    if path.is_file():
        return path
    names = ", ".join(zoo_names() + [n for family in zoo_families() for n in family_names(family)]) or "none"
    raise CheckpointError(f"no zoo model or checkpoint named {text!r}; zoo models: {names} "
                          "(or give a path to a .safetensors file or a run directory)")


def load_model(name_or_path: str | Path, map_location: str = "cpu") -> MetaLearner:
    """Load a meta-learner by zoo name or path, in eval mode."""
    return model_from_checkpoint(resolve(name_or_path), map_location=map_location)


def zoo_families() -> list[str]:
    return sorted(p.name for p in zoo_dir().iterdir() if p.is_dir() and any(p.glob("*.safetensors")))


def zoo_table() -> pd.DataFrame:
    """One row per zoo model of every family: prior, inputs, architecture, size, training steps, final
    validation metric and the command that trained it."""
    rows = []
    entries = [("category", name) for name in zoo_names()]
    entries += [(family, name) for family in zoo_families() for name in family_names(family)]
    for family, name in entries:
        path = zoo_dir() / f"{name}.safetensors" if family == "category" else zoo_dir() / family / f"{name}.safetensors"
        meta = read_metadata(path)
        cfg, train = meta.get("model_config", {}), meta.get("train_config", {})
        prior = train.get("prior", train.get("variant", train.get("env", {}).get("condition")
                                             if isinstance(train.get("env"), dict) else train.get("env")))
        if isinstance(prior, dict):  # the tabular PFN's prior is a config: name it by its limits
            prior = f"scm (<= {prior['max_features']} features, <= {prior['max_classes']} classes)"
        metric = next((f"{k} {meta[k]:.3g}" for k in ("val_acc", "val_mse", "val_loss")
                       if isinstance(meta.get(k), float)), None)
        rows.append({"name": name, "family": family, "prior": prior,
                     "features": cfg.get("n_features", cfg.get("max_features", cfg.get("n_cues"))),
                     "arch": cfg.get("arch", family), "layers": cfg.get("n_layers", cfg.get("n_encoder_layers")),
                     "d_model": cfg.get("d_model"),
                     "steps": meta.get("step"), "validation": metric,
                     "size_kb": round(path.stat().st_size / 1024), "command": meta.get("command")})
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    for col in ("features", "layers", "d_model", "steps"):  # integers with gaps, not floats
        table[col] = table[col].astype("Int64")
    return table
