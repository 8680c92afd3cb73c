"""Resume state: everything a killed run needs to continue exactly, without pickle.

Stored in ``CHECKPOINT_DIR/resume/`` as ``state.json`` plus one safetensors file it names
(``state-epochNNNN.safetensors``). A nested Python value (optimizer and scheduler state dicts,
RNG states, counters) is encoded as JSON with every tensor moved to the safetensors file and
replaced by ``{"__tensor__": key}``; tuples, non-string dict keys and NumPy arrays are marked
so they come back as they were. The tensor file is written first under a new name, then
``state.json`` is replaced atomically, then older tensor files are removed: a crash at any
point leaves a ``state.json`` naming a complete tensor file.

Reading validates everything (``read_state``): ``state.json``'s keys and types, the tensor
file's name (a plain file name in the folder) and contents, every marker, and the decoded
state's keys and types. Anything off is a ``CheckpointError`` with one line naming the part;
no KeyError/TypeError escapes. Writers hold the folder's lock (``checkpoint.writing``).
"""

from __future__ import annotations

import json
import math
import random
import re
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from ..checkpoint import CheckpointError, atomic_write, registered_models, save, writing

__all__ = ["encode", "decode", "write_state", "read_state", "resumed_history", "rng_state",
           "set_rng_state", "write_epoch", "restore", "check_same_settings"]

STATE_DIR, STATE_JSON = "resume", "state.json"


def encode(obj, key: str, tensors: dict[str, Tensor]):
    """JSON-able form of ``obj``; tensors go into ``tensors`` under dotted keys."""
    if isinstance(obj, Tensor):
        tensors[key] = obj.detach().cpu().contiguous().clone()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, dict):
        return {"__dict__": [[k, encode(v, f"{key}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode(v, f"{key}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode(v, f"{key}.{i}", tensors) for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    raise ValueError(f"resume state: cannot store {key} of type {type(obj).__name__}")


def decode(obj, tensors: dict[str, Tensor], where: str = "resume state"):
    """The value ``encode`` stored; ``CheckpointError`` for any marker that does not fit."""
    if isinstance(obj, list):
        return [decode(v, tensors, where) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            key = obj["__tensor__"]
            if not isinstance(key, str) or key not in tensors:
                raise CheckpointError(f"{where}: names tensor {str(key)[:80]!r}, which its "
                                      "tensor file lacks")
            return tensors[key]
        if "__ndarray__" in obj:
            dtype = obj.get("dtype")
            try:
                dt = np.dtype(dtype) if isinstance(dtype, str) else None
                if dt is None or dt.kind not in "biufc":
                    raise TypeError(f"dtype {str(dtype)[:40]!r}")
                return np.asarray(obj["__ndarray__"], dtype=dt)
            except (TypeError, ValueError, OverflowError) as e:
                raise CheckpointError(f"{where}: a stored array does not decode "
                                      f"({str(e)[:120]})") from None
        if "__tuple__" in obj:
            if not isinstance(obj["__tuple__"], list):
                raise CheckpointError(f"{where}: a stored tuple is not a list")
            return tuple(decode(v, tensors, where) for v in obj["__tuple__"])
        if "__dict__" in obj:
            pairs = obj["__dict__"]
            if not isinstance(pairs, list) or not all(
                    isinstance(p, list) and len(p) == 2
                    and (p[0] is None or isinstance(p[0], (str, int, float))) for p in pairs):
                raise CheckpointError(f"{where}: a stored dict is not a list of [key, value]")
            return {k: decode(v, tensors, where) for k, v in pairs}
        raise CheckpointError(f"{where}: an object without a type marker")
    return obj


def write_state(run_dir: Path, epoch: int, state: dict) -> None:
    """Write ``state`` (nested dict) for ``epoch`` atomically into ``run_dir/resume/``."""
    folder = run_dir / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Tensor] = {}
    doc = {"format": "rnnkit-resume", "epoch": epoch, "state": encode(state, "s", tensors)}
    name = f"state-epoch{epoch:04d}.safetensors"
    doc["tensors"] = name
    with writing(run_dir):
        atomic_write(folder / name, lambda p: save_file(tensors, str(p)))
        atomic_write(folder / STATE_JSON,
                     lambda p: p.write_text(json.dumps(doc), encoding="utf-8"))
        for old in folder.glob("state-epoch*.safetensors"):
            if old.name != name:
                old.unlink(missing_ok=True)


_TENSOR_FILE = re.compile(r"state-epoch\d{1,9}\.safetensors")
_STATE_KEYS = {"model": dict, "optimizer": dict, "scheduler": (dict, type(None)), "rng": dict,
               "history": dict, "bad_epochs": int, "best_weights": (dict, type(None))}


def resumed_history(run_dir) -> dict | None:
    """The history ``fit(resume=True)`` continues in ``run_dir``: the one in its resume
    state, or None when there is none. Not ``history.json``: that is written just before the
    state, so a kill between the two leaves it an epoch ahead of what a resume continues from
    (an lr schedule that counted its steps ran ahead of the resumed run)."""
    stored = None if run_dir is None else read_state(Path(run_dir))
    return None if stored is None else stored["history"]


def read_state(run_dir: Path) -> dict | None:
    """The stored state dict (with ``epoch``), or None when the folder holds none.

    Raises ``CheckpointError`` (a ``ValueError``), one line, for anything malformed.
    """
    path = Path(run_dir) / STATE_DIR / STATE_JSON
    if not path.is_file():
        return None
    where = f"fit: cannot resume from {path.parent}"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{where}: {STATE_JSON} is not valid JSON "
                              f"({str(e)[:120]})") from None
    if not isinstance(doc, dict):
        raise CheckpointError(f"{where}: {STATE_JSON} must hold a JSON object")
    missing = [k for k in ("epoch", "state", "tensors") if k not in doc]
    if missing:
        raise CheckpointError(f"{where}: {STATE_JSON} lacks {', '.join(map(repr, missing))}")
    epoch, name = doc["epoch"], doc["tensors"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or not 0 <= epoch < 10**9:
        raise CheckpointError(f"{where}: epoch must be a non-negative integer, got "
                              f"{str(epoch)[:40]!r}")
    if not isinstance(name, str) or not _TENSOR_FILE.fullmatch(name):
        raise CheckpointError(f"{where}: tensors must name a state-epochN.safetensors file "
                              f"in the folder, got {str(name)[:80]!r}")
    try:
        tensors = load_file(str(path.parent / name))
    except FileNotFoundError:
        raise CheckpointError(f"{where}: {name} is missing") from None
    except Exception as e:  # safetensors' own error for a truncated or foreign file
        raise CheckpointError(f"{where}: {name} is not a complete safetensors file "
                              f"({str(e).splitlines()[0][:120] if str(e) else type(e).__name__})"
                              ) from None
    try:
        state = decode(doc["state"], tensors, where)
    except RecursionError:
        raise CheckpointError(f"{where}: {STATE_JSON} is nested too deeply") from None
    _check_state(state, where)
    state["epoch"] = epoch
    return state


def _check_state(state, where: str) -> None:
    """The decoded state's keys and types, as ``write_epoch`` writes them."""
    if not isinstance(state, dict):
        raise CheckpointError(f"{where}: the stored state must be an object")
    for key, types in _STATE_KEYS.items():
        if key not in state:
            raise CheckpointError(f"{where}: the stored state lacks {key!r}")
        value = state[key]
        if not isinstance(value, types) or isinstance(value, bool):
            raise CheckpointError(f"{where}: {key} has the wrong type "
                                  f"({type(value).__name__})")
    for key in ("model", "best_weights"):
        if state[key] is not None and not all(isinstance(k, str) and isinstance(v, Tensor)
                                              for k, v in state[key].items()):
            raise CheckpointError(f"{where}: {key} must map names to tensors")
    if state["bad_epochs"] < 0:
        raise CheckpointError(f"{where}: bad_epochs must be >= 0, got {state['bad_epochs']}")
    best = state.get("best_value")
    parts = best if isinstance(best, (tuple, list)) else [best]
    if not parts or len(parts) > 2 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)
            for v in parts):
        raise CheckpointError(f"{where}: best_value must be a number (or two), got "
                              f"{str(best)[:60]!r}")
    _check_history(state["history"], where)
    rng = state["rng"]
    for key, types in (("python", (tuple, list)), ("numpy", (tuple, list)), ("torch", Tensor),
                       ("generators", dict)):
        if not isinstance(rng.get(key), types):
            raise CheckpointError(f"{where}: rng.{key} is missing or of the wrong type")


def _check_history(history: dict, where: str) -> None:
    from dataclasses import fields

    from ..train import History

    names = {f.name for f in fields(History)}
    unknown = sorted(set(history) - names)
    if unknown:
        raise CheckpointError(f"{where}: history has unknown keys {unknown[:3]}")
    rows, norms = history.get("rows", []), history.get("grad_norms", [])
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise CheckpointError(f"{where}: history.rows must be a list of objects")
    if not isinstance(norms, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in norms):
        raise CheckpointError(f"{where}: history.grad_norms must be a list of numbers")
    best = history.get("best_epoch")
    if best is not None and (not isinstance(best, int) or isinstance(best, bool) or best < 0):
        raise CheckpointError(f"{where}: history.best_epoch must be an integer or null")
    stop = history.get("stop_reason")
    if stop is not None and not isinstance(stop, str):
        raise CheckpointError(f"{where}: history.stop_reason must be a string or null")


def rng_state(extra_generators: dict[str, torch.Generator]) -> dict:
    """Python, NumPy, torch (CPU and CUDA) and the given generators' states."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state(),
             "generators": {k: g.get_state() for k, g in extra_generators.items()}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, extra_generators: dict[str, torch.Generator]) -> None:
    """Restore ``rng_state``'s result; ``CheckpointError`` when a stored state does not fit."""
    try:
        random.setstate(_tuples(state["python"]))
        np.random.set_state(state["numpy"])
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])
        for k, g in extra_generators.items():
            if k in state["generators"]:
                g.set_state(state["generators"][k])
    except (TypeError, ValueError, KeyError, IndexError, RuntimeError, OverflowError) as e:
        detail = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise CheckpointError(f"fit: cannot resume: the stored random-number state does not "
                              f"fit ({detail})") from None


def _tuples(x):
    return tuple(_tuples(v) for v in x) if isinstance(x, (tuple, list)) else x


def write_epoch(run_dir, model, opt, sched, history, generators, extras, epoch, best_value,
                best_weights, bad_epochs, save_model: bool = True, settings: dict | None = None):
    """Write the model, the history and the resume state for ``epoch`` (each atomically).

    ``save_model`` False leaves the model files alone (``fit(save_best=run_dir)`` keeps the
    best epoch's model there). ``settings``: fit's own training settings (JSON values),
    compared on resume by ``check_same_settings``."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with writing(run_dir):  # re-entrant: fit holds it for the whole run
        _write_epoch(run_dir, model, opt, sched, history, generators, extras, epoch,
                     best_value, best_weights, bad_epochs, save_model, settings)


def check_same_settings(run_dir, stored: dict, settings: dict) -> None:
    """Refuse (one line) a resume whose fit settings differ from the stored run's: the
    restored optimizer and scheduler kept the old ones, so ``lr=0.1`` was ignored without a
    word, and another batch_size or data size changed the steps the schedule counts. States
    written before settings were stored carry none and pass."""
    old = stored.get("settings")
    if not isinstance(old, dict):
        return
    for key, now in settings.items():
        if key in old and old[key] != now:
            raise CheckpointError(
                f"fit: cannot resume from {run_dir}: {key} was {old[key]!r} in that run and is "
                f"{now!r} now; resume with the same settings, or train into a new folder")


def _write_epoch(run_dir, model, opt, sched, history, generators, extras, epoch, best_value,
                 best_weights, bad_epochs, save_model, settings=None):
    if save_model and registered_models().get(type(model).__name__) is type(model):
        save(model, run_dir, extras=extras)
    history.write(run_dir)
    write_state(run_dir, epoch, {
        "model": model.state_dict(), "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict() if sched is not None else None,
        "rng": rng_state(generators), "history": history.to_dict(), "best_value": best_value,
        "best_weights": best_weights, "bad_epochs": bad_epochs, "settings": settings or {}})


def restore(run_dir, model, opt, sched, stored):
    try:
        model.load_state_dict(stored["model"])
    except (RuntimeError, TypeError, ValueError) as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0] if lines else type(e).__name__
        raise CheckpointError(f"fit: cannot resume from {run_dir}: the stored weights do not fit "
                              f"{type(model).__name__} ({detail})") from None
    try:
        opt.load_state_dict(stored["optimizer"])
        if sched is not None and stored["scheduler"] is not None:
            sched.load_state_dict(stored["scheduler"])
    except (ValueError, KeyError, RuntimeError, TypeError, IndexError, AttributeError) as e:
        raise CheckpointError(f"fit: cannot resume from {run_dir}: the stored optimizer/scheduler "
                         f"state does not fit this run ({e})") from None
