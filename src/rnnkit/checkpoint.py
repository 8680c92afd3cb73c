"""Checkpoints: safetensors weights + a JSON config, atomic as a whole, never unpickled.

A checkpoint is a folder::

    DIR/model.safetensors   the state dict (safetensors: no code runs on load); its header
                            also carries the whole config document and the save's id
    DIR/config.json         {"rnnkit_version", "model_class", "model_config", "extras", ...}

A model class opts in with ``@register_model`` and keeps its JSON-able constructor arguments
in ``self.config``; ``load`` rebuilds it as ``cls(**model_config)`` and loads the weights.
``extras`` carries what the model needs around it (a tokenizer's or scaler's ``to_dict()``,
a window length, column names) and comes back with ``load_extras``.

Atomic as a whole: the new weights file, which holds the complete new checkpoint (weights
and config), is written beside the old one and switched in with one ``os.replace``; only then
is ``config.json`` replaced (a readable copy). Until that rename the old checkpoint is intact;
after it the new one is complete, and a reader that finds an older ``config.json`` beside it
(a write killed in between) takes the config from the weights' header. ``load`` never sees a
mix: a ``config.json`` from a *later* save than the weights (tampering, or a writer without
the lock) is refused. Checkpoints written by 0.1.0 (config only in ``config.json``) load as
before.

One writer per folder: ``writing(path)`` holds ``DIR/.rnnkit.lock`` (an exclusive
``flock`` plus the owner's PID, host and start time, which a refusal names) for as long as a
run writes there; ``save`` takes it for each write, ``fit`` for the whole run. A lock left by
a killed process is stale (the kernel dropped its ``flock``) and is taken over. Taking the
lock also removes stray ``.*.tmp`` files of killed writes.

Every JSON part is checked when read (types, ranges); anything off is a ``CheckpointError``
(a ``ValueError``) with one line. ``load`` builds the model on the meta device first and
refuses, naming the estimate, one that would not fit in memory.

Example:
    >>> model = rnnkit.SequenceRegressor(1, 8)
    >>> rnnkit.save(model, "ckpt", extras={"window": 3})
    >>> same = rnnkit.load("ckpt")
    >>> with rnnkit.checkpoint.writing("run"):     # a whole training run's writes
    ...     ...
"""

from __future__ import annotations

import importlib
import json
import math
import os
import shutil
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_model, save_model
from torch import nn

try:
    import fcntl
except ImportError:  # not POSIX: the lock file alone (no stale detection by the kernel)
    fcntl = None

__all__ = ["save", "load", "load_extras", "register_model", "registered_models",
           "CheckpointError", "FolderBusyError", "atomic_write", "check_folder", "writing",
           "clean_stray_temps", "read_config", "WEIGHTS", "CONFIG", "LOCK"]

WEIGHTS, CONFIG, LOCK = "model.safetensors", "config.json", ".rnnkit.lock"
# the run state training verbs keep in a checkpoint folder until the model is saved: fit's,
# classify's per member, anomaly's
UNFINISHED = ("resume", "members", "training")
FORMAT = "rnnkit-checkpoint"
_REGISTRY: dict[str, type[nn.Module]] = {}


class CheckpointError(ValueError):
    """A checkpoint that exists but cannot be used: bad config, unknown class, wrong weights."""


class FolderBusyError(CheckpointError):
    """Another process holds the checkpoint folder's writer lock."""


def register_model(cls: type[nn.Module]) -> type[nn.Module]:
    """Class decorator: let ``load`` rebuild this class from ``config.json``.

    The class must keep its JSON-able constructor kwargs in ``self.config`` (a dict).
    """
    name = cls.__name__
    old = _REGISTRY.get(name)
    if old is not None and old.__module__ == "rnnkit.layers" and cls.__module__ != old.__module__:
        # a user's own class named RNN, registered before rnnkit's layer was: theirs takes
        # the name (rnnkit's bare layers still load: _model_class finds them by module)
        _REGISTRY[name] = cls
        return cls
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


def json_safe(obj):
    """``obj`` (dicts, lists, numbers) with every NaN or inf float as None: JSON has neither,
    and strict parsers refuse the ``NaN`` Python writes (a metric undefined on some data)."""
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return None if isinstance(obj, float) and not math.isfinite(obj) else obj


def plain_numbers(obj):
    """``obj`` with NumPy scalars (``np.float32(1)``, ``np.int64(3)``) as Python numbers,
    which JSON takes; anything else as it is (JSON's own check names what it refuses)."""
    import numpy as np

    if isinstance(obj, dict):
        return {k: plain_numbers(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain_numbers(v) for v in obj]
    return obj.item() if isinstance(obj, np.generic) else obj


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it onto ``path``
    (making ``path``'s folder first if it is missing)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)  # an output's new folder, made now
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:  # a file in the way, a read-only folder: name the file asked for
        raise _naming(err, path) from None
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        if err.filename not in (tmp, str(tmp)):
            raise
        raise _naming(err, path) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _naming(err: OSError, path: Path) -> OSError:
    """``err`` about ``path`` rather than the hidden temporary file beside it (same class)."""
    if err.errno is None:
        return err
    return type(err)(err.errno, err.strerror, str(path))


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


# ------------------------------------------------------------------------- one writer
_HELD: dict[str, list] = {}  # resolved folder -> [open lock file or None, depth]


def _process_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a reused PID apart), or None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _owner_line(lock: Path) -> str:
    try:
        info = json.loads(lock.read_text(encoding="utf-8"))
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(info["started"])))
        return f"PID {int(info['pid'])} on {info['host']} (since {since})"
    except (OSError, ValueError, KeyError, TypeError, OverflowError):
        return "another process"


class writing:
    """Hold the one-writer lock of checkpoint folder ``path`` (created if missing).

    A context manager (``with writing(path): ...``) or ``acquire()`` / ``release()``.
    Re-entrant within a process. A second process is refused at once with
    ``FolderBusyError`` naming the owner. A lock whose owner died is stale and taken over.
    Taking the lock removes stray temporary files of killed writes from the folder.
    """

    def __init__(self, path: str | os.PathLike, who: str = "rnnkit"):
        self.path, self.who, self._key = Path(path), who, None

    def __enter__(self) -> writing:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> writing:
        if self._key is not None or another_rank():  # rank 0 alone writes (rnnkit launch):
            return self  # the other ranks taking the lock would refuse each other or it
        created = not self.path.exists()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # a place where no folder can be made (/proc/...), found late
            raise ValueError(f"{self.who}: cannot make the folder {self.path} "
                             f"({err.strerror or err})") from None
        key = str(self.path.resolve())
        if key in _HELD:
            _HELD[key][1] += 1
            self._key = key
            return self
        try:
            handle = self._lock_file()
        except BaseException:
            if created:
                _rmdir_if_empty(self.path)
            raise
        _HELD[key] = [handle, 1]
        self._key, self._created = key, created
        clean_stray_temps(self.path)
        return self

    def _lock_file(self):
        lock = self.path / LOCK
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                "process_start": _process_start(os.getpid()), "by": self.who,
                "command": " ".join(sys.argv[:3])[:200]}
        for _ in range(20):
            if fcntl is None:
                try:
                    fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    raise FolderBusyError(f"{self.path} is being written by "
                                          f"{_owner_line(lock)}; wait for it to finish, or "
                                          f"delete {lock} if that process is gone") from None
            else:
                fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    raise FolderBusyError(f"{self.path} is being written by "
                                          f"{_owner_line(lock)}; wait for it to finish or "
                                          "choose another folder") from None
                try:  # the file we locked must still be the one at the path
                    same = os.fstat(fd).st_ino == os.stat(lock).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
            os.ftruncate(fd, 0)
            os.write(fd, (json.dumps(info) + "\n").encode("utf-8"))
            return fd
        raise FolderBusyError(f"{self.path}: could not take the writer lock {lock}")

    def release(self) -> None:
        key, self._key = self._key, None
        if key is None or key not in _HELD:
            return
        _HELD[key][1] -= 1
        if _HELD[key][1] > 0:
            return
        fd, _ = _HELD.pop(key)
        try:
            (Path(key) / LOCK).unlink(missing_ok=True)  # while still holding the flock
        finally:
            os.close(fd)


def _rmdir_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def clean_stray_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove ``.*.tmp`` files and folders left in ``folder`` (and ``folder/resume``) by
    writes that were killed; call it holding the folder's lock. Returns what it removed."""
    removed = []
    for where in (Path(folder), Path(folder) / "resume"):
        if not where.is_dir():
            continue
        for tmp in where.glob(".*.tmp"):
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


# ------------------------------------------------------------------------------- save
def _layer_class() -> type:
    from .layers import RNN  # (layers imports this module)

    return RNN


def _config_of(model: nn.Module, extras) -> dict[str, Any]:
    cls = type(model)
    registered = _REGISTRY.get(cls.__name__) is cls or cls is _layer_class()
    if not registered and cls.__module__.startswith("rnnkit."):
        # rnnkit's own parts (a cell, a head): decorating rnnkit's class is no advice to give
        raise ValueError(f"rnnkit.save: {cls.__name__} is a part rnnkit.load cannot rebuild "
                         "alone; save the model or layer holding it (rnnkit.RNN(\"lstm\", "
                         "...) for a cell), or its state_dict with safetensors")
    if not registered:
        raise ValueError(f"rnnkit.save: {cls.__name__} is not a registered model; decorate its "
                         "class with @rnnkit.checkpoint.register_model and keep its constructor "
                         "kwargs in self.config")
    config = getattr(model, "config", None)
    if config is None and isinstance(model, _layer_class()):
        raise ValueError(f"rnnkit.save: {model.name} is built from a cell class, a cell "
                         "instance or a callable, which a checkpoint cannot name; save a layer "
                         "built from a cell name (rnnkit.RNN(\"lstm\", ...)), or its "
                         "state_dict with safetensors")
    if not isinstance(config, dict):
        raise ValueError(f"rnnkit.save: {cls.__name__}.config must be a dict of its constructor "
                         f"kwargs, got {type(config).__name__}")
    from . import __version__

    doc = {"format": FORMAT, "rnnkit_version": __version__, "model_class": cls.__name__,
           "model_module": cls.__module__, "model_config": config,
           "extras": {} if extras is None else plain_numbers(extras), "save_id": uuid.uuid4().hex,
           "saved_at": time.time()}
    for what, value in (("model.config", config), ("extras", doc["extras"])):
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValueError(f"rnnkit.save: {what} must be JSON-serialisable: {e}") from None
    if not isinstance(doc["extras"], dict):
        raise ValueError(f"rnnkit.save: extras must be a dict, got {type(extras).__name__}")
    return doc


def _write_files(model: nn.Module, doc: dict, folder: Path) -> None:
    text = json.dumps(doc, indent=2) + "\n"

    def weights(p: Path):  # the whole checkpoint in one file: its rename is the commit
        save_model(model, str(p), metadata={"format": "pt", "rnnkit_save_id": doc["save_id"],
                                            "rnnkit_config": text})

    def config(p: Path):
        p.write_text(text, encoding="utf-8")

    atomic_write(folder / WEIGHTS, weights)
    atomic_write(folder / CONFIG, config)


def save(model: nn.Module, path: str | os.PathLike, extras: dict | None = None) -> Path:
    """Write ``model`` to the folder ``path`` (created if missing); returns the path.

    Args:
        model: an instance of a ``@register_model`` class with ``self.config``.
        path: the checkpoint folder. Other files in it (history, resume state) are kept.
        extras: a JSON-able dict stored beside the config (tokenizer/scaler ``to_dict()``...).

    The write is atomic as a whole (module docstring) and takes the folder's writer lock:
    ``FolderBusyError`` when another process holds it. In a torch.distributed run (torchrun,
    ``rnnkit launch``) only rank 0 writes; the other ranks return ``path`` at once.
    """
    doc = _config_of(model, extras)  # every check before anything is written
    _check_path(path, "rnnkit.save")
    path = check_folder(path, "rnnkit.save:")
    if another_rank():  # data-parallel (torchrun): every rank holds these weights; rank 0 writes
        return path
    created = not path.exists()
    _warn_replacing_app(path, doc)
    try:
        with writing(path, "rnnkit.save"):
            _write_files(model, doc, path)
    except BaseException:
        if created:
            _rmdir_if_empty(path)
        raise
    return path


def _warn_replacing_app(path: Path, doc: dict) -> None:
    """A warning where ``path`` holds an application's checkpoint (``extras["task"]``, e.g.
    ``rnnkit regress train``'s) and this save is not that application's: its verbs could
    no longer read the folder. (The CLI refuses the other way round.)"""
    try:
        old = _read_config(path).get("extras", {}).get("task") if (path / "config.json"
                                                                   ).is_file() else None
    except Exception:  # noqa: BLE001 - unreadable: nothing of value to warn about
        return
    if isinstance(old, str) and old and (doc.get("extras") or {}).get("task") != old:
        import warnings

        warnings.warn(f"rnnkit.save: {path} held a checkpoint of `rnnkit {old}`; it now holds "
                      f"a bare {doc['model_class']}, which `rnnkit {old}` cannot use (save "
                      "elsewhere to keep both)", stacklevel=3)


def another_rank() -> bool:
    """True in a process of a torch.distributed group other than rank 0 (rnnkit launch)."""
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized() and dist.get_rank() != 0


# ------------------------------------------------------------------------------- load
_DOC_TYPES = {"format": str, "rnnkit_version": str, "model_class": str, "model_module": str,
              "model_config": dict, "extras": dict, "save_id": str, "saved_at": (int, float)}


def _check_doc(doc, where: str) -> dict:
    """config.json's schema: an object, required keys, every known key of its type."""
    if not isinstance(doc, dict):
        raise CheckpointError(f"rnnkit.load: {where} must hold a JSON object")
    missing = [k for k in ("model_class", "model_config") if k not in doc]
    if missing:
        raise CheckpointError(f"rnnkit.load: {where} lacks {', '.join(map(repr, missing))}")
    for key, types in _DOC_TYPES.items():
        value = doc.get(key)
        if key in doc and (not isinstance(value, types) or isinstance(value, bool)):
            want = "an object" if types is dict else "a number" if key == "saved_at" else \
                "a string"
            raise CheckpointError(f"rnnkit.load: {where}: {key} must be {want}, got "
                                  f"{type(value).__name__}")
    if doc.get("extras") is None:
        doc["extras"] = {}
    bad = [k for k in doc["model_config"] if not k.isidentifier()]
    if bad:
        raise CheckpointError(f"rnnkit.load: {where}: model_config has keys that are not "
                              f"argument names: {', '.join(map(repr, bad[:3]))}")
    return doc


def _weights_header(weights: Path) -> dict:
    """The safetensors header's metadata (str -> str); CheckpointError when unreadable."""
    try:
        with safe_open(str(weights), framework="pt") as f:
            return dict(f.metadata() or {})
    except Exception as e:  # safetensors raises its own error types for a damaged header
        raise CheckpointError(f"rnnkit.load: {weights} is not a safetensors file "
                              f"({str(e).splitlines()[0] if str(e) else type(e).__name__})"
                              ) from None


def _read_config(path: Path) -> dict:
    """The config document of the newest complete save in ``path`` (module docstring)."""
    if not path.exists():
        raise FileNotFoundError(f"rnnkit.load: no checkpoint at {path}")
    if not path.is_dir():
        raise CheckpointError(f"rnnkit.load: {path} is not a checkpoint folder")
    cfg, weights = path / CONFIG, path / WEIGHTS
    try:
        meta = _weights_header(weights) if weights.is_file() else {}
    except CheckpointError:
        meta = {}  # reported by load, after config.json's own problems
    doc = None
    if cfg.is_file():
        try:
            doc = json.loads(cfg.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
            if "rnnkit_config" not in meta:
                raise CheckpointError(f"rnnkit.load: {cfg} is not valid JSON "
                                      f"({str(e)[:200]})") from None
        except OSError as e:
            raise CheckpointError(f"rnnkit.load: cannot read {cfg} ({e.strerror})") from None
    embedded = meta.get("rnnkit_config")
    stale = doc is None or (isinstance(doc, dict) and doc.get("save_id") is not None
                            and doc.get("save_id") != meta.get("rnnkit_save_id"))
    if embedded is not None and stale:
        try:
            inner = json.loads(embedded)
        except (json.JSONDecodeError, RecursionError):
            raise CheckpointError(f"rnnkit.load: {weights}: its header's config is not valid "
                                  "JSON") from None
        def saved_at(d):
            t = d.get("saved_at") if isinstance(d, dict) else None
            return t if isinstance(t, (int, float)) and not isinstance(t, bool) else None

        newer = None not in (saved_at(doc), saved_at(inner)) and saved_at(doc) > saved_at(inner)
        if not newer:  # a write killed between its two renames: the weights are the newer
            return _check_doc(inner, f"{weights} (header)")
    if doc is None:
        if any((Path(path) / run).is_dir() for run in UNFINISHED):
            raise FileNotFoundError(f"rnnkit.load: {path} holds a training run that did not "
                                    "finish, and no model yet: run the same train command "
                                    "with --resume to finish it")
        if (Path(path) / "export.json").is_file():  # rnnkit export's output, given back
            raise FileNotFoundError(f"rnnkit.load: {path} is an export (rnnkit export: ONNX "
                                    "graphs and export.json), not a checkpoint; give the "
                                    "checkpoint folder it was exported from")
        raise FileNotFoundError(f"rnnkit.load: {path} has no {CONFIG} (a checkpoint folder "
                                f"holds {CONFIG} and {WEIGHTS}, written by rnnkit.save)")
    return _check_doc(doc, str(cfg))


def _model_class(doc: dict, cfg: Path) -> type[nn.Module]:
    name, module = doc["model_class"], doc.get("model_module")
    if module == "rnnkit.layers" and name == "RNN":  # a bare layer, whatever else is "RNN"
        from .layers import RNN

        return RNN
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


def _build(cls, config: dict, cfg: Path, device) -> nn.Module:
    """``cls(**config)``: first on the meta device to size it, then for real."""
    from .runtime import check_memory

    def fail(e: BaseException):
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return CheckpointError(f"rnnkit.load: {cfg}: model_config does not fit "
                               f"{cls.__name__}: {detail}")

    try:
        with torch.device("meta"):
            sized = cls(**config)
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as e:
        raise fail(e) from None
    except Exception:  # a constructor that needs real data: size it by building it
        sized = None
    if sized is not None:
        tensors = [*sized.parameters(), *sized.buffers()]
        nbytes = sum(t.numel() * t.element_size() for t in tensors)
        count = sum(t.numel() for t in sized.parameters())
        del sized, tensors
        try:
            check_memory(f"rnnkit.load: {cfg}: {cls.__name__} with {count:.3g} parameters",
                         nbytes, device)
        except ValueError as e:
            raise CheckpointError(str(e)) from None
    try:
        return cls(**config)
    except (TypeError, ValueError, KeyError, IndexError, OverflowError, RuntimeError) as e:
        raise fail(e) from None


_FLOAT_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
                 "BF16": torch.bfloat16}


def _match_stored_dtype(model: nn.Module, weights: Path) -> None:
    """Give ``model`` the precision its weights were saved in (a ``.double()`` model came
    back float32: its weights rounded and its outputs changed, without a word). Only when
    every stored floating tensor has one dtype; the loader reports unreadable files."""
    try:
        with safe_open(str(weights), framework="pt") as f:
            stored = {f.get_slice(k).get_dtype() for k in f.keys()}
    except Exception:
        return
    floats = {_FLOAT_DTYPES[d] for d in stored if d in _FLOAT_DTYPES}
    if len(floats) != 1:
        return
    (dtype,) = floats
    if any(p.is_floating_point() and p.dtype != dtype
           for p in [*model.parameters(), *model.buffers()]):
        model.to(dtype)


def _check_path(path, owner: str) -> Path:
    """``path`` as a Path, or one ValueError line (None was pathlib's TypeError)."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ValueError(f"{owner}: path must be a checkpoint folder (str or os.PathLike), "
                         f"got {path!r}")
    return Path(path)


def load(path: str | os.PathLike, device: str = "cpu") -> nn.Module:
    """Rebuild the model saved in folder ``path``, weights loaded, in eval mode.

    ``device``: "cpu", "cuda", "cuda:1", "auto"...; a device this machine lacks is a
    ``ValueError`` saying so before anything is read.
    """
    from .runtime import resolve_device

    try:
        dev = resolve_device(device)
    except ValueError as e:
        raise ValueError(f"rnnkit.load: {e}") from None
    path = _check_path(path, "rnnkit.load")
    doc = _read_config(path)
    cls = _model_class(doc, path / CONFIG)
    model = _build(cls, doc["model_config"], path / CONFIG, dev)
    weights = path / WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(f"rnnkit.load: {path} has {CONFIG} but no {WEIGHTS}")
    save_id = _weights_header(weights).get("rnnkit_save_id")
    if doc.get("save_id") and save_id != doc["save_id"]:
        raise CheckpointError(f"rnnkit.load: {CONFIG} and {WEIGHTS} in {path} come from "
                              "different saves (an interrupted write?); save the model again")
    _match_stored_dtype(model, weights)
    try:
        missing, unexpected = load_model(model, str(weights), strict=False, device=str(dev))
    except Exception as e:  # RuntimeError for shapes, safetensors' own errors for a bad body
        first = str(e).strip().splitlines() or [type(e).__name__]
        detail = " ".join(line.strip() for line in first[1:3]) if len(first) > 1 else first[0]
        raise CheckpointError(f"rnnkit.load: {WEIGHTS} does not match {cls.__name__} built from "
                              f"{CONFIG}: {detail}") from None
    if missing or unexpected:
        raise CheckpointError(f"rnnkit.load: {WEIGHTS} does not match {cls.__name__} built from "
                              f"{CONFIG}: missing {sorted(missing)}, "
                              f"unexpected {sorted(unexpected)}")
    return model.to(dev).eval()


def read_config(path: str | os.PathLike) -> dict:
    """The checked config document of checkpoint folder ``path`` (model_class, model_config,
    extras, rnnkit_version, saved_at...), read without building the model."""
    return _read_config(Path(path))


def load_extras(path: str | os.PathLike) -> dict:
    """The ``extras`` dict stored by ``save`` (empty when none)."""
    return _read_config(Path(path))["extras"]
