"""Reading an application's parts of a checkpoint's extras (issue 14).

Hand-edited or damaged extras (``mode: banana``, ``classes: "ab"``, a tokenizer without its
table, a vocabulary of another size than the model's) are refused when the checkpoint is
loaded, as one ``CheckpointError`` line naming the folder and the part, instead of a
``KeyError``/``TypeError``/``IndexError`` later or output computed from them.
"""

from __future__ import annotations

from contextlib import contextmanager

from ..checkpoint import CheckpointError

__all__ = ["reading_extras", "check_size", "check_field"]

_MALFORMED = (ValueError, KeyError, TypeError, IndexError, AttributeError)


@contextmanager
def reading_extras(path, part: str):
    """Errors raised while reading ``part`` of the extras become one ``CheckpointError``."""
    try:
        yield
    except CheckpointError:
        raise
    except _MALFORMED as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if isinstance(e, KeyError):
            detail = f"no {detail}"
        raise CheckpointError(f"checkpoint {str(path)!r}: its {part} (extras in config.json) "
                              f"is malformed: {detail}") from None


def check_size(path, part: str, have: int, model, key: str) -> None:
    """``part`` has ``have`` entries; the model's config says ``key``: they must agree."""
    want = (getattr(model, "config", None) or {}).get(key) if isinstance(
        getattr(model, "config", None), dict) else None
    if want is not None and have != want:
        raise CheckpointError(f"checkpoint {str(path)!r}: its {part} has {have} entries but the "
                              f"model's {key} is {want}; the extras do not belong to this model")


def check_field(path, part: str, value, ok: bool, expected: str) -> None:
    """Refuse ``value`` of the extras' ``part`` unless ``ok``."""
    if not ok:
        raise CheckpointError(f"checkpoint {str(path)!r}: its {part} is {value!r:.80} in the "
                              f"extras (config.json); expected {expected}")
