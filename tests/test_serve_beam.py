"""``POST /generate`` with a beam search and with ``stop_at_eos``: what ``rnnkit textgen
sample --beam W --length-penalty X`` and ``--no-stop`` do, over HTTP."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

import torch  # noqa: E402

from rnnkit import checkpoint  # noqa: E402
from rnnkit.apps.textgen import Config, sample_text  # noqa: E402
from rnnkit.data.tokenizers import EOS_ID, CharTokenizer, WordTokenizer  # noqa: E402
from rnnkit.generate import beam_generate  # noqa: E402
from rnnkit.models.language_model import LanguageModel  # noqa: E402
from rnnkit.serve.app import create_app  # noqa: E402
from rnnkit.serve.server import BackgroundServer  # noqa: E402
from rnnkit.serve.settings import ServeSettings  # noqa: E402
from rnnkit.serve.tasks import load_models  # noqa: E402

TEXT = "the cat sat on the mat\nthe dog sat on the log\na cat and a dog\n"


def write_lm(folder, tok, eos_bias: float = 0.0, seed: int = 0):
    """A tiny LM (random weights) as the textgen application writes it; ``eos_bias`` added to
    <eos>'s output bias makes lines end soon."""
    torch.manual_seed(seed)
    lm = LanguageModel(tok.vocab_size, 16, 1, embedding_dim=8)
    with torch.no_grad():
        lm.head.bias[EOS_ID] += eos_bias
    config = Config(hidden_size=16, embedding_dim=8, level=tok.kind)
    return checkpoint.save(lm, folder, extras={"task": "textgen", "tokenizer": tok.to_dict(),
                                               "textgen": asdict(config)}), lm


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("beam")
    words, _ = write_lm(tmp / "words", WordTokenizer().fit(TEXT.splitlines()), eos_bias=4.0)
    chars, _ = write_lm(tmp / "chars", CharTokenizer().fit(TEXT))
    models = load_models([words, chars])
    app = create_app(models, ServeSettings(max_streams=4, max_tokens=200))
    with BackgroundServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        client.models = models
        yield client


def test_beam_answer_is_the_cli_beam(served):
    """The whole answer is the text ``sample_text(beam=W)`` gives (the CLI's ``--beam``)."""
    for name, prompt in (("chars", "the "), ("words", "the cat")):
        predictor = served.models[name].predictor
        for width, lp in ((3, 1.0), (5, 0.5)):
            r = served.post(f"/v1/models/{name}/generate", json={
                "prompt": prompt, "max_tokens": 12, "beam": width, "length_penalty": lp})
            assert r.status_code == 200, r.text
            pieces = list(sample_text(predictor.model, predictor.tokenizer, prompt, 12,
                                      beam=width, length_penalty=lp))
            assert r.json()["text"] == "".join(pieces[1:]), (name, width, lp)


def test_beam_streams_its_tokens_then_done(served):
    model = served.models["chars"]
    ids = model.encode_prompt("a ")
    expected = beam_generate(model.lm, ids, 10, beam_width=4, suppress_ids=model.never_drawn())
    with served.stream("POST", "/v1/models/chars/generate", json={
            "prompt": "a ", "max_tokens": 10, "beam": 4, "stream": True}) as r:
        assert r.status_code == 200
        lines = [line for line in r.iter_lines()]
    events = [(lines[i][len("event: "):], json.loads(lines[i + 1][len("data: "):]))
              for i in range(0, len(lines), 3) if lines[i]]
    kinds = [e for e, _ in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and set(kinds[1:-1]) == {"token"}
    assert [d["token"] for e, d in events if e == "token"] == expected
    assert events[-1][1] == {"finish_reason": "length", "tokens": 10}


def test_beam_refuses_sampling_fields_and_bad_widths(served):
    for extra in ({"temperature": 0.5}, {"top_k": 3}, {"seed": 1}, {"repetition_penalty": 1.2}):
        r = served.post("/v1/models/chars/generate", json={"beam": 3, **extra})
        assert r.status_code == 422 and "beam search does not sample" in r.json()["detail"]
        assert next(iter(extra)) in r.json()["detail"]
    for body in ({"beam": 0}, {"beam": 65}, {"beam": 2.5}, {"beam": 3, "length_penalty": 1e9}):
        assert served.post("/v1/models/chars/generate", json=body).status_code == 422, body


def test_stop_at_eos_false_goes_past_the_line_end(served):
    """A word LM leaning to <eos>: by default its lines end at once ("eos"); with
    ``stop_at_eos: false`` it goes on to max_tokens, <eos> shown as a line break (the CLI's
    ``--no-stop``), sampled and by beam search."""
    for extra in ({"temperature": 0}, {"beam": 3}):
        stopped = served.post("/v1/models/words/generate", json={
            "prompt": "the cat", "max_tokens": 8, **extra}).json()
        assert stopped["finish_reason"] == "eos" and stopped["tokens"] < 8, extra
        going = served.post("/v1/models/words/generate", json={
            "prompt": "the cat", "max_tokens": 8, "stop_at_eos": False, **extra}).json()
        assert going["finish_reason"] == "length" and going["tokens"] == 8, extra
        assert "\n" in going["text"], extra
