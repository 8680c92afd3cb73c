"""Take a trained model out of rnnkit: ONNX graphs (whole sequence + streaming step), verified.

``rnnkit.export(checkpoint_or_model, out_dir)`` writes a self-describing folder::

    OUT/model.onnx          whole sequences: dynamic batch and time axes (+ lengths input)
    OUT/step.onnx           one step, the state as explicit inputs/outputs (unidirectional)
    OUT/encoder.onnx, OUT/decoder_step.onnx       translation models instead of the two above
    OUT/export.json         task, model class and config, the application's settings, every
                            graph's inputs/outputs (names, dtypes, shapes) and which outputs
                            feed which inputs, and the verification figures
    OUT/tokenizer.json      the vocabulary, where the model reads tokens (src_/tgt_ for
                            translation)

Each graph is run in onnxruntime on sample batches and compared with PyTorch before anything
appears at ``OUT``: a difference beyond ``tolerance`` (1e-4) raises ``ExportError`` and leaves
nothing behind (the folder is written under a temporary name and renamed at the end).

Example:
    >>> model = rnnkit.SequenceRegressor(1, 8)
    >>> rnnkit.export(model, "exported")        # or a checkpoint folder
    >>> # onnxruntime.InferenceSession("exported/step.onnx") ... see examples/onnx_generate.py
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from torch import nn

from .graphs import Graph, Port, graphs_for, sample_inputs
from .onnx_rnn import ExportError, onnx_recurrence

__all__ = ["export", "ExportError", "FORMATS", "EXPORT_JSON", "Graph", "Port", "graphs_for",
           "sample_inputs", "onnx_recurrence"]

FORMATS = ("onnx",)
EXPORT_JSON = "export.json"


def _preparation(task: str, extras: dict) -> str | None:
    """How an application turns its data into the graphs' inputs and their outputs back,
    where that is more than the graphs' own docs say (deployers read it from the source)."""
    forecast = extras.get("forecast") or {}
    if task == "forecast" and forecast.get("kind") == "panel":
        windowing = (forecast.get("panel") or {}).get("windowing") or {}
        return ("each series on its own: z = log(y) if panel.windowing.log "
                f"({windowing.get('log')}) else y; the look-back window of the last L = "
                f"{windowing.get('lookback')} values of z (a shorter history padded at the "
                "front with its first value); level = the mean of the window's last period (panel."
                f"windowing.period = {windowing.get('period')}) values; scale = the mean "
                "absolute step within the window (at least 1e-3, and with no log at least "
                "1e-3 * max(|level|, 1e-3)); x[..., 0] = (window - level) / scale, x[..., 1] = "
                "1 for real steps and 0 for padding, then the covariates; the forecast is "
                "inverse(out * scale + level), inverse = exp with the log. The network is one "
                "of the methods extras.forecast.panel chooses per series")
    if task == "forecast":
        return ("inputs and outputs in the units of extras.forecast.data.scaler: (value - "
                "mean) / std per column, in the column order of extras.forecast.data")
    classify = extras.get("classify") or {}
    if task == "classify" and classify.get("kind") == "numeric":
        return ("each series (T, F) is normalised as extras.classify.normalize says ("
                f"{classify.get('normalize', 'global')!r}): 'global': (x - extras.classify.mean) "
                "/ extras.classify.std per feature; 'series': minus the series' own mean, "
                "divided by its own std (1 where that is under 1e-8), per feature over its real "
                "steps; 'none': as it is. Then batches are padded with zeros at the end and "
                "lengths gives each series' real steps; the output's argmax is the class, in "
                "the order of extras.classify.labels.classes")
    textgen = extras.get("textgen") or {}
    if task == "textgen" and textgen.get("level") == "word":
        return ("rnnkit textgen sample reads <eos> (id 3) before the prompt's ids (a "
                "prompt starts a line) and never draws <pad>, <unk>, <bos>; <eos> ends a line")
    return None
_TOKENIZER_TYPES = ("CharTokenizer", "WordTokenizer")


def _is_tokenizer(value) -> bool:
    return isinstance(value, dict) and value.get("type") in _TOKENIZER_TYPES and "itos" in value


def _tokenizers(extras: dict) -> dict[str, dict]:
    """File name -> tokenizer dict, for every tokenizer in ``extras`` (up to two levels deep)."""
    found = {}
    for key, value in extras.items():
        if _is_tokenizer(value):
            found[f"{key}.json"] = value
        elif isinstance(value, dict):
            for inner, v in value.items():
                if _is_tokenizer(v) and f"{inner}.json" not in found:
                    found[f"{inner}.json"] = v
    return found


def _refuse_placeholder(extras: dict) -> None:
    """A many-series forecaster that chose classical methods only keeps a placeholder
    network (a checkpoint holds weights): exporting it would give a model no series uses."""
    panel = (extras.get("forecast") or {}).get("panel") or {}
    if panel and not panel.get("has_network", True):
        methods = ", ".join(sorted(set((panel.get("choice") or {}).values()))) or "classical"
        raise ExportError(f"export: this forecaster has no network to export (every series is "
                          f"forecast by {methods}, which ONNX does not hold)")


def _load(source) -> tuple[nn.Module, dict, str | None]:
    """(model, extras, task) of a checkpoint folder, a ``Predictor`` or an in-memory model."""
    from ..apps.base import task_of
    from ..checkpoint import CheckpointError, load, load_extras

    if isinstance(getattr(source, "model", None), nn.Module):  # rnnkit.open(...)'s Predictor
        path = getattr(source, "path", None)
        extras = load_extras(path) if path is not None else {}
        return _export_copy(source.model), extras, getattr(source, "task", None) or None
    if isinstance(source, nn.Module):
        return _export_copy(source), {}, None

    if not isinstance(source, (str, os.PathLike)):  # was pathlib's TypeError
        raise ExportError(f"export: expected a model (nn.Module), a Predictor (rnnkit.open) or "
                          f"a checkpoint folder, got {type(source).__name__}")
    path = Path(source)
    if not path.is_dir():
        raise ExportError(f"export: {path} is not a checkpoint folder (written by rnnkit's "
                          "train verbs or rnnkit.save)")
    model, extras = load(path), load_extras(path)
    try:
        task = task_of(path)
    except CheckpointError:
        task = None  # a bare rnnkit.save checkpoint
    return model, extras, task


def _export_copy(model: nn.Module) -> nn.Module:
    """A float32 CPU copy in eval mode: the caller's model is left as it was."""
    return copy.deepcopy(model).float().cpu().eval()


def _check_out(out: Path) -> Path | None:
    """Refuse an unusable ``out``; returns the first missing folder above it (None if none)."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"export: {out} already exists; give a new folder for the export")
    parent = out.resolve().parent
    missing = None
    while not parent.exists():
        missing, parent = parent, parent.parent
    if not parent.is_dir():
        raise ExportError(f"export: cannot write {out}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"export: cannot write {out}: folder {parent} is not writable")
    return missing


def export(source, out: str | os.PathLike, format: str = "onnx", *,  # noqa: A002
           tolerance: float = 1e-4, verify: bool = True) -> Path:
    """Export a checkpoint folder (or a model) to the new folder ``out``; returns its path.

    Args:
        source: a checkpoint folder (any application's, or ``rnnkit.save``'s), a
            ``Predictor`` (``rnnkit.open``) or a model.
        out: the folder to create (must not exist, or be empty).
        format: "onnx".
        tolerance: the largest onnxruntime-vs-PyTorch difference accepted (relative above 1).
        verify: run the check (always on from the CLI).

    Raises:
        ExportError: unknown format, unusable source or output, a model or layer with no
            ONNX form, or a verification mismatch; nothing is written then.
    """
    if format not in FORMATS:
        raise ExportError(f"export: unknown format {format!r}; expected one of "
                          f"{', '.join(FORMATS)}")
    if not isinstance(out, (str, os.PathLike)) or not str(out):  # was pathlib's TypeError
        raise ExportError(f"export: out must be a folder path, got {out!r}")
    for package in ("onnx", "onnxscript", "onnxruntime") if verify else ("onnx", "onnxscript"):
        if importlib.util.find_spec(package) is None:  # torch's exporter said "Module onnx is
            raise ModuleNotFoundError(f"export needs {package}",  # not installed!" (exit 1)
                                      name=package)
    out = Path(out)
    created = _check_out(out)
    model, extras, task = _load(source)
    _refuse_placeholder(extras)
    graphs = graphs_for(model)
    from .. import __version__
    from .onnx_export import OPSET, verify_onnx, write_onnx

    try:
        out.resolve().parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp",
                                    dir=out.resolve().parent))
    except OSError as err:  # a read-only or special folder: name the folder asked for
        raise ExportError(f"export: cannot write {out} ({err.strerror or err})") from None
    try:
        checks = {}
        for graph in graphs:
            path = tmp / f"{graph.name}.onnx"
            write_onnx(graph, path)
            if verify:
                checks[graph.name] = verify_onnx(graph, path, tolerance)
        files = _tokenizers(extras)
        for name, tok in files.items():
            (tmp / name).write_text(json.dumps(tok, ensure_ascii=False) + "\n", encoding="utf-8")
        doc = {"format": "rnnkit-onnx-export", "rnnkit_version": __version__, "opset": OPSET,
               "task": task, "model_class": type(model).__name__,
               "model_config": getattr(model, "config", None),
               "extras": {k: v for k, v in extras.items() if not _is_tokenizer(v)},
               "tokenizers": sorted(files),
               **({"preparation": how} if (how := _preparation(task, extras)) else {}),
               "graphs": {g.name: g.describe() for g in graphs},
               "verification": {"tolerance": tolerance, "max_difference": checks}}
        (tmp / EXPORT_JSON).write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
        os.chmod(tmp, 0o755)
        if out.is_dir():
            out.rmdir()  # an empty folder given as the target
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if created is not None:  # folders made for the export: gone with it
            shutil.rmtree(created, ignore_errors=True)
        raise
    return out
