"""ONNX export: every model kind, checked in onnxruntime against PyTorch (the oracle).

For each model: the whole-sequence graph at batch 1 and 7 and several lengths, padded batches
(each sequence gives what it gives alone), and the step graph carried over 50 steps equal to
the whole-sequence output. Translation: the decoder step carried over the target equals the
teacher-forced forward. Bad input: one line, exit 2, nothing left behind.
"""

import json
import shutil

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.cli.main import main
from rnnkit.export import ExportError, export
from rnnkit.export.onnx_export import session
from rnnkit.layers import RNN

pytest.importorskip("onnxruntime")

TOL = 1e-5


def _exported(model, tmp_path, name="out"):
    out = export(model.eval(), tmp_path / name)
    doc = json.loads((out / "export.json").read_text())
    return out, doc, {g: session(out / f"{g}.onnx") for g in doc["graphs"]}


def _close(got, want, tol=TOL):
    want = want.detach().numpy() if isinstance(want, torch.Tensor) else want
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def _zeros(doc, graph, batch):
    """Zero state inputs of ``graph`` for ``batch`` rows."""
    out = {}
    for port in doc["graphs"][graph]["inputs"]:
        if port["name"] in ("h", "c", "feed"):
            shape = [batch if d == "batch" else d for d in port["shape"]]
            out[port["name"]] = np.zeros(shape, np.float32)
    return out


def _carry(doc, graph, outputs, sess):
    names = [o.name for o in sess.get_outputs()]
    return {doc["graphs"][graph]["carry"][n]: v for n, v in zip(names, outputs, strict=True)
            if n in doc["graphs"][graph]["carry"]}


# --------------------------------------------------------------- many-to-one / many-to-many
SEQUENCE_MODELS = {
    "regressor-lstm-2layers-standardized": lambda: rnnkit.SequenceRegressor(
        3, 8, 2, num_layers=2, standardize=True),
    "classifier-bigru-max": lambda: rnnkit.SequenceClassifier(
        3, 8, 4, cell="gru", bidirectional=True, pooling="max"),
    "classifier-rnn-sigmoid-last": lambda: rnnkit.SequenceClassifier(
        3, 8, 4, cell="rnn", activation="sigmoid"),
    "classifier-irnn-mean": lambda: rnnkit.SequenceClassifier(3, 8, 2, cell="irnn",
                                                              pooling="mean"),
    "tagger-bilstm-2layers": lambda: rnnkit.SequenceTagger(3, 8, 5, num_layers=2,
                                                           bidirectional=True),
    "tagger-gru": lambda: rnnkit.SequenceTagger(3, 8, 5, cell="gru"),
    "textclassifier-features-attention": lambda: rnnkit.TextClassifier(
        3, 8, 3, pooling="attention"),
    "textclassifier-conv-max_mean": lambda: rnnkit.TextClassifier(
        3, 8, 3, pooling="max_mean", conv_channels=4, differences=True),
}


def _with_stats(model):
    if getattr(model, "standardize", False):
        with torch.no_grad():
            model.x_mean.copy_(torch.tensor([1.0, -2.0, 0.5]))
            model.x_std.copy_(torch.tensor([2.0, 0.5, 3.0]))
            model.y_mean.fill_(10.0)
            model.y_std.fill_(4.0)
    return model


@pytest.mark.parametrize("name", SEQUENCE_MODELS)
def test_sequence_models(name, tmp_path):
    model = _with_stats(SEQUENCE_MODELS[name]()).eval()
    out, doc, s = _exported(model, tmp_path)
    assert doc["model_class"] == type(model).__name__
    for B, T in ((1, 1), (1, 9), (7, 4), (7, 13)):
        x = torch.randn(B, T, 3)
        lengths = torch.randint(1, T + 1, (B,))
        lengths[0] = T
        got = s["model"].run(None, {"x": x.numpy(), "lengths": lengths.numpy()})[0]
        _close(got, model(x, lengths))
    # padded batch: every sequence as it is alone
    x, lengths = torch.randn(5, 11, 3), torch.tensor([11, 1, 6, 3, 9])
    padded = s["model"].run(None, {"x": x.numpy(), "lengths": lengths.numpy()})[0]
    for b in range(5):
        L = int(lengths[b])
        alone = s["model"].run(None, {"x": x[b:b + 1, :L].numpy(),
                                      "lengths": np.array([L])})[0]
        _close(padded[b:b + 1, :L] if padded.ndim == 3 else padded[b:b + 1], alone)
    streams = not model.rnn.bidirectional and (name.startswith("tagger") or
                                                getattr(model, "pooling", "") == "last")
    assert ("step" in doc["graphs"]) == streams
    if streams:
        _check_step_50(model, doc, s, tagger=name.startswith("tagger"))


def _check_step_50(model, doc, s, tagger):
    """The step graph carried over 50 steps equals the whole-sequence outputs at each step."""
    B, T = 2, 50
    x = torch.randn(B, T, model.input_size)
    feed, ys = _zeros(doc, "step", B), []
    for t in range(T):
        outs = s["step"].run(None, {"x_t": x[:, t].numpy(), **feed})
        ys.append(outs[0])
        feed = _carry(doc, "step", outs, s["step"])
    ys = np.stack(ys, 1)  # (B, T, O)
    if tagger:
        _close(ys, model(x))
        _close(ys, s["model"].run(None, {"x": x.numpy(), "lengths": np.array([T] * B)})[0])
    else:  # y_t is the output for the prefix 1..t: all prefixes as one padded batch
        prefixes = x[0:1].expand(T, -1, -1)
        _close(ys[0], model(prefixes, torch.arange(1, T + 1)))
        whole = s["model"].run(None, {"x": prefixes.numpy(), "lengths": np.arange(1, T + 1)})[0]
        _close(ys[0], whole)


def test_gru_reset_before_and_nonzero_bias(tmp_path):
    """Cho et al.'s GRU (reset_after=False) is ONNX's linear_before_reset=0."""
    model = rnnkit.SequenceTagger(3, 8, 2, cell="gru")
    model.rnn = RNN("gru", 3, 8, 2, reset_after=False)
    model.eval()
    out, doc, s = _exported(model, tmp_path)
    x, lengths = torch.randn(7, 6, 3), torch.tensor([6, 5, 4, 3, 2, 1, 6])
    _close(s["model"].run(None, {"x": x.numpy(), "lengths": lengths.numpy()})[0],
           model(x, lengths))
    _check_step_50(model, doc, s, tagger=True)


# ------------------------------------------------------------------------------- text
def test_text_classifier_tokens_and_ngrams(tmp_path):
    model = rnnkit.TextClassifier(None, 8, 3, vocab_size=40, embedding_dim=6, ngram_buckets=32)
    with torch.no_grad():
        model.ngrams.weight.normal_()
        model.ngram_scale.fill_(0.7)
    model.eval()
    out, doc, s = _exported(model, tmp_path)
    assert "step" not in doc["graphs"]  # bidirectional
    for B, T in ((1, 3), (7, 12)):
        tokens = torch.randint(4, 40, (B, T))
        lengths = torch.randint(2, T + 1, (B,))
        lengths[0] = T
        tokens[torch.arange(T)[None] >= lengths[:, None]] = 0
        got = s["model"].run(None, {"tokens": tokens.numpy(), "lengths": lengths.numpy()})[0]
        _close(got, model(tokens, lengths))


def test_text_classifier_streams_tokens(tmp_path):
    model = rnnkit.TextClassifier(None, 8, 3, vocab_size=40, embedding_dim=6,
                                  bidirectional=False, pooling="last", cell="gru").eval()
    out, doc, s = _exported(model, tmp_path)
    tokens = torch.randint(4, 40, (1, 50))
    feed = _zeros(doc, "step", 1)
    for t in range(50):
        outs = s["step"].run(None, {"token": tokens[:, t].numpy(), **feed})
        feed = _carry(doc, "step", outs, s["step"])
    _close(outs[0], model(tokens))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_language_model(cell, tmp_path):
    model = rnnkit.LanguageModel(30, 16, num_layers=2, cell=cell, embedding_dim=8).eval()
    out, doc, s = _exported(model, tmp_path)
    for B, T in ((1, 1), (7, 9)):
        tokens = torch.randint(4, 30, (B, T))
        state = model.init_state(B)
        state = tuple(torch.randn_like(t) for t in state) if cell == "lstm" else \
            torch.randn_like(state)
        flat = dict(zip(["h", "c"], state if cell == "lstm" else (state,), strict=False))
        got = s["model"].run(None, {"tokens": tokens.numpy(),
                                    **{k: v.numpy() for k, v in flat.items()}})
        logits, final = model(tokens, state)
        _close(got[0], logits)
        for g, w in zip(got[1:], final if cell == "lstm" else (final,), strict=True):
            _close(g, w)
    tokens = torch.randint(4, 30, (2, 50))  # the step graph carried over 50 steps
    feed, ys = _zeros(doc, "step", 2), []
    for t in range(50):
        outs = s["step"].run(None, {"token": tokens[:, t].numpy(), **feed})
        ys.append(outs[0])
        feed = _carry(doc, "step", outs, s["step"])
    _close(np.stack(ys, 1), model(tokens)[0])


# -------------------------------------------------------------------------- forecasting
FORECASTERS = {
    "direct-gaussian-covariates": lambda: rnnkit.Forecaster(3, 12, 4, covariate_size=2,
                                                            output="gaussian"),
    "recursive-quantile-lstm": lambda: rnnkit.Forecaster(2, 12, 4, mode="recursive",
                                                         output="quantile", cell="lstm"),
    "segrnn-gru-covariates": lambda: rnnkit.Forecaster(2, 12, 5, mode="segrnn",
                                                       segment_length=4, hidden_size=8,
                                                       covariate_size=1, norm="last"),
    "segrnn-lstm-2layers": lambda: rnnkit.Forecaster(2, 10, 5, mode="segrnn", segment_length=4,
                                                     hidden_size=8, cell="lstm", num_layers=2),
}


@pytest.mark.parametrize("name", FORECASTERS)
def test_forecaster(name, tmp_path):
    model = FORECASTERS[name]().eval()
    out, doc, s = _exported(model, tmp_path)
    assert list(doc["graphs"]) == ["model"]  # a window model: no streaming step
    K = model.covariate_size
    for B in (1, 7):
        x = 5 + 3 * torch.randn(B, model.lookback, model.input_size + K)
        feed = {"x": x.numpy()}
        fut = None
        if K:
            fut = torch.randn(B, model.horizon, K)
            feed["future_covariates"] = fut.numpy()
        _close(s["model"].run(None, feed)[0], model(x, fut))


# --------------------------------------------------------------------------- translation
@pytest.mark.parametrize("kw", [dict(), dict(cell="lstm", attention="bahdanau",
                                             input_feeding=True, num_layers=2)])
def test_seq2seq_decoder_step_equals_forward(kw, tmp_path):
    model = rnnkit.Seq2Seq(20, 25, 16, **kw).eval()
    out, doc, s = _exported(model, tmp_path)
    assert set(doc["graphs"]) == {"encoder", "decoder_step"}
    for B, S, T in ((1, 4, 3), (7, 9, 50)):
        src = torch.randint(4, 20, (B, S))
        lengths = torch.randint(1, S + 1, (B,))
        lengths[0] = S
        tgt = torch.randint(4, 25, (B, T))
        want_logits, want_attn = model(src, lengths, tgt)
        enc = s["encoder"].run(None, {"src": src.numpy(), "src_lengths": lengths.numpy()})
        names = [o.name for o in s["encoder"].get_outputs()]
        values = dict(zip(names, enc, strict=True))
        memory = {k: values[k] for k in ("memory", "keys", "mask")}
        feed = {k: v for k, v in values.items() if k not in memory}
        logits, attn = [], []
        for t in range(T):
            outs = s["decoder_step"].run(None, {"tokens": tgt[:, t].numpy(), **feed, **memory})
            logits.append(outs[0])
            attn.append(outs[1])
            feed = _carry(doc, "decoder_step", outs, s["decoder_step"])
        _close(np.stack(logits, 1), want_logits)
        _close(np.stack(attn, 1), want_attn)


# ------------------------------------------------------------------------ folder and CLI
def test_export_folder_is_self_describing(tmp_path):
    from rnnkit.data.tokenizers import CharTokenizer

    tok = CharTokenizer().fit("hello world")
    model = rnnkit.LanguageModel(tok.vocab_size, 8)
    rnnkit.save(model, tmp_path / "ckpt", extras={"task": "textgen", "tokenizer": tok.to_dict(),
                                                  "textgen": {"level": "char"}})
    assert main(["export", "--checkpoint", str(tmp_path / "ckpt"), "--format", "onnx",
                 "--out", str(tmp_path / "onnx"), "--quiet"]) == 0
    files = sorted(p.name for p in (tmp_path / "onnx").iterdir())
    assert files == ["export.json", "model.onnx", "step.onnx", "tokenizer.json"]
    doc = json.loads((tmp_path / "onnx" / "export.json").read_text())
    assert doc["task"] == "textgen" and doc["extras"] == {"task": "textgen",
                                                          "textgen": {"level": "char"}}
    assert doc["graphs"]["step"]["carry"] == {"h_next": "h", "c_next": "c"}
    assert max(doc["verification"]["max_difference"].values()) < 1e-5
    assert json.loads((tmp_path / "onnx" / "tokenizer.json").read_text()) == tok.to_dict()


def _bad(capsys, *args):
    assert main(["export", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    return err


def test_cli_bad_input(tmp_path, capsys):
    rnnkit.save(rnnkit.SequenceRegressor(1, 4), tmp_path / "ckpt")
    ck, out = str(tmp_path / "ckpt"), str(tmp_path / "out")
    assert "is not a checkpoint folder" in _bad(capsys, "--checkpoint", str(tmp_path / "nope"),
                                                "--out", out)
    assert "unknown format 'tflite'" in _bad(capsys, "--checkpoint", ck, "--out", out,
                                             "--format", "tflite")
    (tmp_path / "file").write_text("x")
    assert "cannot write" in _bad(capsys, "--checkpoint", ck, "--out", str(tmp_path / "file/o"))
    assert "cannot write" in _bad(capsys, "--checkpoint", ck, "--out",
                                  str(tmp_path / "file/a/b/o"))
    assert "already exists" in _bad(capsys, "--checkpoint", ck, "--out", str(tmp_path / "file"))
    (tmp_path / "ckpt2").mkdir()
    (tmp_path / "ckpt2" / "config.json").write_text("{not json")
    assert "not valid JSON" in _bad(capsys, "--checkpoint", str(tmp_path / "ckpt2"),
                                    "--out", out)
    # a verification mismatch (here: an impossible tolerance) refuses and leaves nothing
    err = _bad(capsys, "--checkpoint", ck, "--out", out, "--tolerance", "1e-30")
    assert "differs from PyTorch by" in err and "nothing written" in err
    err = _bad(capsys, "--checkpoint", ck, "--out", str(tmp_path / "new" / "deeper" / "out"),
               "--tolerance", "1e-30")  # folders created for the export go with it
    assert "nothing written" in err
    assert main(["export", "--checkpoint", ck, "--out", str(tmp_path / "made/here"),
                 "--quiet"]) == 0  # missing folders above the output are made
    shutil.rmtree(tmp_path / "made")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "ckpt2", "file"]


def test_unexportable_cell_is_refused(tmp_path):
    model = rnnkit.SequenceTagger(3, 8, 2)
    model.rnn = RNN("mingru", 3, 8)
    with pytest.raises(ExportError, match="MinGRU with mingru cells has no ONNX recurrent"):
        export(model, tmp_path / "o")
    assert not (tmp_path / "o").exists()


# ------------------------------------------------------------------ classify app's extras
def _padded_tokens(B, T, high):
    tokens = torch.randint(4, high, (B, T))
    lengths = torch.randint(1, T + 1, (B,))
    lengths[0] = T
    tokens[torch.arange(T)[None] >= lengths[:, None]] = 0
    return tokens, lengths


def test_classifier_ensemble_conv_frontend_and_step_means(tmp_path):
    from rnnkit.models.ensemble import ClassifierEnsemble

    conv = rnnkit.TextClassifier(3, 8, 3, conv_channels=4)
    for norm in conv.conv.norms:  # non-trivial batch-norm statistics
        norm.running_mean.normal_()
        norm.running_var.uniform_(0.5, 2.0)
    paa = rnnkit.TextClassifier(3, 8, 3, downsample=3, bidirectional=False, pooling="last")
    for i, model in enumerate([conv, paa, ClassifierEnsemble.of([conv, paa])]):
        model.eval()
        out, doc, s = _exported(model, tmp_path, f"o{i}")
        assert list(doc["graphs"]) == ["model"]  # convolutions / step means look ahead
        for B, T in ((1, 8), (7, 11)):
            x, lengths = torch.randn(B, T, 3), torch.randint(1, T + 1, (B,))
            lengths[0] = T
            got = s["model"].run(None, {"x": x.numpy(), "lengths": lengths.numpy()})[0]
            _close(got, model(x, lengths))


def test_text_ensemble_with_subwords(tmp_path):
    from rnnkit.models.ensemble import ClassifierEnsemble

    members = [rnnkit.TextClassifier(None, 8, 3, vocab_size=50, embedding_dim=6,
                                     subword_buckets=20) for _ in range(2)]
    model = ClassifierEnsemble.of(members).eval()
    out, doc, s = _exported(model, tmp_path)
    assert doc["graphs"]["model"]["inputs"][0]["shape"] == ["batch", "time", "slots"]
    for B, T, K in ((1, 5, 2), (7, 9, 4)):
        words, lengths = _padded_tokens(B, T, 50)
        grams = torch.randint(0, 21, (B, T, K))
        x = torch.cat([words.unsqueeze(-1), grams], -1)
        got = s["model"].run(None, {"tokens": x.numpy(), "lengths": lengths.numpy()})[0]
        _close(got, model(x, lengths))


# ------------------------------------------------------------------------------ anomaly
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_anomaly_models(cell, tmp_path):
    from rnnkit.models.anomaly import SequenceAutoencoder, StreamForecaster

    stream = StreamForecaster(2, 8, cell=cell, num_layers=2)
    auto = SequenceAutoencoder(2, 8, cell=cell)
    for m in (stream, auto):
        with torch.no_grad():
            m.mean.copy_(torch.tensor([3.0, -1.0]))
            m.std.copy_(torch.tensor([2.0, 0.5]))
        m.eval()
    out, doc, s = _exported(stream, tmp_path, "stream")
    x = torch.randn(3, 50, 2)
    feed, ys = _zeros(doc, "step", 3), []
    for t in range(50):  # the step graph over 50 readings = the whole-sequence graph
        outs = s["step"].run(None, {"x_t": x[:, t].numpy(), **feed})
        ys.append(outs[0])
        feed = _carry(doc, "step", outs, s["step"])
    _close(np.stack(ys, 1), stream(x)[0])
    _close(np.stack(ys, 1), s["model"].run(None, {"x": x.numpy(), **_zeros(doc, "model", 3)})[0])
    out, doc, s = _exported(auto, tmp_path, "auto")
    for B, T in ((1, 4), (7, 50)):
        x = torch.randn(B, T, 2)
        _close(s["model"].run(None, {"x": x.numpy()})[0], auto(x))
    feed = _zeros(doc, "step", 7)
    for t in range(50):
        outs = s["step"].run(None, {"x_t": x[:, t].numpy(), **feed})
        feed = _carry(doc, "step", outs, s["step"])
    _, final = auto.encoder(auto.standardise(x))
    _close(feed["h"], final[0] if cell == "lstm" else final)


# ----------------------------------------------------------------------------- one-to-many
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_sequence_generator(cell, tmp_path):
    """model.onnx: the free run of the default length; init + step carried (each output fed
    back as the next input) for any other length; all equal to PyTorch's free run."""
    model = rnnkit.SequenceGenerator(4, 8, output_size=2, steps=6, cell=cell, num_layers=2)
    with torch.no_grad():
        model.start.normal_()  # a non-zero start vector must reach the first step
    model.eval()
    out, doc, s = _exported(model, tmp_path)
    assert list(doc["graphs"]) == ["model", "init", "step"]
    for B in (1, 5):
        context = torch.randn(B, 4)
        _close(s["model"].run(None, {"context": context.numpy()})[0], model(context))
        names = [o.name for o in s["init"].get_outputs()]
        feed = dict(zip(names, s["init"].run(None, {"context": context.numpy()}), strict=True))
        ys = []
        for _ in range(11):
            outs = s["step"].run(None, feed)
            ys.append(outs[0])
            feed = _carry(doc, "step", outs, s["step"])
        _close(np.stack(ys, 1), model(context, steps=11))


def test_predictor_and_models_left_as_they_were(tmp_path):
    from pathlib import Path

    predictor = rnnkit.open(Path(__file__).parent / "fixtures" / "v0_1_0" / "textgen")
    out = rnnkit.export(predictor, tmp_path / "p")  # rnnkit.open's Predictor: with tokenizer
    assert sorted(p.name for p in out.iterdir()) == ["export.json", "model.onnx", "step.onnx",
                                                     "tokenizer.json"]
    model = rnnkit.SequenceRegressor(2, 4).double().train()
    rnnkit.export(model, tmp_path / "m")
    assert model.training and next(model.parameters()).dtype == torch.float64


@pytest.mark.parametrize("verb", ["export", "import-keras"])
def test_help_ends_with_real_examples(verb, capsys):
    with pytest.raises(SystemExit) as e:
        main([verb, "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    examples = text.split("examples:")[-1].strip().splitlines()
    # each line a real command: the verb itself, or a script of examples/ it feeds or reads
    assert examples and all(line.strip().startswith(("rnnkit ", "python examples/"))
                            for line in examples)
    assert any(line.strip().startswith(f"rnnkit {verb} ") for line in examples)
    assert "--checkpoint" in text


def test_export_json_says_how_inputs_are_prepared_where_graph_docs_cannot():
    """A many-series forecaster's windows (log, level, scale, mask), a table forecaster's
    scaler units and a word model's leading <eos>: deployers had to read the source."""
    from rnnkit.export import _preparation

    panel = {"forecast": {"kind": "panel", "panel": {"windowing": {
        "lookback": 36, "horizon": 18, "period": 12, "log": True}}}}
    how = _preparation("forecast", panel)
    assert "L = 36" in how and "period = 12" in how and "log(y)" in how and "x[..., 1]" in how
    assert "extras.forecast.data.scaler" in _preparation("forecast", {"forecast": {
        "kind": "table"}})
    assert "<eos> (id 3) before the prompt" in _preparation("textgen", {"textgen": {
        "level": "word"}})
    assert _preparation("textgen", {"textgen": {"level": "char"}}) is None
    assert _preparation("regress", {}) is None
    numeric = _preparation("classify", {"classify": {"kind": "numeric", "normalize": "series"}})
    assert "('series')" in numeric and "extras.classify.mean" in numeric
    assert _preparation("classify", {"classify": {"kind": "text"}}) is None


def test_format_in_capitals_and_an_export_folder_given_as_a_checkpoint(tmp_path, capsys):
    import rnnkit
    from rnnkit.cli.main import main

    rnnkit.save(rnnkit.SequenceRegressor(1, 4), tmp_path / "ck")
    assert main(["export", "--checkpoint", str(tmp_path / "ck"), "--format", "ONNX", "--out",
                 str(tmp_path / "ex")]) == 0
    capsys.readouterr()
    assert main(["info", "--checkpoint", str(tmp_path / "ex")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is an export (rnnkit export" in err


@pytest.mark.parametrize("make", [lambda: rnnkit.LSTM(3, 4, 2),
                                  lambda: rnnkit.GRU(3, 4, bidirectional=True)],
                         ids=["lstm-2-layers", "gru-bidirectional"])
def test_a_bare_layer_exports(tmp_path, make):
    """A layer saved on its own (rnnkit.save(rnnkit.LSTM(...))) served but did not export:
    "no ONNX graphs for model class RNN". Its outputs and final state, and its step."""
    layer = make().eval()
    rnnkit.save(layer, tmp_path / "layer")
    assert main(["export", "--checkpoint", str(tmp_path / "layer"), "--out",
                 str(tmp_path / "onnx"), "--quiet"]) == 0
    x = torch.randn(3, 6, 3)
    lengths = torch.tensor([6, 4, 1])
    want_y, want_final = layer(x, lengths=lengths)
    got = session(tmp_path / "onnx" / "model.onnx").run(None, {"x": x.numpy(),
                                                                "lengths": lengths.numpy()})
    want = [want_y, *(want_final if isinstance(want_final, tuple) else (want_final,))]
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert (tmp_path / "onnx" / "step.onnx").exists() != layer.bidirectional


def test_a_missing_export_package_is_one_line_naming_the_extra(tmp_path, capsys, monkeypatch):
    """Without onnx, torch's exporter raised 'Module onnx is not installed!': exit 1 and a
    crash report (a newcomer after `make demo`, whose venv has no export extra)."""
    import importlib.util

    rnnkit.save(rnnkit.LSTM(3, 4), tmp_path / "layer")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnx" else real(name, *a))
    assert main(["export", "--checkpoint", str(tmp_path / "layer"), "--out",
                 str(tmp_path / "onnx")]) == 2
    assert "this needs onnx, which is not installed: pip install 'rnnkit[export]'" in \
        capsys.readouterr().err
    assert not (tmp_path / "onnx").exists()
