"""Multivariate series in long format (``--series-csv``): the reader, the CLI's train ->
predict -> evaluate round trip, the checks that a model's features match its input, and the
HTTP server's multivariate classify requests."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from test_classify_cli import run_error

from rnnkit.apps.classify import Preprocessing, load, read_examples
from rnnkit.cli.main import main
from rnnkit.data.classification import read_series_csv

FAST = ["--epochs", "3", "--hidden-size", "8", "--conv-channels", "8", "--batch-size", "8",
        "--lr", "0.01", "--quiet"]


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def write_motions(path, n: int = 24, shuffle: bool = True):
    """``n`` series of 6-11 steps, two classes told apart by channel ``ay``'s level, three
    channels (ax, ay, az), a text column (``note``), rows of each series in scrambled order."""
    rng = np.random.default_rng(0)
    rows = []
    for k in range(n):
        label = "up" if k % 2 else "down"
        steps = list(range(6 + k % 6))
        if shuffle:
            steps = list(rng.permutation(steps))
        for t in steps:
            ay = (2.0 if label == "up" else -2.0) + 0.1 * math.sin(t)
            rows.append([f"s{k}", t, label, f"{math.sin(t + k):.3f}", f"{ay:.3f}",
                         f"{0.01 * t:.3f}", "n/a"])
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["series", "t", "label", "ax", "ay", "az", "note"])
        w.writerows(rows)
    return path


# ------------------------------------------------------------------------------- reader
TABLE = """id,t,label,ax,ay,name
s1,2,up,1.0,2.0,x
s1,1,up,0.5,1.5,x
b,0,down,3,4,y
s1,3,up,7,8,x
b,1,down,5,6,y
"""


def test_reader_sorts_by_time_pads_unequal_lengths_and_keeps_first_appearance(tmp_path):
    t = read_series_csv(write(tmp_path / "a.csv", TABLE), "id", "label", time_col="t")
    assert t.ids == ["s1", "b"] and t.labels == ["up", "down"]
    assert t.features == ["ax", "ay"]  # every other numeric column; "name" holds no numbers
    assert t.lengths.tolist() == [3, 2] and t.values.dtype == np.float32
    np.testing.assert_array_equal(t.values, [[[0.5, 1.5], [1, 2], [7, 8]],
                                             [[3, 4], [5, 6], [0, 0]]])


def test_reader_without_time_keeps_file_order_and_picks_features(tmp_path):
    path = write(tmp_path / "a.csv", TABLE)
    t = read_series_csv(path, "id", feature_cols=["ay"])
    assert t.labels is None and t.features == ["ay"]
    np.testing.assert_array_equal(t.values[0, :, 0], [2.0, 1.5, 8.0])  # file order
    # without --time-col, t is just another numeric column: a feature by default
    assert read_series_csv(path, "id", "label").features == ["t", "ax", "ay"]
    t = read_series_csv(path, "id", "label", "t", feature_cols=["ay", "ax"])
    np.testing.assert_array_equal(t.values[1, :2], [[4, 3], [6, 5]])


def test_reader_orders_by_dates_and_spells_numeric_labels_one_way(tmp_path):
    path = write(tmp_path / "d.csv", "id,when,label,v\na,2024-01-02,1.0,1\na,2024-01-01,1,2\n"
                                     "b,2024-01-01 10:00,2,3\n")
    t = read_series_csv(path, "id", "label", time_col="when")
    assert t.values[0, :, 0].tolist() == [2.0, 1.0] and t.labels == ["1", "2"]


@pytest.mark.parametrize("text, kwargs, message", [
    ("", {}, "e.csv is empty; expected a header row naming the columns"),
    ("id,t,v\n", {}, "e.csv has a header but no data rows"),
    (TABLE, {"id_col": "key"},
     "column 'key' (--id-col) not found in {p}; its columns are: id, t, label, ax, ay, name"),
    (TABLE, {"label_col": "class"}, "column 'class' (--label-col) not found"),
    (TABLE, {"time_col": "when"}, "column 'when' (--time-col) not found"),
    (TABLE, {"feature_cols": ["ax", "gz"]}, "column 'gz' (--feature-cols) not found"),
    (TABLE, {"feature_cols": ["ax", "name"]},
     "{p}: series 's1', column 'name': value 'x' is not a finite number; features must be "
     "numbers"),
    ("id,v\na,1\na,\n", {}, "series 'a', column 'v': value missing; features must be numbers"),
    ("id,v\na,1\nb,nan\n", {}, "series 'b', column 'v': value 'nan' is not a finite number"),
    ("id,v\na,-inf\n", {}, "series 'a', column 'v': value '-inf' is not a finite number"),
    ("id,v\na,1e39\n", {}, "series 'a', column 'v': value 1e39 overflows float32"),
    ("id,label,v\na,p,1\na,q,2\n", {"label_col": "label"},
     "{p}: series 'a' has rows labelled 'p' and 'q' in column 'label'; a series has one label"),
    ("id,label,v\na,p,1\nb,,2\n", {"label_col": "label"},
     "series 'b' has an empty label in column 'label'"),
    ("id,t,v\na,1,1\na,1,2\n", {"time_col": "t"}, "series 'a' has two rows at t '1'"),
    ("id,t,v\na,1,1\na,soon,2\n", {"time_col": "t"},
     "series 'a', column 't' (--time-col): 'soon' is neither a number nor a date"),
    ("id,t,name\na,1,x\n", {"time_col": "t"},
     "no feature columns in {p}: no column other than id, t holds numbers (columns: id, t, "
     "name); name them with --feature-cols"),
    ("id,v\n,1\n", {}, "empty series id in column 'id' ({p}, data row 1)"),
    (TABLE, {"feature_cols": ["ax", "ax"]}, "--feature-cols names 'ax' twice"),
    (TABLE, {"feature_cols": ["t"], "time_col": "t"},
     "column 't' is the --time-col; it cannot also be a feature (--feature-cols)"),
    (TABLE, {"label_col": "id"}, "--id-col, --label-col and --time-col must be different "
                                 "columns, got --id-col id, --label-col id"),
])
def test_reader_errors_are_one_clear_line(tmp_path, text, kwargs, message):
    path = write(tmp_path / "e.csv", text)
    kwargs = {"id_col": "id", **kwargs}
    with pytest.raises(ValueError) as e:
        read_series_csv(path, **kwargs)
    assert message.format(p=path) in str(e.value)
    assert "\n" not in str(e.value)


def test_reader_refuses_a_missing_file_and_a_padded_table_too_large(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="file '.*nowhere.csv' not found"):
        read_series_csv(tmp_path / "nowhere.csv", "id")
    import rnnkit.runtime

    path = write(tmp_path / "a.csv", TABLE)
    monkeypatch.setattr(rnnkit.runtime, "memory_available", lambda device="cpu": 40)
    with pytest.raises(ValueError, match=r"read_series_csv: 2 series of up to 3 steps x 2 "
                                         r"features from .*a.csv would need about 48 B, more "
                                         r"than the 40 B of memory available here"):
        read_series_csv(path, "id", "label", "t")


def test_read_examples_needs_the_series_columns(tmp_path):
    path = write(tmp_path / "a.csv", TABLE)
    ex = read_examples(series_csv=path, id_col="id", label_col="label", time_col="t",
                       feature_cols="ay, ax")
    assert ex.kind == "numeric" and ex.ids == ["s1", "b"] and ex.features == ["ay", "ax"]
    assert ex.subset([1]).ids == ["b"] and ex.subset([1]).features == ["ay", "ax"]
    with pytest.raises(ValueError, match=r"^--series-csv needs --id-col \(the column naming"):
        read_examples(series_csv=path, label_col="label")
    with pytest.raises(ValueError, match=r"^--series-csv needs --label-col \(the column"):
        read_examples(series_csv=path, id_col="id")
    assert read_examples(series_csv=path, id_col="id", need_labels=False).labels is None
    with pytest.raises(ValueError, match="got --ucr and --series-csv"):
        read_examples(series_csv=path, ucr=path, id_col="id")
    with pytest.raises(ValueError, match="^--feature-cols: expected column names separated by "
                                         "commas, got an empty name$"):
        read_examples(series_csv=path, id_col="id", label_col="label", feature_cols="ax,,ay")


def test_saved_feature_names_load_and_old_checkpoints_still_do(tmp_path):
    ex = read_examples(series_csv=write(tmp_path / "a.csv", TABLE), id_col="id",
                       label_col="label", time_col="t")
    prep = Preprocessing.fit(ex)
    saved = prep.to_dict()
    assert saved["features"] == ["ax", "ay"]
    assert Preprocessing.from_dict(json.loads(json.dumps(saved))).features == ["ax", "ay"]
    old = {k: v for k, v in saved.items() if k != "features"}  # before this change
    assert Preprocessing.from_dict(old).features is None
    unnamed = Preprocessing.fit(read_examples(ucr=write(tmp_path / "u.tsv", "1\t0\t1\n2\t1\t0\n")))
    assert "features" not in unnamed.to_dict()  # unchanged for series without names
    with pytest.raises(ValueError, match=r"^Preprocessing.from_dict: features is \['ax'\]; "
                                         "expected null or one feature name per input feature"):
        Preprocessing.from_dict({**saved, "features": ["ax"]})


# ----------------------------------------------------------------------------------- CLI
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 3-channel classifier trained through the CLI, shared by the CLI and server tests."""
    d = tmp_path_factory.mktemp("series")
    write_motions(d / "motions.csv")
    assert main(["classify", "train", "--series-csv", str(d / "motions.csv"), "--id-col",
                 "series", "--time-col", "t", "--label-col", "label", "--feature-cols",
                 "ax,ay,az", "--checkpoint", str(d / "ck"), "--epochs", "8",
                 *FAST[2:]]) == 0
    return d


def test_train_predict_evaluate_round_trip(trained, capsys):
    d, ck = trained, str(trained / "ck")
    saved = json.loads((d / "ck" / "config.json").read_text())["extras"]["classify"]
    assert saved["input_size"] == 3 and saved["features"] == ["ax", "ay", "az"]
    assert saved["info"]["id_col"] == "series" and saved["info"]["time_col"] == "t"

    # the columns are remembered from training; each series is named by its id
    out = d / "pred.csv"
    assert main(["classify", "predict", "--checkpoint", ck, "--series-csv",
                 str(d / "motions.csv"), "--out", str(out), "--quiet"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split("\t")[2] for line in lines] == [f"s{k}" for k in range(24)]
    assert [line.split("\t")[0] for line in lines] == ["down", "up"] * 12
    rows = list(csv.reader(out.read_text(encoding="utf-8").splitlines()))
    assert rows[0] == ["id", "label", "p_down", "p_up"] and rows[1][:2] == ["s0", "down"]

    assert main(["classify", "evaluate", "--checkpoint", ck, "--series-csv",
                 str(d / "motions.csv"), "--json", str(d / "report.json"), "--plot",
                 str(d / "cm.png")]) == 0
    printed = capsys.readouterr().out
    report = json.loads((d / "report.json").read_text())
    assert report["n"] == 24 and report["confusion"] == [[12, 0], [0, 12]]
    assert "accuracy: 1.0000" in printed

    # the same series read in Python give the same probabilities
    clf = load(ck)
    ex = clf.read(need_labels=False, series_csv=d / "motions.csv")
    assert ex.features == ["ax", "ay", "az"] and ex.values.shape == (24, 11, 3)
    series = [ex.values[i, : ex.lengths[i]].tolist() for i in range(3)]
    np.testing.assert_allclose(clf.predict_proba(series), clf.predict_proba(ex)[:3], atol=1e-6)


def test_other_features_are_refused_with_exit_2_and_nothing_written(trained, tmp_path, capsys):
    ck = str(trained / "ck")
    before = sorted(p.name for p in (trained / "ck").iterdir())
    two = tmp_path / "two.csv"
    two.write_text("series,t,ax,ay\na,0,1,2\na,1,2,3\n")
    run_error(capsys, ["classify", "predict", "--checkpoint", ck, "--series-csv", str(two),
                       "--feature-cols", "ax,ay", "--out", str(tmp_path / "p.csv")],
              "rnnkit classify predict: error: this classifier reads 3 feature(s) per step "
              "(ax, ay, az), got 2")
    run_error(capsys, ["classify", "predict", "--checkpoint", ck, "--series-csv", str(two)],
              "column 'az' (--feature-cols) not found in")  # the training's columns
    renamed = tmp_path / "renamed.csv"
    renamed.write_text("series,t,label,ax,ay,az,gz\na,0,up,1,2,3,4\n")
    run_error(capsys, ["classify", "evaluate", "--checkpoint", ck, "--series-csv", str(renamed),
                       "--feature-cols", "ax,ay,gz"],
              "this classifier reads the features ax, ay, az (in this order), got ax, ay, gz")
    run_error(capsys, ["classify", "evaluate", "--checkpoint", ck, "--series-csv", str(renamed),
                       "--feature-cols", "az,ay,ax"], "(in this order), got az, ay, ax")
    run_error(capsys, ["classify", "predict", "--checkpoint", ck, "--ucr",
                       str(write(tmp_path / "u.tsv", "up\t0\t1\n"))],
              "this classifier reads 3 feature(s) per step (ax, ay, az), got 1")
    assert not (tmp_path / "p.csv").exists()
    assert sorted(p.name for p in (trained / "ck").iterdir()) == before


def test_train_refuses_bad_series_input_and_writes_nothing(tmp_path, capsys):
    data = write_motions(tmp_path / "m.csv", n=6)
    for args, message in [
            (["--id-col", "series"], "--series-csv needs --label-col"),
            (["--label-col", "label"], "--series-csv needs --id-col"),
            (["--id-col", "series", "--label-col", "label", "--feature-cols", "ax,note"],
             "series 's0', column 'note': value 'n/a' is not a finite number"),
            (["--id-col", "series", "--label-col", "ax"], "has rows labelled")]:
        run_error(capsys, ["classify", "train", "--series-csv", str(data), *args,
                           "--checkpoint", str(tmp_path / "ck"), *FAST], message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.csv"]


# -------------------------------------------------------------------------------- server
@pytest.fixture(scope="module")
def server(trained):
    """The 3-channel model and a 1-channel one (ay only) behind a real uvicorn, as
    tests/test_serve.py serves its models."""
    pytest.importorskip("fastapi")
    httpx = pytest.importorskip("httpx")
    from rnnkit.serve.app import create_app
    from rnnkit.serve.server import BackgroundServer
    from rnnkit.serve.settings import ServeSettings
    from rnnkit.serve.tasks import load_models

    d = trained
    assert main(["classify", "train", "--series-csv", str(d / "motions.csv"), "--id-col",
                 "series", "--time-col", "t", "--label-col", "label", "--feature-cols", "ay",
                 "--checkpoint", str(d / "uni"), *FAST]) == 0
    models = load_models([d / "ck", d / "uni"])
    app = create_app(models, ServeSettings(max_body_bytes=64 * 1024))
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def training_series(clf, folder, n=4):
    """The first ``n`` training series as lists of steps, and their labels."""
    ex = clf.read(series_csv=folder / "motions.csv")
    return [ex.values[i, : ex.lengths[i]].tolist() for i in range(n)], ex.labels[:n]


def test_server_classifies_multivariate_sequences(server, trained):
    clf = load(trained / "ck")
    inputs, labels = training_series(clf, trained)
    r = server.post("/v1/models/ck/predict", json={"inputs": inputs})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    expected = clf.predict_proba(inputs)
    assert [p["label"] for p in preds] == labels == ["down", "up", "down", "up"]
    for p, probs in zip(preds, expected, strict=True):
        assert [p["probs"][c] for c in ("down", "up")] == pytest.approx(probs.tolist(), abs=1e-6)


def test_server_univariate_requests_work_as_before(server, trained):
    clf = load(trained / "uni")
    assert clf.preprocessing.features == ["ay"]
    steps, _ = training_series(clf, trained)
    inputs = [[step[0] for step in s] for s in steps]  # (T,) numbers each
    r = server.post("/v1/models/uni/predict", json={"inputs": inputs})
    assert r.status_code == 200, r.text
    probs = [[p["probs"][c] for c in ("down", "up")] for p in r.json()["predictions"]]
    np.testing.assert_allclose(probs, clf.predict_proba(inputs), atol=1e-6)
    # the same series as steps of one number each
    same = server.post("/v1/models/uni/predict",
                       json={"inputs": [[[v] for v in s] for s in inputs]})
    assert same.status_code == 200 and same.json()["predictions"] == r.json()["predictions"]


@pytest.mark.parametrize("model, inputs, status, detail", [
    ("ck", [[[1.0, 2.0]]], 422, "this classifier reads 3 feature(s) per step (ax, ay, az), got 2"),
    ("ck", [[1.0, 2.0, 3.0]], 422, "this classifier reads 3 feature(s) per step (ax, ay, az), "
                                   "got 1"),
    ("ck", [[[1.0, 2.0, 3.0], [1.0, 2.0]]], 422,
     "classify predict: sequence 1 has ragged steps (step 1 has 3 numbers, step 2 has 2)"),
    ("ck", [[[1.0, 2.0, 3.0]], [[1.0, 2.0]]], 422,
     "classify predict: sequence 2 has 2 features per step, sequence 1 has 3"),
    ("ck", [[[1.0, 2.0, 3.0]], []], 422, "classify predict: sequence 2 is empty"),
    ("ck", [[[]]], 422, "classify predict: sequence 1 has steps without numbers"),
    ("uni", [[]], 422, "classify predict: sequence 1 is empty"),
    ("ck", [[[1.0, 2.0, 3.0]], [1.0]], 422, "inputs"),  # neither layout
    ("ck", [[[1.0, "a", 3.0]]], 422, "inputs"),
    ("ck", [[[1.0, 2.0, 3.0]]] * 1001, 422, "inputs"),  # LIMITS["items"]
])
def test_server_refuses_bad_multivariate_input_with_4xx(server, model, inputs, status, detail):
    r = server.post(f"/v1/models/{model}/predict", json={"inputs": inputs})
    assert r.status_code == status, r.text
    assert detail in r.json()["detail"]
    assert server.get("/health").status_code == 200


def test_server_counts_every_number_against_the_limit(trained, monkeypatch):
    from rnnkit.serve import schemas
    from rnnkit.serve.tasks import load_models

    monkeypatch.setitem(schemas.LIMITS, "values", 5)
    [model] = load_models([trained / "ck"]).values()
    body = schemas.ClassifyRequest(inputs=[[[1.0, 2.0, 3.0]] * 2])
    with pytest.raises(ValueError, match="^inputs: 6 numbers in all, more than the limit of 5$"):
        model.predict(body)


def test_server_counts_the_padded_batch_against_the_limit(trained, monkeypatch):
    # 4 sequences, one of 3 steps: 6 steps of 3 numbers sent (18), 4 x 3 x 3 = 36 once padded
    from rnnkit.serve import schemas
    from rnnkit.serve.tasks import load_models

    monkeypatch.setitem(schemas.LIMITS, "values", 20)
    [model] = load_models([trained / "ck"]).values()
    body = schemas.ClassifyRequest(inputs=[[[1.0, 2.0, 3.0]] * 3] + [[[1.0, 2.0, 3.0]]] * 3)
    with pytest.raises(ValueError, match="padded to the longest sequence they would be 36 "
                                         "numbers, more than the limit of 20"):
        model.predict(body)
