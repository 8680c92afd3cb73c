"""Write one ``Graph`` as an ONNX file and check it against PyTorch in onnxruntime.

The graph is traced with PyTorch's TorchScript-based exporter (``dynamo=False``): it lets each
``rnnkit.RNN`` layer become ONNX's own LSTM/GRU/RNN operator (``onnx_rnn.py``), so the time
axis stays dynamic without a Loop; everything around the recurrence (embeddings, pooling,
heads, attention, normalisation) is the model's own forward, traced.

That exporter is deprecated in torch 2.13 (it still works and is pinned by the tests). When it
goes, the same ``onnx_rnn`` idea carries over to the torch.export-based exporter: a custom op
for the layer plus a ``custom_translation_table`` entry emitting the same ONNX operators.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from .graphs import Graph, sample_inputs
from .onnx_rnn import ExportError, onnx_recurrence

__all__ = ["OPSET", "write_onnx", "verify_onnx", "session"]

OPSET = 17
TRACE_BATCH, TRACE_TIME = 3, 5  # sizes of the traced sample (distinct from 1 and the features)


def _axes(graph: Graph) -> dict[str, dict[int, str]]:
    ports = graph.inputs + graph.outputs
    return {p.name: {i: d for i, d in enumerate(p.shape) if isinstance(d, str)} for p in ports}


def write_onnx(graph: Graph, path: str | Path, opset: int = OPSET) -> None:
    """Trace ``graph`` and write it to ``path`` (dynamic batch/time axes as its ports say)."""
    gen = torch.Generator().manual_seed(0)
    sample = sample_inputs(graph, TRACE_BATCH, TRACE_TIME, gen, lengths=[5, 3, 2])
    module = graph.module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        with onnx_recurrence(module), torch.no_grad():
            torch.onnx.export(module, tuple(sample), str(path), dynamo=False,
                              input_names=[p.name for p in graph.inputs],
                              output_names=[p.name for p in graph.outputs],
                              dynamic_axes=_axes(graph), opset_version=opset,
                              do_constant_folding=True)


def session(path: str | Path, threads: int = 1):
    """An onnxruntime ``InferenceSession`` on the CPU with ``threads`` intra-op threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # errors only
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _cases(graph: Graph) -> list[tuple[int, int, list[int] | None]]:
    """(batch, time, lengths) of the verification batches: padded, single, one step."""
    has_time = any("time" in str(d) for p in graph.inputs for d in p.shape)
    if not has_time:
        return [(4, 1, [1, 1, 1, 1]), (1, 1, [1])]
    return [(4, 7, [7, 3, 1, 5]), (1, 6, [6]), (2, 1, [1, 1])]


def verify_onnx(graph: Graph, path: str | Path, tolerance: float = 1e-4) -> float:
    """Largest |onnxruntime - PyTorch| over sample batches; ``ExportError`` beyond tolerance.

    Outputs are compared as ``|a - b| <= tolerance * max(1, |b|)`` (absolute for values up
    to 1, relative above).
    """
    sess = session(path)
    gen = torch.Generator().manual_seed(1)
    module = graph.module.eval()
    worst = 0.0
    for batch, time, lengths in _cases(graph):
        inputs = sample_inputs(graph, batch, time, gen, lengths)
        with torch.no_grad():
            want = [t.numpy() for t in module(*inputs)]
        got = sess.run(None, {p.name: t.numpy() for p, t in zip(graph.inputs, inputs,
                                                               strict=True)})
        for port, w, g in zip(graph.outputs, want, got, strict=True):
            if w.shape != g.shape:
                raise ExportError(f"export: {Path(path).name} output {port.name} has shape "
                                  f"{g.shape}, PyTorch {w.shape} (batch {batch}, time {time})")
            if w.dtype == bool:
                err = float((w != g).any())
            else:
                err = float(np.max(np.abs(w - g) / np.maximum(1.0, np.abs(w)), initial=0.0))
            if not err <= tolerance:  # also catches NaN
                raise ExportError(f"export: {Path(path).name} output {port.name} differs from "
                                  f"PyTorch by {err:.3g} (> {tolerance:g}) at batch {batch}, "
                                  f"time {time}; nothing written")
            worst = max(worst, err)
    return worst
