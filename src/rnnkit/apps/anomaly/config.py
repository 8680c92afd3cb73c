"""The anomaly application's settings: one dataclass, one field per setting."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...validate import non_negative_int, positive_float, positive_int, probability

__all__ = ["Config", "LAYOUTS", "DETECTORS", "FILLS"]

LAYOUTS = ("stream", "sequences")
SCALES = ("log", "linear")
DETECTORS = ("forecast", "reconstruct")
FILLS = ("ffill", "interpolate")


# settings a trained detector takes at scoring time (the rest is fixed by training)
SCORING = ("threshold", "holdoff", "holdoff_share", "update_every", "update_epochs",
           "score_scale", "short_window", "slow_window", "long_window", "warmup", "min_std",
           "extreme_margin", "seasonal_min_ac", "level_window", "allow_gaps", "fill", "label_col")


@dataclass
class Config:
    """How ``rnnkit.apps.anomaly`` reads, learns and flags (``check()`` validates).

    The stream defaults are the settings measured on the Numenta Anomaly Benchmark
    (``benchmarks/nab.py`` uses them as they are; BENCHMARKS.md, "Anomaly detection"): one
    long stream, a learning period at its start, then scoring with online refits.
    """

    data: str = ""  # training CSV: a stream (time + value columns) or sequences (one per row,
    # or the archive's .ts file)
    layout: str = "stream"  # "stream" (one long series) or "sequences" (UCR layout, one per row;
    # or a .ts file)
    time_col: str | None = None  # stream: the timestamp column (default: the first column;
    # a file of one column has none: its rows are the steps)
    value_cols: list[str] = field(default_factory=list)  # stream: value columns (default:
    # every column but the time and label columns)
    label_col: str | None = None  # stream: 0/1 labels; sequences: the class column (its
    # header name, or without a header its number or place: first, last)
    # (default: a stream's column named label, if any, used when it holds 0/1; a sequence
    # file's first column)
    normal_label: str | None = None  # sequences: the normal class (default: the most common)
    detector: str = "forecast"  # "forecast" (next-step residuals) or "reconstruct" (autoencoder)
    calendar: bool = False  # stream, forecast: also feed the time of day and day of week
    # (sin/cos pairs from the time column) to the model, so daily patterns are expected
    window: int = 32  # stream: readings per reconstructed window; shorter streams are refused
    cell: str = "lstm"  # recurrent cell: lstm, gru or rnn
    hidden_size: int = 16  # recurrent state size
    num_layers: int = 1  # stacked recurrent layers
    epochs: int = 30  # training epochs
    batch_size: int = 16  # sequences (or windows) per step
    lr: float = 1e-2  # Adam learning rate
    chunk: int = 32  # stream: readings per truncated-BPTT chunk when training the forecaster
    learning_fraction: float = 0.15  # stream: share of the rows, from the start, learned from
    learning_rows: int | None = 750  # stream: at most this many learning rows (none: no cap)
    update_every: int | None = 1000  # stream: after learning, refit on the latest
    # learning_rows readings every this many readings, so the model follows a slow drift
    # (none: never)
    update_epochs: int = 5  # epochs of each online refit
    score_scale: str = "log"  # stream: score = log(1 + normalised error) ("log") or the
    # normalised error itself ("linear"); the log keeps one huge error from widening the
    # likelihood's baseline for a long time (NAB standard profile 59.4 vs 56.8)
    short_window: int = 10  # likelihood: readings averaged into the recent score
    slow_window: int | None = 50  # likelihood: a 2nd over this many scores; the larger wins
    # (its own baseline over long_window): errors that stay moderately high for a while
    # count too (none: off)
    long_window: int = 3000  # likelihood: averaged scores whose mean and std are the baseline
    warmup: int | None = None  # likelihood: readings before it is estimated (none: the
    # learning rows); until then it is 0.5
    min_std: float = 0.05  # likelihood: floor on the baseline's standard deviation
    extreme_margin: float | None = 0.02  # stream: after the warmup, a reading outside the
    # range seen so far, widened by this share of it, gets likelihood 1 (none: off)
    seasonal_min_ac: float | None = 0.5  # stream: a second, model-free signal, the change
    # from one period earlier (|x_t - x_(t-p)|, p found on the learning period), for the
    # value columns whose autocorrelation at p reaches this; its likelihoods count like the
    # model's, the larger wins: catches a missing cycle that a next-step forecast follows
    # (NAB standard about +3.5 on fresh seeds; none: off)
    seasonal_cycles: int = 3  # stream: the seasonal residual is the smallest change from the
    # same reading 1..this many periods earlier, so an anomaly does not echo a period later
    # (fixed at training: the learning period's mean residual is its scale)
    level_window: int | None = None  # stream: a third, model-free signal, the distance of
    # a reading from the mean of the last this many readings (over the learning period's
    # std), with its own likelihoods, the largest counts: a sustained level shift that the
    # forecaster follows (none: off; 100 measured, not kept: NAB standard 72.17 / 71.41 vs
    # 72.60 / 72.44 without, seeds 0 / 7; ETTh1 dev shifts 2/2 vs 0/2, BENCHMARKS.md)
    threshold: float | None = None  # flag above this: a stream's likelihood, a sequence's
    # score (default: 0.9999 for a stream, the quantile of the training scores for sequences;
    # when scoring, the checkpoint's)
    quantile: float = 0.99  # sequences: the training-score quantile used as threshold
    holdoff: int | None = None  # stream: readings after a flag during which no new flag is
    # raised (none: holdoff_share of the learning rows)
    holdoff_share: float | None = 0.2  # stream: the holdoff, when holdoff is none, as this
    # share of the learning rows (0.2: 150 readings after a 750-reading learning period, 30
    # after 150), so one event raises one flag and a short stream is not silenced for a
    # long stretch of it (none: no holdoff)
    allow_gaps: bool = False  # stream: accept uneven, repeated or unsorted timestamps (rows
    # are taken in file order)
    fill: str | None = None  # NaN readings: none refuses them, naming the lines; ffill or
    # interpolate fills them (and says which lines)
    allow_constant: bool = False  # accept a constant training series (scores stay near 0)
    checkpoint: str = "anomaly-model"  # checkpoint folder to write
    seed: int = 0  # random seed
    device: str = "cpu"  # torch device

    def check(self) -> Config:
        """Raise ValueError naming the first bad field and its value; return self."""
        owner = "anomaly"
        for name, allowed in (("layout", LAYOUTS), ("detector", DETECTORS),
                              ("score_scale", SCALES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{owner}: {name} must be one of {', '.join(allowed)}, "
                                 f"got {getattr(self, name)!r}")
        if self.cell not in ("lstm", "gru", "rnn"):
            raise ValueError(f"{owner}: cell must be one of lstm, gru, rnn, got {self.cell!r}")
        if self.fill is not None and self.fill not in FILLS:
            raise ValueError(f"{owner}: fill must be one of {', '.join(FILLS)} or none, "
                             f"got {self.fill!r}")
        for name in ("window", "hidden_size", "num_layers", "epochs", "batch_size", "chunk",
                     "update_epochs", "short_window", "long_window", "seasonal_cycles"):
            positive_int(name, getattr(self, name), owner)
        for name in ("learning_rows", "update_every", "slow_window", "level_window"):
            if getattr(self, name) is not None:
                positive_int(name, getattr(self, name), owner)
        if self.warmup is not None:
            non_negative_int("warmup", self.warmup, owner)
        if self.holdoff is not None:
            non_negative_int("holdoff", self.holdoff, owner)
        positive_float("lr", self.lr, owner)
        positive_float("min_std", self.min_std, owner)
        if not 0 < self.learning_fraction <= 1:
            raise ValueError(f"{owner}: learning_fraction must lie in (0, 1], "
                             f"got {self.learning_fraction!r}")
        probability("quantile", self.quantile, owner)
        if self.layout == "stream" and self.threshold is not None and \
                not 0 < self.threshold < 1:  # a likelihood: 1 or more would never flag
            raise ValueError(f"{owner}: threshold must lie in (0, 1) for a stream (it is a "
                             f"likelihood; default 0.9999), got {self.threshold!r}")
        if self.holdoff_share is not None and not 0 <= self.holdoff_share <= 1:
            raise ValueError(f"{owner}: holdoff_share must lie in [0, 1] or be none, "
                             f"got {self.holdoff_share!r}")
        if self.seasonal_min_ac is not None and not 0 <= self.seasonal_min_ac <= 1:
            raise ValueError(f"{owner}: seasonal_min_ac must lie in [0, 1] or be none, "
                             f"got {self.seasonal_min_ac!r}")
        if self.extreme_margin is not None and self.extreme_margin < 0:
            raise ValueError(f"{owner}: extreme_margin must be >= 0 or none, "
                             f"got {self.extreme_margin!r}")
        if self.calendar and (self.detector != "forecast" or self.layout != "stream"):
            raise ValueError(f"{owner}: calendar needs layout='stream' and detector='forecast', "
                             f"got layout={self.layout!r}, detector={self.detector!r}")
        for name in ("short_window", "slow_window"):
            if (getattr(self, name) or 0) > self.long_window:
                raise ValueError(f"{owner}: {name} ({getattr(self, name)}) must not exceed "
                                 f"long_window ({self.long_window})")
        return self
