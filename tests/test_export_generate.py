"""examples/onnx_generate.py: greedy text from an exported char model, without torch, equals
``rnnkit textgen sample --temperature 0``."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import rnnkit
from rnnkit.cli.main import main
from rnnkit.data.tokenizers import CharTokenizer

pytest.importorskip("onnxruntime")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "onnx_generate.py"
TEXT = "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"
NO_TORCH = ("import sys, runpy; sys.modules['torch'] = None; sys.argv = sys.argv[1:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")


@pytest.mark.parametrize("cell,prompt", [("lstm", "to be"), ("gru", "")])
def test_onnx_generate_equals_textgen_sample(cell, prompt, tmp_path, capsys):
    tok = CharTokenizer().fit(TEXT)
    model = rnnkit.LanguageModel(tok.vocab_size, 24, num_layers=2, cell=cell, embedding_dim=8)
    with torch.no_grad():  # larger weights than the initial ones: varied, decisive argmaxes
        for p in model.parameters():
            p.mul_(4.0)
    ckpt, out = tmp_path / "ckpt", tmp_path / "onnx"
    rnnkit.save(model, ckpt, extras={"task": "textgen", "tokenizer": tok.to_dict()})
    assert main(["textgen", "sample", "--checkpoint", str(ckpt), "--prompt", prompt,
                 "--temperature", "0", "--length", "80", "--device", "cpu"]) == 0
    want = capsys.readouterr().out
    assert main(["export", "--checkpoint", str(ckpt), "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    run = subprocess.run([sys.executable, "-c", NO_TORCH, str(EXAMPLE), str(out),
                          "--prompt", prompt, "--length", "80"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout == want
    assert len(set(want)) > 5  # a real continuation, not one repeated character
