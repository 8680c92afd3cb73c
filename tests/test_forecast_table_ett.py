"""ETTh1 under the standard protocol (slow: real data, a short training run)."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnkit
from rnnkit.apps.forecast.prepare import prepare

pytestmark = pytest.mark.slow

DATA = Path(os.environ.get("RNNKIT_DATA", Path(__file__).resolve().parents[2] / "shared" /
                           "data")) / "ett" / "ETTh1.csv"


@pytest.fixture(scope="module")
def ett():
    if not DATA.is_file():
        pytest.skip(f"ETTh1.csv not found at {DATA} (set RNNKIT_DATA)")
    return prepare(DATA, lookback=96, horizon=96, time_col="date", target="all",
                   split="8640,2880,2880")


def test_protocol_rows_windows_and_scaler(ett):
    assert len(ett.ts) == 17420 and ett.ts.columns == ["HUFL", "HULL", "MUFL", "MULL", "LUFL",
                                                        "LULL", "OT"]
    assert (ett.split.train, ett.split.val, ett.split.test) == ((0, 8640), (8640, 11520),
                                                                (11520, 14400))
    assert [len(ett.windows(p)) for p in ("train", "val", "test")] == [8449, 2785, 2785]
    np.testing.assert_allclose(ett.scaler.mean, ett.ts.values[:8640].mean(0))
    assert ett.windows("test").origins[0] == 11520  # look-back from the validation rows


def test_segrnn_short_run_beats_the_linear_baseline(ett):
    """8 epochs of the benchmark's configuration (48 s on 2 quiet cores): ahead of the
    least-squares linear map of the look-back (DLinear's function class, MSE 0.381)."""
    torch.manual_seed(0)
    old = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        (xtr, _, ytr), (xte, _, yte) = ett.windows("train").arrays(), ett.windows(
            "test").arrays()
        model = rnnkit.Forecaster(7, 96, 96, mode="segrnn", hidden_size=256, dropout=0.5,
                                  norm="last", point_loss="mae")
        rnnkit.fit(model, (xtr, ytr), epochs=8, batch_size=256, loss=model.loss,
                   progress=False, device="cpu")
        pred = model.forecast(xte).point
    finally:
        torch.set_num_threads(old)
    mse = float(((pred - yte) ** 2).mean())
    from rnnkit.apps.forecast.baselines import LinearBaseline

    lin = LinearBaseline.from_dict(ett.spec.linear).predict(xte.numpy())
    lin_mse = float(((lin - yte.numpy()) ** 2).mean())
    assert mse < min(0.385, lin_mse), (mse, lin_mse)
