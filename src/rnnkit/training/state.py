"""Resume state: everything a killed run needs to continue exactly, without pickle.

Stored in ``CHECKPOINT_DIR/resume/`` as ``state.json`` plus one safetensors file it names
(``state-epochNNNN.safetensors``). A nested Python value (optimizer and scheduler state dicts,
RNG states, counters) is encoded as JSON with every tensor moved to the safetensors file and
replaced by ``{"__tensor__": key}``; tuples, non-string dict keys and NumPy arrays are marked
so they come back as they were. The tensor file is written first under a new name, then
``state.json`` is replaced atomically, then older tensor files are removed: a crash at any
point leaves a ``state.json`` naming a complete tensor file.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor

from ..checkpoint import atomic_write, registered_models, save

__all__ = ["encode", "decode", "write_state", "read_state", "rng_state", "set_rng_state",
           "write_epoch", "restore"]

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


def decode(obj, tensors: dict[str, Tensor]):
    if isinstance(obj, list):
        return [decode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return np.asarray(obj["__ndarray__"], dtype=obj["dtype"])
        if "__tuple__" in obj:
            return tuple(decode(v, tensors) for v in obj["__tuple__"])
        if "__dict__" in obj:
            return {k: decode(v, tensors) for k, v in obj["__dict__"]}
    return obj


def write_state(run_dir: Path, epoch: int, state: dict) -> None:
    """Write ``state`` (nested dict) for ``epoch`` atomically into ``run_dir/resume/``."""
    folder = run_dir / STATE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, Tensor] = {}
    doc = {"format": "rnnkit-resume", "epoch": epoch, "state": encode(state, "s", tensors)}
    name = f"state-epoch{epoch:04d}.safetensors"
    doc["tensors"] = name
    atomic_write(folder / name, lambda p: save_file(tensors, str(p)))
    atomic_write(folder / STATE_JSON, lambda p: p.write_text(json.dumps(doc), encoding="utf-8"))
    for old in folder.glob("state-epoch*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)


def read_state(run_dir: Path) -> dict | None:
    """The stored state dict (with ``epoch``), or None when the folder holds none."""
    path = run_dir / STATE_DIR / STATE_JSON
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        tensors = load_file(str(path.parent / doc["tensors"]))
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"fit: cannot resume from {path.parent}: {e}") from None
    state = decode(doc["state"], tensors)
    state["epoch"] = doc["epoch"]
    return state


def rng_state(extra_generators: dict[str, torch.Generator]) -> dict:
    """Python, NumPy, torch (CPU and CUDA) and the given generators' states."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(),
             "torch": torch.get_rng_state(),
             "generators": {k: g.get_state() for k, g in extra_generators.items()}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict, extra_generators: dict[str, torch.Generator]) -> None:
    random.setstate(_tuples(state["python"]))
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for k, g in extra_generators.items():
        if k in state["generators"]:
            g.set_state(state["generators"][k])


def _tuples(x):
    return tuple(_tuples(v) for v in x) if isinstance(x, (tuple, list)) else x


def write_epoch(run_dir, model, opt, sched, history, generators, extras, epoch, best_value,
                best_weights, bad_epochs, save_model: bool = True):
    """Write the model, the history and the resume state for ``epoch`` (each atomically).

    ``save_model`` False leaves the model files alone (``fit(save_best=run_dir)`` keeps the
    best epoch's model there)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if save_model and registered_models().get(type(model).__name__) is type(model):
        save(model, run_dir, extras=extras)
    history.write(run_dir)
    write_state(run_dir, epoch, {
        "model": model.state_dict(), "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict() if sched is not None else None,
        "rng": rng_state(generators), "history": history.to_dict(), "best_value": best_value,
        "best_weights": best_weights, "bad_epochs": bad_epochs})


def restore(run_dir, model, opt, sched, stored):
    try:
        model.load_state_dict(stored["model"])
    except RuntimeError as e:
        raise ValueError(f"fit: cannot resume from {run_dir}: the stored weights do not fit "
                         f"{type(model).__name__} ({str(e).splitlines()[0]})") from None
    try:
        opt.load_state_dict(stored["optimizer"])
        if sched is not None and stored["scheduler"] is not None:
            sched.load_state_dict(stored["scheduler"])
    except (ValueError, KeyError, RuntimeError) as e:
        raise ValueError(f"fit: cannot resume from {run_dir}: the stored optimizer/scheduler "
                         f"state does not fit this run ({e})") from None
