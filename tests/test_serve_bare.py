"""rnnkit serve with bare checkpoints (``rnnkit.save``, ``rnnkit import-keras``): task "model".

A float-input and an embedding-first ``KerasSequential`` (random weights, saved with
``rnnkit.save`` as ``rnnkit import-keras`` saves its conversion) behind a real uvicorn on a
loopback port: ``GET /v1/models`` describes their inputs and outputs, ``predict`` answers what
calling the model directly answers, every malformed body is a 4xx with one line, and the page
shows the model's panel (headless Chromium, skipped where it is not installed).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

import rnnkit  # noqa: E402
from rnnkit.models.keras_sequential import KerasSequential  # noqa: E402
from rnnkit.serve.app import create_app  # noqa: E402
from rnnkit.serve.schemas import LIMITS  # noqa: E402
from rnnkit.serve.server import BackgroundServer  # noqa: E402
from rnnkit.serve.settings import ServeSettings  # noqa: E402
from rnnkit.serve.tasks import load_models  # noqa: E402

MAX_BODY = 64 * 1024
FLOATS = [{"type": "rnn", "kind": "lstm", "input_size": 2, "units": 5},
          {"type": "dense", "input_size": 5, "units": 3, "activation": "tanh"}]
IDS = [{"type": "embedding", "input_dim": 7, "output_dim": 3, "mask_zero": True},
       {"type": "rnn", "kind": "gru", "input_size": 3, "units": 4, "return_sequences": True},
       {"type": "dense", "input_size": 4, "units": 2}]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bare")
    torch.manual_seed(0)
    floats, ids = KerasSequential(FLOATS), KerasSequential(IDS)
    rnnkit.save(floats, tmp / "from_keras")
    rnnkit.save(ids, tmp / "tokens")
    return {"from_keras": floats.eval(), "tokens": ids.eval(), "folders": tmp}


@pytest.fixture(scope="module")
def client(built):
    folders = built["folders"]
    models = load_models([folders / "from_keras", folders / "tokens"])
    app = create_app(models, ServeSettings(max_body_bytes=MAX_BODY))
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        c.url = url
        yield c


def predict(client, name: str, body) -> httpx.Response:
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(f"/v1/models/{name}/predict", content=raw,
                       headers={"Content-Type": "application/json"})


def direct(model, x, lengths=None) -> np.ndarray:
    with torch.no_grad():
        kwargs = {} if lengths is None else {"lengths": torch.tensor(lengths)}
        return model(x, **kwargs).numpy()


def test_listed_with_inputs_and_outputs(client):
    listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert {n: m["task"] for n, m in listed.items()} == {"from_keras": "model",
                                                         "tokens": "model"}
    f, t = listed["from_keras"], listed["tokens"]
    assert f["model_class"] == "KerasSequential" and f["endpoints"] == {
        "predict": "/v1/models/from_keras/predict"} and not f["generative"]
    assert f["input"] == {"kind": "features", "shape": "(B, T, F)", "features": 2,
                          "description": "float features, F = 2 per step",
                          "one_sequence": "(T, F)", "lengths": True}
    assert f["output"] == {"kind": "per_sequence", "shape": "(B, 3)"}
    assert t["input"] == {"kind": "ids", "shape": "(B, T)", "vocab_size": 7,
                          "description": "token ids, integers in [0, 7)",
                          "one_sequence": "(T,)", "lengths": False}  # mask_zero: from the ids
    assert t["output"] == {"kind": "per_step", "shape": "(B, T, 2)"}
    assert client.get("/v1/models/tokens").json()["input"]["kind"] == "ids"
    assert "BareModelRequest" in client.get("/openapi.json").json()["components"]["schemas"]


def test_floats_answer_what_the_model_answers(client, built):
    x = torch.linspace(-2, 2, 4 * 6 * 2).reshape(4, 6, 2)
    r = predict(client, "from_keras", {"inputs": x.tolist()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model"] == "from_keras" and body["task"] == "model"
    want = direct(built["from_keras"], x)
    np.testing.assert_allclose(np.array(body["outputs"]), want, rtol=1e-6, atol=1e-7)
    # one sequence (T, F): answered unbatched, the same numbers as its row in the batch
    one = predict(client, "from_keras", {"inputs": x[1].tolist()}).json()["outputs"]
    np.testing.assert_allclose(np.array(one), want[1], rtol=1e-6, atol=1e-7)
    # right-padded batch with lengths: as the model computes it with lengths
    r = predict(client, "from_keras", {"inputs": x.tolist(), "lengths": [6, 2, 4, 1]})
    np.testing.assert_allclose(np.array(r.json()["outputs"]),
                               direct(built["from_keras"], x, [6, 2, 4, 1]),
                               rtol=1e-6, atol=1e-7)
    # integers are numbers too
    r = predict(client, "from_keras", {"inputs": [[[1, 2], [3, 4]]]})
    np.testing.assert_allclose(np.array(r.json()["outputs"]),
                               direct(built["from_keras"], torch.tensor([[[1., 2], [3, 4]]])),
                               rtol=1e-6, atol=1e-7)


def test_ids_answer_what_the_model_answers(client, built):
    ids = [[1, 2, 3, 4, 5], [6, 5, 0, 0, 0], [0, 0, 3, 2, 1]]  # 0: masked padding
    r = predict(client, "tokens", {"inputs": ids})
    assert r.status_code == 200, r.text
    want = direct(built["tokens"], torch.tensor(ids))
    assert np.array(r.json()["outputs"]).shape == (3, 5, 2)
    np.testing.assert_allclose(np.array(r.json()["outputs"]), want, rtol=1e-6, atol=1e-7)
    one = predict(client, "tokens", {"inputs": ids[0]}).json()["outputs"]
    np.testing.assert_allclose(np.array(one), want[0], rtol=1e-6, atol=1e-7)


BAD_FLOATS = [
    ({"inputs": [[[1, 2], [3]]]}, "inputs: ragged; every list at depth 3 must hold 2 items "
                                  "like the first, got 1 (pad sequences to one length)"),
    ({"inputs": [[[1, 2], [3, 4]], [[1, 2]]]}, "inputs: ragged; every list at depth 2 must "
                                               "hold 2 items like the first, got 1"),
    ({"inputs": [[[1, 2], 3]]}, "inputs: ragged nesting; expected a list at depth 3"),
    ({"inputs": [[[1, "a"]]]}, "inputs: expected numbers, got a string"),
    ({"inputs": [[[1, None]]]}, "inputs: expected numbers, got null"),
    ({"inputs": [[[1, True]]]}, "inputs: expected numbers, got true/false"),
    ({"inputs": [[[1, {"a": 1}]]]}, "inputs: expected numbers, got dict"),
    ('{"inputs": [[[1, NaN]]]}', "inputs: numbers must be finite and within float32's range, "
                                 "got nan"),
    ('{"inputs": [[[1, Infinity]]]}', "inputs: numbers must be finite"),
    ('{"inputs": [[[1, -1e999]]]}', "inputs: numbers must be finite"),
    ({"inputs": [[[1, 1e300]]]}, "inputs: numbers must be finite and within float32's range"),
    ({"inputs": [[[1, 10**400]]]}, "inputs: numbers must be finite and within float32's "
                                   "range, got 1000000000000000000000000000000000000..."),
    ({"inputs": [[[1, 2, 3]]]}, "inputs: each step must hold 2 numbers (the model's input "
                                "size), got 3"),
    ({"inputs": [[1], [2]]}, "inputs: each step must hold 2 numbers (the model's input "
                             "size), got 1"),
    ({"inputs": [1, 2]}, "inputs: expected (B, T, F) features or one sequence (T, F), got 1 "
                         "nested level"),
    ({"inputs": [[[[1, 2]]]]}, "inputs: nested more than 3 levels deep"),
    ({"inputs": []}, "inputs: List should have at least 1 item after validation, not 0"),
    ({"inputs": [[]]}, "inputs: empty lists hold no sequence"),
    ({"inputs": [[[]]]}, "inputs: empty lists hold no sequence"),
    ({}, "inputs: Field required"),
    ({"inputs": "1,2"}, "inputs: Input should be a valid array"),
    ({"inputs": [[[1, 2]]], "extra": 1}, "extra: unknown field"),
    ({"inputs": [[[1, 2]]], "lengths": [1, 1]}, "lengths: expected one per sequence (1), got 2"),
    ({"inputs": [[[1, 2]]], "lengths": [2]}, r"lengths: each must lie in [1, 1] (the "
                                             "sequences' length), got 2"),
    ({"inputs": [[[1, 2]]], "lengths": [0]}, "lengths: each must lie in [1, 1]"),
    ({"inputs": [[[1, 2]]], "lengths": [1.5]}, "lengths.0: Input should be a valid integer"),
    ({"inputs": [[1, 2]], "lengths": [1]}, "lengths: only for a batch of sequences"),
    ("[1, 2]", "the body must be a JSON object with the fields of BareModelRequest"),
    ("{\"inputs\": [[[1, 2]]", "the body is not valid JSON"),
]


@pytest.mark.parametrize("body,detail", BAD_FLOATS, ids=range(len(BAD_FLOATS)))
def test_bad_float_bodies_are_4xx_in_one_line(client, body, detail):
    check_refused(predict(client, "from_keras", body), detail)


def test_whole_numbers_past_int64_are_numbers_for_a_float_model(client):
    """2**63 and 10**30 are JSON integers, within float32's range: read as floats (numpy made
    uint64 and object arrays of them, which torch refused: a 500)."""
    for big in (2**63, 10**30):
        r = predict(client, "from_keras", {"inputs": [[[1, big]]]})
        assert r.status_code == 200, r.text


BAD_IDS = [
    ({"inputs": [[1, 7]]}, "inputs: token id 7 is outside the vocabulary [0, 7)"),
    ({"inputs": [[1, -1]]}, "inputs: token id -1 is outside the vocabulary [0, 7)"),
    ({"inputs": [[1, 2.0]]}, "inputs: token ids must be integers, got 2.0"),
    ({"inputs": [[1, 2.5]]}, "inputs: token ids must be integers, got 2.5"),
    ('{"inputs": [[1, NaN]]}', "inputs: token ids must be integers, got nan"),
    ({"inputs": [[1, 10**30]]}, "inputs: token id 1000000000000000000000000000000 is outside"),
    ({"inputs": [[1, 2], [3]]}, "inputs: ragged; every list at depth 2 must hold 2 items"),
    ({"inputs": [[[1]]]}, "inputs: nested more than 2 levels deep"),
    ({"inputs": [[1, "2"]]}, "inputs: expected numbers, got a string"),
]


@pytest.mark.parametrize("body,detail", BAD_IDS, ids=range(len(BAD_IDS)))
def test_bad_id_bodies_are_4xx_in_one_line(client, body, detail):
    check_refused(predict(client, "tokens", body), detail)


def check_refused(r: httpx.Response, detail: str) -> None:
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    got = r.json()["detail"]
    assert isinstance(got, str) and "\n" not in got and got.startswith(detail), got


def test_sizes_over_the_limits_are_refused_before_the_work(client, monkeypatch):
    # the body limit (413) comes first, as for every route
    r = predict(client, "from_keras", {"inputs": [[[0.5, 0.5]] * 20_000]})
    assert r.status_code == 413 and r.json()["detail"] == (
        f"the body is larger than the limit of {MAX_BODY} bytes")
    # the schemas' limits on numbers and sequences (lowered here: a body of a million numbers
    # would be over the body limit anyway); the answer's size is held to the same limit
    monkeypatch.setitem(LIMITS, "values", 100)
    r = predict(client, "from_keras", {"inputs": [[[0, 0]] * 51]})
    check_refused(r, "inputs: 102 numbers in all, more than the limit of 100")
    r = predict(client, "tokens", {"inputs": [[1] * 51]})
    check_refused(r, "inputs: the answer would hold 102 numbers, more than the limit of 100; "
                     "send fewer or shorter sequences")
    monkeypatch.setitem(LIMITS, "items", 3)
    r = predict(client, "tokens", {"inputs": [[1]] * 4})
    check_refused(r, "inputs: 4 sequences, more than the limit of 3")
    monkeypatch.undo()
    assert predict(client, "tokens", {"inputs": [[1]] * 4}).status_code == 200
    assert client.get("/health").json() == {"status": "ok", "models": 2}


def test_cli_serves_a_bare_checkpoint_and_refuses_an_unservable_one(built, tmp_path):
    from rnnkit.serve.bare import BareModelPredictor
    from rnnkit.serve.tasks import is_bare

    assert is_bare(built["folders"] / "tokens")
    assert BareModelPredictor.load(built["folders"] / "from_keras").features == 2

    class NoSize(torch.nn.Module):
        config: dict = {}

        def forward(self, x):
            return x

    with pytest.raises(ValueError, match=r"^a bare NoSize cannot be served: its config names "
                                         r"no input size"):
        BareModelPredictor(NoSize())


def test_page_runs_a_bare_model(client, built):
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.skip("Chromium is not installed (apt-get install -y chromium chromium-driver)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    options = Options()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        browser.set_page_load_timeout(60)
        browser.get(client.url + "/")
        wait = WebDriverWait(browser, 60, poll_frequency=0.05).until
        wait(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#model option")) == 2)
        Select(browser.find_element(By.ID, "model")).select_by_value("tokens")
        assert browser.find_element(By.ID, "panel-model").is_displayed()
        assert "POST /v1/models/tokens/predict" in browser.find_element(By.ID, "bare-hint").text
        box = browser.find_element(By.ID, "bare-inputs")
        assert json.loads(box.get_attribute("value")) == [1, 2, 3]
        browser.find_element(By.ID, "bare-run").click()
        wait(lambda d: d.find_element(By.ID, "bare-output").text)
        got = np.array(json.loads(browser.find_element(By.ID, "bare-output").text))
        np.testing.assert_allclose(got, direct(built["tokens"], torch.tensor([[1, 2, 3]]))[0],
                                   rtol=1e-6, atol=1e-7)
        browser.execute_script("arguments[0].value = '[[1, 9]]';", box)
        browser.find_element(By.ID, "bare-run").click()
        wait(lambda d: d.find_element(By.ID, "status").text)
        assert browser.find_element(By.ID, "status").text == (
            "422: inputs: token id 9 is outside the vocabulary [0, 7)")
    finally:
        browser.quit()


def test_random_bodies_never_get_a_5xx(client):
    """Nested lists of random JSON values (derandomized hypothesis): 200 or a one-line 4xx."""
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    leaf = st.one_of(st.integers(-10, 10), st.integers(), st.floats(), st.booleans(),
                     st.none(), st.text(max_size=3))
    nested = st.recursive(leaf, lambda inner: st.lists(inner, max_size=4), max_leaves=30)
    body = st.fixed_dictionaries({"inputs": nested}, optional={
        "lengths": st.one_of(st.lists(st.integers(-2, 6), max_size=4), nested)})
    statuses = []

    @settings(max_examples=150, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(["from_keras", "tokens"]), body)
    def run(name, b):
        r = predict(client, name, json.dumps(b))  # NaN and Infinity as Python writes them
        statuses.append(r.status_code)
        if r.status_code != 200:
            check_refused(r, "")
            assert r.status_code < 500

    run()
    assert hypothesis and len(statuses) == 150 and 200 in statuses
    assert client.get("/health").json()["status"] == "ok"


def test_one_feature_and_one_level_are_said_in_the_singular(tmp_path):
    from rnnkit.serve.bare import BareModelPredictor

    torch.manual_seed(0)
    rnnkit.save(KerasSequential([{"type": "rnn", "kind": "lstm", "input_size": 1, "units": 3},
                                 {"type": "dense", "input_size": 3, "units": 1}]), tmp_path / "m")
    model = BareModelPredictor.load(tmp_path / "m")
    with pytest.raises(ValueError) as e:
        model.predict([[[1, 2], [3, 4]]])
    assert str(e.value) == "inputs: each step must hold 1 number (the model's input size), got 2"
    with pytest.raises(ValueError) as e:
        model.predict([1, 2])
    assert str(e.value) == ("inputs: expected (B, T, F) features or one sequence (T, F), got 1 "
                            "nested level")
