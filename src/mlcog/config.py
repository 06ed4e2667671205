"""Frozen dataclass configs to and from plain dicts (JSON in ``config.json`` and checkpoint metadata).

Every training config nests other configs (model, episodes, prior) and keeps sequences as tuples so that it
stays hashable and comparable; JSON has neither, so reading a config back rebuilds the nested dataclasses and
turns lists into tuples.  One implementation serves every config, so a resumed run compares equal to the run it
continues.
"""

from __future__ import annotations

import typing
from dataclasses import asdict, fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")


def config_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from ``data`` (as written by :func:`dataclasses.asdict`).

    Missing fields take their defaults; an unknown field raises ``ValueError`` naming it, because silently
    dropping a setting would change what a resumed or reloaded run does.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected a dict of settings, got {type(data).__name__}")
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown setting(s) {unknown}; known: {sorted(names)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kind = hints[name]
        if is_dataclass(kind) and isinstance(value, dict):
            value = config_from_dict(kind, value)
        elif typing.get_origin(kind) is tuple and isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


class DictConfig:
    """Mixin for frozen dataclass configs: ``to_dict()`` and ``from_dict()`` that round-trip through JSON."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]  # subclasses are dataclasses

    @classmethod
    def from_dict(cls, data: dict[str, Any]):  # noqa: ANN206 - returns cls
        return config_from_dict(cls, data)
