"""A series classifier's long-format CSV over HTTP: ``{"csv": ...}`` instead of ``inputs``.

The body is read by the reader ``rnnkit classify predict --series-csv`` uses, in the columns
saved in the checkpoint (``GET /v1/models`` lists them under ``input.csv``), and answers
each series by its id with the CLI's probabilities; with the label column, also its actual
label and the accuracy. Every bad CSV is one 4xx line. The page test (headless Chromium, as
tests/test_serve_browser.py, skipped the same way) uploads and pastes a CSV.
"""

from __future__ import annotations

import csv
import io

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from test_classify_series_csv import trained  # noqa: E402,F401 - the CLI-trained classifier
from test_serve import fixture_copy  # noqa: E402
from test_serve_page_series import folders  # noqa: E402,F401 - classifiers trained on arrays

from rnnkit.apps.classify import load  # noqa: E402
from rnnkit.cli.main import main  # noqa: E402
from rnnkit.serve import schemas  # noqa: E402
from rnnkit.serve.app import create_app  # noqa: E402
from rnnkit.serve.server import BackgroundServer  # noqa: E402
from rnnkit.serve.settings import ServeSettings  # noqa: E402
from rnnkit.serve.tasks import load_models  # noqa: E402

try:  # the Chromium fixture and the page helpers of the page's browser test
    from test_serve_browser import browser, classify_csv, wait  # noqa: F401
except pytest.skip.Exception:  # no selenium: the HTTP tests still run
    @pytest.fixture
    def browser():
        pytest.skip("selenium is not installed; the browser test is skipped")

HEADER = "series,t,label,ax,ay,az,note"
LAYOUT = {"id": "series", "time": "t", "features": ["ax", "ay", "az"], "label": "label"}


@pytest.fixture(scope="module")
def models(trained, tmp_path_factory):  # noqa: F811 - the fixture imported above
    """The CLI-trained 3-channel series classifier (``ck``) and the 0.1.0 text classifier."""
    return load_models([trained / "ck", fixture_copy(tmp_path_factory.mktemp("text"),
                                                     "classify")])


@pytest.fixture(scope="module")
def server(models):
    app = create_app(models, ServeSettings(max_body_bytes=64 * 1024))
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        client.url = url
        yield client


def without_label(text: str) -> str:
    """The CSV without its label column."""
    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows([r[:2] + r[3:] for r in rows])
    return out.getvalue()


def test_listing_gives_the_csv_columns(server):
    listed = {m["name"]: m for m in server.get("/v1/models").json()["models"]}
    assert listed["ck"]["input"] == {"kind": "numeric", "features": 3,
                                     "feature_names": ["ax", "ay", "az"], "csv": LAYOUT}
    assert listed["classify"]["input"] == {"kind": "text"}


def test_csv_gives_the_clis_predictions_per_series_id(server, trained, capsys):  # noqa: F811
    path = trained / "motions.csv"  # rows of each series in scrambled order, a text column
    assert main(["classify", "predict", "--checkpoint", str(trained / "ck"), "--series-csv",
                 str(path), "--out", str(trained / "cli.csv"), "--quiet"]) == 0
    capsys.readouterr()
    cli = list(csv.DictReader(io.StringIO((trained / "cli.csv").read_text(encoding="utf-8"))))
    clf = load(trained / "ck")
    expected = clf.predict_proba(clf.read(need_labels=False, series_csv=path))

    r = server.post("/v1/models/ck/predict", json={"csv": path.read_text()})
    assert r.status_code == 200, r.text
    answer = r.json()
    preds = answer["predictions"]
    assert [p["id"] for p in preds] == [row["id"] for row in cli] == [f"s{k}" for k in range(24)]
    assert [p["label"] for p in preds] == [row["label"] for row in cli]
    for p, probs, row in zip(preds, expected, cli, strict=True):
        assert [p["probs"][c] for c in ("down", "up")] == pytest.approx(probs.tolist(),
                                                                       abs=1e-6)
        assert p["probs"]["up"] == pytest.approx(float(row["p_up"]), abs=1e-6)
    # the label column is there: each series' label and the accuracy over them
    assert [p["actual"] for p in preds] == ["down", "up"] * 12
    assert answer["accuracy"] == sum(p["label"] == p["actual"] for p in preds) / 24 == 1.0

    # the label column is optional: the same predictions, no accuracy
    r = server.post("/v1/models/ck/predict", json={"csv": without_label(path.read_text())})
    assert r.status_code == 200, r.text
    assert "accuracy" not in r.json() and r.json()["task"] == "classify"
    assert r.json()["predictions"] == [{k: v for k, v in p.items() if k != "actual"}
                                       for p in preds]


def test_a_label_never_trained_on_counts_as_a_miss(server, trained):  # noqa: F811
    rows = (trained / "motions.csv").read_text().splitlines()
    s0 = [r.replace(",down,", ",sideways,") for r in rows if r.startswith("s0,")]
    s1 = [r for r in rows if r.startswith("s1,")]
    r = server.post("/v1/models/ck/predict", json={"csv": "\n".join([rows[0], *s0, *s1])})
    assert r.status_code == 200, r.text
    assert [(p["id"], p["label"], p["actual"]) for p in r.json()["predictions"]] == [
        ("s0", "down", "sideways"), ("s1", "up", "up")]
    assert r.json()["accuracy"] == 0.5


def test_series_of_unseen_lengths_come_with_a_note(server):
    # trained on 6-11 steps (write_motions): 20 steps is longer than any, labelled all the same
    rows = [HEADER] + [f"long,{t},up,0.1,2.0,0.0,x" for t in range(20)] + \
        [f"usual,{t},down,0.1,-2.0,0.0,x" for t in range(8)]
    r = server.post("/v1/models/ck/predict", json={"csv": "\n".join(rows)})
    assert r.status_code == 200, r.text
    assert r.json()["note"] == ("1 of 2 series is longer than the longest in training (11 "
                                "steps; it has 20); the model never saw series of these "
                                "lengths, so their labels are less sure")
    assert len(r.json()["predictions"]) == 2
    r = server.post("/v1/models/ck/predict", json={"inputs": [[[0.1, 2.0, 0.0]] * 3]})
    assert r.status_code == 200 and "shorter than the shortest" in r.json()["note"]
    r = server.post("/v1/models/ck/predict", json={"inputs": [[[0.1, 2.0, 0.0]] * 8]})
    assert r.status_code == 200 and "note" not in r.json()


def test_a_classifier_trained_on_arrays_reads_id_then_numeric_columns(folders):  # noqa: F811
    # no CSV columns saved: the id column is "id", rows in file order, the features every
    # other column holding numbers (here one, unnamed in training: any name will do)
    [model] = load_models([folders["level"]]).values()
    assert model.info()["input"]["csv"] == {"id": "id", "time": None, "features": None,
                                            "label": None}
    series = {"b": [2.1, 1.9, 2.0, 2.2, 1.8, 2.0], "a": [-2, -2.1, -1.9, -2, -2]}
    rows = [f"{k},{v},x" for k, vs in series.items() for v in vs]
    answer = model.predict(schemas.ClassifyRequest(csv="\n".join(["id,level,note", *rows])))
    expected = load(folders["level"]).predict(list(series.values()))
    assert answer.pop("predictions") == [{"id": k, **p} for k, p in zip(series, expected,
                                                                        strict=True)]
    assert answer == {"note": "1 of 2 series is shorter than the shortest in training (6 "
                              "steps; it has 5); the model never saw series of these "
                              "lengths, so their labels are less sure"}
    with pytest.raises(ValueError, match=r"^this classifier reads 1 feature\(s\) per step, "
                                         r"got 2$"):
        model.predict(schemas.ClassifyRequest(csv="id,u,v\na,1,2\n"))


@pytest.mark.parametrize("text, detail", [
    ("series,t,label,ax,ay\ns0,0,up,1,2\n",
     "column 'az' (a feature column) not found in the CSV; its columns are: series, t, label, "
     "ax, ay"),
    ("id,t,ax,ay,az\ns0,0,1,2,3\n", "column 'series' (the id column) not found in the CSV"),
    ("series,ax,ay,az\ns0,1,2,3\n", "column 't' (the time column) not found in the CSV"),
    (f"{HEADER}\ns0,0,up,1,abc,3,x\n",
     "the CSV: series 's0', column 'ay': value 'abc' is not a finite number; features must be "
     "numbers"),
    (f"{HEADER}\ns0,0,up,1,2,3,x\ns1,0,up,NaN,2,3,x\n",
     "the CSV: series 's1', column 'ax': value 'NaN' is not a finite number"),
    (f"{HEADER}\ns0,0,up,1,2,inf,x\n", "series 's0', column 'az': value 'inf' is not a finite"),
    (f"{HEADER}\ns0,0,up,1,2,3,x\ns0,1,up,1,2\n",
     "the CSV: series 's0', column 'az': value missing; features must be numbers"),
    (f"{HEADER}\ns0,0,up,1,2,3,x\ns0,1,up,1,2,3,x,9\n",
     "the CSV is not a readable CSV: Error tokenizing data. C error: Expected 7 fields in "
     "line 3, saw 8"),
    (f"{HEADER}\ns0,0,up,1,2,3,x\ns0,0,up,4,5,6,x\n", "the CSV: series 's0' has two rows at t '0'"),
    (f"{HEADER}\ns0,0,up,1,2,3,x\ns0,soon,up,4,5,6,x\n",
     "the CSV: series 's0', column 't' (the time column): 'soon' is neither a number nor a date"),
    (f"{HEADER}\ns0,0,up,1,2,3,x\ns0,1,down,4,5,6,x\n",
     "the CSV: series 's0' has rows labelled 'up' and 'down' in column 'label'; a series has "
     "one label"),
    (f"{HEADER}\n,0,up,1,2,3,x\n", "empty series id in column 'series' (the CSV, data row 1)"),
    (f"{HEADER}\n", "the CSV has a header but no data rows"),
    (" \n\n", "the CSV is empty; expected a header row naming the columns"),
    ("", "csv: String should have at least 1 character"),
])
def test_bad_csv_is_one_4xx_line(server, text, detail):
    r = server.post("/v1/models/ck/predict", json={"csv": text})
    assert r.status_code == 422, r.text
    assert detail in r.json()["detail"] and "\n" not in r.json()["detail"]
    assert server.get("/health").status_code == 200


@pytest.mark.parametrize("model, body, detail", [
    ("ck", {"csv": f"{HEADER}\ns0,0,up,1,2,3,x\n", "inputs": [[[1.0, 2.0, 3.0]]]},
     "send exactly one of inputs (texts or sequences) or csv (a series CSV)"),
    ("ck", {}, "send exactly one of inputs (texts or sequences) or csv (a series CSV)"),
    ("ck", {"csv": 3}, "csv: Input should be a valid string"),
    ("ck", {"csv": ["s0,0"]}, "csv: Input should be a valid string"),
    ("classify", {"csv": "id,text\na,good fun\n"},
     "csv: model 'classify' classifies texts; send them as inputs, a list of strings"),
    # the other kind of input: what to send over HTTP, not the CLI's flags
    ("ck", {"inputs": ["good fun"]}, "inputs: model 'ck' classifies numeric sequences; send "
     "each as a list of rows of 3 numbers (one per step), or the series as a CSV in csv"),
    ("classify", {"inputs": [[1.0, 2.0]]},
     "inputs: model 'classify' classifies texts; send them as a list of strings"),
])
def test_bad_bodies_and_text_classifiers_get_422(server, model, body, detail):
    r = server.post(f"/v1/models/{model}/predict", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == detail


def test_size_limits_refuse_before_reading(server, models, monkeypatch):
    # over the server's body limit: 413 before parsing; over the schema's: 422
    r = server.post("/v1/models/ck/predict", json={"csv": HEADER + "\n" + "s0,0,up,1,2,3,x\n"
                                                   * 5000})
    assert r.status_code == 413, r.text
    with pytest.raises(schemas.BodyError, match="csv: String should have at most 5000000 "
                                                "characters"):
        schemas.parse_body(b'{"csv": "' + b"1" * (schemas.LIMITS["csv_chars"] + 1) + b'"}',
                           schemas.ClassifyRequest)
    # too many numbers once padded (4 series, one of 3 steps: 4 x 3 x 3 = 36), refused
    # before the padded table is sized for memory, let alone allocated
    import rnnkit.runtime

    def never(*args):
        raise AssertionError("the padded table was about to be allocated")

    monkeypatch.setattr(rnnkit.runtime, "check_memory", never)
    monkeypatch.setitem(schemas.LIMITS, "values", 20)
    rows = [f"s0,{t},up,1,2,3,x" for t in range(3)] + [f"s{k},0,up,1,2,3,x" for k in (1, 2, 3)]
    body = schemas.ClassifyRequest(csv="\n".join([HEADER, *rows]))
    with pytest.raises(ValueError, match=r"^the CSV: 4 series of up to 3 steps x 3 features "
                                         r"would be 36 numbers padded to the longest, more than "
                                         r"the limit of 20$"):
        models["ck"].predict(body)


def test_page_uploads_and_pastes_a_series_csv(browser, server, trained):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    path = trained / "motions.csv"
    expected = server.post("/v1/models/ck/predict", json={"csv": path.read_text()}).json()
    browser.get(server.url + "/")
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#model option")) == 2)
    Select(browser.find_element(By.ID, "model")).select_by_value("classify")
    assert not browser.find_element(By.ID, "classify-csv-box").is_displayed()  # text model
    Select(browser.find_element(By.ID, "model")).select_by_value("ck")
    assert browser.find_element(By.ID, "classify-csv-box").is_displayed()
    hint = browser.find_element(By.ID, "classify-csv-hint").text
    assert "series, t, ax, ay, az (and label, optional: adds the accuracy)" in hint
    placeholder = browser.find_element(By.ID, "classify-csv").get_attribute("placeholder")
    assert placeholder.splitlines()[0] == "series,t,ax,ay,az"

    # uploaded: each series under its id, its label as the CSV has it, and the accuracy
    heads = classify_csv(browser, path, 24)
    assert heads == [f"{p['id']} → {p['label']} (labelled {p['actual']})"
                     for p in expected["predictions"]]
    assert browser.find_element(By.ID, "accuracy").text == "accuracy 100.0% over 24 labelled " \
                                                           "series"
    shown = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".class-row span")][:4]
    first = sorted(expected["predictions"][0]["probs"].items(), key=lambda kv: -kv[1])
    assert shown == [x for name, p in first for x in (name, f"{p * 100:.1f}%")]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#classes .bar")) == 48  # 24 x 2
    assert browser.find_element(By.ID, "status").text == ""

    # pasted, without the label column: no accuracy
    lines = without_label(path.read_text()).splitlines()
    some = "\n".join(line for line in lines if line.split(",")[0] in ("series", "s3", "s4"))
    heads = classify_csv(browser, some, 2)
    want = {p["id"]: p["label"] for p in expected["predictions"]}
    assert heads == [f"s3 → {want['s3']}", f"s4 → {want['s4']}"]
    assert not browser.find_element(By.ID, "accuracy").is_displayed()

    # a series longer than any in training: labelled, and the server's note under it
    long = "\n".join(["series,t,ax,ay,az"] + [f"big,{t},0.1,2.0,0.0" for t in range(20)])
    assert classify_csv(browser, long, 1)[0].startswith("big → ")
    assert browser.find_element(By.ID, "accuracy").text == (
        "Note: 1 of 1 series is longer than the longest in training (11 steps; it has "
        "20); the model never saw series of these lengths, so their labels are less sure")

    # a bad CSV: the server's one line on the page, no results
    box = browser.find_element(By.ID, "classify-csv")
    browser.execute_script("arguments[0].value = arguments[1];", box,
                           "series,t,ax,ay,az\ns0,0,1,nan,3\n")
    browser.find_element(By.ID, "classify-csv-run").click()
    message = ("422: the CSV: series 's0', column 'ay': value 'nan' is not a finite number; "
               "features must be numbers")
    wait(browser, lambda d: d.find_element(By.ID, "status").text == message)
    assert not browser.find_elements(By.CSS_SELECTOR, "#classes .label")


def test_random_csv_text_is_answered_or_refused_never_a_5xx(server):
    """Derandomized fuzz: CSV-like text built from the layout's own column names, ids,
    numbers, NaN, quotes and stray separators; each answer is a 200 or one 4xx line."""
    pytest.importorskip("hypothesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    cell = st.sampled_from(["series", "t", "label", "ax", "ay", "az", "note", "s0", "s1", "",
                            "0", "1", "-2.5", "1e308", "1e999", "nan", "inf", "a", "wave",
                            '"', '""', "x,y", " ", "\t", "é", "0x1F"])
    row = st.lists(cell, min_size=0, max_size=8).map(",".join)
    body = st.lists(row, min_size=1, max_size=12).map("\n".join)
    seen = []

    @settings(max_examples=80, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.one_of(body, body.map(lambda b: HEADER + "\n" + b)))
    def probe(text):
        if not text.strip():
            text += "x"  # the schema's own min_length is tested elsewhere
        r = server.post("/v1/models/ck/predict", json={"csv": text})
        seen.append(r.status_code)
        assert r.status_code == 200 or 400 <= r.status_code < 500, (r.status_code, r.text)
        if r.status_code != 200:
            detail = r.json()["detail"]
            assert isinstance(detail, str) and "\n" not in detail.strip(), detail

    probe()
    assert len(seen) >= 80 and server.get("/v1/models").status_code == 200


@pytest.mark.parametrize("inputs, nearest", [
    ('[[1, "a", 3]]', "inputs.0.1: Input should be a valid number"),
    ("[[0.5, 1e400]]", "inputs.0.1: Input should be a finite number"),
    ('["fine", 3]', "inputs.1: Input should be a valid string"),
    ('"one text"', "inputs: Input should be a valid array"),
])
def test_inputs_of_no_accepted_form_get_one_readable_422(server, inputs, nearest):
    # pydantic fails each accepted form (texts, numbers, steps) separately; the answer is one
    # problem: what inputs accepts and where the nearest form failed
    r = server.post("/v1/models/ck/predict", content='{"inputs": ' + inputs + "}",
                    headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert detail.startswith("inputs matches none of its accepted forms (accepted: texts; or "
                             "sequences of numbers"), detail
    assert detail.endswith("nearest: " + nearest), detail
    assert "list[" not in detail and detail.count(";") == 3
