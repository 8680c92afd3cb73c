"""Checkpoints written by rnnkit 0.1.0 (tests/fixtures/v0_1_0, no task tags) export, and the
exported graphs reproduce the predictions 0.1.0 stored beside them."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data.tokenizers import BOS_ID, EOS_ID, tokenizer_from_dict
from rnnkit.export.onnx_export import session

pytest.importorskip("onnxruntime")

FIXTURES = Path(__file__).parent / "fixtures" / "v0_1_0"
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "onnx_generate.py"
GRAPHS = {"classify": ["model"], "forecast": ["model"], "regress": ["model", "step"],
          "textgen": ["model", "step"], "translate": ["encoder", "decoder_step"]}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("exported")
    for task in GRAPHS:
        assert main(["export", "--checkpoint", str(FIXTURES / task), "--out", str(out / task),
                     "--quiet"]) == 0
    return out


@pytest.mark.parametrize("task", GRAPHS)
def test_old_checkpoints_export(task, exported):
    doc = json.loads((exported / task / "export.json").read_text())
    assert doc["task"] == task and list(doc["graphs"]) == GRAPHS[task]


def _stored(task):
    return json.loads((FIXTURES / task / "predictions.json").read_text())


def test_textgen_greedy_text(exported):
    greedy = _stored("textgen")["greedy"]
    run = subprocess.run([sys.executable, str(EXAMPLE), str(exported / "textgen"), "--prompt",
                          greedy["prompt"], "--length", str(greedy["length"])],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == greedy["text"] + "\n"


def test_translate_greedy(exported):
    from rnnkit.decoding import encode_sources, join_tokens

    folder, stored = exported / "translate", _stored("translate")
    src_tok = tokenizer_from_dict(json.loads((folder / "src_tokenizer.json").read_text()))
    tgt_tok = tokenizer_from_dict(json.loads((folder / "tgt_tokenizer.json").read_text()))
    doc = json.loads((folder / "export.json").read_text())
    enc, dec = session(folder / "encoder.onnx"), session(folder / "decoder_step.onnx")
    carry = doc["graphs"]["decoder_step"]["carry"]
    ids, _ = encode_sources(stored["sentences"], src_tok, 100, "truncate")
    for sentence_ids, want in zip(ids, stored["greedy"], strict=True):
        outs = enc.run(None, {"src": np.array([sentence_ids]),
                              "src_lengths": np.array([len(sentence_ids)])})
        values = dict(zip([o.name for o in enc.get_outputs()], outs, strict=True))
        memory = {k: values.pop(k) for k in ("memory", "keys", "mask")}
        token, new = BOS_ID, []
        for _ in range(2 * len(sentence_ids) + 10):
            outs = dec.run(None, {"tokens": np.array([token]), **values, **memory})
            token = int(np.argmax(outs[0][0]))
            if token == EOS_ID:
                break
            new.append(token)
            values = {carry[o.name]: v for o, v in zip(dec.get_outputs(), outs, strict=True)
                      if o.name in carry}
        assert join_tokens(tgt_tok, new) == want


def test_classify_probabilities(exported):
    folder, stored = exported / "classify", _stored("classify")
    tok = tokenizer_from_dict(json.loads((folder / "tokenizer.json").read_text()))
    sess = session(folder / "model.onnx")
    for text, want in zip(stored["texts"], stored["probs"], strict=True):
        ids = tok.encode(text) or [1]
        logits = sess.run(None, {"tokens": np.array([ids]), "lengths": np.array([len(ids)])})[0]
        np.testing.assert_allclose(torch.softmax(torch.from_numpy(logits), -1)[0].numpy(), want,
                                   atol=1e-5)
