"""rnnkit.apps.anomaly: the likelihood, streaming == batch, no look-ahead, sequences, bad input."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pandas as pd
import pytest
import torch

import rnnkit
from rnnkit.apps import anomaly
from rnnkit.apps.anomaly import AnomalyLikelihood, Flagger, log_likelihood
from rnnkit.apps.anomaly.level import LevelResidual
from rnnkit.apps.anomaly.seasonal import SeasonalResidual, find_period, seasonal_meta
from rnnkit.demos.anomaly import heartbeats, sensor_stream
from rnnkit.models.anomaly import SequenceAutoencoder, StreamForecaster

FAULTS = (("spike", 450, 3), ("noise burst", 520, 30))


def _config(tmp_path, name="ck", **kw):
    base = dict(hidden_size=8, epochs=4, chunk=16, window=16, learning_fraction=0.5,
                checkpoint=str(tmp_path / name))
    return anomaly.Config(**{**base, **kw})


@pytest.fixture(scope="module")
def stream_frame():
    return sensor_stream(n=600, seed=1, faults=FAULTS)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, stream_frame):
    tmp = tmp_path_factory.mktemp("anomaly")
    config = _config(tmp, holdoff=5, threshold=0.99)
    anomaly.train(config, data=stream_frame)
    return config.checkpoint


# ------------------------------------------------------------------------------ likelihood
def test_likelihood_is_half_during_warmup_then_reacts_to_a_jump():
    lik = AnomalyLikelihood(short_window=3, long_window=200, warmup=50, min_std=0.01)
    rng = np.random.default_rng(0)
    values = [lik.update(s) for s in 1.0 + 0.1 * rng.standard_normal(150)]
    assert values[:50] == [0.5] * 50
    assert 0.01 < np.mean(values[50:]) < 0.99  # usual scores: no alarm
    assert lik.update(5.0) > 0.9999  # far above the usual level
    assert lik.update(1.0) > 0.99  # still in the 3-reading average


def test_likelihood_is_scale_free_and_only_looks_back():
    a = AnomalyLikelihood(short_window=5, long_window=100, warmup=10, min_std=1e-6)
    b = AnomalyLikelihood(short_window=5, long_window=100, warmup=10, min_std=1e-6)
    s = np.abs(np.random.default_rng(1).standard_normal(80))
    la, lb = [a.update(x) for x in s], [b.update(1000 * x) for x in s]
    np.testing.assert_allclose(la, lb, atol=1e-9)


def test_likelihood_long_window_forgets():
    lik = AnomalyLikelihood(short_window=1, long_window=20, warmup=0, min_std=1e-3)
    for _ in range(50):
        lik.update(10.0)
    for _ in range(50):
        lik.update(1.0 + 0.01 * (_ % 3))
    assert lik.update(1.0) < 0.99  # the old level of 10 is gone from the baseline


def test_log_likelihood_and_flagger_holdoff():
    assert log_likelihood(0.5) == pytest.approx(0.0301, abs=1e-3)
    assert log_likelihood(0.99999) == pytest.approx(0.5, abs=1e-6)
    assert log_likelihood(1.0) == pytest.approx(1.0, abs=1e-6)
    f = Flagger(0.9, holdoff=2)
    assert [f.update(x) for x in (0.95, 0.95, 0.95, 0.95, 0.1)] == [True, False, False, True,
                                                                      False]


# ------------------------------------------------------------------------------ models
def test_models_step_matches_forward():
    torch.manual_seed(0)
    x = torch.randn(2, 12, 3)
    model = StreamForecaster(3, 8, cell="gru").eval()
    pred, _ = model(x)
    state, steps = None, []
    for t in range(12):
        y, state = model.step(x[:, t], state)
        steps.append(y)
    torch.testing.assert_close(torch.stack(steps, 1), pred)
    ae = SequenceAutoencoder(3, 8).eval()
    state = None
    for t in range(12):
        _, state = ae.step(x[:, t], state)
    torch.testing.assert_close(ae.decode(state, 12), ae(x))


# ------------------------------------------------------------------------------ streams
def test_streaming_scores_equal_batch_scores(trained, stream_frame):
    predictor = anomaly.load(trained)
    batch = predictor.predict(stream_frame)
    online = predictor.predict(stream_frame, online=True)
    np.testing.assert_allclose(online["score"], batch["score"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(online["likelihood"], batch["likelihood"], atol=1e-4)
    assert (online["flag"] == batch["flag"]).all()
    streamed = list(predictor.stream(stream_frame["temperature"].tolist()))
    np.testing.assert_allclose([s for s, _, _ in streamed], batch["score"], rtol=1e-4,
                               atol=1e-5)
    assert list(batch.columns) == ["timestamp", "temperature", "score", "likelihood", "flag",
                                   "label"]


def test_streaming_equals_batch_with_online_updates(trained, stream_frame):
    predictor = anomaly.load(trained).configure(update_every=200, update_epochs=1)
    batch = predictor.predict(stream_frame)
    online = predictor.predict(stream_frame, online=True)
    np.testing.assert_allclose(online["score"], batch["score"], rtol=1e-4, atol=1e-4)
    plain = anomaly.load(trained).predict(stream_frame)
    assert np.allclose(plain["score"][:200], batch["score"][:200])  # no refit before 200
    assert not np.allclose(plain["score"][250:], batch["score"][250:])  # refitted after


def test_slow_window_streams_like_batch_and_is_the_larger_likelihood(trained, stream_frame):
    fast = anomaly.load(trained).configure(slow_window=None).predict(stream_frame)
    predictor = anomaly.load(trained)
    assert predictor.config.slow_window == 50  # the default
    batch = predictor.predict(stream_frame)
    online = predictor.predict(stream_frame, online=True)
    np.testing.assert_allclose(online["likelihood"], batch["likelihood"], atol=1e-4)
    assert (online["flag"] == batch["flag"]).all()
    np.testing.assert_allclose(batch["score"], fast["score"])  # the scores are the same
    assert (batch["likelihood"] >= fast["likelihood"] - 1e-12).all()  # max of the two
    # a sustained, moderate rise: the 50-reading mean notices it, the 10-reading one less so
    scores = np.r_[np.abs(np.random.default_rng(0).standard_normal(600)), np.full(50, 1.3)]
    one = AnomalyLikelihood(10, 3000, 0)
    two = [AnomalyLikelihood(10, 3000, 0), AnomalyLikelihood(50, 3000, 0)]
    last_one = [one.update(x) for x in scores][-1]
    last_two = [max(lik.update(x) for lik in two) for x in scores][-1]
    assert last_two > 0.9999 and last_one < 0.99


def test_holdoff_share_scales_with_the_learning_period(trained, stream_frame):
    predictor = anomaly.load(trained).configure(holdoff_share=0.1, threshold=0.9)
    learned = predictor.meta["learned_rows"]
    assert learned == 300 and predictor.scorer().flagger.holdoff == 30  # 0.1 of 300
    batch = predictor.predict(stream_frame)
    online = predictor.predict(stream_frame, online=True)
    assert (online["flag"] == batch["flag"]).all()
    flags = np.flatnonzero(batch["flag"].to_numpy())
    assert len(flags) >= 2 and (np.diff(flags) > 30).all()  # quiet for 30 after each flag
    plain = anomaly.load(trained).configure(threshold=0.9).predict(stream_frame)
    np.testing.assert_allclose(plain["likelihood"], batch["likelihood"])  # flags only
    assert anomaly.load(trained).scorer().flagger.holdoff == 5  # a given holdoff wins ...
    assert predictor.configure(holdoff=7).scorer().flagger.holdoff == 7
    assert predictor.configure(holdoff=None, holdoff_share=0.2).scorer().flagger.holdoff == 60


def test_holdoff_defaults_to_a_share_and_old_checkpoints_keep_theirs(trained, tmp_path,
                                                                     stream_frame):
    config = anomaly.Config()
    assert config.holdoff is None and config.holdoff_share == 0.2  # 0.2 of the learning rows
    loaded = anomaly.load(trained)
    assert loaded.config.holdoff == 5 and loaded.config.holdoff_share is None  # stored so
    old = tmp_path / "old"  # written when holdoff_share, if set, won over holdoff
    shutil.copytree(trained, old)
    doc = json.loads((old / "config.json").read_text())
    doc["extras"]["config"].update(holdoff=100, holdoff_share=0.1)
    (old / "config.json").write_text(json.dumps(doc))
    assert anomaly.load(old).scorer().flagger.holdoff == 30  # 0.1 of 300, as then
    doc["extras"]["config"].update(holdoff=100, holdoff_share=None)
    (old / "config.json").write_text(json.dumps(doc))
    assert anomaly.load(old).scorer().flagger.holdoff == 100


def test_find_period_and_seasonal_residual():
    t = np.arange(600)
    assert find_period(np.sin(2 * np.pi * t / 48))[0] == 48
    assert find_period(np.random.default_rng(0).standard_normal(600))[1] < 0.5  # no cycle
    assert find_period(np.full(100, 2.0)) == (None, 0.0)
    x = np.sin(2 * np.pi * np.arange(400) / 48)
    x += np.random.default_rng(1).normal(0, 0.05, 400)
    x[300:] = x[299]  # the cycle stops: a next-step forecast soon follows a flat line
    meta = seasonal_meta(x[:200, None])
    assert meta[0]["period"] == 48 and meta[0]["ac"] > 0.95
    residual = SeasonalResidual(meta, min_ac=0.5)
    r = np.array([residual.update(v) for v in x[:, None]])
    assert (r[:48] == 0).all() and abs(r[48:200].mean() - 1) < 1e-9  # scale: learning mean
    assert r[300:348].mean() > 5 * r[48:300].mean()  # the missing cycle
    assert not SeasonalResidual(meta, min_ac=1.0)  # no column reaches 1.0: off
    y = x[:300].copy()
    y[250] += 5  # a spike: with one cycle it comes back as a false one a period later
    echo = {}
    for c in (1, 3):
        residual = SeasonalResidual(seasonal_meta(y[:200, None], c), min_ac=0.5)
        echo[c] = np.array([residual.update(v) for v in y[:, None]])
    assert echo[1][298] > 20 and echo[3][298] < 5 and echo[3][250] > 20


def check_second_signal(predictor, plain, stream_frame):
    """A model-free signal on top of the model's: online == batch, the model's scores kept,
    the likelihood the larger of the two (and larger somewhere), no look-ahead."""
    batch = predictor.predict(stream_frame)
    online = predictor.predict(stream_frame, online=True)
    np.testing.assert_allclose(online["likelihood"], batch["likelihood"], atol=1e-4)
    assert (online["flag"] == batch["flag"]).all()
    np.testing.assert_allclose(batch["score"], plain["score"])  # the model's scores
    assert (batch["likelihood"] >= plain["likelihood"] - 1e-12).all()
    assert (batch["likelihood"] > plain["likelihood"] + 1e-6).any()
    changed = stream_frame.copy()  # no look-ahead
    changed.loc[400:, "temperature"] = changed.loc[400:, "temperature"][::-1].to_numpy() + 7
    after = predictor.predict(changed)
    np.testing.assert_array_equal(after["likelihood"][:400], batch["likelihood"][:400])


def test_seasonal_signal_streams_like_batch_and_is_the_larger_likelihood(trained, tmp_path,
                                                                        stream_frame):
    plain = anomaly.load(trained).configure(seasonal_min_ac=None).predict(stream_frame)
    predictor = anomaly.load(trained).configure(seasonal_min_ac=0.5)
    (meta,) = predictor.meta["seasonal"]
    assert abs(meta["period"] - 144) <= 3 and meta["ac"] > 0.5  # the daily cycle
    check_second_signal(predictor, plain, stream_frame)
    off = anomaly.load(trained).configure(seasonal_min_ac=1.0).predict(stream_frame)
    np.testing.assert_allclose(off["likelihood"], plain["likelihood"])  # no column qualifies
    predictor.meta.pop("seasonal")  # a checkpoint written before the seasonal signal
    with pytest.raises(ValueError, match="seasonal_min_ac needs a checkpoint that stores"):
        predictor.predict(stream_frame)  # asked for explicitly: refused
    assert anomaly.Config().seasonal_min_ac == 0.5  # the default ...
    old = tmp_path / "old"  # ... is off for such a checkpoint
    shutil.copytree(trained, old)
    doc = json.loads((old / "config.json").read_text())
    del doc["extras"]["seasonal"], doc["extras"]["config"]["seasonal_min_ac"]
    (old / "config.json").write_text(json.dumps(doc))
    loaded = anomaly.load(old)
    assert loaded.config.seasonal_min_ac is None
    np.testing.assert_allclose(loaded.predict(stream_frame)["likelihood"], plain["likelihood"])


def test_level_residual_sees_a_sustained_shift():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, 600)
    x[400:460] += 4  # a shift held for 60 readings
    level = LevelResidual(std=[2.0], window=100)
    r = np.array([level.update([v]) for v in x])
    assert r[0] == r[1] == 0.0
    assert abs(r[2] - abs(x[2] - x[:2].mean()) / 2) < 1e-12
    assert abs(r[300] - abs(x[300] - x[200:300].mean()) / 2) < 1e-9  # the last 100 before it
    assert r[400:460].mean() > 3 * r[100:400].mean()  # high for as long as it lasts
    prefix = LevelResidual(std=[2.0], window=100)  # no look-ahead
    assert [prefix.update([v]) for v in x[:300]] == list(r[:300])


def test_level_signal_off_by_default_streams_like_batch_and_is_the_larger_likelihood(
        trained, stream_frame):
    assert anomaly.Config().level_window is None
    with pytest.raises(ValueError, match="level_window must be a positive integer"):
        anomaly.Config(level_window=0).check()
    plain = anomaly.load(trained).predict(stream_frame)
    predictor = anomaly.load(trained).configure(level_window=50)
    check_second_signal(predictor, plain, stream_frame)


def test_reconstruct_detector_streams_like_batch(tmp_path, stream_frame):
    config = _config(tmp_path, detector="reconstruct", window=8, epochs=2)
    anomaly.train(config, data=stream_frame)
    predictor = anomaly.load(config.checkpoint)
    batch = predictor.predict(stream_frame)
    online = predictor.predict(stream_frame, online=True)
    np.testing.assert_allclose(online["score"], batch["score"], rtol=1e-4, atol=1e-5)
    assert (batch["score"][:7] == 0).all()  # no complete window yet


def test_no_look_ahead(trained, stream_frame):
    predictor = anomaly.load(trained)
    before = predictor.predict(stream_frame)
    changed = stream_frame.copy()
    changed.loc[400:, "temperature"] = changed.loc[400:, "temperature"][::-1].to_numpy() + 7
    after = predictor.predict(changed)
    for col in ("score", "likelihood", "flag"):
        np.testing.assert_array_equal(after[col][:400], before[col][:400])
    assert not np.allclose(after["score"][400:], before["score"][400:])


def test_nothing_is_flagged_in_the_learning_period(trained, stream_frame):
    """Until warmup (the learning rows) the likelihood is 0.5, out-of-range readings too: the
    range grows through the learning period, which the model is learning, not scoring."""
    predictor = anomaly.load(trained).configure(holdoff=0)
    assert predictor.config.extreme_margin == 0.02 and predictor.meta["learned_rows"] == 300
    frame = predictor.predict(stream_frame)
    assert (frame["likelihood"][:300] == 0.5).all() and not frame["flag"][:300].any()
    assert (frame["likelihood"][300:] == 1.0).any() and frame["flag"][300:].any()


def test_faults_are_flagged_and_evaluated(trained, stream_frame):
    predictor = anomaly.load(trained)
    frame = predictor.predict(stream_frame)
    assert frame["flag"][450:460].any()  # the spike
    m = predictor.evaluate(stream_frame)
    assert set(m) >= {"precision", "recall", "f1", "roc_auc", "pr_auc"}
    assert m["roc_auc"] > 0.7
    assert isinstance(rnnkit.open(trained), anomaly.AnomalyPredictor)


# ------------------------------------------------------------------------------ sequences
def test_sequences_trained_on_normal_only(tmp_path):
    labels, values = heartbeats(120, length=32, abnormal=0.2, seed=0)
    train = pd.DataFrame(values)
    train.insert(0, "label", labels)
    path = tmp_path / "beats.csv"
    train.to_csv(path, index=False, header=False)
    config = _config(tmp_path, layout="sequences", detector="reconstruct", epochs=15,
                     batch_size=16, lr=1e-2, data=str(path))
    anomaly.train(config)
    predictor = anomaly.load(config.checkpoint)
    assert predictor.meta["normal_label"] == "normal"
    m = predictor.evaluate(path)
    assert m["roc_auc"] > 0.9 and 0 <= m["accuracy"] <= 1
    other = tmp_path / "short.csv"
    pd.DataFrame(values[:, :20]).to_csv(other, index=False, header=False)
    with pytest.raises(ValueError, match=r"holds sequences of length 19 \(plus a label\) or "
                                         r"20; the model was trained on sequences of length 32"):
        predictor.predict(other)

    # the same beats in the archive's .ts format: the same scores; its refusals
    ts = tmp_path / "beats.ts"
    rows = [",".join(f"{v:.4f}" for v in row) + f":{label}\n"
            for label, row in zip(labels, values, strict=True)]
    ts.write_text("# beats\n@classLabel true normal abnormal\n@data\n" + "".join(rows))
    assert predictor.evaluate(ts) == m
    np.testing.assert_array_equal(predictor.predict(ts)["score"], predictor.predict(path)["score"])
    for body, message in (
            ("1,2:3,4\n", "holds 2 features per step; anomaly sequences have one"),
            ("1,2,3\n1,2\n", "the sequence at line 4 of .* has 2 values and the longest 3"),
            ("1,2,3\n", "holds sequences of length 3; the model was trained on sequences of "
                         "length 32")):
        ts.write_text("@classLabel false\n@data\n" + body)
        with pytest.raises(ValueError, match=message):
            predictor.predict(ts)


# ------------------------------------------------------------------------------ bad input
def _csv(tmp_path, values, times=None, name="s.csv"):
    times = times if times is not None else pd.date_range("2026-01-01", periods=len(values),
                                                          freq="h").astype(str)
    path = tmp_path / name
    pd.DataFrame({"timestamp": times, "value": values}).to_csv(path, index=False)
    return path


def test_constant_series_is_refused(tmp_path):
    path = _csv(tmp_path, [3.0] * 100)
    with pytest.raises(ValueError, match=r"the learning period of .*s.csv: column 'value' is "
                                         r"always 3, nothing to learn"):
        anomaly.train(_config(tmp_path, data=str(path)))
    assert not (tmp_path / "ck").exists()


def test_short_stream_is_refused(tmp_path):
    path = _csv(tmp_path, np.arange(10.0))
    with pytest.raises(ValueError, match=r"has 10 readings, shorter than the window \(16\)"):
        anomaly.train(_config(tmp_path, data=str(path)))


def test_gaps_and_repeated_timestamps(tmp_path):
    times = list(pd.date_range("2026-01-01", periods=100, freq="h").astype(str))
    gap = times[:50] + times[51:] + ["2026-01-06 00:00:00"]
    with pytest.raises(ValueError, match=r"gap in the timestamps between lines 51 and 52 .*"
                                         r"pass --allow-gaps"):
        anomaly.train(_config(tmp_path, data=str(_csv(tmp_path, np.sin(np.arange(100.0)),
                                                          gap))))
    dup = times[:50] + [times[49]] + times[50:99]
    with pytest.raises(ValueError, match=r"repeated timestamp 2026-01-03 01:00:00 at lines 51 "
                                         r"and 52"):
        anomaly.train(_config(tmp_path, data=str(_csv(tmp_path, np.sin(np.arange(100.0)),
                                                          dup))))
    anomaly.train(_config(tmp_path, allow_gaps=True, epochs=1,
                          data=str(_csv(tmp_path, np.sin(np.arange(100.0)), dup))))


def test_nan_readings_refused_or_filled(tmp_path, caplog):
    values = np.sin(np.arange(100.0))
    values[[20, 70]] = math.nan
    path = _csv(tmp_path, values)
    with pytest.raises(ValueError, match=r"missing readings in .*s.csv at lines 22, 72; fix "
                                         r"the file or pass --fill ffill\|interpolate"):
        anomaly.train(_config(tmp_path, data=str(path)))
    anomaly.train(_config(tmp_path, data=str(path), fill="ffill", epochs=1))
    assert "filled missing readings (ffill) at lines 22, 72" in caplog.text


def test_config_check_names_the_field():
    with pytest.raises(ValueError, match=r"anomaly: detector must be one of forecast, "
                                         r"reconstruct, got 'pca'"):
        anomaly.Config(detector="pca").check()
    with pytest.raises(ValueError, match=r"anomaly: hidden_size must be a positive integer, "
                                         r"got 0"):
        anomaly.Config(hidden_size=0).check()
    with pytest.raises(ValueError, match=r"anomaly: slow_window \(9000\) must not exceed "
                                         r"long_window \(3000\)"):
        anomaly.Config(slow_window=9000).check()
    with pytest.raises(ValueError, match=r"anomaly: holdoff_share must lie in \[0, 1\] or be "
                                         r"none, got 1.5"):
        anomaly.Config(holdoff_share=1.5).check()
    with pytest.raises(ValueError, match=r"anomaly: seasonal_min_ac must lie in \[0, 1\] or "
                                         r"be none, got -0.5"):
        anomaly.Config(seasonal_min_ac=-0.5).check()
    with pytest.raises(ValueError, match=r"anomaly: seasonal_cycles must be a positive integer"):
        anomaly.Config(seasonal_cycles=0).check()


def test_stream_defaults_are_the_benchmarked_settings():
    """The settings BENCHMARKS.md measures on NAB (benchmarks/nab.py changes none of them)."""
    c = anomaly.Config()
    assert (c.cell, c.hidden_size, c.epochs, c.lr, c.chunk) == ("lstm", 16, 30, 1e-2, 32)
    assert (c.learning_fraction, c.learning_rows, c.update_every, c.update_epochs) == \
        (0.15, 750, 1000, 5)
    assert (c.score_scale, c.short_window, c.slow_window, c.long_window, c.min_std) == \
        ("log", 10, 50, 3000, 0.05)
    assert (c.extreme_margin, c.seasonal_min_ac, c.seasonal_cycles, c.threshold) == \
        (0.02, 0.5, 3, None)
    assert (c.holdoff, c.holdoff_share) == (None, 0.2)
