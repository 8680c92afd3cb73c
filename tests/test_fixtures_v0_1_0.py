"""Checkpoints written by rnnkit 0.1.0 (tests/fixtures/v0_1_0, one per application, written by
``make_fixtures.py`` with the code of commit 1af5e09) load through ``rnnkit.open`` and predict
the numbers 0.1.0 predicted."""

import json
from pathlib import Path

import numpy as np
import pytest

import rnnkit

ROOT = Path(__file__).parent / "fixtures" / "v0_1_0"


def _case(app):
    folder = ROOT / app
    return folder, json.loads((folder / "predictions.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("app", ["regress", "textgen", "translate", "forecast", "classify"])
def test_open_finds_the_application(app):
    predictor = rnnkit.open(ROOT / app)
    assert predictor.task == app
    assert predictor.describe()["task"] == app


def test_regress_predicts_the_same_windows_and_csv():
    folder, expected = _case("regress")
    predictor = rnnkit.open(folder)
    values = np.loadtxt(folder / "data.csv", skiprows=1)
    pred = predictor.predict(values)
    np.testing.assert_allclose(pred[:-1], expected["windows_pred"], rtol=1e-6)
    from rnnkit.apps.regress import predictions_csv

    assert predictions_csv(*predictor.predict_csv(folder / "data.csv"), predictor.target) == \
        expected["cli_predict_csv"]


def test_textgen_continues_prompts_as_before():
    folder, expected = _case("textgen")
    predictor = rnnkit.open(folder)
    g, s, b = expected["greedy"], expected["sampled"], expected["beam"]
    assert predictor.predict(g["prompt"], g["length"], temperature=0.0,
                             include_prompt=True) == g["text"]
    assert predictor.predict(s["prompt"], s["length"], temperature=s["temperature"],
                             top_k=s["top_k"], seed=s["seed"], include_prompt=True) == s["text"]
    assert predictor.predict(b["prompt"], b["length"], beam=b["beam"],
                             include_prompt=True) == b["text"]
    import torch

    logits, _ = predictor.model(torch.tensor([predictor.tokenizer.encode("the cat")]))
    np.testing.assert_allclose(logits[0, -1].detach().numpy(),  # float32 rounding only
                               expected["last_logits"]["values"], rtol=1e-5, atol=1e-6)


def test_translate_translates_as_before():
    folder, expected = _case("translate")
    predictor = rnnkit.open(folder)
    assert predictor.predict(expected["sentences"], beam=1) == expected["greedy"]
    assert predictor.predict(expected["sentences"], beam=3) == expected["beam3"]


def test_forecast_forecasts_as_before():
    folder, expected = _case("forecast")
    predictor = rnnkit.open(folder)
    frame = predictor.predict(str(folder / "data.csv"))
    got = frame.pivot(index=frame.columns[1], columns="id", values="forecast")[
        expected["columns"]].to_numpy()
    np.testing.assert_allclose(got, expected["next"], rtol=1e-6, atol=1e-9)
    frame = predictor.predict(str(folder / "data.csv"), origin=100)
    got = frame.pivot(index=frame.columns[1], columns="id", values="forecast")[
        expected["columns"]].to_numpy()
    np.testing.assert_allclose(got, expected["origin_100"], rtol=1e-6, atol=1e-9)


def test_classify_gives_the_same_probabilities():
    folder, expected = _case("classify")
    predictor = rnnkit.open(folder)
    out = predictor.predict(expected["texts"])
    got = [[row["probs"][c] for c in expected["classes"]] for row in out]
    np.testing.assert_allclose(got, expected["probs"], rtol=1e-6, atol=1e-9)
