"""Which graphs each rnnkit model exports, as small ``nn.Module`` wrappers with flat tensor I/O.

Every model gives a whole-sequence graph (``model``: dynamic batch and time axes, plus a
``lengths`` input where the model takes right-padded batches); unidirectional models whose
output at step t depends on steps <= t only also give a streaming ``step`` graph (``x_t`` and
the state tensors in; ``y_t`` and the new state out). ``Seq2Seq`` gives ``encoder`` and
``decoder_step`` (attention over the encoder's memory, which is an input of every step).

A state input is ``h`` (L, batch, H) — plus ``c`` for an LSTM — and comes back as ``h_next``
(``c_next``); ``Graph.carry`` says which output feeds which input at the next step. Zeros are
the initial state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..layers import RNN
from .onnx_rnn import ExportError

__all__ = ["Graph", "Port", "graphs_for"]

BATCH, TIME = "batch", "time"


@dataclass
class Port:
    """One graph input or output: name, dtype and shape (ints, or "batch"/"time"/other names).

    ``kind`` says how a sample value is drawn for verification: "float", "tokens" (ids in
    [4, high)), "lengths" (ints in [1, time], the first one full), "mask" (True up to a
    length) or "state".
    """

    name: str
    dtype: str
    shape: list
    kind: str = "float"
    high: int = 0

    def describe(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": self.shape}


@dataclass
class Graph:
    name: str  # the file is NAME.onnx
    module: nn.Module  # forward(*inputs in order) -> tuple of outputs in order
    inputs: list[Port]
    outputs: list[Port]
    carry: dict[str, str] = field(default_factory=dict)  # output -> the input it feeds next
    doc: str = ""
    fixed: dict[str, int] = field(default_factory=dict)  # axis names with one allowed size

    def describe(self) -> dict:
        return {"file": f"{self.name}.onnx", "doc": self.doc,
                "inputs": [p.describe() for p in self.inputs],
                "outputs": [p.describe() for p in self.outputs], "carry": self.carry}


def _state_ports(rnn: RNN, suffix: str = "") -> list[Port]:
    rows = rnn.num_layers * rnn.num_directions
    names = ["h", "c"] if rnn.kind == "lstm" else ["h"]
    return [Port(n + suffix, "float32", [rows, BATCH, rnn.hidden_size], "state") for n in names]


def _carry(rnn: RNN) -> dict[str, str]:
    return {p.name + "_next": p.name for p in _state_ports(rnn)}


def _pack(rnn: RNN, parts: tuple):
    """Flat state tensors -> the layer's state (tensor, or (h, c))."""
    return (parts[0], parts[1]) if rnn.kind == "lstm" else parts[0]


def _rnn_step(rnn: RNN, x_t: Tensor, flat_state: tuple):
    """One step as a length-1 sequence: one fused ONNX operator in the graph."""
    out, new = rnn(x_t.unsqueeze(1), _pack(rnn, flat_state))
    return out[:, 0], new


def _flat(state) -> tuple:
    return tuple(state) if isinstance(state, tuple) else (state,)


class _Fn(nn.Module):
    """A graph's forward: ``fn(model, *inputs)``; holds the model so its weights export."""

    def __init__(self, model: nn.Module, fn):
        super().__init__()
        self.model, self.fn = model, fn

    def forward(self, *inputs):
        out = self.fn(self.model, *inputs)
        return out if isinstance(out, tuple) else (out,)


# ------------------------------------------------------------------------------ models
def _sequence_model(model, name: str) -> list[Graph]:
    """SequenceRegressor / SequenceClassifier / SequenceTagger / TextClassifier (features)."""
    I, rnn = model.input_size, model.rnn
    per_step = name == "SequenceTagger"
    out_shape = [BATCH, TIME, _out_features(model)] if per_step else [BATCH, _out_features(model)]
    graphs = [Graph("model", _Fn(model, lambda m, x, lengths: m(x, lengths)),
                    [Port("x", "float32", [BATCH, TIME, I]), Port("lengths", "int64", [BATCH],
                                                                  "lengths")],
                    [Port("y", "float32", out_shape)],
                    doc="whole right-padded sequences (give lengths = time when unpadded)")]
    if _streams(model, per_step):
        state = _state_ports(rnn)

        def step(m, x_t, *s):
            o, new = _rnn_step(m.rnn, _standardise_x(m, x_t), s)
            return (_head(m, o), *_flat(new))

        graphs.append(Graph("step", _Fn(model, step), [Port("x_t", "float32", [BATCH, I]),
                                                       *state],
                            [Port("y_t", "float32", [BATCH, _out_features(model)]),
                             *[Port(p.name + "_next", "float32", p.shape) for p in state]],
                            _carry(rnn), doc="one step; y_t is the output for the sequence "
                                             "read so far"))
    return graphs


def _out_features(model) -> int:
    return model.head.out_features


def _streams(model, per_step: bool) -> bool:
    if model.rnn.bidirectional or getattr(model, "conv", None) is not None or getattr(
            model, "downsample", 1) != 1:  # convolutions and step means look ahead
        return False
    return per_step or getattr(model, "pooling", None) == "last"


def _standardise_x(m, x_t):
    if getattr(m, "standardize", False):
        return (x_t - m.x_mean) / m.x_std
    return x_t


def _head(m, o):
    if hasattr(m, "dropout") and isinstance(m.dropout, nn.Module):
        o = m.dropout(o)
    y = m.head(o)
    if getattr(m, "standardize", False):
        y = y * m.y_std + m.y_mean
    return y


def _text_classifier(model) -> list[Graph]:
    if not model.is_text:  # the checkpoint's preprocessing stays outside the graph: say so
        graphs = _sequence_model(model, "TextClassifier")
        for g in graphs:
            g.doc += ("; x normalised as extras.classify.normalize says ('global': (x - mean) "
                      "/ std per feature; 'series': each series by its own mean and std); "
                      "y: logits (softmax: the class probabilities)")
        return graphs
    rnn, C = model.rnn, model.num_classes
    subwords = getattr(model, "subwords", None)
    extra = [] if subwords is None else ["slots"]  # word id + its K subword bucket ids
    high = model.embedding.num_embeddings
    if subwords is not None:  # sample ids valid as words and as subword buckets
        high = min(high, subwords.num_embeddings)
    graphs = [Graph("model", _Fn(model, lambda m, x, lengths: m(x, lengths)),
                    [Port("tokens", "int64", [BATCH, TIME, *extra], "tokens", high),
                     Port("lengths", "int64", [BATCH], "lengths")],
                    [Port("logits", "float32", [BATCH, C])],
                    doc="right-padded token ids (padding id 0) and their lengths")]
    if (not rnn.bidirectional and model.pooling == "last" and model.ngrams is None
            and getattr(model, "subwords", None) is None):
        state = _state_ports(rnn)

        def step(m, token, *s):
            o, new = _rnn_step(m.rnn, m.embedding(token), s)
            return (m.head(o), *_flat(new))

        graphs.append(Graph("step", _Fn(model, step),
                            [Port("token", "int64", [BATCH], "tokens",
                                  model.embedding.num_embeddings), *state],
                            [Port("logits", "float32", [BATCH, C]),
                             *[Port(p.name + "_next", "float32", p.shape) for p in state]],
                            _carry(rnn), doc="one token; logits for the text read so far"))
    return graphs


def _stateful(model, token_input: bool, x_name: str, y_name: str, in_features: int | None,
              out_features: int, vocab: int = 0) -> list[Graph]:
    """Models whose forward is ``(x, state) -> (y (B, T, O), state)`` and step likewise."""
    rnn = model.rnn
    state = _state_ports(rnn)
    nxt = [Port(p.name + "_next", "float32", p.shape) for p in state]
    if token_input:
        seq_in = Port(x_name, "int64", [BATCH, TIME], "tokens", vocab)
        step_in = Port(x_name.rstrip("s"), "int64", [BATCH], "tokens", vocab)
    else:
        seq_in = Port(x_name, "float32", [BATCH, TIME, in_features])
        step_in = Port(x_name + "_t", "float32", [BATCH, in_features])

    def whole(m, x, *s):
        y, new = m(x, _pack(m.rnn, s))
        return (y, *_flat(new))

    def step(m, x_t, *s):
        if token_input:
            y, new = m(x_t.unsqueeze(1), _pack(m.rnn, s))
            y = y[:, 0]
        else:
            y, new = m.step(x_t, _pack(m.rnn, s))
        return (y, *_flat(new))

    return [Graph("model", _Fn(model, whole), [seq_in, *state],
                  [Port(y_name, "float32", [BATCH, TIME, out_features]), *nxt], _carry(rnn),
                  doc="whole sequences from a given state (zeros to start)"),
            Graph("step", _Fn(model, step), [step_in, *state],
                  [Port(y_name + ("" if token_input else "_t"), "float32",
                        [BATCH, out_features]), *nxt], _carry(rnn), doc="one step")]


def _language_model(model) -> list[Graph]:
    return _stateful(model, True, "tokens", "logits", None, model.vocab_size,
                     model.vocab_size)


def _forecaster(model) -> list[Graph]:
    C, K, L, H = model.input_size, model.covariate_size, model.lookback, model.horizon
    P = len(model.target_index)
    out = {"point": [BATCH, H, P], "gaussian": [BATCH, H, P, 2],
           "quantile": [BATCH, H, P, len(model.quantiles)]}[model.output]
    inputs = [Port("x", "float32", [BATCH, L, C + K])]
    if K:
        inputs.append(Port("future_covariates", "float32", [BATCH, H, K]))
        fn = _Fn(model, lambda m, x, f: m(x, f))
    else:
        fn = _Fn(model, lambda m, x: m(x))
    return [Graph("model", fn, inputs, [Port("forecast", "float32", out)],
                  doc=f"look-back windows of {L} steps -> the next {H} ({model.mode} mode, "
                      f"{model.output} output); a window model: no streaming step")]


def _seq2seq(model) -> list[Graph]:
    H, S, V = model.hidden_size, "src_time", model.tgt_vocab_size
    dec, feeding = model.decoder, model.input_feeding
    state = _state_ports(dec)
    feed = [Port("feed", "float32", [BATCH, model.out_size], "state")] if feeding else []

    def encode(m, src, src_lengths):
        st = m.encode(src, src_lengths)
        return (st["memory"], st["keys"], st["mask"], *_flat(st["rnn"]),
                *([st["feed"]] if feeding else []))

    def decode(m, tokens, *rest):
        n = len(state)
        s, rest = rest[:n], rest[n:]
        feed_in = rest[0] if feeding else None
        memory, keys, mask = rest[-3:]
        if feed_in is None:  # not fed back: the decoder ignores it
            feed_in = memory.new_zeros(memory.shape[0], m.out_size)
        st = {"rnn": _pack(m.decoder, s), "feed": feed_in, "memory": memory, "keys": keys,
              "mask": mask}
        logits, new, weights = m.decode_step(tokens, st)
        return (logits, weights, *_flat(new["rnn"]), *([new["feed"]] if feeding else []))

    memory = [Port("memory", "float32", [BATCH, S, H], "state"),
              Port("keys", "float32", [BATCH, S, H], "state"),
              Port("mask", "bool", [BATCH, S], "mask")]
    src_vocab = model.src_embedding.num_embeddings
    carry = {**_carry(dec), **({"feed_next": "feed"} if feeding else {})}
    return [
        Graph("encoder", _Fn(model, encode),
              [Port("src", "int64", [BATCH, S], "tokens", src_vocab),
               Port("src_lengths", "int64", [BATCH], "lengths")],
              [*memory, *state, *feed],
              doc="source ids (right-padded) -> memory, keys, mask and the decoder's first "
                  "state" + (" h, c" if dec.kind == "lstm" else " h")
                  + (", feed" if feeding else "")),
        Graph("decoder_step", _Fn(model, decode),
              [Port("tokens", "int64", [BATCH], "tokens", V), *state, *feed, *memory],
              [Port("logits", "float32", [BATCH, V]), Port("attention", "float32", [BATCH, S]),
               *[Port(p.name + "_next", "float32", p.shape) for p in state + feed]],
              carry,
              doc="one target step (start with <bos> = 2); memory, keys and mask come from the "
                  "encoder and stay the same at every step"),
    ]


def _anomaly_stream(model) -> list[Graph]:
    F = model.input_size
    return _stateful(model, False, "x", "prediction", F, F)


def _numbers(t) -> list[float]:
    """A small tensor's values for a graph's doc (statistics a deployer needs)."""
    return [float(f"{v:.8g}") for v in t.detach().double().cpu().reshape(-1).tolist()]


def _autoencoder(model) -> list[Graph]:
    F, rnn = model.input_size, model.encoder
    state = _state_ports(rnn)

    def step(m, x_t, *s):
        o, new = m.step(x_t, _pack(rnn, s))
        return (o, *_flat(new))

    return [Graph("model", _Fn(model, lambda m, x: m(x)), [Port("x", "float32",
                                                              [BATCH, TIME, F])],
                  [Port("reconstruction", "float32", [BATCH, TIME, F])],
                  doc="standardised reconstruction of whole sequences: a sequence's score "
                      "(rnnkit anomaly score) is the mean of (reconstruction - z)^2 with "
                      "z = (x - mean) / std per feature, mean "
                      f"{_numbers(model.mean)}, std {_numbers(model.std)}"),
            Graph("step", _Fn(model, step), [Port("x_t", "float32", [BATCH, F]), *state],
                  [Port("code_t", "float32", [BATCH, rnn.hidden_size]),
                   *[Port(p.name + "_next", "float32", p.shape) for p in state]],
                  _carry(rnn), doc="the encoder's step (h_next's last layer is the code)")]


def _generator(model) -> list[Graph]:
    """``SequenceGenerator`` (one-to-many): the free-running sequence of its default length,
    and the pieces to run any length outside: the first input and state from the context,
    then one step whose output is the next step's input."""
    C, O, rnn, T = model.context_size, model.output_size, model.rnn, model.steps
    state = _state_ports(rnn)  # (h, c) for the LSTM: the only paired cell ONNX exports

    def first(m, context):
        start = m.start.expand(context.shape[0], m.output_size)
        return (start, *_flat(m.init_state(context)))

    def step(m, x_t, *s):
        o, new = _rnn_step(m.rnn, x_t, s)
        return (m.head(o), *_flat(new))

    def free(m, context):
        (x, *s), ys = first(m, context), []
        for _ in range(m.steps):
            x, *s = step(m, x, *s)
            ys.append(x)
        return torch.stack(ys, 1)

    context = Port("context", "float32", [BATCH, C])
    return [Graph("model", _Fn(model, free), [context],
                  [Port("y", "float32", [BATCH, T, O])],
                  doc=f"context -> the {T} outputs of a free run (each fed back as the next "
                      "input); for another length, run init then step"),
            Graph("init", _Fn(model, first), [context],
                  [Port("x_t", "float32", [BATCH, O]), *state],
                  doc="context -> the first step's input (the learned start vector) and the "
                      "initial state"),
            Graph("step", _Fn(model, step), [Port("x_t", "float32", [BATCH, O]), *state],
                  [Port("y_t", "float32", [BATCH, O]),
                   *[Port(p.name + "_next", "float32", p.shape) for p in state]],
                  {"y_t": "x_t", **_carry(rnn)},
                  doc="one step; y_t is the output and the next step's input")]


def _feed_forward(model) -> list[Graph]:
    first = next(m for m in model.modules() if isinstance(m, nn.Linear))
    return [Graph("model", _Fn(model, lambda m, x: m(x)),
                  [Port("x", "float32", [BATCH, first.in_features])],
                  [Port("y", "float32", [BATCH, model.config.get("output_size", 1)])],
                  doc="flattened inputs; a feed-forward model has no time axis")]


def _rnn_layer(model: RNN) -> list[Graph]:
    """A bare ``rnnkit.RNN`` (``rnnkit.save(rnnkit.LSTM(...))``): its outputs and final state,
    as ``layer(x, lengths=lengths)``; a unidirectional one steps too."""
    I, rows, H = model.input_size, model.num_layers * model.num_directions, model.hidden_size
    finals = [Port(p.name + "_n", "float32", [rows, BATCH, H]) for p in _state_ports(model)]

    def whole(m, x, lengths):
        out, final = m(x, lengths=lengths)
        return (out, *_flat(final))

    graphs = [Graph("model", _Fn(model, whole),
                    [Port("x", "float32", [BATCH, TIME, I]),
                     Port("lengths", "int64", [BATCH], "lengths")],
                    [Port("y", "float32", [BATCH, TIME, model.output_size]), *finals],
                    doc="whole right-padded sequences (lengths = time when unpadded) from a "
                        "zero state: every step's output (0 past each length) and the final "
                        "state, as layer(x, lengths=lengths)")]
    if not model.bidirectional:
        state = _state_ports(model)

        def step(m, x_t, *s):
            o, new = _rnn_step(m, x_t, s)
            return (o, *_flat(new))

        graphs.append(Graph("step", _Fn(model, step),
                            [Port("x_t", "float32", [BATCH, I]), *state],
                            [Port("y_t", "float32", [BATCH, model.output_size]),
                             *[Port(p.name + "_next", "float32", p.shape) for p in state]],
                            _carry(model), doc="one step, as layer.step(x_t, state)"))
    return graphs


def _keras_sequential(model) -> list[Graph]:
    """``from_keras`` models: ids or features in; a step graph with one state per RNN layer."""
    first = model.specs[0]
    if model.takes_ids:
        x = Port("tokens", "int64", [BATCH, TIME], "tokens", first["input_dim"])
        x_t = Port("token", "int64", [BATCH], "tokens", first["input_dim"])
    else:
        F = next(s["input_size"] for s in model.specs if "input_size" in s)
        x = Port("x", "float32", [BATCH, TIME, F])
        x_t = Port("x_t", "float32", [BATCH, F])
    last = [s for s in model.specs if s["type"] in ("dense", "rnn")][-1]
    O = last["units"] * (2 if last.get("bidirectional") and last.get("merge_mode", "concat")
                         == "concat" else 1)
    rnn_specs = [s for s in model.specs if s["type"] == "rnn"]
    per_step = not rnn_specs or rnn_specs[-1]["return_sequences"]
    graphs = [Graph("model", _Fn(model, lambda m, x: m(x)), [x],
                    [Port("y", "float32", [BATCH, TIME, O] if per_step else [BATCH, O])],
                    doc="whole sequences" + (" (id 0 is masked padding)" if model.mask_zero
                                             else ""))]
    if not model.streams or not rnn_specs:
        return graphs
    ports, names = [], []
    for i, rnn in enumerate(model.recurrent):
        kinds = ["h", "c"] if rnn.kind == "lstm" else ["h"]
        names.append(len(kinds))
        ports += [Port(f"{k}{i}", "float32", [1, BATCH, rnn.hidden_size], "state")
                  for k in kinds]

    def step(m, x_t, *flat):
        states, k = [], 0
        for n in names:
            states.append((flat[k], flat[k + 1]) if n == 2 else flat[k])
            k += n
        y, new = m.step(x_t, states)
        return (y, *[t for s in new for t in _flat(s)])

    graphs.append(Graph("step", _Fn(model, step), [x_t, *ports],
                        [Port("y_t", "float32", [BATCH, O]),
                         *[Port(p.name + "_next", "float32", p.shape) for p in ports]],
                        {p.name + "_next": p.name for p in ports},
                        doc="one step; y_t is the output for the sequence read so far"))
    return graphs


def _ensemble(model) -> list[Graph]:
    """``ClassifierEnsemble``: its members' inputs; averaged log-probabilities out."""
    first = graphs_for(model.members[0])[0]
    C = first.outputs[0].shape[-1]
    fn = _Fn(model, lambda m, *inputs: m(*inputs))
    return [Graph("model", fn, first.inputs, [Port("log_probs", "float32", [BATCH, C])],
                  doc=f"log of the {len(model.members)} members' averaged class probabilities")]


_BUILDERS = {
    "ClassifierEnsemble": _ensemble,
    "KerasSequential": _keras_sequential,
    "SequenceRegressor": lambda m: _sequence_model(m, "SequenceRegressor"),
    "SequenceClassifier": lambda m: _sequence_model(m, "SequenceClassifier"),
    "SequenceTagger": lambda m: _sequence_model(m, "SequenceTagger"),
    "TextClassifier": _text_classifier,
    "LanguageModel": _language_model,
    "Forecaster": _forecaster,
    "Seq2Seq": _seq2seq,
    "StreamForecaster": _anomaly_stream,
    "SequenceAutoencoder": _autoencoder,
    "SequenceGenerator": _generator,
    "FeedForward": _feed_forward,
    "RNN": _rnn_layer,
}


def graphs_for(model: nn.Module) -> list[Graph]:
    """The graphs ``model`` exports; ``ExportError`` for a model class with none."""
    name = type(model).__name__
    if hasattr(model, "export_graphs"):  # a model may describe its own graphs
        return model.export_graphs()
    if name not in _BUILDERS:
        raise ExportError(f"export: no ONNX graphs for model class {name} (exportable: "
                          f"{', '.join(sorted(_BUILDERS))})")
    return _BUILDERS[name](model)


def sample_inputs(graph: Graph, batch: int, time: int, generator: torch.Generator,
                  lengths: list[int] | None = None) -> list[Tensor]:
    """Random inputs for ``graph``: ``batch`` rows, ``time`` steps, optional fixed lengths."""
    dims = {BATCH: batch, TIME: time, "src_time": time, "slots": 3}
    if lengths is None:
        lengths = [time] + torch.randint(1, time + 1, (batch - 1,), generator=generator).tolist()
    out = []
    for p in graph.inputs:
        shape = [dims.get(d, d) if isinstance(d, str) else d for d in p.shape]
        if p.kind == "lengths":
            out.append(torch.tensor(lengths, dtype=torch.long))
        elif p.kind == "tokens":
            low = 4 if p.high > 4 else 0  # above the special ids where the vocabulary allows
            out.append(torch.randint(low, p.high, shape, generator=generator))
        elif p.kind == "mask":
            out.append(torch.arange(shape[1])[None, :] < torch.tensor(lengths)[:, None])
        elif p.kind == "state":
            out.append(0.5 * torch.randn(shape, generator=generator))
        else:
            out.append(torch.randn(shape, generator=generator))
    return out
