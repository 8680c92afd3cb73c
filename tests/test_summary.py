"""rnnkit.summary and ``rnnkit info --checkpoint DIR`` (issue 13)."""

import json
from pathlib import Path

import pytest
import torch

import rnnkit
from rnnkit.cli.main import main
from rnnkit.summary import layer_rows

FIXTURE = Path(__file__).parent / "data" / "regressor_v0.1.0"


def test_summary_rows_parameters_and_state_sizes():
    model = rnnkit.SequenceRegressor(2, 8, cell="lstm", num_layers=2, bidirectional=True)
    rows = layer_rows(model)
    assert [r["name"] for r in rows] == ["rnn", "head"]
    assert rows[0]["state"] == "(h, c): 2×(4, B, 8)"
    assert rows[0]["parameters"] == sum(p.numel() for p in model.rnn.parameters())
    assert rows[0]["type"] == "LSTM(2→8, L=2, bidirectional) [LSTMCell]"
    text = rnnkit.summary(model)
    total = sum(p.numel() for p in model.parameters())
    assert text.splitlines()[0] == "SequenceRegressor"
    assert f"Total params: {total:,}" in text and "Non-trainable params: 0" in text


def test_summary_of_torch_modules_shared_and_frozen_parameters():
    lin = torch.nn.Linear(4, 4)
    model = torch.nn.Sequential(torch.nn.GRU(3, 4, 2), lin, lin)
    lin.bias.requires_grad_(False)
    rows = layer_rows(model)
    assert rows[0]["state"] == "h: (2, B, 4)" and rows[0]["type"].startswith("torch.nn.GRU")
    text = rnnkit.summary(model)
    total = sum(p.numel() for p in model.parameters())  # shared weights once
    assert f"Total params: {total:,}" in text and "Non-trainable params: 4" in text
    layer = rnnkit.RNN("mingru", 3, 5)
    assert layer_rows(layer)[0]["state"] == "h: (1, B, 5)"
    with pytest.raises(ValueError, match=r"^summary: expected a torch.nn.Module, got str$"):
        rnnkit.summary("model")


def test_info_verb_prints_task_config_and_summary(capsys):
    assert main(["info", "--checkpoint", str(FIXTURE)]) == 0
    out = capsys.readouterr().out
    assert "task: none (a bare model: load it with rnnkit.load)" in out
    assert "model: SequenceRegressor" in out and "  hidden_size: 3" in out
    assert "rnn    GRU(1→3, L=1) [GRUCell]  h: (1, B, 3)" in out and "Total params: 58" in out
    assert main(["info", "--checkpoint", str(FIXTURE), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["parameters"] == 58 and doc["extras"]["window"] == 3


def test_info_names_the_task_of_an_application_checkpoint(tmp_path, capsys):
    rnnkit.save(rnnkit.SequenceRegressor(1, 4), tmp_path, extras={"task": "regress"})
    assert main(["info", "--checkpoint", str(tmp_path)]) == 0
    assert "task: regress" in capsys.readouterr().out


def test_info_bad_folder_is_one_line_exit_2(tmp_path, capsys):
    assert main(["info", "--checkpoint", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rnnkit info: error: rnnkit.load: no checkpoint at ") and \
        err.count("\n") == 1
