"""Malformed and hostile requests against a real server: every one gets a 4xx with a
readable ``detail``, never a 5xx, and the server keeps serving afterwards.

Property-based (hypothesis, derandomized so the run is the same every time): wrong types,
huge and negative numbers, NaN and Infinity, unknown fields, oversized bodies, bad UTF-8,
broken JSON, unknown model names and paths. At least 200 requests in all.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from test_serve import fixture_copy, write_lm  # noqa: E402

from rnnkit.serve.app import create_app  # noqa: E402
from rnnkit.serve.server import BackgroundServer  # noqa: E402
from rnnkit.serve.settings import ServeSettings  # noqa: E402
from rnnkit.serve.tasks import load_models  # noqa: E402

MAX_BODY = 16 * 1024
MAX_TOKENS = 50
SENT: list[int] = []
FUZZ = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    folders = [write_lm(tmp / "lm"), fixture_copy(tmp, "classify"),
               fixture_copy(tmp, "forecast")]
    app = create_app(load_models(folders), ServeSettings(max_body_bytes=MAX_BODY,
                                                         max_tokens=MAX_TOKENS))
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as c:
        yield c


def check_4xx(r: httpx.Response) -> None:
    SENT.append(r.status_code)
    assert 400 <= r.status_code < 500, (r.status_code, r.text[:300])
    detail = r.json()["detail"]
    assert isinstance(detail, str) and 0 < len(detail) <= 2000, detail


# values that are wrong for every field they are put in
anything_wrong = st.one_of(
    st.text(max_size=20), st.lists(st.integers(), max_size=3), st.dictionaries(
        st.text(max_size=5), st.integers(), max_size=2), st.booleans())
huge = st.integers(min_value=2**63, max_value=2**200) | st.integers(max_value=-2**63,
                                                                    min_value=-2**200)
not_finite = st.sampled_from([float("nan"), float("inf"), float("-inf")])

BAD_GENERATE = {
    "max_tokens": st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_TOKENS + 1),
                            huge, st.floats(allow_nan=False), st.none(), anything_wrong),
    "temperature": st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=100.01),
                             not_finite, st.none(), anything_wrong),
    "top_k": st.one_of(st.integers(max_value=0), huge, st.floats(), anything_wrong),
    "top_p": st.one_of(st.floats(max_value=0.0), st.floats(min_value=1.0001), not_finite,
                       anything_wrong),
    "seed": st.one_of(st.integers(max_value=-1), huge, st.floats(), anything_wrong),
    "prompt": st.one_of(st.integers(), st.none(), st.lists(st.text(max_size=3), max_size=2),
                        st.text(alphabet="QXZ€✓", min_size=1, max_size=10)),
    "stream": st.one_of(st.integers(), st.text(max_size=5), st.none()),
}
field_name = st.text(min_size=1, max_size=12).filter(
    lambda s: s not in BAD_GENERATE)


@st.composite
def bad_generate(draw):
    body = {"prompt": "the ", "max_tokens": 3}
    kind = draw(st.sampled_from(["field", "unknown", "both"]))
    if kind in ("field", "both"):
        name = draw(st.sampled_from(sorted(BAD_GENERATE)))
        body[name] = draw(BAD_GENERATE[name])
    if kind in ("unknown", "both"):
        body[draw(field_name)] = draw(st.integers() | st.text(max_size=5))
    return json.dumps(body, allow_nan=True).encode()


def test_generate_rejects_bad_fields(client):
    before = len(SENT)

    @FUZZ
    @given(body=bad_generate())
    def run(body):
        check_4xx(client.post("/v1/models/lm/generate", content=body,
                              headers={"content-type": "application/json"}))

    run()
    assert len(SENT) - before >= 60


BAD_PREDICT = {
    "classify": st.one_of(
        st.fixed_dictionaries({"inputs": st.one_of(st.just([]), st.integers(), st.none(),
                                                   st.lists(st.integers(), min_size=1),
                                                   st.lists(st.lists(not_finite, min_size=1),
                                                            min_size=1))}),
        st.fixed_dictionaries({"inputs": st.just(["good"]), "extra": st.integers()}),
        st.just({})),
    "forecast": st.one_of(
        st.fixed_dictionaries({"csv": st.one_of(st.just(""), st.integers(), st.none())}),
        st.fixed_dictionaries({"csv": st.text(alphabet="ab,;\n 1.x", min_size=1,
                                              max_size=60)}).filter(
            lambda d: d["csv"].strip()),
        st.fixed_dictionaries({"csv": st.just("a,b\n1,2\n"), "level": st.one_of(
            st.floats(max_value=0.0), st.floats(min_value=1.0), not_finite)}),
        st.fixed_dictionaries({"csv": st.just("a,b\n1,2\n"), "path": st.just("/etc/passwd")}),
    ),
}


def test_predict_rejects_bad_bodies(client):
    before = len(SENT)

    @FUZZ
    @given(data=st.data())
    def run(data):
        model = data.draw(st.sampled_from(sorted(BAD_PREDICT)))
        body = json.dumps(data.draw(BAD_PREDICT[model]), allow_nan=True)
        check_4xx(client.post(f"/v1/models/{model}/predict", content=body,
                              headers={"content-type": "application/json"}))

    run()
    assert len(SENT) - before >= 60


def test_raw_bytes_broken_json_bad_utf8_oversized(client):
    before = len(SENT)
    raw = st.one_of(
        st.binary(min_size=1, max_size=200).filter(lambda b: not _valid_object(b)),
        st.binary(min_size=1, max_size=20).map(lambda b: b'{"prompt": "' + b"\xff\xfe" + b + b'"}'),
        st.text(max_size=50).map(lambda s: ("{" + s).encode()),
        st.integers(min_value=MAX_BODY + 1, max_value=4 * MAX_BODY).map(
            lambda n: b'{"prompt": "' + b"a" * n + b'"}'),
        st.sampled_from([b"[]", b"null", b"1", b'"text"', b'{"max_tokens": NaN}',
                         b'{"temperature": Infinity}', b'{"prompt": "a", "prompt": 1}']),
    )

    @FUZZ
    @given(body=raw, model=st.sampled_from(["lm", "classify", "forecast"]),
           endpoint=st.sampled_from(["predict", "generate"]))
    def run(body, model, endpoint):
        if endpoint == "generate" and model != "lm":
            model = "lm"
        check_4xx(client.post(f"/v1/models/{model}/{endpoint}", content=body,
                              headers={"content-type": "application/json"}))

    run()
    assert len(SENT) - before >= 60


def _valid_object(b: bytes) -> bool:
    try:
        return isinstance(json.loads(b.decode("utf-8")), dict)
    except (UnicodeDecodeError, ValueError):
        return False


def test_unknown_models_paths_and_methods(client):
    before = len(SENT)
    name = st.text(alphabet=st.characters(codec="ascii", exclude_characters="/?#%"),
                   min_size=1, max_size=80).filter(lambda s: s.strip(" .") and s not in (
                       "lm", "classify", "forecast"))

    @FUZZ
    @given(name=name, endpoint=st.sampled_from(["predict", "generate", ""]),
           method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
    def run(name, endpoint, method):
        path = f"/v1/models/{quote(name, safe='')}" + (
            f"/{endpoint}" if endpoint else "")
        r = client.request(method, path, json={"prompt": "a"} if method != "GET" else None)
        check_4xx(r)

    run()
    assert len(SENT) - before >= 60


def test_no_5xx_and_still_serving(client):
    """Runs last in this module: the totals over every request above."""
    assert len(SENT) >= 200, len(SENT)
    assert all(400 <= s < 500 for s in SENT)
    text = client.get("/metrics").text
    fives = [line for line in text.splitlines()
             if re.match(r'rnnkit_requests_total\{.*status="5\d\d"', line)]
    assert fives == []
    r = client.post("/v1/models/lm/generate", json={"prompt": "the ", "max_tokens": 5})
    assert r.status_code == 200 and r.json()["tokens"] == 5
    assert client.get("/health").json()["status"] == "ok"
