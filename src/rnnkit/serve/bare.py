"""A bare model behind ``rnnkit serve``: a checkpoint that ``rnnkit.save`` or ``rnnkit
import-keras`` wrote, with no application (its extras name no task), served as task ``"model"``.

``BareModelPredictor`` loads the folder with ``rnnkit.load`` (safetensors + JSON, no pickle)
and says what the model reads (``describe()["input"]``):

- token ids ``(B, T)``, integers in ``[0, V)``, when its first layer is an embedding (a
  ``KerasSequential`` starting with Embedding; another model with a ``vocab_size``);
- else float features ``(B, T, F)``, F its input size (``input_size``).

One sequence, ``(T,)`` ids or ``(T, F)`` steps, is answered unbatched. ``lengths`` (right-
padded batches) is offered only where the model's ``forward`` takes it. ``predict`` checks the
nested list in one pass (rectangular, numbers only, finite, ids in range; at most
``schemas.LIMITS["values"]`` numbers in and out, ``LIMITS["items"]`` sequences) before any
array is made, then calls the model under ``runtime.evaluating`` and returns its first output.
"""

from __future__ import annotations

import inspect
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import load
from ..runtime import evaluating
from . import schemas

__all__ = ["BareModelPredictor", "TASK"]

TASK = "model"


class BareModelPredictor:
    """A registered rnnkit model loaded bare: ``predict(inputs, lengths=None) -> array``."""

    task = TASK

    def __init__(self, model: torch.nn.Module, path: str | os.PathLike | None = None):
        self.model, self.path = model.eval(), None if path is None else Path(path)
        name = type(model).__name__
        self.vocab, self.features = _input_sizes(model)
        if self.vocab is None and self.features is None:
            raise ValueError(f"a bare {name} cannot be served: its config names no input size "
                             "(serve reads models with an embedding, a vocab_size or an "
                             "input_size)")
        params = list(inspect.signature(model.forward).parameters.values())
        required = [p.name for p in params[1:] if p.default is inspect.Parameter.empty
                    and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        if not params or required:
            raise ValueError(f"a bare {name} cannot be served: its forward needs "
                             f"{', '.join(required) or 'no input'} besides the input")
        # a mask_zero model (an imported Keras one) reads its lengths from the ids
        self.takes_lengths = any(p.name == "lengths" for p in params[1:]) and \
            not getattr(model, "mask_zero", False)
        self.dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()),
                          torch.float32)
        self.device = next((p.device for p in model.parameters()), torch.device("cpu"))
        T = 3  # a dry run tells the answer's shape: (B, O) or (B, T, O)
        try:
            out = self._run(np.zeros((1, T) if self.vocab else (1, T, self.features)), None)
        except Exception as e:  # noqa: BLE001 - refused at start-up, in one line
            raise ValueError(f"a bare {name} cannot be served: a dry run on a batch of one "
                             f"sequence failed: {type(e).__name__}: {e}") from None
        self.per_step = out.ndim >= 3 and out.shape[1] == T
        self.out_tail = tuple(out.shape[2:] if self.per_step else out.shape[1:])

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "cpu") -> BareModelPredictor:
        return cls(load(path, device=device), path)

    # ------------------------------------------------------------------------- describe
    def describe(self) -> dict[str, Any]:
        config = getattr(self.model, "config", None)
        if self.vocab is not None:
            inputs = {"kind": "ids", "shape": "(B, T)", "vocab_size": self.vocab,
                      "description": f"token ids, integers in [0, {self.vocab})",
                      "one_sequence": "(T,)"}
        else:
            inputs = {"kind": "features", "shape": "(B, T, F)", "features": self.features,
                      "description": f"float features, F = {self.features} per step",
                      "one_sequence": "(T, F)"}
        inputs["lengths"] = self.takes_lengths
        tail = ", ".join(map(str, self.out_tail))
        output = {"kind": "per_step" if self.per_step else "per_sequence",
                  "shape": f"(B, T, {tail})" if self.per_step else f"(B, {tail})"}
        return {"task": self.task, "model_class": type(self.model).__name__,
                "parameters": sum(p.numel() for p in self.model.parameters()),
                "streams": False, "config": config, "input": inputs, "output": output}

    # -------------------------------------------------------------------------- predict
    def predict(self, inputs: list, lengths: list[int] | None = None) -> np.ndarray:
        """The model's output for ``inputs`` (a batch, or one sequence answered unbatched);
        ``ValueError`` with one line for anything the model cannot read."""
        full = 2 if self.vocab is not None else 3  # the dimensions of a batch
        shape = _shape(inputs, full)
        if len(shape) == full - 1:
            if lengths is not None:
                raise ValueError("lengths: only for a batch of sequences (one sequence is "
                                 "read whole)")
            return self.predict([inputs])[0]
        if len(shape) != full:
            want = ("(B, T) ids or one sequence (T,)" if self.vocab is not None
                    else "(B, T, F) features or one sequence (T, F)")
            raise ValueError(f"inputs: expected {want}, got {len(shape)} nested "
                             f"level{'' if len(shape) == 1 else 's'}")
        B, T = shape[0], shape[1]
        if B > schemas.LIMITS["items"]:
            raise ValueError(f"inputs: {B} sequences, more than the limit of "
                             f"{schemas.LIMITS['items']}")
        limit = schemas.LIMITS["values"]
        count = math.prod(shape)
        if count > limit:
            raise ValueError(f"inputs: {count} numbers in all, more than the limit of {limit}")
        answer = B * (T if self.per_step else 1) * math.prod(self.out_tail)
        if answer > limit:
            raise ValueError(f"inputs: the answer would hold {answer} numbers, more than the "
                             f"limit of {limit}; send fewer or shorter sequences")
        if self.features is not None and shape[2] != self.features:
            raise ValueError(f"inputs: each step must hold {self.features} "
                             f"number{'' if self.features == 1 else 's'} (the model's input "
                             f"size), got {shape[2]}")
        _check_values(inputs, full, self.vocab)
        if lengths is not None:
            if not self.takes_lengths:
                raise ValueError(f"lengths: {type(self.model).__name__} does not take lengths")
            if len(lengths) != B:
                raise ValueError(f"lengths: expected one per sequence ({B}), got {len(lengths)}")
            bad = next((n for n in lengths if not 1 <= n <= T), None)
            if bad is not None:
                raise ValueError(f"lengths: each must lie in [1, {T}] (the sequences' length), "
                                 f"got {bad}")
        # ids as int64 (checked in the vocabulary), numbers as float64: Python ints past int64
        # made uint64 or object arrays torch cannot take (a 500)
        return self._run(np.asarray(inputs, dtype=np.int64 if self.vocab is not None
                                    else np.float64), lengths)

    def _run(self, x: np.ndarray, lengths: list[int] | None) -> np.ndarray:
        if self.vocab is not None:
            t = torch.as_tensor(x, dtype=torch.long, device=self.device)
        else:
            t = torch.as_tensor(x, dtype=self.dtype, device=self.device)
        kwargs = {} if lengths is None else {"lengths": torch.as_tensor(lengths)}
        with evaluating(self.model):
            out = self.model(t, **kwargs)
        if isinstance(out, (tuple, list)):  # (output, state) and the like: the output
            out = out[0]
        if not isinstance(out, torch.Tensor):
            raise ValueError(f"{type(self.model).__name__} returned a {type(out).__name__}, "
                             "not a tensor")
        return out.detach().float().cpu().numpy()


def _input_sizes(model: torch.nn.Module) -> tuple[int | None, int | None]:
    """(vocabulary size, None) for a model reading ids, (None, features) for one reading
    floats, (None, None) when its config says neither."""
    config = getattr(model, "config", None) or {}
    layers = config.get("layers") if type(model).__name__ == "KerasSequential" else None
    if layers:
        if layers[0].get("type") == "embedding":
            return int(layers[0]["input_dim"]), None
        sized = next((s for s in layers if "input_size" in s), None)
        return (None, int(sized["input_size"])) if sized else (None, None)
    if isinstance(config.get("vocab_size"), int):
        return config["vocab_size"], None
    if isinstance(config.get("input_size"), int):
        return None, config["input_size"]
    return None, None


def _shape(x: Any, most: int) -> tuple[int, ...]:
    """The shape read along the first elements (nested lists, at most ``most`` deep)."""
    shape = []
    while isinstance(x, list):
        if not x:
            raise ValueError("inputs: empty lists hold no sequence" if shape else
                             "inputs: empty; send at least one sequence")
        if len(shape) == most:
            raise ValueError(f"inputs: nested more than {most} levels deep")
        shape.append(len(x))
        x = x[0]
    return tuple(shape)


def _check_values(x: list, depth: int, vocab: int | None) -> None:
    """Every list as long as its siblings (the shape along the first elements) and every
    number finite; ids: integers in ``[0, vocab)``."""
    shape = _shape(x, depth)
    level = [x]
    for d in range(depth):
        n, following = shape[d], []
        for item in level:
            if not isinstance(item, list):
                raise ValueError(f"inputs: ragged nesting; expected a list at depth {d + 1} "
                                 f"(like the first), got {_kind(item)}")
            if len(item) != n:
                raise ValueError(f"inputs: ragged; every list at depth {d + 1} must hold {n} "
                                 f"items like the first, got {len(item)} (pad sequences to "
                                 "one length)")
            following.extend(item)
        level = following
    for v in level:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"inputs: expected numbers, got {_kind(v)}")
        if vocab is not None:
            if not isinstance(v, int):
                raise ValueError(f"inputs: token ids must be integers, got {_short(v)}")
            if not 0 <= v < vocab:
                raise ValueError(f"inputs: token id {_short(v)} is outside the vocabulary "
                                 f"[0, {vocab})")
        elif abs(v) > 3.4e38 or not math.isfinite(v):  # (abs first: 10**400 is an int)
            raise ValueError(f"inputs: numbers must be finite and within float32's range, "
                             f"got {_short(v)}")


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true/false"
    if isinstance(v, list):
        return "a list (ragged nesting)"
    if isinstance(v, str):
        return "a string"
    return type(v).__name__


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 40 else text[:37] + "..."
