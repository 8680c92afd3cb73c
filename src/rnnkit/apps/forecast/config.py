"""The forecasting application's settings: one dataclass, the single source of the CLI's flags,
defaults and help texts; stored in every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ...config_dict import config_from_dict

__all__ = ["Config", "ForecastConfig", "PANEL_MODES", "TABLE_MODES", "CELLS", "MODE_ONLY",
           "mode_notes"]

PANEL_MODES = ("auto", "rnn")  # many series: global model (+ baselines, chosen on validation)
TABLE_MODES = ("segrnn", "direct", "recursive")  # one table of columns, one network
TRANSFORMS = ("auto", "log", "none")
# the recurrent cells a forecaster takes (``--help`` of ``cell`` lists exactly these)
CELLS = ("gru", "lstm", "rnn", "mingru", "minlstm", "ln_lstm", "ln_gru")
# the settings that only some modes read, under the modes their comment starts with ("auto/rnn:
# ..."; a test holds the two to each other); given in another mode, training proceeds and
# notes that it ignores them. check refuses first where ignoring would mislead: ensemble and
# ensemble_lookbacks in the table modes, output gaussian/quantile in auto/rnn (and id_col)
MODE_ONLY = {
    "auto/rnn": ("static", "covariates", "test_horizons", "val_windows", "transform",
                 "max_windows", "ensemble", "ensemble_combine", "ensemble_lookbacks", "refit",
                 "ema", "window_weight"),
    "auto": ("methods", "jobs", "switch_margin"),
    "segrnn/direct/recursive": ("features", "split", "norm", "output", "quantiles"),
    "segrnn": ("segment_length",),
}
# how a note names the modes of a MODE_ONLY key
_READERS = {"auto/rnn": "the many-series modes auto, rnn", "auto": "mode auto",
            "segrnn/direct/recursive": "the one-table modes segrnn, direct, recursive",
            "segrnn": "mode segrnn"}


@dataclass
class Config:
    """Everything ``rnnkit forecast train`` takes besides the files."""

    # data
    id_col: str | None = None  # long format: series id column (none: a target column per series)
    time_col: str | None = None  # timestamp column (none: rows are steps)
    target: str = "all"  # value column (long format), or columns to forecast: name, a,b or all
    static: str | None = None  # auto/rnn: per-series category columns of the long format, a,b
    # (global model input)
    covariates: str | None = None  # auto/rnn: known-future numeric columns, a,b (future rows:
    # empty target)
    features: str = "all"  # segrnn/direct/recursive: inputs, all, target or a,b
    lookback: int | None = None  # history steps per forecast (none: from period and horizon)
    horizon: int | None = None  # steps forecast (none: 18 monthly, 8 quarterly, 6 yearly...)
    split: str = "0.7,0.1,0.2"  # segrnn/direct/recursive: train,val,test fractions or row counts
    test_horizons: int = 1  # auto/rnn: horizons per series held back as the test part
    val_windows: int = 2  # auto/rnn: horizons per series before the test that choose the method
    fill: str | None = None  # missing values: none skips series; ffill, bfill, interpolate, zero
    calendar: bool = False  # add calendar covariates (needs a date time column)
    period: int | None = None  # seasonal period (none: from the timestamps' frequency)

    # model
    mode: str = "auto"  # auto (RNN + baselines, best per series), rnn, segrnn, direct, recursive
    methods: str = "rnn,linear,ets,theta,snaive"  # auto: the methods weighed on validation
    transform: str = "auto"  # auto/rnn: log, none, or auto (chosen on validation)
    max_windows: int | None = None  # auto/rnn: most recent training windows per series (none: all)
    jobs: int = 1  # auto: processes for the statsforecast fits (ETS, Theta)
    switch_margin: float = 0.2  # auto: how much better a series' own best must be to replace it
    ensemble: int = 1  # auto/rnn: train K networks (seeds seed, seed+100, ...), combine them
    ensemble_combine: str = "median"  # auto/rnn: the K networks' forecasts: median or mean
    ensemble_lookbacks: str | None = None  # auto/rnn: look-backs as multiples a,b (cycled over K)
    refit: bool = False  # auto/rnn: retrain the network(s) on the windows up to the test part
    ema: float = 0.0  # auto/rnn: decay of the weights' moving average per step (0: off)
    window_weight: str = "none"  # auto/rnn: loss weight of a window: none, or relative
    # (scale / level: errors relative to the series' level, as sMAPE counts them)
    cell: str = "gru"  # recurrent cell: gru, lstm, rnn, mingru, minlstm, ln_lstm or ln_gru
    hidden_size: int = 128  # recurrent size (auto/rnn: at most this, fewer for few windows)
    num_layers: int = 1  # stacked recurrent layers
    segment_length: int = 24  # segrnn: segment length w
    dropout: float = 0.1  # dropout before the output map
    norm: str = "last"  # segrnn/direct/recursive: per-window normalisation, revin, last, none
    output: str = "point"  # segrnn/direct/recursive: point, gaussian or quantile (intervals;
    # auto/rnn: point only, their intervals come from the validation errors)
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9)  # segrnn/direct/recursive: levels for output
    # quantile (with 0.5)
    point_loss: str = "mae"  # training loss for point forecasts: mse, mae, huber

    # training
    epochs: int = 30  # most epochs
    batch_size: int = 64  # windows per batch
    lr: float = 1e-3  # learning rate (Adam)
    weight_decay: float = 0.0  # L2 weight decay
    patience: int = 5  # epochs without a lower validation loss before training stops (0:
    # never stop early; the best epoch is kept either way)
    schedule: str | None = "cosine"  # learning-rate schedule: none, cosine, step, plateau
    clip_norm: float | None = 1.0  # clip the gradient norm (none: off)
    time_budget: float | None = None  # seconds; training stops cleanly after it
    seed: int = 0  # random seed

    def to_dict(self) -> dict:
        d = asdict(self)
        d["quantiles"] = list(self.quantiles)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Config:
        return config_from_dict(cls, d)

    @property
    def panel(self) -> bool:
        """True for the many-series modes (auto, rnn)."""
        return self.mode in PANEL_MODES

    def _not_read(self) -> dict[str, tuple[str, ...]]:
        """Every setting this run does not read, given or not, under who reads it: a
        ``MODE_ONLY`` key without ``mode``, or ``"output quantile"`` for quantiles beside
        another output (levels of the quantile head only)."""
        out = {modes: names for modes, names in MODE_ONLY.items()
               if self.mode not in modes.split("/")}
        if self.output != "quantile" and not self.panel:
            out["output quantile"] = ("quantiles",)
        return out

    def unread(self) -> dict[str, list[str]]:
        """The settings given (other than their default) that this run does not read, under
        who reads them (``_not_read``)."""
        defaults = Config()
        out = {who: [n for n in names if _given(self, defaults, n)]
               for who, names in self._not_read().items()}
        return {k: v for k, v in out.items() if v}

    def read_by_mode(self) -> dict:
        """``to_dict()`` without the settings this run does not read (``_not_read``: the other
        modes' own, quantiles beside another output): what a run prints as its config."""
        skip = {n for names in self._not_read().values() for n in names}
        return {k: v for k, v in self.to_dict().items() if k not in skip}

    def lookback_factors(self) -> list[float]:
        """The members' look-backs as multiples of the look-back (``[1.0]``: all the same)."""
        if not self.ensemble_lookbacks:
            return [1.0]
        try:
            factors = [float(f) for f in str(self.ensemble_lookbacks).split(",")]
        except ValueError:
            factors = []
        if not factors or not all(0 < f < 100 for f in factors):
            raise ValueError(f"ensemble_lookbacks must list positive multiples of the "
                             f"look-back, a,b (e.g. 1,1.5,2), got {self.ensemble_lookbacks!r}")
        return factors

    def stopping(self, validated: bool) -> dict:
        """``fit``'s early-stopping arguments: stop after ``patience`` epochs without a lower
        validation loss (``validated`` False: training loss); ``patience`` 0 trains every
        epoch, and the best epoch's weights are kept all the same."""
        if self.patience:
            return {"early_stopping": self.patience}
        return {"early_stopping": None, "monitor": "val_loss" if validated else "train_loss"}

    def check(self) -> Config:
        """Raise ValueError naming the first setting out of range."""
        from ...data.timeseries import FILLS
        from ...models.forecaster import NORMS, OUTPUTS, POINT_LOSSES
        from ...validate import non_negative_int, positive_int, probability
        from .auto import WINDOW_WEIGHTS

        for name in ("lookback", "horizon", "period"):
            if getattr(self, name) is not None:
                positive_int(name, getattr(self, name))
        if self.max_windows is not None:
            positive_int("max_windows", self.max_windows)
        positive_int("jobs", self.jobs)
        for name in ("val_windows", "test_horizons"):
            non_negative_int(name, getattr(self, name))
        for name in ("hidden_size", "num_layers", "segment_length", "epochs", "batch_size",
                     "ensemble"):
            positive_int(name, getattr(self, name))
        non_negative_int("patience", self.patience)  # 0: no early stopping
        probability("dropout", self.dropout)
        if self.fill is not None and self.fill not in FILLS:
            raise ValueError(f"fill must be one of {', '.join(FILLS)} or none, got "
                             f"{self.fill!r}")
        for name, allowed in (("mode", PANEL_MODES + TABLE_MODES), ("transform", TRANSFORMS),
                              ("cell", CELLS), ("norm", NORMS), ("output", OUTPUTS),
                              ("ensemble_combine", ("median", "mean")),
                              ("point_loss", POINT_LOSSES),
                              ("window_weight", WINDOW_WEIGHTS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got "
                                 f"{getattr(self, name)!r}")
        from .auto import METHODS

        unknown = [m for m in self.methods.split(",") if m.strip() not in METHODS]
        if unknown or not self.methods.strip():
            raise ValueError(f"methods must list some of {', '.join(METHODS)}, got "
                             f"{self.methods!r}")
        levels = [float(q) for q in self.quantiles]
        if self.output == "quantile" and (0.5 not in levels or any(not 0 < q < 1 for q in levels)
                                          or levels != sorted(set(levels))):
            raise ValueError(f"quantiles must be increasing levels in (0, 1) including 0.5, "
                             f"got {' '.join(map(str, self.quantiles))}")
        if not 0 <= self.switch_margin <= 1:
            raise ValueError(f"switch_margin must lie in [0, 1] (1: never), got "
                             f"{self.switch_margin!r}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must lie in [0, 1) (0: off), got {self.ema!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr!r}")
        self.lookback_factors()
        if (self.ensemble > 1 or self.ensemble_lookbacks) and not self.panel:
            raise ValueError(f"ensemble needs mode auto or rnn (many series), got mode "
                             f"{self.mode!r}")
        if self.output != "point" and self.panel:  # its network forecasts points
            raise ValueError(f"output needs mode segrnn, direct or recursive (one table) for "
                             f"gaussian or quantile forecasts; modes auto and rnn forecast "
                             f"points, with intervals from their validation errors; got output "
                             f"{self.output!r} in mode {self.mode!r}")
        if self.id_col is not None and not self.panel:
            raise ValueError(f"id_col needs mode auto or rnn (many series), got mode "
                             f"{self.mode!r}")
        return self


ForecastConfig = Config  # the 0.1.0 name


def _given(config: Config, defaults: Config, name: str) -> bool:
    """Whether ``name`` differs from its default (a list given for a tuple compares as one)."""
    value, default = getattr(config, name), getattr(defaults, name)
    if isinstance(value, list) and isinstance(default, tuple):
        value = tuple(value)
    return value != default


def _reader(who: str, spell) -> str:
    """Who reads a group of ``Config.unread``, as a note says it."""
    return _READERS.get(who) or f"{spell('output')} quantile"


def mode_notes(config: Config, spell=str) -> list[str]:
    """One line naming the settings given that ``config.mode`` does not read, and who reads
    them (none: ``[]``); ``spell`` writes a setting's name (the CLI's: as its flag)."""
    unread = config.unread()
    if not unread:
        return []
    groups = [f"{', '.join(map(spell, names))} (for {_reader(who, spell)})"
              for who, names in unread.items()]
    one = sum(map(len, unread.values())) == 1
    with_output = f" with {spell('output')} {config.output}" if "output quantile" in unread \
        else ""
    listed = ", ".join(groups[:-1]) + " and " + groups[-1] if len(groups) > 1 else groups[0]
    return [f"{listed} {'is' if one else 'are'} not read in mode {config.mode}{with_output}; "
            f"training ignores {'it' if one else 'them'}"]
