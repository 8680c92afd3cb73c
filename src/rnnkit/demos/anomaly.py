"""Demo: detect anomalies in a sensor stream with injected faults, and in heartbeat-like
sequences, training on normal behaviour only (``rnnkit.apps.anomaly``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..apps import anomaly

# (kind, start, length) of the faults injected into the demo stream
FAULTS = (("spike", 1500, 3), ("level shift", 2100, 60), ("stuck sensor", 2600, 80),
          ("noise burst", 3200, 60))


def sensor_stream(n: int = 3600, seed: int = 0, faults=FAULTS) -> pd.DataFrame:
    """A temperature-like sensor every 10 minutes: a daily cycle (144 readings), a slow drift
    and noise, with ``faults`` injected; columns timestamp, temperature, label (0/1)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = 20 + 3 * np.sin(2 * np.pi * t / 144) + 0.5 * np.sin(2 * np.pi * t / 37) \
        + 0.0005 * t + rng.normal(0, 0.15, n)
    label = np.zeros(n, dtype=int)
    for kind, start, length in faults:
        span = slice(start, start + length)
        if kind == "spike":
            x[span] += 6
        elif kind == "level shift":
            x[span] -= 4
        elif kind == "stuck sensor":
            x[span] = x[start]
        else:
            x[span] += rng.normal(0, 2.0, length)
        label[span] = 1
    times = pd.date_range("2026-01-01", periods=n, freq="10min")
    return pd.DataFrame({"timestamp": times.strftime("%Y-%m-%d %H:%M:%S"),
                         "temperature": np.round(x, 4), "label": label})


def heartbeats(n: int, length: int = 64, abnormal: float = 0.0, seed: int = 0):
    """(labels, values (n, length)): beat-shaped pulses; a share ``abnormal`` of them have a
    widened, inverted wave (class "abnormal"), the rest are "normal"."""
    rng = np.random.default_rng(seed)
    s = np.linspace(0, 1, length)
    labels, rows = [], []
    for _ in range(n):
        shift = rng.normal(0, 0.02)
        beat = np.exp(-((s - 0.3 - shift) / 0.03) ** 2) * rng.normal(1.0, 0.05) \
            + 0.3 * np.exp(-((s - 0.65 - shift) / 0.08) ** 2)
        bad = rng.random() < abnormal
        if bad:
            beat = np.exp(-((s - 0.3 - shift) / 0.08) ** 2) * 0.8 \
                - 0.3 * np.exp(-((s - 0.65 - shift) / 0.08) ** 2)
        rows.append(beat + rng.normal(0, 0.03, length))
        labels.append("abnormal" if bad else "normal")
    return labels, np.round(np.asarray(rows), 4)


def _write_beats(path: Path, labels, values) -> None:
    frame = pd.DataFrame(values)
    frame.insert(0, "label", labels)
    frame.to_csv(path, index=False, header=False)


def run(out_dir: Path, seed: int = 0, quiet: bool = False) -> None:
    out = Path(out_dir) / "anomaly"
    out.mkdir(parents=True, exist_ok=True)
    # 1. a stream: learn the first 15 % (no faults there), score everything; the app's
    # defaults (the settings measured on NAB), as `rnnkit anomaly train` uses them
    stream = sensor_stream(seed=seed)
    stream.to_csv(out / "sensor.csv", index=False)
    config = anomaly.Config(data=str(out / "sensor.csv"), checkpoint=str(out / "sensor-model"),
                            seed=seed)
    anomaly.train(config)
    predictor = anomaly.load(config.checkpoint)
    scores = predictor.score_file(config.data, out=out / "sensor_scores.csv",
                                  plot=out / "sensor_scores.png")
    flags = scores["flag"].to_numpy()
    found = [kind for kind, start, length in FAULTS
             if flags[start:start + length + 20].any()]  # flagged during the fault or just after
    outside = int(flags[scores["label"].to_numpy() == 0].sum())
    print(f"stream: {len(stream)} readings, learned the first {predictor.meta['learned_rows']}; "
          f"detected {len(found)}/{len(FAULTS)} injected faults ({', '.join(found)}), "
          f"{outside} flag{'' if outside == 1 else 's'} elsewhere")
    # 2. sequences: train on normal beats only, flag abnormal ones in a test set
    _write_beats(out / "beats_train.csv", *heartbeats(200, seed=seed))
    _write_beats(out / "beats_test.csv", *heartbeats(200, abnormal=0.1, seed=seed + 1))
    seq = anomaly.Config(data=str(out / "beats_train.csv"), layout="sequences",
                         detector="reconstruct", checkpoint=str(out / "beats-model"),
                         hidden_size=16, epochs=15, batch_size=32, lr=1e-2, seed=seed)
    anomaly.train(seq)
    beats = anomaly.load(seq.checkpoint)
    beats.score_file(out / "beats_test.csv", plot=out / "beats_scores.png")
    m = beats.evaluate(out / "beats_test.csv")
    print(f"sequences: trained on 200 normal beats; on 200 test beats ({m['anomalies']} "
          f"abnormal): precision {m['precision']:.2f}, recall {m['recall']:.2f}, ROC-AUC "
          f"{m['roc_auc']:.3f}")
    if not quiet:
        print(f"plots: {out / 'sensor_scores.png'}, {out / 'beats_scores.png'}")
