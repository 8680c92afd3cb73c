"""rnnkit serve over real HTTP: uvicorn on a free loopback port, httpx as the client.

Every endpoint, the SSE framing, batched streams giving the same tokens as generating alone,
a disconnect freeing its stream, 429 at the stream limit, the API key, the CLI and a
graceful SIGTERM. The malformed-request fuzzing is in test_serve_fuzz.py, the browser test
in test_serve_browser.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from rnnkit import checkpoint  # noqa: E402
from rnnkit.data.tokenizers import CharTokenizer  # noqa: E402
from rnnkit.generate import generate  # noqa: E402
from rnnkit.models.language_model import LanguageModel  # noqa: E402
from rnnkit.serve.app import create_app  # noqa: E402
from rnnkit.serve.server import BackgroundServer  # noqa: E402
from rnnkit.serve.settings import ServeSettings  # noqa: E402
from rnnkit.serve.tasks import load_models  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "v0_1_0"
TEXT = "the cat sat on the mat. the dog sat on the log.\nROMEO: a cat and a dog!\n"


def write_lm(folder: Path, hidden: int = 24, seed: int = 0) -> Path:
    """A tiny char LM checkpoint (random weights) as the textgen application writes it."""
    from rnnkit.apps.textgen import Config

    torch.manual_seed(seed)
    tok = CharTokenizer().fit(TEXT)
    config = Config(hidden_size=hidden, embedding_dim=8)
    lm = LanguageModel(tok.vocab_size, hidden, 1, embedding_dim=8)
    return checkpoint.save(lm, folder, extras={"task": "textgen", "tokenizer": tok.to_dict(),
                                               "textgen": asdict(config)})


def fixture_copy(tmp: Path, name: str) -> Path:
    shutil.copytree(FIXTURES / name, tmp / name)
    return tmp / name


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    return {"lm": write_lm(tmp / "lm"), **{n: fixture_copy(tmp, n) for n in
                                            ("classify", "forecast", "translate", "regress")}}


@pytest.fixture(scope="module")
def server(folders):
    models = load_models(list(folders.values()))
    app = create_app(models, ServeSettings(max_streams=8, max_tokens=500,
                                           max_body_bytes=64 * 1024))
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        client.models = models
        yield client


def sse(lines) -> list[tuple[str, dict]]:
    """(event, data) pairs of a Server-Sent Events body, checking the framing."""
    events, event, data = [], None, None
    for line in lines:
        if line == "":
            assert event is not None and data is not None, "an event needs event: and data:"
            events.append((event, json.loads(data)))
            event = data = None
        elif line.startswith("event: "):
            event = line[len("event: "):]
        elif line.startswith("data: "):
            data = line[len("data: "):]
        else:
            raise AssertionError(f"unexpected SSE line {line!r}")
    assert event is None and data is None, "the body ends mid-event"
    return events


def open_streams(client, name="lm") -> int:
    return client.get(f"/v1/models/{name}").json()["open_streams"]


# ------------------------------------------------------------------------------- service
def test_health_models_docs_metrics_page(server):
    assert server.get("/health").json() == {"status": "ok", "models": 5}
    listed = {m["name"]: m for m in server.get("/v1/models").json()["models"]}
    assert {n: m["task"] for n, m in listed.items()} == {
        "lm": "textgen", "classify": "classify", "forecast": "forecast",
        "translate": "translate", "regress": "regress"}
    assert listed["lm"]["generative"] and listed["lm"]["config"]["hidden_size"] == 24
    assert listed["lm"]["endpoints"]["generate"] == "/v1/models/lm/generate"
    spec = server.get("/openapi.json").json()
    assert {"/v1/models/{name}/predict", "/v1/models/{name}/generate", "/health",
            "/metrics", "/v1/models"} <= set(spec["paths"])
    assert "GenerateRequest" in spec["components"]["schemas"]
    errors = spec["paths"]["/v1/models/{name}/predict"]["post"]["responses"]
    assert errors["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorBody")  # {"detail": "..."}, as every error is answered (not FastAPI's list)
    assert "HTTPValidationError" not in json.dumps(spec["paths"])
    assert "swagger" in server.get("/docs").text.lower()
    page = server.get("/")
    assert page.status_code == 200 and "<select id=\"model\">" in page.text
    for asset in ("/static/app.js", "/static/style.css"):
        assert server.get(asset).status_code == 200
    metrics = server.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    for name in ("rnnkit_requests_total", "rnnkit_request_seconds_bucket",
                 "rnnkit_active_streams", "rnnkit_tokens_per_second",
                 "rnnkit_token_interval_seconds", "rnnkit_model_cpu_seconds_total"):
        assert f"# TYPE {name.removesuffix('_bucket')}" in text
    assert 'rnnkit_requests_total{endpoint="/health",status="200"} 1' in text


def test_unknown_model_and_wrong_task(server):
    r = server.post("/v1/models/nope/predict", json={})
    assert r.status_code == 404
    assert r.json()["detail"].startswith("no model named 'nope'; serving: classify, forecast")
    r = server.post("/v1/models/classify/generate", json={"prompt": "a"})
    assert r.status_code == 400 and "does not generate" in r.json()["detail"]


# ------------------------------------------------------------------------------ generation
def test_generate_whole_matches_generating_alone(server):
    served = server.models["lm"]
    r = server.post("/v1/models/lm/generate", json={"prompt": "the ", "max_tokens": 30,
                                                    "temperature": 0.9, "top_k": 8, "seed": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    ids = served.encode_prompt("the ")
    expected = generate(served.lm, ids, 30, temperature=0.9, top_k=8, seed=5,
                        suppress_ids=served.never_drawn())
    assert body["tokens"] == 30 and body["finish_reason"] == "length"
    assert body["text"] == "".join(served.tokenizer.decode([t]) for t in expected)
    assert body["prompt_tokens"] == len(ids)


def test_sse_framing_and_concurrent_streams_match_alone(server):
    """Streams sharing batched steps (joining at different ticks) give the same tokens as
    each generated alone with its seed."""
    import concurrent.futures as cf

    served = server.models["lm"]
    settings = [dict(prompt="the ", max_tokens=40, temperature=1.0, seed=1),
                dict(prompt="ROMEO: ", max_tokens=25, temperature=0.7, top_k=5, seed=2),
                dict(prompt="a", max_tokens=33, temperature=1.2, top_p=0.8, seed=3),
                dict(prompt="", max_tokens=12, temperature=0.0),
                dict(prompt="dog", max_tokens=50, temperature=0.8, top_k=4, top_p=0.9, seed=9)]

    def run(s):
        with server.stream("POST", "/v1/models/lm/generate", json={**s, "stream": True}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            return sse(r.iter_lines())

    with cf.ThreadPoolExecutor(len(settings)) as pool:
        results = list(pool.map(run, settings))
    for s, events in zip(settings, results, strict=True):
        kinds = [e for e, _ in events]
        assert kinds == ["start"] + ["token"] * s["max_tokens"] + ["done"]
        assert events[-1][1] == {"finish_reason": "length", "tokens": s["max_tokens"]}
        tokens = [d["token"] for e, d in events if e == "token"]
        assert [d["index"] for e, d in events if e == "token"] == list(range(len(tokens)))
        options = {k: v for k, v in s.items() if k not in ("prompt", "max_tokens")}
        alone = generate(served.lm, served.encode_prompt(s["prompt"]), s["max_tokens"],
                         suppress_ids=served.never_drawn(), **options)
        assert tokens == alone, s
        assert "".join(d["text"] for e, d in events if e == "token") == "".join(
            served.tokenizer.decode([t]) for t in alone)


def test_disconnect_mid_stream_frees_the_stream(server):
    with server.stream("POST", "/v1/models/lm/generate",
                       json={"prompt": "the ", "max_tokens": 500, "stream": True}) as r:
        lines = r.iter_lines()
        for line in lines:
            if line.startswith("event: token"):
                break
        assert open_streams(server) == 1
    # the client closed the connection: the stream leaves at the next tick
    end = time.monotonic() + 10
    while open_streams(server) and time.monotonic() < end:
        time.sleep(0.05)
    assert open_streams(server) == 0
    assert "rnnkit_active_streams{model=\"lm\"} 0" in server.get("/metrics").text


def test_prompt_outside_vocabulary_and_token_limit(server):
    r = server.post("/v1/models/lm/generate", json={"prompt": "QZ"})
    assert r.status_code == 422
    assert r.json()["detail"].startswith("prompt: the prompt has 2 character(s) outside")
    r = server.post("/v1/models/lm/generate", json={"max_tokens": 501})
    assert r.status_code == 422
    assert r.json()["detail"] == "max_tokens: at most 500 on this server, got 501"


def test_textgen_predict_lists_next_tokens(server):
    r = server.post("/v1/models/lm/predict", json={"prompt": "the", "top": 3})
    assert r.status_code == 200
    nxt = r.json()["next"]
    assert len(nxt) == 3 and nxt[0]["prob"] >= nxt[1]["prob"] >= nxt[2]["prob"]


def test_429_at_the_stream_limit_with_retry_after(folders):
    models = load_models([folders["lm"]])
    app = create_app(models, ServeSettings(max_streams=2, max_tokens=100_000))
    body = {"prompt": "the ", "max_tokens": 100_000, "stream": True}
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        with client.stream("POST", "/v1/models/lm/generate", json=body) as a, \
                client.stream("POST", "/v1/models/lm/generate", json=body) as b:
            assert a.status_code == b.status_code == 200
            r = client.post("/v1/models/lm/generate", json={"max_tokens": 5})
            assert r.status_code == 429 and r.headers["retry-after"] == "1"
            assert r.json()["detail"] == "all 2 streams are busy; retry soon"
        end = time.monotonic() + 10
        while open_streams(client) and time.monotonic() < end:
            time.sleep(0.05)
        r = client.post("/v1/models/lm/generate", json={"max_tokens": 5})
        assert r.status_code == 200 and r.json()["tokens"] == 5
        assert 'rnnkit_rejected_total{reason="streams_busy"} 1' in client.get("/metrics").text


def test_request_timeout_ends_a_stream(folders):
    app = create_app(load_models([folders["lm"]]),
                     ServeSettings(request_timeout=0.3, max_tokens=100_000))
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        r = client.post("/v1/models/lm/generate", json={"max_tokens": 100_000})
        assert r.status_code == 200 and r.json()["finish_reason"] == "timeout"
        assert 0 < r.json()["tokens"] < 100_000


def test_api_key(folders, monkeypatch):
    app = create_app(load_models([folders["lm"]]), ServeSettings(api_key="s3cret"))
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/").status_code == 200  # the page itself; it asks for the key
        for path in ("/v1/models", "/metrics"):
            r = client.get(path)
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        for path in ("/openapi.json", "/docs"):  # the API's description: a browser sends no key
            assert client.get(path).status_code == 200
        r = client.post("/v1/models/lm/generate", json={"max_tokens": 3},
                        headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401
        assert r.json()["detail"].startswith("missing or wrong API key")
        ok = {"Authorization": "Bearer s3cret"}
        assert client.get("/v1/models", headers=ok).status_code == 200
        r = client.post("/v1/models/lm/generate", json={"max_tokens": 3}, headers=ok)
        assert r.status_code == 200 and r.json()["tokens"] == 3


# -------------------------------------------------------------------------------- predict
def test_predict_classify(server):
    r = server.post("/v1/models/classify/predict", json={"inputs": ["good fun", "bad plot"]})
    assert r.status_code == 200, r.text
    preds = r.json()["predictions"]
    expected = json.loads((FIXTURES / "classify" / "predictions.json").read_text())
    for p, probs in zip(preds, expected["probs"][:2], strict=True):
        assert set(p["probs"]) == set(expected["classes"])
        assert [p["probs"][c] for c in expected["classes"]] == pytest.approx(probs, abs=1e-6)
        assert p["label"] == max(p["probs"], key=p["probs"].get)


def test_predict_forecast_from_csv_text(server):
    csv = (FIXTURES / "forecast" / "data.csv").read_text()
    r = server.post("/v1/models/forecast/predict", json={"csv": csv})
    assert r.status_code == 200, r.text
    frame = r.json()["forecast"]
    expected = json.loads((FIXTURES / "forecast" / "predictions.json").read_text())
    got = {c: [v for i, v in zip(frame["id"], frame["forecast"], strict=True) if i == c]
           for c in expected["columns"]}
    for j, c in enumerate(expected["columns"]):
        assert got[c] == pytest.approx([row[j] for row in expected["next"]], abs=1e-4)
    history = r.json()["history"]
    assert history["a"][-1] == pytest.approx(float(csv.strip().splitlines()[-1].split(",")[0]))
    r = server.post("/v1/models/forecast/predict", json={"csv": "a,b\n1,2\n"})
    assert r.status_code == 422 and "the CSV" in r.json()["detail"] or "row" in r.json()[
        "detail"]
    assert "rnnkit-serve-" not in r.json()["detail"]  # the server's temp file is not named


def test_predict_translate_with_attention(server):
    expected = json.loads((FIXTURES / "translate" / "predictions.json").read_text())
    r = server.post("/v1/models/translate/predict",
                    json={"inputs": expected["sentences"], "beam": 3, "attention": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["translations"] == expected["beam3"]
    a = body["attention"][0]
    assert len(a["matrix"]) >= len(a["tokens_out"]) and len(a["matrix"][0]) == len(
        a["tokens_in"])
    assert all(abs(sum(row) - 1) < 1e-4 for row in a["matrix"])


def test_predict_translate_takes_the_clis_search_options(server):
    """length_penalty, max_len and n_best, as `rnnkit translate predict` takes them."""
    from rnnkit import open as open_checkpoint

    expected = json.loads((FIXTURES / "translate" / "predictions.json").read_text())
    sentences = expected["sentences"][:2]
    options = {"beam": 3, "length_penalty": 0.5, "max_len": 4, "n_best": 2}
    r = server.post("/v1/models/translate/predict", json={"inputs": sentences, **options})
    assert r.status_code == 200, r.text
    body = r.json()
    local = open_checkpoint(FIXTURES / "translate").predict(sentences, **options)
    assert body["hypotheses"] == [[{"score": pytest.approx(s, abs=1e-5), "text": t}
                                   for s, t in hyps] for hyps in local]
    assert body["translations"] == [hyps[0][1] for hyps in local]
    long = " ".join(sentences[0].split() * 200)  # past the model's maximum source length
    r = server.post("/v1/models/translate/predict", json={"inputs": [long], "too_long": "error"})
    assert r.status_code == 422, r.text
    assert server.post("/v1/models/translate/predict", json={"inputs": [long]}).status_code == 200
    for bad in ({"n_best": 4, "beam": 3}, {"length_penalty": float("nan")},
                {"max_len": 100_000}, {"length_penalty": "a"}, {"too_long": "drop"}):
        r = server.post("/v1/models/translate/predict",
                        content=json.dumps({"inputs": sentences, **bad}),
                        headers={"content-type": "application/json"})
        assert 400 <= r.status_code < 500, (bad, r.status_code, r.text)


def test_predict_regress_csv_and_values(server):
    expected = json.loads((FIXTURES / "regress" / "predictions.json").read_text())
    r = server.post("/v1/models/regress/predict",
                    json={"csv": (FIXTURES / "regress" / "data.csv").read_text()})
    assert r.status_code == 200, r.text
    table = r.json()["predictions"]
    assert table["prediction"] == pytest.approx(expected["windows_pred"] + table[
        "prediction"][-1:], abs=1e-4)  # every window, then the next unseen value
    assert table["row"][0] == expected["window"] + 1
    values = [float(line) for line in (FIXTURES / "regress" / "data.csv").read_text(
    ).split()[1:]]
    r = server.post("/v1/models/regress/predict", json={"values": values})
    assert r.status_code == 200, r.text
    assert r.json()["predictions"] == pytest.approx(table["prediction"], abs=1e-5)
    r = server.post("/v1/models/regress/predict", json={"values": values, "csv": "value\n1\n"})
    assert r.status_code == 422
    assert r.json()["detail"] == "send exactly one of csv (CSV text) or values (numbers or rows)"


REGRESS_CSV = ("the series as CSV text, header row first, with the column value; one "
               "prediction per window of 4 rows, the last of the value after the series")
REGRESS_VALUES = "the series, a list of at least 4 numbers"
FORECAST_CSV = ("the series as CSV text, header row first, with the columns a, b; at least 12 "
                "rows (the forecast starts after the last, or at origin)")


def test_listing_says_what_each_task_s_body_takes(server):
    """``input`` for every task, not only classify's: what the model reads and the body's
    fields (``body``: field -> what it holds; ``options``: the optional fields)."""
    listed = {m["name"]: m["input"] for m in server.get("/v1/models").json()["models"]}
    assert listed["regress"] == {"kind": "series", "columns": ["value"], "target": "value",
                                 "window": 4, "body": {"csv": REGRESS_CSV,
                                                       "values": REGRESS_VALUES},
                                 "options": []}
    assert listed["forecast"] == {"kind": "series", "time_col": None, "columns": ["a", "b"],
                                  "target": ["a", "b"], "lookback": 12, "horizon": 4,
                                  "body": {"csv": FORECAST_CSV}, "options": ["origin", "level"]}
    assert listed["translate"] == {"kind": "text", "body": {
        "inputs": "source sentences, a list of strings"}, "options": [
        "beam", "length_penalty", "max_len", "n_best", "too_long", "attention"]}
    assert listed["lm"] == {"kind": "prompt", "level": "char", "body": {
        "prompt": "text to continue (empty: start a new line); the answer lists the likeliest "
                  "next tokens"}, "options": ["top"]}
    assert listed["classify"] == {"kind": "text"}  # as before: the page's panel reads it
    # what is listed is what works
    values = [float(v) for v in (FIXTURES / "regress" / "data.csv").read_text().split()[1:]]
    assert server.post("/v1/models/regress/predict", json={"values": values[:4]}).status_code \
        == 200


@pytest.mark.parametrize("name, body, detail", [
    ("regress", {"inputs": [[1, 2, 3]]}, "inputs: unknown field; model 'regress' (task "
     f"regress) takes csv: {REGRESS_CSV}; or values: {REGRESS_VALUES}"),
    ("forecast", {"inputs": [[1, 2, 3]]}, "csv: Field required; inputs: unknown field; model "
     f"'forecast' (task forecast) takes csv: {FORECAST_CSV} (optional: origin, level)"),
    ("translate", {"text": ["a"]}, "inputs: Field required; text: unknown field; model "
     "'translate' (task translate) takes inputs: source sentences, a list of strings "
     "(optional: beam, length_penalty, max_len, n_best, too_long, attention)"),
    ("lm", {"inputs": ["a"]}, "inputs: unknown field; model 'lm' (task textgen) takes prompt: "
     "text to continue (empty: start a new line); the answer lists the likeliest next tokens "
     "(optional: top)"),
    ("classify", {"text": ["good"]}, "text: unknown field; model 'classify' (task classify) "
     "takes inputs: texts, a list of strings"),
    ("regress", [1, 2], "the body must be a JSON object with the fields of SeriesRequest; "
     f"model 'regress' (task regress) takes csv: {REGRESS_CSV}; or values: {REGRESS_VALUES}"),
])
def test_unknown_or_missing_fields_get_what_the_model_takes(server, name, body, detail):
    r = server.post(f"/v1/models/{name}/predict", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == detail


def test_generate_with_an_unknown_field_says_what_it_takes(server):
    r = server.post("/v1/models/lm/generate", json={"text": "the"})
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "text: unknown field; model 'lm' (task textgen) takes prompt: text to continue "
        "(empty: start a new line) (optional: max_tokens, temperature, top_k, top_p, "
        "repetition_penalty, seed, beam, length_penalty, stop_at_eos, stream)")


# ------------------------------------------------------------------------------------ CLI
def test_cli_help_and_bad_checkpoint(tmp_path):
    from rnnkit.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["serve", "--help"])
    assert e.value.code == 0
    assert main(["serve", "--checkpoint", str(tmp_path / "none")]) == 2
    assert main(["serve", "--checkpoint", str(tmp_path), "--max-streams", "0"]) == 2


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM")
def test_cli_serves_and_sigterm_ends_open_streams(folders, tmp_path):
    """`rnnkit serve` as a process: a stream open at SIGTERM gets its done event
    (finish_reason shutdown) after the grace period and the process exits 0."""
    import socket
    import uuid

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # a key of this run's own: only our server answers 200 to it (another test run on this
    # machine may have taken the port between our probe and the server's bind)
    key = uuid.uuid4().hex
    auth = {"Authorization": f"Bearer {key}"}
    env = {**os.environ, "RNNKIT_API_KEY": key}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnkit.cli.main", "serve", "--checkpoint", str(folders["lm"]),
         "--port", str(port), "--shutdown-grace", "0.5", "--max-tokens", "100000",
         "--quiet", "--threads", "1"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        url, end = f"http://127.0.0.1:{port}", time.monotonic() + 120
        while True:
            try:
                if httpx.get(url + "/v1/models", headers=auth, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < end, "the server did not start"
            time.sleep(0.2)
        assert httpx.get(url + "/v1/models", timeout=5).status_code == 401
        rest = []
        with httpx.stream("POST", url + "/v1/models/lm/generate", timeout=30, headers=auth,
                          json={"max_tokens": 100_000, "stream": True}) as r:
            lines = r.iter_lines()
            for line in lines:
                if line.startswith("event: token"):
                    break
            proc.send_signal(signal.SIGTERM)
            stop = time.monotonic() + 60
            for line in lines:  # bounded: a server that ignored SIGTERM fails, not hangs
                if line.startswith("data: "):
                    rest.append(line)
                if time.monotonic() > stop:
                    break
        assert json.loads(rest[-1][6:])["finish_reason"] == "shutdown"
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # waits and closes the pipe


def test_predict_anomaly_scores(tmp_path):
    """An anomaly detector (trained here, tiny) scores a pasted stream."""
    import numpy as np

    from rnnkit.apps import anomaly

    t = np.arange(240)
    values = np.sin(t / 5) + 0.05 * np.cos(t / 3)
    values[200] = 4.0  # a spike
    csv = "time,value\n" + "".join(f"{i},{v:.5f}\n" for i, v in zip(t, values, strict=True))
    (tmp_path / "stream.csv").write_text(csv)
    config = anomaly.Config(data=str(tmp_path / "stream.csv"), checkpoint=str(tmp_path / "det"),
                            window=8, hidden_size=4, epochs=1, learning_rows=100)
    anomaly.train(config)
    app = create_app(load_models([tmp_path / "det"]))
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        r = client.post("/v1/models/det/predict", json={"csv": csv})
        assert r.status_code == 200, r.text
        scores = r.json()["scores"]
        assert len(scores["score"]) == len(t) and set(scores["flag"]) <= {0, 1}
        assert int(np.argmax(scores["score"])) in (200, 201)  # the spike, or the step after
        r = client.post("/v1/models/det/predict", json={"csv": "time,other\n1,2\n"})
        assert r.status_code == 422 and "rnnkit-serve-" not in r.json()["detail"]
        low = client.post("/v1/models/det/predict", json={"csv": csv, "threshold": 0.5,
                                                          "holdoff": 0}).json()["scores"]
        predictor = anomaly.load(tmp_path / "det").configure(threshold=0.5, holdoff=0)
        local = predictor.predict(str(tmp_path / "stream.csv"))
        assert low["flag"] == local["flag"].tolist() and sum(low["flag"]) > sum(scores["flag"])
        again = client.post("/v1/models/det/predict", json={"csv": csv}).json()["scores"]
        assert again["flag"] == scores["flag"]  # the request's threshold was its own
        r = client.post("/v1/models/det/predict", json={"csv": csv, "threshold": 1.5})
        assert r.status_code == 422, r.text
        r = client.post("/v1/models/det/predict", json={"values": [[1.0], [2.0]]})  # was a 500
        assert r.status_code == 422 and "takes `csv`" in r.json()["detail"]
        config = next(m for m in client.get("/v1/models").json()["models"])["config"]
        assert "data" not in config and "checkpoint" not in config  # no server paths
        assert str(tmp_path) not in json.dumps(config)
        # a missing reading: the advice names the request's field, and the field fills it
        # (the details said "pass --fill", which a request cannot)
        lines = csv.splitlines()
        lines[151] = lines[151].split(",")[0] + ","
        gap = "\n".join(lines) + "\n"
        r = client.post("/v1/models/det/predict", json={"csv": gap})
        assert r.status_code == 422 and '"fill": "ffill" or "interpolate"' in r.json()["detail"]
        r = client.post("/v1/models/det/predict", json={"csv": gap, "fill": "interpolate"})
        assert r.status_code == 200, r.text
        info = next(m for m in client.get("/v1/models").json()["models"])["input"]
        takes = ("the stream as CSV text, header row first: the time column time, the value "
                 "column value (a 0/1 label column is optional)")
        assert info == {"layout": "stream", "columns": ["value"], "time_col": "time",
                        "calendar": False, "body": {"csv": takes},
                        "options": ["threshold", "holdoff", "fill", "allow_gaps"]}
        r = client.post("/v1/models/det/predict", json={"inputs": [[1, 2, 3]]})
        assert r.status_code == 422 and r.json()["detail"] == (
            f"inputs: unknown field; model 'det' (task anomaly) takes csv: {takes} (optional: "
            "threshold, holdoff, fill, allow_gaps)")


def test_a_whole_generation_stops_when_its_client_leaves(folders):
    """Not streamed: the client gone, its generation leaves the scheduler (it held a slot
    and drew tokens until max_tokens); a client gone mid-upload is a 499, not a 500."""
    import socket
    from urllib.parse import urlparse

    app = create_app(load_models([folders["lm"]]), ServeSettings(max_tokens=100_000))
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        where = urlparse(url)
        body = json.dumps({"prompt": "the", "max_tokens": 100_000}).encode()
        with socket.create_connection((where.hostname, where.port)) as sock:
            sock.sendall(b"POST /v1/models/lm/generate HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            deadline = time.monotonic() + 10
            while open_streams(client) == 0 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert open_streams(client) == 1
        deadline = time.monotonic() + 5
        while open_streams(client) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open_streams(client) == 0
        with socket.create_connection((where.hostname, where.port)) as sock:
            sock.sendall(b"POST /v1/models/lm/predict HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
                         b'{"prompt"')
            time.sleep(0.3)
        time.sleep(0.5)
        metrics = client.get("/metrics").text
        assert 'status="499"} 1' in metrics and 'status="500"' not in metrics


@pytest.mark.parametrize("interval", [0.0, 0.02])
def test_scheduler_streams_joining_together_match_alone(interval):
    """The scheduler alone: 12 streams submitted at once (prompts of equal and different
    lengths read together, mixed settings, repetition penalties among them) give each
    stream's tokens generated alone; with
    a send interval the reader gets them several at a time, the same tokens."""
    import asyncio

    from rnnkit.serve.scheduler import BatchScheduler, GenerationSettings

    torch.manual_seed(1)
    lm = LanguageModel(30, 16, 2, embedding_dim=6).eval()
    cases = [([1 + i % 5, 2, 3] if i % 3 else [7] * (i + 1),
              dict(temperature=[1.0, 0.7, 0.0, 1.5][i % 4], top_k=[None, 4][i % 2],
                   top_p=[None, 0.85, None][i % 3], seed=None if i % 4 == 2 else i,
                   repetition_penalty=[1.0, 1.3, 1.0, 0.8, 2.0][i % 5]))
             for i in range(12)]

    async def run():
        scheduler = BatchScheduler(lm, max_streams=16, interval=interval)
        handles = [scheduler.submit(p, GenerationSettings(max_tokens=20 + i, **o))
                   for i, (p, o) in enumerate(cases)]
        out = []
        for h in handles:
            tokens, ended = [], None
            while ended is None:
                new, ended = await h.take()
                tokens += new
            assert ended == "length"
            out.append(tokens)
        await scheduler.aclose()
        assert scheduler.model_cpu_seconds > 0
        return out

    for i, ((prompt, options), tokens) in enumerate(zip(cases, asyncio.run(run()), strict=True)):
        assert tokens == generate(lm, prompt, 20 + i, **options), i


def test_stream_interval_setting():
    with pytest.raises(ValueError, match=r"^stream-interval must be a non-negative number, "
                                         r"got -0.5$"):
        ServeSettings(stream_interval=-0.5).check()
    with pytest.raises(ValueError, match=r"^stream-interval must be a finite number, got nan$"):
        ServeSettings(stream_interval=float("nan")).check()


def test_scheduler_failed_step_ends_every_stream():
    """A step that raises ends its streams with an error; a stream that finished with the
    same tick's draw (its last token drawn before the failing step) still ends as finished."""
    import asyncio

    from rnnkit.serve.scheduler import BatchScheduler, GenerationSettings

    torch.manual_seed(0)
    lm = LanguageModel(30, 8, 1, embedding_dim=4).eval()

    class FailsOnStep(torch.nn.Module):
        def forward(self, x, state=None):
            if state is not None:
                raise RuntimeError("step failed")
            return lm(x, state)

    async def run():
        scheduler = BatchScheduler(FailsOnStep(), max_streams=4)
        short = scheduler.submit([1, 2], GenerationSettings(max_tokens=1, seed=0))
        long = scheduler.submit([1, 2], GenerationSettings(max_tokens=50, seed=1))
        out = []
        for h in (short, long):
            tokens, ended = [], None
            while ended is None:
                new, ended = await asyncio.wait_for(h.take(), 10)
                tokens += new
            out.append((len(tokens), ended))
        await scheduler.aclose()
        return out

    (short_n, short_end), (long_n, long_end) = asyncio.run(run())
    assert (short_n, short_end) == (1, "length")
    assert long_end == "error: RuntimeError: step failed" and long_n <= 1


def test_head_probes_and_tiny_sampling_settings(server):
    """HEAD on the page and /health (load balancers' probes); a temperature or top-p below
    float32's range generates the greedy text, not padding (session 17)."""
    assert server.head("/health").status_code == 200 and server.head("/").status_code == 200
    for path in ("/metrics", "/v1/models", "/v1/models/lm"):  # 405 before session 18
        r = server.head(path)
        assert r.status_code == 200 and r.content == b"", path
    assert server.head("/v1/models/nope").status_code == 404
    greedy_text = server.post("/v1/models/lm/generate", json={
        "prompt": "the ", "max_tokens": 12, "temperature": 0}).json()["text"]
    for extra in ({"temperature": 1e-300}, {"temperature": 5e-324}, {"top_p": 1e-300}):
        body = {"prompt": "the ", "max_tokens": 12, "seed": 1, **extra}
        if "top_p" in extra:
            body["temperature"] = 1e-300
        r = server.post("/v1/models/lm/generate", json=body)
        assert r.status_code == 200 and r.json()["text"] == greedy_text, (extra, r.text)


def test_streams_never_draw_tokens_that_are_no_text(server):
    """<pad>, <bos>, <unk> (and a char model's <eos>) are never drawn, as by textgen sample:
    a model leaning hard on <unk> still streams text."""
    served = server.models["lm"]
    never = served.never_drawn()
    assert never and {0, 1} <= set(never)
    lm = served.lm
    bias = lm.head.bias if hasattr(lm, "head") else None
    if bias is None:
        pytest.skip("no output bias to lean on")
    saved = bias.detach().clone()
    try:
        with torch.no_grad():
            bias[never] += 50.0  # the model now wants these above all
        body = server.post("/v1/models/lm/generate", json={
            "prompt": "the ", "max_tokens": 10, "seed": 2}).json()
        assert body["tokens"] == 10 and len(body["text"]) == 10, body
    finally:
        with torch.no_grad():
            bias.copy_(saved)


def test_a_stalled_upload_gets_a_408_within_the_request_timeout(folders):
    """Headers sent, the body never finished: answered 408 after --request-timeout (it held
    the connection for ever)."""
    import socket
    from urllib.parse import urlparse

    app = create_app(load_models([folders["lm"]]), ServeSettings(request_timeout=1.0))
    with BackgroundServer(app) as url:
        where = urlparse(url)
        with socket.create_connection((where.hostname, where.port)) as sock:
            sock.sendall(b"POST /v1/models/lm/generate HTTP/1.1\r\nHost: x\r\n"
                         b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
            sock.settimeout(10)
            answer = sock.recv(4096).decode()
        assert answer.startswith("HTTP/1.1 408") and "did not arrive within 1 s" in answer
