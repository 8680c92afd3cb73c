"""One dataclass config from the JSON dict a checkpoint stored, refusing unknown settings.

Shared by the run configurations (``TextGenConfig``, ``TranslationConfig``,
``ForecastConfig``) so a checkpoint written by a newer or hand-edited version fails with the
names of the settings it cannot place, instead of a bare ``TypeError`` from ``__init__``.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TypeVar

__all__ = ["config_from_dict"]

T = TypeVar("T")


def config_from_dict(cls: type[T], d: dict) -> T:
    """``cls(**d)``, after checking that every key of ``d`` is one of ``cls``'s fields."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown setting(s) {', '.join(unknown)}; valid: "
                         f"{', '.join(sorted(names))}")
    return cls(**d)
