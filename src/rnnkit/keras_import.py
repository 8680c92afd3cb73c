"""Read Keras models without TensorFlow: ``.keras`` files (Keras 3) and legacy ``.h5`` files.

``from_keras(path)`` reads the model's JSON config and its weights (with ``h5py``) and returns
an equal ``rnnkit.models.keras_sequential.KerasSequential``. Covered: Sequential models and
simple functional chains of InputLayer, Embedding (``mask_zero`` included), SimpleRNN (tanh,
relu, sigmoid), LSTM, GRU (``reset_after`` True and False), Bidirectional (concat, sum, mul,
ave), Dense and TimeDistributed(Dense) with their activations, Activation, Dropout, with
``return_sequences`` and ``go_backwards``. Anything else raises ``KerasImportError`` naming
every layer that cannot be converted.

Weight layouts converted (Keras stores ``x @ kernel``, rnnkit ``W x`` like torch.nn):

    Dense:      weight = kernel.T (O, I)
    SimpleRNN:  weight_ih = kernel.T, weight_hh = recurrent_kernel.T, bias_ih = bias,
                bias_hh = 0
    LSTM:       gates i, f, c, o in both (torch's i, f, g, o): the same, transposed
    GRU:        Keras' gates z, r, h -> rnnkit's r, z, n; reset_after=True keeps a (2, 3H)
                bias [input; recurrent] -> bias_ih, bias_hh; reset_after=False one (3H,)
                bias -> bias_ih (bias_hh = 0, Cho et al.'s form)

Where a ``.keras`` file keeps a layer's weights: ``layers/<snake_case class name>[_n]/``,
``vars/0..`` (``cell/vars`` for a recurrent layer, ``forward_layer/cell/vars`` and
``backward_layer/cell/vars`` for Bidirectional, ``layer/vars`` for TimeDistributed); a legacy
``.h5`` file lists them under ``model_weights/<layer name>`` in its ``weight_names``.

Example:
    >>> model = rnnkit.from_keras("next_number.keras")      # a Keras SimpleRNN + Dense
    >>> rnnkit.predict(model, [[[98.0], [99.0], [100.0]]])
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from .models.keras_sequential import ACTIVATIONS, MERGE_MODES, KerasSequential

__all__ = ["from_keras", "KerasImportError", "read_keras"]


class KerasImportError(ValueError):
    """A Keras file rnnkit cannot convert (one line, exit 2 in the CLI)."""


_RNN_KIND = {"SimpleRNN": "rnn", "LSTM": "lstm", "GRU": "gru"}
_GATES = {"rnn": 1, "lstm": 4, "gru": 3}
_SKIPPED = ("InputLayer", "NotEqual")  # no computation (NotEqual: Keras' mask_zero op)


def _snake(name: str) -> str:
    """Keras' ``to_snake_case`` (the name a ``.keras`` file keeps a layer's weights under)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# ------------------------------------------------------------------------------ reading
def read_keras(path: str | os.PathLike) -> tuple[dict, object]:
    """(the model config dict, an open h5py file/group with the weights) of a Keras file."""
    import h5py

    path = Path(path)
    if path.is_dir():
        raise KerasImportError(f"from_keras: {path} is a folder; expected a .keras or .h5 file")
    if not path.is_file():
        raise KerasImportError(f"from_keras: no file at {path}")
    head = path.read_bytes()[:8]
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as z:
                config = json.loads(z.read("config.json"))
                weights = z.read("model.weights.h5")
        except KeyError:
            with zipfile.ZipFile(path) as z:
                missing = [n for n in ("config.json", "model.weights.h5") if n not in z.namelist()]
            raise KerasImportError(f"from_keras: {path} is a zip file but not a .keras model "
                                   f"(it lacks {' and '.join(missing)})") from None
        except (zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, EOFError) as e:
            raise KerasImportError(f"from_keras: {path} is a damaged .keras file ({e})") from None
        try:
            return config, h5py.File(io.BytesIO(weights), "r")
        except OSError as e:
            raise KerasImportError(f"from_keras: {path}: model.weights.h5 is not a readable "
                                   f"HDF5 file ({_first_line(e)})") from None
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        try:
            f = h5py.File(path, "r")
            raw = f.attrs.get("model_config")
        except OSError as e:
            raise KerasImportError(f"from_keras: {path} is a damaged HDF5 file "
                                   f"({_first_line(e)})") from None
        if raw is None:
            raise KerasImportError(f"from_keras: {path} holds weights only (no model_config); "
                                   "save the whole model (model.save)")
        raw = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        return json.loads(raw), f["model_weights"] if "model_weights" in f else f
    raise KerasImportError(f"from_keras: {path} is neither a .keras (zip) nor an HDF5 (.h5) "
                           "file")


def _first_line(e: Exception) -> str:
    return (str(e).splitlines() or [type(e).__name__])[0]


def _layers(config: dict) -> list[dict]:
    """The model's layers in order, checked to form a chain (Sequential or functional)."""
    kind = config.get("class_name")
    body = config.get("config", {})
    if kind not in ("Sequential", "Functional", "Model"):
        raise KerasImportError(f"from_keras: the file holds a {kind!r}; expected a Sequential "
                               "or functional model")
    layers = body.get("layers") if isinstance(body, dict) else body
    if not isinstance(layers, list):
        raise KerasImportError("from_keras: the model config lists no layers")
    if kind == "Sequential":
        return layers
    outputs = body.get("output_layers") if isinstance(body, dict) else None
    if isinstance(outputs, list) and outputs and isinstance(outputs[0], list) and \
            len(outputs) > 1:  # all but one output were dropped without a word
        names = ", ".join(str(o[0]) for o in outputs)
        raise KerasImportError(f"from_keras: the model has {len(outputs)} outputs ({names}); "
                               "only models with one output convert")
    kept, previous = [], None
    for layer in layers:
        sources = _inbound(layer)
        if layer["class_name"] == "NotEqual":
            continue
        if previous is not None and sources != [previous]:
            raise KerasImportError(f"from_keras: layer {layer.get('name')!r} does not read the "
                                   f"layer before it ({previous!r}); only simple chains of "
                                   "layers convert")
        kept.append(layer)
        previous = layer.get("name") or layer["config"].get("name")
    return kept


def _inbound(layer: dict) -> list[str]:
    """Names of the layers whose outputs ``layer`` reads (its positional inputs)."""
    names = []
    for node in layer.get("inbound_nodes") or []:
        if isinstance(node, dict):  # Keras 3: {"args": [keras tensors], "kwargs": {...}}
            for arg in node.get("args", []):
                history = arg.get("config", {}).get("keras_history") if isinstance(
                    arg, dict) else None
                if history:
                    names.append(history[0])
        else:  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
            names += [entry[0] for entry in node]
    return names


# ----------------------------------------------------------------------------- weights
def _keras3_vars(group) -> list[np.ndarray]:
    return [np.asarray(group["vars"][k]) for k in sorted(group["vars"], key=int)] \
        if "vars" in group else []


def _weights_keras3(root, layer: dict, key: str) -> list[np.ndarray]:
    if "layers" not in root or key not in root["layers"]:
        return []
    g = root["layers"][key]
    cls = layer["class_name"]
    if cls == "Bidirectional":
        return [w for side in ("forward_layer", "backward_layer")
                for w in _keras3_vars(g[side]["cell"] if "cell" in g[side] else g[side])]
    if cls == "TimeDistributed":
        return _keras3_vars(g["layer"])
    if cls in _RNN_KIND:
        return _keras3_vars(g["cell"]) if "cell" in g else _keras3_vars(g)
    return _keras3_vars(g)


def _weights_legacy(root, name: str) -> list[np.ndarray]:
    if name not in root:
        return []
    g = root[name]
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in g.attrs.get(
        "weight_names", [])]
    return [np.asarray(g[n]) for n in names]


# ---------------------------------------------------------------------------- convert
def _activation(layer: dict, key: str = "activation") -> str:
    act = layer["config"].get(key, "linear")
    if isinstance(act, dict):  # a serialised function object: {"config": {"name": ...}}, or
        inner = act.get("config")  # a registered one's {"config": "package>name"}
        act = inner if isinstance(inner, str) else (inner or {}).get("name") \
            or act.get("class_name")
    return "linear" if act in (None, "linear") else str(act)


def _rnn_spec(layer: dict, name: str, problems: list[str]) -> dict | None:
    cfg = layer["config"]
    cls = layer["class_name"]
    kind = _RNN_KIND[cls]
    spec = {"type": "rnn", "kind": kind, "units": int(cfg["units"]),
            "use_bias": bool(cfg.get("use_bias", True)),
            "return_sequences": bool(cfg.get("return_sequences", False)),
            "go_backwards": bool(cfg.get("go_backwards", False))}
    act = _activation(layer)
    if kind == "rnn":
        if act not in ("tanh", "relu", "sigmoid"):
            problems.append(f"{name} (SimpleRNN activation {act!r})")
        spec["activation"] = act
    else:
        rec = _activation(layer, "recurrent_activation")
        if act != "tanh" or rec != "sigmoid":
            problems.append(f"{name} ({cls} with activation {act!r}, recurrent_activation "
                            f"{rec!r}; rnnkit's cells use tanh and sigmoid)")
    if kind == "gru":
        spec["reset_after"] = bool(cfg.get("reset_after", True))
    for flag in ("return_state", "stateful"):
        if cfg.get(flag):
            problems.append(f"{name} ({cls} with {flag}=True)")
    return spec


def _backward_differences(forward: dict, backward: dict) -> list[str]:
    """The settings in which a Bidirectional's own ``backward_layer`` is not its forward
    layer run backwards (its ``go_backwards`` and name aside)."""
    if backward.get("class_name") != forward.get("class_name"):
        return [f"class {backward.get('class_name')} vs {forward.get('class_name')}"]
    f, b = forward.get("config", {}), backward.get("config", {})
    out = []
    for key, default in (("units", None), ("use_bias", True), ("return_sequences", False),
                         ("reset_after", True)):
        if f.get(key, default) != b.get(key, default):
            out.append(f"{key} {b.get(key, default)!r} vs {f.get(key, default)!r}")
    for key in ("activation", "recurrent_activation"):
        if _activation(forward, key) != _activation(backward, key):
            out.append(f"{key} {_activation(backward, key)!r} vs {_activation(forward, key)!r}")
    return out


def _layer_spec(layer: dict, problems: list[str]) -> dict | None:
    """The KerasSequential spec of one Keras layer (input sizes filled in later)."""
    cls, cfg = layer["class_name"], layer.get("config", {})
    name = f"{cfg.get('name', '?')} ({cls})"
    if cls == "Embedding":
        return {"type": "embedding", "input_dim": int(cfg["input_dim"]),
                "output_dim": int(cfg["output_dim"]), "mask_zero": bool(cfg.get("mask_zero"))}
    if cls in _RNN_KIND:
        return _rnn_spec(layer, name, problems)
    if cls == "Bidirectional":
        inner = cfg["layer"]
        if inner.get("class_name") not in _RNN_KIND:
            problems.append(f"{name} wrapping {inner.get('class_name')}")
            return None
        spec = _rnn_spec(inner, name, problems)
        backward = cfg.get("backward_layer")
        if isinstance(backward, dict):  # its own layer: rnnkit runs the forward's config
            differs = _backward_differences(inner, backward)  # both ways (was read as so)
            if differs:
                problems.append(f"{name} (a backward_layer unlike its forward layer: "
                                f"{', '.join(differs)})")
        mode = cfg.get("merge_mode", "concat")
        if mode not in MERGE_MODES:
            problems.append(f"{name} (merge_mode {mode!r})")
        if spec.get("go_backwards"):
            problems.append(f"{name} (Bidirectional over go_backwards)")
        spec.update(bidirectional=True, merge_mode=mode)
        return spec
    if cls in ("Dense", "TimeDistributed"):
        if cls == "TimeDistributed":
            inner = cfg["layer"]
            if inner.get("class_name") != "Dense":
                problems.append(f"{name} wrapping {inner.get('class_name')}")
                return None
            cfg = inner["config"]
            layer = inner
        act = _activation(layer)
        if act not in ACTIVATIONS:
            problems.append(f"{name} (activation {act!r})")
        return {"type": "dense", "units": int(cfg["units"]), "activation": act,
                "use_bias": bool(cfg.get("use_bias", True))}
    if cls == "Dropout":
        return {"type": "dropout", "rate": float(cfg.get("rate", 0.0))}
    if cls == "Activation":
        act = _activation(layer)
        if act not in ACTIVATIONS:
            problems.append(f"{name} (activation {act!r})")
        return {"type": "activation", "activation": act}
    problems.append(name)
    return None


def _features(layers: list[dict]) -> int | None:
    """Features per step of the model input (None when the first layer embeds ids)."""
    for layer in layers:
        cfg = layer.get("config", {})
        shape = (cfg.get("batch_shape") or cfg.get("batch_input_shape")
                 or (layer.get("build_config") or {}).get("input_shape"))
        if shape:
            return shape[-1] if len(shape) == 3 else None
    return None


def _shape_error(name: str, what: str, want, got) -> KerasImportError:
    return KerasImportError(f"from_keras: layer {name}: weight {what} has shape "
                            f"{tuple(got)}, expected {tuple(want)} from the config")


def _assign(model: KerasSequential, specs: list[dict], names: list[str],
            weights: list[list[np.ndarray]]) -> None:
    """Copy Keras weights into the rnnkit blocks, converting layouts; check every shape."""
    for spec, block, name, ws in zip(specs, model.blocks, names, weights, strict=True):
        t = [torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)) for w in ws]
        kind = spec["type"]
        if kind == "embedding":
            _expect(name, t, 1)
            _copy(name, "embeddings", block.weight, t[0])
        elif kind == "dense":
            _expect(name, t, 2 if spec["use_bias"] else 1)
            _copy(name, "kernel", block.weight, t[0].T)
            if spec["use_bias"]:
                _copy(name, "bias", block.bias, t[1])
        elif kind == "rnn":
            per = 3 if spec["use_bias"] else 2
            D = 2 if spec.get("bidirectional") else 1
            _expect(name, t, per * D)
            for d, cell in enumerate(block.cells):
                _rnn_weights(name, spec, cell, t[d * per:(d + 1) * per])
        elif t:
            _expect(name, t, 0)


def _expect(name: str, t: list, n: int) -> None:
    if len(t) != n:
        raise KerasImportError(f"from_keras: layer {name}: expected {n} weight arrays, found "
                               f"{len(t)} (a truncated or mismatched weights file?)")


def _copy(name: str, what: str, param, value) -> None:
    if tuple(param.shape) != tuple(value.shape):
        raise _shape_error(name, what, param.shape, value.shape)
    with torch.no_grad():
        param.copy_(value)


def _gru_order(t: torch.Tensor, H: int) -> torch.Tensor:
    z, r, h = t[..., :H], t[..., H:2 * H], t[..., 2 * H:]
    return torch.cat([r, z, h], -1)  # Keras z, r, h -> rnnkit r, z, n


def _rnn_weights(name: str, spec: dict, cell, t: list[torch.Tensor]) -> None:
    kind, H = spec["kind"], spec["units"]
    kernel, recurrent = t[0], t[1]
    G = _GATES[kind]
    if kernel.dim() != 2 or kernel.shape[1] != G * H:
        raise _shape_error(name, "kernel", (cell.weight_ih.shape[1], G * H), kernel.shape)
    if kind == "gru":
        kernel, recurrent = _gru_order(kernel, H), _gru_order(recurrent, H)
    _copy(name, "kernel", cell.weight_ih, kernel.T)
    _copy(name, "recurrent_kernel", cell.weight_hh, recurrent.T)
    if not spec["use_bias"]:
        return
    bias = t[2]
    if kind == "gru" and spec.get("reset_after", True):
        if tuple(bias.shape) != (2, G * H):
            raise _shape_error(name, "bias", (2, G * H), bias.shape)
        b_ih, b_hh = _gru_order(bias[0], H), _gru_order(bias[1], H)
    else:
        if tuple(bias.shape) != (G * H,):
            raise _shape_error(name, "bias", (G * H,), bias.shape)
        b_ih = _gru_order(bias, H) if kind == "gru" else bias
        b_hh = torch.zeros_like(b_ih)
    _copy(name, "bias", cell.bias_ih, b_ih)
    _copy(name, "bias", cell.bias_hh, b_hh)


def _sizes(specs: list[dict], weights: list[list[np.ndarray]], names: list[str],
           features: int | None) -> None:
    """Fill each spec's input_size from the weights, checking the chain fits together."""
    size = features
    for spec, ws, name in zip(specs, weights, names, strict=True):
        kind = spec["type"]
        if kind == "embedding":
            size = spec["output_dim"]
            continue
        if kind in ("rnn", "dense"):
            if not ws:
                raise KerasImportError(f"from_keras: layer {name} has no weights in the file "
                                       "(a truncated weights file?)")
            cols = spec["units"] * (_GATES[spec["kind"]] if kind == "rnn" else 1)
            if ws[0].ndim != 2 or ws[0].shape[1] != cols:
                want = (ws[0].shape[0] if ws[0].ndim == 2 else "in", cols)
                raise _shape_error(name, "kernel", want, ws[0].shape)
            kernel_in = ws[0].shape[0]
            if size is not None and kernel_in != size:
                raise KerasImportError(f"from_keras: layer {name}: its kernel reads "
                                       f"{kernel_in} features but the layer before gives "
                                       f"{size}")
            spec["input_size"] = int(kernel_in)
            size = spec["units"]
            if kind == "rnn" and spec.get("bidirectional") and spec.get(
                    "merge_mode", "concat") == "concat":
                size *= 2


def from_keras(path: str | os.PathLike) -> KerasSequential:
    """The rnnkit model equal to the Keras model saved at ``path`` (``.keras`` or ``.h5``)."""
    config, root = read_keras(path)
    try:
        layers = [layer for layer in _layers(config) if layer["class_name"] not in _SKIPPED]
        problems: list[str] = []
        specs = [_layer_spec(layer, problems) for layer in layers]
        if problems:
            raise KerasImportError(f"from_keras: cannot convert {len(problems)} layer(s): "
                                   f"{', '.join(problems)}")
        if not specs:
            raise KerasImportError("from_keras: the model has no layers to convert")
        keras3 = "layers" in root
        names, weights, used = [], [], {}
        for layer in layers:
            lname = layer.get("config", {}).get("name") or layer.get("name")
            names.append(f"{lname} ({layer['class_name']})")
            if keras3:
                key = _snake(layer["class_name"])
                if key in used:
                    used[key] += 1
                    key = f"{key}_{used[key]}"
                else:
                    used[key] = 0
                weights.append(_weights_keras3(root, layer, key))
            else:
                weights.append(_weights_legacy(root, lname))
        _sizes(specs, weights, names, _features(_layers(config)))
        try:
            model = KerasSequential(specs)
        except (ValueError, KeyError, TypeError) as e:
            raise KerasImportError(f"from_keras: {e}") from None
        _assign(model, specs, names, weights)
    except KeyError as e:
        raise KerasImportError(f"from_keras: {path}: the config lacks {e.args[0]!r}") from None
    finally:
        root.file.close()
    return model.eval()
