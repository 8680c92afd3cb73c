"""Training, loading and the Predictor of the anomaly application."""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ... import checkpoint
from ...checkpoint import another_rank, check_folder, load_extras
from ...runtime import resolve_device, seed_everything
from ...train import History
from ..base import TASK_KEY, Predictor, check_task_folder
from ..finished import finished_run, say_finished
from .config import SCORING, Config
from .data import STEPS, calendar_features, lines_text, read_sequences, read_stream
from .detector import (
    StreamScorer,
    build_model,
    fit_sequences,
    fit_stream,
    sequence_scores,
    stream_errors,
)
from .plot import plot_scores
from .seasonal import seasonal_meta

log = logging.getLogger("rnnkit.anomaly")

__all__ = ["TASK", "train", "load", "AnomalyPredictor", "learning_rows"]

TASK = "anomaly"
PLOT_SUFFIXES = (".png", ".svg", ".pdf")  # what score_file's plot may be
RUN_DIR = "training"  # fit's resumable state while training (removed once saved)
STREAM_THRESHOLD = 0.9999  # the likelihood a stream flag needs unless Config.threshold says


def learning_rows(n: int, config: Config) -> int:
    """Rows at the start of an ``n``-reading stream the model learns from."""
    rows = max(1, math.floor(config.learning_fraction * n))
    return min(rows, config.learning_rows) if config.learning_rows is not None else rows


def _few(names, limit: int = 10) -> str:
    names = list(names)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _check_constant(values: np.ndarray, columns, source: str, config: Config, what: str):
    std = values.reshape(len(values), -1).std(0)
    if (std == 0).any() and not config.allow_constant:
        j = int(np.argmax(std == 0))
        value = values.reshape(len(values), -1)[0, j]
        which = (f"column {columns[j]!r} is always {value:g}" if columns
                 else f"every value is {value:g}")
        raise ValueError(f"{what} of {source}: {which}, nothing to learn from it; pass "
                         "--allow-constant to accept it")


def train(config: Config, data=None, *, resume: bool = False) -> History:
    """Learn normal behaviour and write ``config.checkpoint``; returns the fit History.

    While it trains, ``fit``'s per-epoch state lives in ``config.checkpoint/training`` (the
    folder holds no model until the run is complete); ``resume`` continues an interrupted
    run from there exactly, and the folder is removed when the checkpoint is saved. ``resume``
    of a finished run (its model saved, same settings) trains nothing and keeps the model.

    Stream: the model learns the first ``learning_rows`` readings of ``data`` (a CSV path or
    DataFrame; default ``config.data``); the mean absolute error per value column there
    normalises later scores. Sequences: it learns the rows of the normal class; the flag
    threshold is ``config.threshold`` or the ``quantile`` of the training scores.
    """
    config.check()
    if config.holdoff is not None:  # a given holdoff wins; stored so, a checkpoint with
        config = replace(config, holdoff_share=None)  # both set is one written before
    source = config.data if data is None else data
    folder = check_folder(config.checkpoint, "--checkpoint")
    check_task_folder(folder, TASK)
    if resume and finished_run(folder, TASK, asdict(config), RUN_DIR):
        # the run state goes once the model is saved: a complete run is its saved model
        history = History(**json.loads((folder / "history.json").read_text(encoding="utf-8")))
        say_finished(TASK, folder, len(history))
        history.already_finished = True
        return history
    run = {"checkpoint_dir": folder / RUN_DIR, "resume": resume,
           "extras": {TASK_KEY: TASK, "config": asdict(config)}}  # resume: the same settings
    seed_everything(config.seed)
    if config.layout == "stream":
        stream = read_stream(source, config, min_rows=config.window)
        n = learning_rows(len(stream), config)
        values, inputs = stream.values[:n], stream.inputs[:n]
        if n < max(config.window, 3):
            share = (f"--learning-rows {config.learning_rows}" if config.learning_rows
                     is not None and n == config.learning_rows
                     else f"{config.learning_fraction:g} of {len(stream)}")
            raise ValueError(f"the learning period of {stream.source} has {n} readings "
                             f"({share}), too few for the window ({config.window}); give a "
                             "longer learning period or a smaller --window")
        _check_constant(values, stream.columns, stream.source, config, "the learning period")
        if stream.labels is not None and stream.labels[:n].any():  # learned as normal, and
            lines = stream.lines[:n][stream.labels[:n] == 1]  # never flagged (warm-up)
            log.warning("anomaly: %d labelled anomalous reading(s) lie in the learning period "
                        "of %s (lines %s): the model learns them as normal and evaluate counts "
                        "them as missed; give a longer clean start or --learning-rows",
                        len(lines), stream.source, lines_text(lines))
        model = build_model(config, values.shape[1], inputs.shape[1] - values.shape[1])
        model.set_scaler(values.mean(0), values.std(0))
        history = fit_stream(model, inputs, config, epochs=config.epochs, seed=config.seed,
                             **run)
        err = stream_errors(model, inputs, config.window)[1:]
        scale = np.maximum(err.mean(0), 1e-3)
        meta = {"columns": stream.columns, "time_col": stream.time_col or STEPS,
                "scale": scale.tolist(), "learned_rows": n,
                "seasonal": seasonal_meta(values, config.seasonal_cycles),
                "threshold": STREAM_THRESHOLD if config.threshold is None
                else config.threshold}
    else:
        seqs = read_sequences(source, config)
        labels = seqs.labels
        normal = config.normal_label
        if labels is not None and normal is None:
            kinds, counts = np.unique(labels, return_counts=True)
            top = [str(k) for k, n in zip(kinds, counts, strict=True) if n == counts.max()]
            if len(top) > 1:  # the first of a tie was taken in silence
                shown = _few(map(repr, top))  # a stream read as sequences: 2,000 "classes"
                hint = (" (is it a stream? --layout stream; the label in another column? "
                        "--label-col last, or its number)" if counts.max() == 1 else "")
                raise ValueError(f"the classes {shown} of {seqs.source} are equally common "
                                 f"({counts.max()} sequences each); name the normal one with "
                                 f"--normal-label{hint}")
            normal = top[0]
        if labels is not None and normal not in set(labels):
            raise ValueError(f"normal_label {normal!r} is not a class of {seqs.source}; its "
                             f"classes are: {_few(sorted(set(labels)))}")
        values = seqs.values if labels is None else seqs.values[labels == normal]
        _check_constant(values, None, seqs.source, config, "the normal sequences")
        model = build_model(config, values.shape[2])
        model.set_scaler(values.reshape(-1, values.shape[2]).mean(0),
                         values.reshape(-1, values.shape[2]).std(0))
        history = fit_sequences(model, values, config, **run)
        scores = sequence_scores(model, values)
        threshold = (float(np.quantile(scores, config.quantile)) if config.threshold is None
                     else config.threshold)
        meta = {"length": int(values.shape[1]), "normal_label": normal,
                "threshold": threshold, "train_scores": [float(np.mean(scores)),
                                                         float(np.max(scores))]}
    checkpoint.save(model, config.checkpoint,
                    extras={TASK_KEY: TASK, "config": asdict(config), **meta})
    history.write(folder)
    history.plot(folder / "history.png")
    if not another_rank():  # rank 0 alone writes (rnnkit launch)
        shutil.rmtree(folder / RUN_DIR, ignore_errors=True)  # the run is complete
    return history


def load(path, device: str = "cpu") -> AnomalyPredictor:
    """The ``AnomalyPredictor`` of a checkpoint folder written by ``train``, its model on
    ``device`` ("cpu", "cuda", "cuda:1", "auto"; one this machine lacks is refused), where
    scoring runs (and refits with ``update_every``)."""
    device = resolve_device(device)
    if not (Path(path) / "config.json").exists() and (Path(path) / RUN_DIR).is_dir():
        raise ValueError(f"{path} holds an interrupted training run and no model yet; finish it "
                         f"with rnnkit anomaly train --resume --checkpoint {path} (and the "
                         "same settings)")
    extras = load_extras(path)
    if extras.get(TASK_KEY) != TASK or not isinstance(extras.get("config"), dict):
        other = extras.get(TASK_KEY)
        raise ValueError(f"{path} is not an anomaly checkpoint"
                         + (f" (it was written by rnnkit {other})" if isinstance(other, str)
                            else "") + "; train one with rnnkit anomaly train")
    model = checkpoint.load(path, device=str(device)).eval()
    config = replace(Config(**extras["config"]), device=str(device))  # not training's device
    if config.layout == "stream" and "seasonal" not in extras:
        config = replace(config, seasonal_min_ac=None)  # written before the seasonal signal
    if config.holdoff is not None and config.holdoff_share is not None:
        config = replace(config, holdoff=None)  # written when holdoff_share won over holdoff
    return AnomalyPredictor(model, config, path, meta=extras)


def event_scores(truth: np.ndarray, flags: np.ndarray, tolerance: int) -> dict[str, float]:
    """Stream scores by event, not by reading: a run of labelled readings is detected when
    a flag lies within ``tolerance`` readings of it (a spike's likelihood, averaged over the
    short window, can cross the threshold a few readings after it: pointwise, that flag
    counts as a false alarm and the spike as missed). A flag near no event is a false
    alarm. NAB scores by windows around each event for the same reason."""
    truth, flags = np.asarray(truth).astype(bool), np.asarray(flags).astype(bool)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], truth.astype(int), [0]])))
    events = list(zip(edges[::2], edges[1::2], strict=True))  # [start, end) of each run
    near = np.zeros(len(truth), dtype=bool)
    detected = 0
    for start, end in events:
        lo, hi = max(0, start - tolerance), min(len(truth), end + tolerance)
        near[lo:hi] = True
        detected += bool(flags[lo:hi].any())
    return {"events": len(events), "events_detected": detected,
            "event_recall": detected / len(events) if events else math.nan,
            "false_alarms": int((flags & ~near).sum()), "event_tolerance": int(tolerance)}


SEQUENCE_SETTINGS = {"threshold", "fill", "label_col"}  # the SCORING ones sequences read


class AnomalyPredictor(Predictor):
    """A trained detector.

    Stream checkpoints: ``predict(csv_or_frame, online=False) -> DataFrame`` with the time
    column, the value columns, ``score`` (log of 1 + the normalised error), ``likelihood``
    and ``flag`` (+ ``label`` when the data has one); ``stream(readings)`` yields
    ``(score, likelihood, flag)`` one reading at a time, carrying the recurrent state (the
    same numbers as ``predict``). Sequence checkpoints: ``predict`` returns one row per
    sequence (``line``, ``label``, ``score``, ``flag``). ``evaluate(labelled) -> dict`` of
    precision, recall, F1, ROC-AUC, PR-AUC (and accuracy for sequences).
    """

    task = TASK

    def __init__(self, model, config: Config, path=None, meta: dict | None = None):
        super().__init__(model, config, path)
        self.meta = dict(meta or {})
        self.threshold = float(self.meta["threshold"])

    def configure(self, **settings) -> AnomalyPredictor:
        """Change scoring settings (``threshold``, ``holdoff``, ``update_every``, ``fill``,
        ``allow_gaps``, the likelihood's windows...) for later calls; returns self. None
        turns an optional setting off (``seasonal_min_ac=None``: no seasonal signal); for
        ``threshold`` it keeps the checkpoint's. A ``holdoff_share`` given without a
        ``holdoff`` replaces the checkpoint's holdoff too (a given holdoff wins over it)."""
        settings = dict(settings)
        fixed = sorted(set(settings) - set(SCORING))  # configure(window=5) was accepted
        if fixed:
            raise ValueError(f"anomaly: {', '.join(fixed)} {'is' if len(fixed) == 1 else 'are'}"
                             f" fixed by training; scoring takes {', '.join(SCORING)}")
        streaming = sorted(set(settings) - SEQUENCE_SETTINGS)
        if self.config.layout == "sequences" and streaming:  # were accepted and did nothing
            raise ValueError(f"anomaly: {', '.join(streaming)} "
                             f"{'acts' if len(streaming) == 1 else 'act'} on streams; this "
                             "checkpoint scores sequences (it takes threshold, fill, label_col)")
        if "holdoff_share" in settings and "holdoff" not in settings:
            settings["holdoff"] = None
        threshold = settings.pop("threshold", None)
        self.config = replace(self.config, **settings).check()
        if threshold is not None:
            replace(self.config, threshold=threshold).check()  # a stream's lies in (0, 1)
            self.threshold = float(threshold)
        return self

    def describe(self) -> dict:
        """The base summary plus what a request must carry (``rnnkit info``, ``GET
        /v1/models``): a stream's time and value columns as trained (the config's own are
        empty where training took the defaults), or a sequence's length."""
        out = super().describe()
        if self.config.layout == "stream":
            time_col = self.meta.get("time_col")
            out["input"] = {"layout": "stream", "columns": list(self.meta.get("columns", [])),
                            "time_col": None if time_col == STEPS else time_col,
                            "calendar": bool(self.config.calendar)}
        else:
            out["input"] = {"layout": "sequences", "length": int(self.meta["length"])}
        return out

    # ------------------------------------------------------------------------ streams
    def scorer(self) -> StreamScorer:
        """A fresh ``StreamScorer`` (the stream's state at its first reading)."""
        return StreamScorer(self.model, self.config, np.asarray(self.meta["scale"]),
                            threshold=self.threshold, learned_rows=self.meta["learned_rows"],
                            seasonal=self.meta.get("seasonal"))

    def _stream_only(self, what: str) -> None:
        if self.config.layout != "stream":
            raise ValueError(f"anomaly {what}: this checkpoint scores sequences, not streams")

    def stream(self, readings: Iterable) -> Iterator[tuple[float, float, bool]]:
        """``(score, likelihood, flag)`` per reading (a number, or F numbers; with
        ``calendar``, a pair (timestamp, number(s))), in order."""
        self._stream_only("stream")
        scorer, F = self.scorer(), len(self.meta["columns"])
        for i, reading in enumerate(readings):
            cov = None
            if self.config.calendar:
                if not isinstance(reading, (tuple, list)) or len(reading) != 2:
                    raise ValueError(f"anomaly stream: reading {i + 1} is {reading!r}; this "
                                     "model uses the calendar: pass (timestamp, value(s))")
                cov = calendar_features([reading[0]], f"reading {i + 1}")[0]
                reading = reading[1]
            value = np.asarray(reading, dtype=np.float64).reshape(-1)
            if value.shape != (F,) or not np.isfinite(value).all():
                raise ValueError(f"anomaly stream: reading {i + 1} is {reading!r}; expected "
                                 f"{F} finite number(s)")
            yield scorer.step(value if cov is None else np.concatenate([value, cov]))

    def predict(self, data, *, online: bool = False) -> pd.DataFrame:
        """Scores of a stream CSV/DataFrame (or sequences); see the class docstring.
        ``online``: score one reading at a time (``stream``'s path; the same numbers)."""
        if self.config.layout == "sequences":
            return self._predict_sequences(data)
        stream = self._read(data)
        scorer = self.scorer()
        if len(stream) <= scorer.warmup:
            log.warning("anomaly: %s has %d readings, all within the likelihood's warm-up of "
                        "%d (the checkpoint's learning period): the likelihood stays 0.5 and "
                        "nothing can be flagged; score the file with the history before it, "
                        "or pass --warmup with fewer readings", stream.source, len(stream),
                        scorer.warmup)
        rows = ([scorer.step(v) for v in stream.inputs] if online
                else scorer.run(stream.inputs))
        out = pd.DataFrame({stream.time_col or "step": stream.times})
        for j, c in enumerate(stream.columns):
            out[c] = stream.values[:, j]
        out["score"] = [r[0] for r in rows]
        out["likelihood"] = [r[1] for r in rows]
        out["flag"] = np.array([r[2] for r in rows], dtype=np.int64)
        if stream.labels is not None:
            out["label"] = stream.labels
        return out

    def _predict_sequences(self, data) -> pd.DataFrame:
        seqs = read_sequences(data, self.config, length=int(self.meta["length"]))
        scores = sequence_scores(self.model, seqs.values)
        out = pd.DataFrame({"line": seqs.lines})
        if seqs.labels is not None:
            out["label"] = seqs.labels
        out["score"] = scores
        out["flag"] = (scores > self.threshold).astype(np.int64)
        return out

    def _read(self, data, labels: bool | None = None):
        config = replace(self.config, value_cols=self.meta["columns"])
        if config.time_col is None and self.meta.get("time_col"):  # the column trained on,
            config = replace(config, time_col=self.meta["time_col"])  # not the first one
        return read_stream(data, config, min_rows=config.window, labels=labels)

    def evaluate(self, data) -> dict[str, float]:
        """Precision, recall, F1 of the flags and ROC-AUC, PR-AUC of the scores on labelled
        data (streams: 0/1 label column, and by event: ``event_scores`` within the short
        window; sequences: anomalous = not the normal class)."""
        from sklearn.metrics import (
            average_precision_score,
            f1_score,
            precision_score,
            recall_score,
            roc_auc_score,
        )

        if self.config.layout == "stream":
            self._read(data, labels=True)  # refuses data without labels
            frame = self.predict(data)
            truth, ranking = frame["label"].to_numpy(), frame["likelihood"].to_numpy()
        else:
            frame = self._predict_sequences(data)
            if "label" not in frame:
                raise ValueError("anomaly evaluate: the sequences carry no labels")
            truth = (frame["label"] != self.meta["normal_label"]).to_numpy().astype(int)
            ranking = frame["score"].to_numpy()
        flags = frame["flag"].to_numpy()
        both = len(set(truth)) == 2
        result = {
            "precision": float(precision_score(truth, flags, zero_division=0)),
            "recall": float(recall_score(truth, flags, zero_division=0)),
            "f1": float(f1_score(truth, flags, zero_division=0)),
            "roc_auc": float(roc_auc_score(truth, ranking)) if both else math.nan,
            "pr_auc": float(average_precision_score(truth, ranking)) if both else math.nan,
            "anomalies": int(truth.sum()), "flagged": int(flags.sum()), "n": int(len(truth)),
        }
        if self.config.layout == "sequences":
            result["accuracy"] = float((truth == flags).mean())
        else:
            result.update(event_scores(truth, flags, self.config.short_window))
        return result

    def score_file(self, data, *, out=None, plot=None, online: bool = False) -> pd.DataFrame:
        """``predict`` and write its CSV (``out``) and PNG (``plot``), only once every check
        has passed."""
        for path in (out, plot):
            if path is not None and Path(path).is_dir():
                raise IsADirectoryError(f"{path} is a folder; expected a file name")
        if plot is not None and Path(plot).suffix.lower() not in PLOT_SUFFIXES:
            raise ValueError(f"plot {plot}: expected a file ending in {', '.join(PLOT_SUFFIXES)}")
        frame = self.predict(data, online=online)
        if out is not None:  # whole or not at all: an old file stays as it was on a failure
            checkpoint.atomic_write(out, lambda tmp: frame.to_csv(tmp, index=False))
        if plot is not None:
            sequences = None
            if self.config.layout == "sequences":
                sequences = read_sequences(data, self.config,
                                           length=int(self.meta["length"])).values
            plot_scores(frame, plot, threshold=self.threshold, sequences=sequences)
        return frame
