"""Rough edges of the application verbs (session 14): translation never emits <pad>/<bos>;
classify evaluate scores labels unseen in training; forecast predict and anomaly score
honour --device; --resume on a finished run trains nothing more."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_classify_series_csv import trained  # noqa: F401 - a CLI-trained series classifier

from rnnkit.apps.classify import load as load_classifier
from rnnkit.apps.translate import Config as TranslateConfig
from rnnkit.apps.translate import TranslatePredictor
from rnnkit.cli.main import main
from rnnkit.data.tokenizers import BOS_ID, EOS_ID, PAD_ID, UNK_ID, WordTokenizer
from rnnkit.decoding import translate_ids
from rnnkit.models.seq2seq import Seq2Seq


# ------------------------------------------------ 1. translation never emits <pad> or <bos>
def _translator(favoured: dict[int, float]) -> TranslatePredictor:
    """An untrained translator whose output layer strongly favours the given target ids."""
    src_tok = WordTokenizer(min_freq=1).fit(["ein mann fährt .", "eine frau sieht ."])
    tgt_tok = WordTokenizer(min_freq=1).fit(["a man rides .", "a woman sees ."])
    torch.manual_seed(0)
    model = Seq2Seq(src_tok.vocab_size, tgt_tok.vocab_size, hidden_size=8, embedding_dim=4)
    with torch.no_grad():
        for token, bias in favoured.items():
            model.head.bias[token] += bias
    return TranslatePredictor(model.eval(), TranslateConfig(), src_tok, tgt_tok)


@pytest.mark.parametrize("beam", [1, 3])
def test_translation_never_emits_pad_or_bos(beam):
    predictor = _translator({BOS_ID: 30.0, PAD_ID: 29.0})
    ids, _, _ = predictor.encode(["ein mann fährt .", "eine frau sieht ."])
    for hyps in predictor.search(ids, beam, max_len=6, n_best=beam):
        for h in hyps:
            assert h.tokens and not {PAD_ID, BOS_ID} & set(h.tokens)
    _, _, tokens_out, matrix = predictor.attention("ein mann fährt .", beam, max_len=6)
    assert "<bos>" not in tokens_out and "<pad>" not in tokens_out
    assert matrix.shape[0] == len(tokens_out)
    # the mask is opt-out for a caller of rnnkit.decoding that wants the raw argmax
    raw = translate_ids(predictor.model, ids, beam_width=beam, max_len=3, suppress_ids=())
    assert raw[0][0].tokens == [BOS_ID] * 3


@pytest.mark.parametrize("beam", [1, 3])
def test_translation_keeps_unk_and_eos(beam):
    predictor = _translator({UNK_ID: 30.0})  # <unk> is a legitimate output (a rare word)
    ids, _, _ = predictor.encode(["ein mann ."])
    assert predictor.search(ids, beam, max_len=4)[0][0].tokens == [UNK_ID] * 4
    assert predictor.predict(["ein mann ."], beam, max_len=4) == ["<unk> <unk> <unk> <unk>"]
    predictor = _translator({EOS_ID: 30.0})  # <eos> still ends a translation
    assert predictor.search(ids, beam, max_len=4)[0][0].tokens == []


def test_translation_mask_leaves_other_scores_unchanged():
    predictor = _translator({})
    ids, _, _ = predictor.encode(["ein mann fährt .", "eine frau sieht ."])
    model = predictor.model
    masked = translate_ids(model, ids, beam_width=3, n_best=3, max_len=5)
    raw = translate_ids(model, ids, beam_width=3, n_best=3, max_len=5, suppress_ids=())
    for m, r in zip(masked, raw, strict=True):
        kept = [h for h in r if not {PAD_ID, BOS_ID} & set(h.tokens)]
        for h in kept:  # every hypothesis both searches found scores the same
            same = [x for x in m if x.tokens == h.tokens]
            assert not same or same[0].score == h.score


# ---------------------------------------- 2. classify evaluate scores labels unseen in training
def _relabelled(trained):  # noqa: F811
    """motions.csv's series s0 (a 'down') labelled 'sideways', s1 (an 'up') as it is."""
    rows = (trained / "motions.csv").read_text().splitlines()
    s0 = [r.replace(",down,", ",sideways,") for r in rows if r.startswith("s0,")]
    s1 = [r for r in rows if r.startswith("s1,")]
    return "\n".join([rows[0], *s0, *s1]) + "\n"


def test_evaluate_scores_unseen_labels_as_wrong_with_a_note(trained, capsys):  # noqa: F811
    path, report_path = trained / "unseen.csv", trained / "unseen.json"
    path.write_text(_relabelled(trained))
    assert main(["classify", "evaluate", "--checkpoint", str(trained / "ck"), "--series-csv",
                 str(path), "--json", str(report_path), "--plot",
                 str(trained / "unseen.png")]) == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == ["note: 1 of 2 examples have labels never seen in training, "
                                "scored as wrong: 'sideways' (1); the model knows down, up"]
    assert "accuracy: 0.5000" in out
    report = json.loads(report_path.read_text())  # strict JSON: no NaN, no Infinity
    assert report["accuracy"] == 0.5 and report["n"] == 2
    assert report["classes"] == ["down", "up", "sideways"]
    assert report["confusion"] == [[0, 0, 0], [0, 1, 0], [1, 0, 0]]
    assert report["unseen_labels"] == {"sideways": 1}
    assert report["cross_entropy"] is not None  # over the example whose label is known
    # --quiet hides progress, not this caveat on the figures
    assert main(["classify", "evaluate", "--checkpoint", str(trained / "ck"), "--series-csv",
                 str(path), "--plot", str(trained / "unseen.png"), "--quiet"]) == 0
    assert capsys.readouterr().err.startswith("note: 1 of 2 examples have labels never seen")


def test_evaluate_with_unseen_labels_matches_scikit_learn(trained):  # noqa: F811
    metrics = pytest.importorskip("sklearn.metrics")
    clf = load_classifier(trained / "ck")
    ex = clf.read(series_csv=trained / "motions.csv")
    truth = ["sideways" if i % 5 == 0 else "wobble" if i % 7 == 3 else lab
             for i, lab in enumerate(ex.labels)]
    report = clf.evaluate(ex.values, truth)
    predicted = [p["label"] for p in clf.predict(ex.values)]
    assert report["accuracy"] == pytest.approx(metrics.accuracy_score(truth, predicted))
    assert report["macro_f1"] == pytest.approx(
        metrics.f1_score(truth, predicted, average="macro", zero_division=0))
    assert report["unseen_labels"] == {"sideways": 5, "wobble": 2}
    assert report["classes"] == ["down", "up", "sideways", "wobble"]
    assert report["confusion"] == metrics.confusion_matrix(
        truth, predicted, labels=report["classes"]).tolist()
    # no unseen labels: the report is what it was, plus an empty count
    plain = clf.evaluate(ex)
    assert plain["classes"] == ["down", "up"] and plain["unseen_labels"] == {}


def test_server_csv_route_and_evaluate_agree_on_unseen_labels(trained):  # noqa: F811
    pytest.importorskip("fastapi")
    from rnnkit.serve.tasks import load_models

    task = load_models([trained / "ck"])["ck"]
    answer = task._classify_csv(_relabelled(trained))
    clf = load_classifier(trained / "ck")
    (trained / "unseen2.csv").write_text(_relabelled(trained))
    report = clf.evaluate(clf.read(series_csv=trained / "unseen2.csv"))
    assert answer["accuracy"] == report["accuracy"] == 0.5


def test_series_of_unseen_lengths_are_labelled_with_a_note(trained, capsys):  # noqa: F811
    ck = trained / "ck"
    saved = json.loads((ck / "config.json").read_text())["extras"]["classify"]
    assert saved["lengths"] == [6, 11]  # write_motions: 6-11 steps
    rows = ["series,t,label,ax,ay,az"]
    for name, steps, label in (("long", 20, "up"), ("short", 3, "down"), ("usual", 8, "up")):
        ay = 2.0 if label == "up" else -2.0
        rows += [f"{name},{t},{label},0.1,{ay},0.0" for t in range(steps)]
    path = trained / "lengths.csv"
    path.write_text("\n".join(rows) + "\n")
    note = ("note: 1 of 3 series is longer than the longest in training (11 steps; it "
            "has 20); 1 of 3 series is shorter than the shortest in training (6 steps; it "
            "has 3); the model never saw series of these lengths, so their labels are less "
            "sure")
    for verb, more in (("predict", []), ("evaluate", ["--plot", str(trained / "len.png")])):
        assert main(["classify", verb, "--checkpoint", str(ck), "--series-csv", str(path),
                     "--quiet", *more]) == 0
        out, err = capsys.readouterr()
        assert err.strip() == note and out  # labelled all the same, the note on stderr
    # the training series themselves: no note
    assert main(["classify", "predict", "--checkpoint", str(ck), "--series-csv",
                 str(trained / "motions.csv"), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    # a checkpoint without the lengths (written before they were saved) says nothing
    clf = load_classifier(ck)
    clf.preprocessing.lengths = None
    assert clf.preprocessing.length_note(clf.read(series_csv=path)) is None


def test_saved_lengths_are_checked():
    from rnnkit.apps.classify.inputs import Preprocessing

    base = {"kind": "numeric", "labels": {"type": "LabelEncoder", "classes": ["a", "b"]},
            "input_size": 1}
    assert Preprocessing.from_dict({**base, "lengths": [3, 9]}).lengths == [3, 9]
    for bad in ([9, 3], [0, 4], [2], "3-9", [2.5, 4]):
        with pytest.raises(ValueError, match="lengths is"):
            Preprocessing.from_dict({**base, "lengths": bad})


# ------------------------------------------- 3. forecast predict and anomaly score honour --device
@pytest.fixture(scope="module")
def device_runs(tmp_path_factory):
    """A single-series forecaster, a many-series one (rnn) and a stream anomaly detector."""
    import numpy as np
    import pandas as pd

    tmp = tmp_path_factory.mktemp("device")
    t = np.arange(120)
    series = tmp / "series.csv"
    pd.DataFrame({"time": t, "value": np.sin(t / 4) + 0.01 * t}).to_csv(series, index=False)
    assert main(["forecast", "train", "--csv", str(series), "--checkpoint", str(tmp / "fc"),
                 "--lookback", "12", "--horizon", "4", "--epochs", "1", "--hidden-size", "8",
                 "--quiet"]) == 0
    panel = tmp / "panel.csv"
    months = pd.date_range("2015-01-01", periods=48, freq="MS")
    pd.concat([pd.DataFrame({"unique_id": f"s{k}", "ds": months,
                             "y": 50 + k + 5 * np.sin(np.arange(48) * np.pi / 6)})
               for k in range(3)]).to_csv(panel, index=False)
    assert main(["forecast", "train", "--csv", str(panel), "--id-col", "unique_id", "--time-col",
                 "ds", "--target", "y", "--mode", "rnn", "--horizon", "4", "--epochs", "1",
                 "--hidden-size", "8", "--checkpoint", str(tmp / "fcp"), "--quiet"]) == 0
    stream = tmp / "sensor.csv"
    pd.DataFrame({"t": np.arange(200), "value": np.sin(np.arange(200) / 5)}).to_csv(
        stream, index=False)
    assert main(["anomaly", "train", "--data", str(stream), "--checkpoint", str(tmp / "an"),
                 "--hidden-size", "8", "--epochs", "1", "--chunk", "16", "--window", "16",
                 "--quiet"]) == 0
    return {"tmp": tmp, "series": series, "panel": panel, "stream": stream}


def _use_argv(runs, what: str, device: str, out) -> list[str]:
    if what == "anomaly":
        return ["anomaly", "score", "--checkpoint", str(runs["tmp"] / "an"), "--data",
                str(runs["stream"]), "--device", device, "--out", str(out), "--quiet"]
    data, ck = (runs["series"], "fc") if what == "forecast" else (runs["panel"], "fcp")
    return ["forecast", "predict", "--checkpoint", str(runs["tmp"] / ck), "--csv", str(data),
            "--device", device, "--out", str(out), "--quiet"]


@pytest.mark.parametrize("what", ["forecast", "panel", "anomaly"])
def test_predict_and_score_refuse_a_device_not_here(device_runs, what, capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here: --device cuda is no refusal")
    out = device_runs["tmp"] / f"{what}-refused.csv"
    assert main(_use_argv(device_runs, what, "cuda", out)) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("error: device 'cuda' requested but CUDA is not available here")
    assert len(err.splitlines()) == 1 and not out.exists()
    assert main(_use_argv(device_runs, what, "tpu9", out)) == 2
    assert "unknown device 'tpu9'; expected auto, cpu, cuda or cuda:N" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("what", ["forecast", "panel", "anomaly"])
def test_predict_and_score_load_on_the_device_asked(device_runs, what, monkeypatch):
    """The CLI hands --device to the application's load; the output is the CPU's on a CPU."""
    from rnnkit.apps import anomaly, forecast

    module = anomaly if what == "anomaly" else forecast
    seen, real = [], module.load
    monkeypatch.setattr(module, "load", lambda path, device="cpu": seen.append(device) or
                        real(path, device=device))
    tmp = device_runs["tmp"]
    assert main(_use_argv(device_runs, what, "cpu", tmp / f"{what}-cpu.csv")) == 0
    assert main(_use_argv(device_runs, what, "auto", tmp / f"{what}-auto.csv")) == 0
    assert seen == ["cpu", "auto"]
    if not torch.cuda.is_available():  # auto is the CPU here: the same numbers
        cpu, auto = ((tmp / f"{what}-{d}.csv").read_text() for d in ("cpu", "auto"))
        assert cpu == auto


def test_loaders_resolve_the_device(device_runs):
    from rnnkit.apps import anomaly, forecast

    tmp = device_runs["tmp"]
    here = "cuda" if torch.cuda.is_available() else "cpu"
    for ck in ("fc", "fcp"):
        predictor = forecast.load(tmp / ck, device="auto")  # was: torch.device("auto") error
        assert predictor.device.type == here
    detector = anomaly.load(tmp / "an", device="auto")
    assert next(detector.model.parameters()).device.type == here
    assert detector.config.device.startswith(here)  # refits while scoring run there too


# ------------------------------------- 4. --resume on a finished run trains nothing, says so
DATA = Path(__file__).resolve().parents[1] / "examples" / "data"
FINISHED = ("had already finished", "nothing was trained and the saved model is unchanged")
VERBS = {
    "regress": ["regress", "train", "--csv", str(DATA / "series.csv"), "--target", "value",
                "--window", "12", "--epochs", "2", "--hidden-size", "4"],
    "textgen": ["textgen", "train", "--text", str(DATA / "notes.txt"), "--epochs", "1",
                "--hidden-size", "8", "--seq-len", "16"],
    "forecast": ["forecast", "train", "--csv", str(DATA / "series.csv"), "--mode", "direct",
                 "--lookback", "12", "--horizon", "4", "--epochs", "2", "--hidden-size", "4"],
    "classify": ["classify", "train", "--csv", str(DATA / "reviews.csv"), "--text-col", "text",
                 "--label-col", "label", "--epochs", "2", "--hidden-size", "4"],
    "translate": ["translate", "train", "--src", str(DATA / "pairs.de"), "--tgt",
                  str(DATA / "pairs.en"), "--val-src", str(DATA / "pairs.val.de"), "--val-tgt",
                  str(DATA / "pairs.val.en"), "--epochs", "2", "--hidden-size", "8",
                  "--embedding-dim", "4"],
    "anomaly": ["anomaly", "train", "--data", str(DATA / "sensor.csv"), "--epochs", "2",
                "--hidden-size", "4"],
}


def _folder_state(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _resume_finished(verb_argv, ck, capsys) -> None:
    """Train into ``ck``, resume it: the folder is byte for byte as it was, one note."""
    assert main([*verb_argv, "--checkpoint", str(ck), "--quiet"]) == 0
    before = _folder_state(ck)
    capsys.readouterr()
    assert main([*verb_argv, "--checkpoint", str(ck), "--quiet", "--resume"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(part in err[0] for part in FINISHED), err
    assert err[0].startswith(f"note: rnnkit {verb_argv[0]} train --resume: the run in {ck}")
    assert main([*verb_argv, "--checkpoint", str(ck), "--resume"]) == 0  # not --quiet
    out = capsys.readouterr().out
    for claim in ("trained", "saved"):  # nothing was: no claim that it was
        assert claim not in out, out
    after = _folder_state(ck)
    assert after["model.safetensors"] == before["model.safetensors"]
    assert after == before  # nothing rewritten: history, plots, run state


@pytest.mark.parametrize("verb", list(VERBS))
def test_resume_of_a_finished_run_trains_nothing(verb, tmp_path, capsys):
    _resume_finished(VERBS[verb], tmp_path / verb, capsys)


@pytest.mark.parametrize("verb", ["regress", "textgen"])
def test_resume_of_a_run_that_spent_its_time_budget_trains_nothing(verb, tmp_path, capsys):
    argv = list(VERBS[verb])
    at = argv.index("--epochs")
    if verb == "textgen":  # epochs or minutes: the minutes alone
        del argv[at:at + 2]
    else:  # the budget ends the run, not the epochs
        argv[at + 1] = "100000"
    _resume_finished([*argv, "--minutes", "0.005"], tmp_path / verb, capsys)
    stored = json.loads((tmp_path / verb / "history.json").read_text())
    assert stored["stop_reason"] == "time_budget"


@pytest.mark.parametrize("verb", ["classify", "anomaly"])
def test_resume_of_a_finished_run_without_run_state_refuses_to_train_longer(verb, tmp_path,
                                                                              capsys):
    """classify and anomaly remove fit's run state once the model is saved: a finished run
    cannot go on to more epochs, and saying so beats retraining from scratch."""
    ck = tmp_path / verb
    assert main([*VERBS[verb], "--checkpoint", str(ck), "--quiet"]) == 0
    before = _folder_state(ck)
    argv = list(VERBS[verb])
    argv[argv.index("--epochs") + 1] = "3"
    capsys.readouterr()
    assert main([*argv, "--checkpoint", str(ck), "--quiet", "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(f"error: resume: the run in {ck} already finished with epochs 2, and its "
                        "training state was removed when its model was saved, so it cannot "
                        "train on to epochs 3; train again without --resume (into another "
                        "folder to keep this model)")
    argv = list(VERBS[verb])
    argv[argv.index("--hidden-size") + 1] = "6"  # another model: fit's own refusal
    assert main([*argv, "--checkpoint", str(ck), "--quiet", "--resume"]) == 2
    assert "the setting --hidden-size was 4 in that run and is 6 now" in \
        capsys.readouterr().err
    assert _folder_state(ck) == before


def test_classify_train_in_python_resumes_a_finished_run_to_nothing(tmp_path, capsys):
    """The check lives in ``classify.train`` itself, not only in its verb: the Python side
    gets the saved model back, untouched, and the same one-line note."""
    from rnnkit.apps import classify

    ex = classify.read_examples(csv=DATA / "reviews.csv", text_col="text", label_col="label")
    config = classify.Config(epochs=2, hidden_size=4)
    ck = tmp_path / "ck"
    first = classify.train(config, ex, ck, progress=False)
    before = _folder_state(ck)
    capsys.readouterr()
    again = classify.train(config, ex, ck, resume=True, progress=False)
    assert again.already_finished and not first.already_finished
    err = capsys.readouterr().err
    assert all(part in err for part in FINISHED)
    assert _folder_state(ck) == before
    assert again.rows == first.rows and again.preprocessing.labels.classes == \
        first.preprocessing.labels.classes
    for a, b in zip(again.model.state_dict().values(), first.model.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)


def test_length_note_counts_the_steps_the_model_reads():
    """A series that the model's averaging (PAA, every d steps) brings to as many steps as a
    training series had is not outside the training lengths."""
    from rnnkit.apps import classify
    from rnnkit.apps.classify.inputs import Preprocessing
    from rnnkit.models.ensemble import ClassifierEnsemble
    from rnnkit.models.text_classifier import TextClassifier

    prep = Preprocessing.from_dict({"kind": "numeric", "input_size": 1, "lengths": [6, 11],
                                    "labels": {"type": "LabelEncoder", "classes": ["a", "b"]}})
    ex = classify.Examples(values=np.zeros((3, 13, 1), np.float32),
                           lengths=np.array([12, 13, 5]))
    # step by step all three are outside; averaged by 2, 12 steps read as 6 = ceil(11 / 2)
    # and 5 as 3 = ceil(6 / 2): only the 13-step series is longer than any in training
    assert prep.length_note(ex).startswith("note: 2 of 3 series are longer")
    assert prep.length_note(ex, downsample=2).startswith(
        "note: 1 of 3 series is longer than the longest in training (11 steps; it has 13)")
    model = TextClassifier(1, 4, 2, conv_channels=4, downsample=2)
    for m in (model, ClassifierEnsemble.of([model, model])):  # one network, or five
        clf = classify.ClassifyPredictor(m, classify.Config(), prep)
        assert clf.length_note(ex) == prep.length_note(ex, downsample=2)
