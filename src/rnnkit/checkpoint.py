"""Checkpoints: safetensors weights + a JSON config, written atomically, never unpickled.

A checkpoint is a folder::

    DIR/model.safetensors   the state dict (safetensors: no code runs on load)
    DIR/config.json         {"rnnkit_version", "model_class", "model_config", "extras", ...}

A model class opts in with ``@register_model`` and keeps its JSON-able constructor arguments
in ``self.config``; ``load`` rebuilds it as ``cls(**model_config)`` and loads the weights.
``extras`` carries what the model needs around it (a tokenizer's or scaler's ``to_dict()``,
a window length, column names) and comes back with ``load_extras``.

Writes are atomic: a new folder is written under a temporary name beside it and renamed into
place; an existing folder gets each file written to a temporary name and ``os.replace``-d.
Both files carry the same save id, so a reader never mixes the weights of one save with the
config of another (it says so instead).

Example:
    >>> model = rnnkit.SequenceRegressor(1, 8)
    >>> rnnkit.save(model, "ckpt", extras={"window": 3})
    >>> same = rnnkit.load("ckpt")
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import load_model, save_model
from torch import nn

__all__ = ["save", "load", "load_extras", "register_model", "registered_models",
           "CheckpointError", "atomic_write", "check_folder", "WEIGHTS", "CONFIG"]

WEIGHTS, CONFIG = "model.safetensors", "config.json"
FORMAT = "rnnkit-checkpoint"
_REGISTRY: dict[str, type[nn.Module]] = {}


class CheckpointError(ValueError):
    """A checkpoint that exists but cannot be used: bad config, unknown class, wrong weights."""


def register_model(cls: type[nn.Module]) -> type[nn.Module]:
    """Class decorator: let ``load`` rebuild this class from ``config.json``.

    The class must keep its JSON-able constructor kwargs in ``self.config`` (a dict).
    """
    name = cls.__name__
    old = _REGISTRY.get(name)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"register_model: a different class named {name!r} is already "
                         f"registered ({old.__module__}.{old.__qualname__})")
    _REGISTRY[name] = cls
    return cls


def registered_models() -> dict[str, type[nn.Module]]:
    """Name → class of every registered model."""
    return dict(_REGISTRY)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # temp files and folders are private (0600/0700); give the usual modes back


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_folder(path: str | os.PathLike, name: str = "checkpoint") -> Path:
    """Refuse, before anything is written, a path that cannot become a checkpoint folder.

    ``path`` may exist (a folder, then it must be writable) or not (then its nearest existing
    parent must be a writable folder). ``name`` starts the message: ``"--checkpoint"``,
    ``"fit: checkpoint_dir"``. Raises ``ValueError``: ``"NAME PATH exists and is not a
    folder"`` or ``"NAME PATH: cannot write in PARENT"``. Returns ``Path(path)``.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{name} {path} exists and is not a folder")
    parent = path if path.exists() else path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{name} {path}: {parent} exists and is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ValueError(f"{name} {path}: cannot write in {parent} (permission denied)")
    return path


def _config_of(model: nn.Module, extras) -> dict[str, Any]:
    cls = type(model)
    if _REGISTRY.get(cls.__name__) is not cls:
        raise ValueError(f"rnnkit.save: {cls.__name__} is not a registered model; decorate its "
                         "class with @rnnkit.checkpoint.register_model and keep its constructor "
                         "kwargs in self.config")
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise ValueError(f"rnnkit.save: {cls.__name__}.config must be a dict of its constructor "
                         f"kwargs, got {type(config).__name__}")
    from . import __version__

    doc = {"format": FORMAT, "rnnkit_version": __version__, "model_class": cls.__name__,
           "model_module": cls.__module__, "model_config": config,
           "extras": {} if extras is None else extras, "save_id": uuid.uuid4().hex}
    for what, value in (("model.config", config), ("extras", doc["extras"])):
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"rnnkit.save: {what} must be JSON-serialisable: {e}") from None
    if not isinstance(doc["extras"], dict):
        raise ValueError(f"rnnkit.save: extras must be a dict, got {type(extras).__name__}")
    return doc


def _write_files(model: nn.Module, doc: dict, folder: Path, *, atomic_each: bool) -> None:
    def weights(p: Path):
        save_model(model, str(p), metadata={"format": "pt", "rnnkit_save_id": doc["save_id"]})

    def config(p: Path):
        p.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")

    for name, writer in ((WEIGHTS, weights), (CONFIG, config)):  # config last: it names the save
        if atomic_each:
            atomic_write(folder / name, writer)
        else:
            writer(folder / name)


def save(model: nn.Module, path: str | os.PathLike, extras: dict | None = None) -> Path:
    """Write ``model`` to the folder ``path`` (created if missing); returns the path.

    Args:
        model: an instance of a ``@register_model`` class with ``self.config``.
        path: the checkpoint folder. Other files in it (history, resume state) are kept.
        extras: a JSON-able dict stored beside the config (tokenizer/scaler ``to_dict()``...).
    """
    doc = _config_of(model, extras)  # every check before anything is written
    path = check_folder(path, "rnnkit.save:")
    if path.is_dir():
        _write_files(model, doc, path, atomic_each=True)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        _write_files(model, doc, tmp, atomic_each=False)
        os.chmod(tmp, 0o777 & ~_UMASK)
        os.replace(tmp, path)  # a new folder appears whole or not at all
    except OSError:
        if not path.is_dir():
            raise
        _write_files(model, doc, path, atomic_each=True)  # created meanwhile: file by file
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def _read_config(path: Path) -> dict:
    if not path.exists():
        raise FileNotFoundError(f"rnnkit.load: no checkpoint at {path}")
    if not path.is_dir():
        raise CheckpointError(f"rnnkit.load: {path} is not a checkpoint folder")
    cfg = path / CONFIG
    if not cfg.is_file():
        raise FileNotFoundError(f"rnnkit.load: {path} has no {CONFIG} (a checkpoint folder "
                                f"holds {CONFIG} and {WEIGHTS}, written by rnnkit.save)")
    try:
        doc = json.loads(cfg.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"rnnkit.load: {cfg} is not valid JSON ({e})") from None
    if not isinstance(doc, dict):
        raise CheckpointError(f"rnnkit.load: {cfg} must hold a JSON object")
    missing = [k for k in ("model_class", "model_config") if k not in doc]
    if missing:
        raise CheckpointError(f"rnnkit.load: {cfg} lacks {', '.join(map(repr, missing))}")
    if not isinstance(doc["model_config"], dict):
        raise CheckpointError(f"rnnkit.load: {cfg}: model_config must be an object")
    return doc


def _model_class(doc: dict, cfg: Path) -> type[nn.Module]:
    name, module = doc["model_class"], doc.get("model_module")
    if name not in _REGISTRY and isinstance(module, str) and module.startswith("rnnkit."):
        try:  # only rnnkit's own modules: a checkpoint never chooses code to import
            importlib.import_module(module)
        except ImportError:
            pass
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise CheckpointError(f"rnnkit.load: {cfg} names model class {name!r}, which is not "
                              f"registered (import the module defining it; registered: {known})")
    return _REGISTRY[name]


def load(path: str | os.PathLike, device: str = "cpu") -> nn.Module:
    """Rebuild the model saved in folder ``path``, weights loaded, in eval mode."""
    path = Path(path)
    doc = _read_config(path)
    cls = _model_class(doc, path / CONFIG)
    try:
        model = cls(**doc["model_config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"rnnkit.load: {path / CONFIG}: model_config does not fit "
                              f"{cls.__name__}: {e}") from None
    weights = path / WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(f"rnnkit.load: {path} has {CONFIG} but no {WEIGHTS}")
    try:
        with safe_open(str(weights), framework="pt") as f:
            save_id = (f.metadata() or {}).get("rnnkit_save_id")
    except Exception as e:  # safetensors raises its own error types for a damaged header
        raise CheckpointError(f"rnnkit.load: {weights} is not a safetensors file ({e})") from None
    if doc.get("save_id") and save_id != doc["save_id"]:
        raise CheckpointError(f"rnnkit.load: {CONFIG} and {WEIGHTS} in {path} come from "
                              "different saves (an interrupted write?); save the model again")
    try:
        missing, unexpected = load_model(model, str(weights), strict=False, device=device)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        detail = " ".join(line.strip() for line in first[1:3]) if len(first) > 1 else str(e)
        raise CheckpointError(f"rnnkit.load: {WEIGHTS} does not match {cls.__name__} built from "
                              f"{CONFIG}: {detail}") from None
    if missing or unexpected:
        raise CheckpointError(f"rnnkit.load: {WEIGHTS} does not match {cls.__name__} built from "
                              f"{CONFIG}: missing {sorted(missing)}, "
                              f"unexpected {sorted(unexpected)}")
    return model.to(device).eval()


def load_extras(path: str | os.PathLike) -> dict:
    """The ``extras`` dict stored by ``save`` (empty when none)."""
    extras = _read_config(Path(path)).get("extras") or {}
    if not isinstance(extras, dict):
        raise CheckpointError(f"rnnkit.load_extras: {Path(path) / CONFIG}: extras must be "
                              "an object")
    return extras
