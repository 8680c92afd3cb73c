"""The page's classify panel for numeric-series classifiers, and the listing it reads.

``GET /v1/models`` says what each classifier reads (``input``: text, or numeric with F
features per step and their names); the page's panel then asks for one series per line
(numbers; steps separated by ";" when F > 1), sends them as numbers, shows each line's label
and class probabilities with a small chart, and says on the page which line it cannot read.
The classifiers are trained here on generated 2-class data in a few seconds; the browser
test runs in headless Chromium as tests/test_serve_browser.py does, and skips the same way.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from test_serve import fixture_copy  # noqa: E402

from rnnkit.apps import classify  # noqa: E402
from rnnkit.serve.app import create_app  # noqa: E402
from rnnkit.serve.server import BackgroundServer  # noqa: E402
from rnnkit.serve.settings import ServeSettings  # noqa: E402
from rnnkit.serve.tasks import load_models  # noqa: E402

try:  # the Chromium fixture (module-scoped) and the wait helper of the page's browser test
    from test_serve_browser import browser, classify_lines, wait  # noqa: F401
except pytest.skip.Exception:  # no selenium: the listing tests still run
    @pytest.fixture
    def browser():
        pytest.skip("selenium is not installed; the browser test is skipped")

FEATURES = ["ax", "ay", "az"]


def motions(n: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``n`` series of 6-11 steps, 3 features; "up" has ay near +2, "down" near -2."""
    rng = np.random.default_rng(seed)
    values, lengths, labels = np.zeros((n, 11, 3), np.float32), [], []
    for k in range(n):
        label, T = ("up" if k % 2 else "down"), 6 + k % 6
        t = np.arange(T)
        values[k, :T, 0] = np.sin(t + k)
        values[k, :T, 1] = (2.0 if label == "up" else -2.0) + 0.1 * rng.standard_normal(T)
        values[k, :T, 2] = 0.01 * t
        lengths.append(T)
        labels.append(label)
    return values, np.array(lengths), labels


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A 3-feature series classifier (named features), a 1-feature one (unnamed) and the
    0.1.0 text classifier fixture."""
    tmp = tmp_path_factory.mktemp("page-series")
    values, lengths, labels = motions()
    config = classify.Config(epochs=8, hidden_size=8, conv_channels=8, batch_size=8, lr=0.01)
    classify.train(config, classify.Examples(values=values, lengths=lengths, labels=labels,
                                             features=FEATURES), tmp / "motion", progress=False)
    classify.train(config, classify.Examples(values=values[:, :, 1], lengths=lengths,
                                             labels=labels), tmp / "level", progress=False)
    return {"motion": tmp / "motion", "level": tmp / "level",
            "text": fixture_copy(tmp, "classify")}


@pytest.fixture(scope="module")
def url(folders):
    models = load_models(list(folders.values()))
    with BackgroundServer(create_app(models, ServeSettings())) as u:
        yield u


def test_listing_says_what_each_classifier_reads(url, folders):
    with httpx.Client(base_url=url, timeout=30) as client:
        listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
        one = client.get("/v1/models/motion").json()
    # trained from arrays, not a CSV: a CSV body's columns are id, then the features
    assert listed["motion"]["input"] == {"kind": "numeric", "features": 3,
                                         "feature_names": FEATURES, "csv": {
                                             "id": "id", "time": None, "features": FEATURES,
                                             "label": None}}
    assert listed["level"]["input"] == {"kind": "numeric", "features": 1,
                                        "feature_names": None, "csv": {
                                            "id": "id", "time": None, "features": None,
                                            "label": None}}
    assert listed["classify"]["input"] == {"kind": "text"}
    assert one["input"] == listed["motion"]["input"]
    # the fields that were there before are unchanged
    for m in listed.values():
        assert m["task"] == "classify" and m["generative"] is False
        assert m["endpoints"] == {"predict": f"/v1/models/{m['name']}/predict"}
        assert {"model_class", "parameters", "streams", "config"} <= set(m)
    assert listed["motion"]["config"]["hidden_size"] == 8


def test_listing_of_other_tasks_says_what_their_body_takes(tmp_path):
    # not a classifier's panel fields (input.csv, input.features): what the body carries
    models = load_models([fixture_copy(tmp_path, "forecast"), fixture_copy(tmp_path, "regress")])
    inputs = {name: m.info()["input"] for name, m in models.items()}
    assert set(inputs["forecast"]["body"]) == {"csv"}
    assert set(inputs["regress"]["body"]) == {"csv", "values"}
    assert not any({"csv", "features"} & set(i) for i in inputs.values())


def steps_text(series: np.ndarray) -> str:
    return "; ".join(",".join(f"{v:.3f}" for v in step) for step in series)


def test_page_classifies_typed_series_and_says_which_line_is_wrong(browser, url, folders,
                                                                   tmp_path_factory):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    values, lengths, _ = motions(n=4, seed=1)
    lines = [steps_text(values[k, : lengths[k]]) for k in (0, 1)]  # a "down", then an "up"
    parsed = [np.array([[float(v) for v in s.split(",")] for s in line.split("; ")])
              for line in lines]
    expected = classify.load(folders["motion"]).predict([p.tolist() for p in parsed])

    browser.get(url + "/")
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#model option")) == 3)
    Select(browser.find_element(By.ID, "model")).select_by_value("motion")
    assert browser.find_element(By.ID, "panel-classify").is_displayed()
    hint = browser.find_element(By.ID, "texts-hint").text
    assert '";"' in hint and "3 numbers (ax, ay, az)" in hint
    box = browser.find_element(By.ID, "texts")
    assert box.get_attribute("value") == ""  # the text model's example is not a series
    assert box.get_attribute("placeholder").count(";") == 4  # two series of three steps

    # a blank line is skipped
    heads = classify_lines(browser, "\n".join(lines[:1] + [""] + lines[1:]), 2)
    for head, line, want in zip(heads, lines, expected, strict=True):
        assert head == f"{line[:60]}… → {want['label']}"
    assert [w["label"] for w in expected] == ["down", "up"]  # the model learned the level
    shown = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".class-row span")]
    want_rows = []
    for w in expected:
        for name, p in sorted(w["probs"].items(), key=lambda kv: -kv[1]):
            want_rows += [name, f"{p * 100:.1f}%"]
    assert shown == want_rows
    assert len(browser.find_elements(By.CSS_SELECTOR, "#classes .bar")) == 4  # 2 x 2 classes
    charts = browser.find_elements(By.CSS_SELECTOR, "#classes .chart svg")
    assert len(charts) == 2
    for chart, p in zip(charts, parsed, strict=True):
        polylines = chart.find_elements(By.CSS_SELECTOR, "polyline.feature")
        assert len(polylines) == 3  # one line per feature
        assert len(polylines[0].get_attribute("points").split()) == len(p)
    legend = browser.find_element(By.CSS_SELECTOR, "#classes .legend").text
    assert all(name in legend for name in FEATURES)
    assert browser.find_element(By.ID, "status").text == ""

    shots = tmp_path_factory.mktemp("screenshots")
    browser.save_screenshot(str(shots / "classify-series.png"))
    for typed, message in [
            ("0.1,0.2,0.3; 0.4,0.5", "line 2: step 2: 2 numbers, expected 3 (ax, ay, az)"),
            ("0.1,0.2,0.3; 0.4,abc,0.6", 'line 2: step 2: "abc" is not a number'),
            ("0.1 0.2 0.3 0.4", 'line 2: 4 numbers, expected 3 (ax, ay, az); separate the '
                                'steps with ";"')]:
        box.clear()
        box.send_keys(lines[0] + "\n" + typed)
        browser.find_element(By.ID, "classify").click()
        wait(browser, lambda d, m=message: d.find_element(By.ID, "status").text == m)
        assert not browser.find_elements(By.CSS_SELECTOR, "#classes .label")  # nothing sent
    browser.save_screenshot(str(shots / "classify-series-error.png"))
    print(f"screenshots: {shots}")

    # one feature per step: numbers separated by commas or spaces
    Select(browser.find_element(By.ID, "model")).select_by_value("level")
    assert "one per step" in browser.find_element(By.ID, "texts-hint").text
    heads = classify_lines(browser, "2.1 1.9, 2.0 2.2 1.8 2.0\n-2 -2.1 -1.9 -2 -2", 2)
    expected = classify.load(folders["level"]).predict([[2.1, 1.9, 2.0, 2.2, 1.8, 2.0],
                                                        [-2, -2.1, -1.9, -2, -2]])
    assert heads == [f"2.1 1.9, 2.0 2.2 1.8 2.0 → {expected[0]['label']}",
                     f"-2 -2.1 -1.9 -2 -2 → {expected[1]['label']}"]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#classes .chart polyline")) == 2

    # a text classifier: the panel is as it was, with its own example text back
    Select(browser.find_element(By.ID, "model")).select_by_value("classify")
    assert browser.find_element(By.ID, "texts-hint").text == "One input per line"
    assert box.get_attribute("value") == "a good film"
    assert box.get_attribute("placeholder") == ""
    labels = classify_lines(browser, "good fun\nbad plot", 2)
    assert labels[0].startswith("good fun → ") and labels[0][-3:] in ("pos", "neg")
    assert not browser.find_elements(By.CSS_SELECTOR, "#classes svg")
    # back to the 3-feature model: what was typed for it is back
    Select(browser.find_element(By.ID, "model")).select_by_value("motion")
    assert box.get_attribute("value").startswith(lines[0])
