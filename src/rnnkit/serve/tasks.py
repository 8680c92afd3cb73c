"""What each application's model answers over HTTP, written against ``rnnkit.apps.Predictor``.

``ServedModel`` wraps the ``Predictor`` that ``rnnkit.open(path)`` returns (for a bare
checkpoint, with no application: ``bare.BareModelPredictor``, task ``"model"``): its ``info()``
for ``GET /v1/models`` (with ``input``: what a predict body takes; ``takes()`` says it in
one sentence with a 422 for unknown or missing fields),
``predict(request)`` (a parsed body from ``schemas``) returning a JSON-able dict, and for
language models what the batched generator needs (the model, prompt encoding, turning tokens
into text).

Inputs arrive inline. CSV text is written to a private temporary file that the predictor
reads like any CSV the user passes on the command line; the file is removed at once and its
name never reaches the answer. A series classifier's CSV is read from the text itself, by
the reader ``rnnkit classify predict --series-csv`` uses (``parse_series_csv``).
"""

from __future__ import annotations

import copy
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..apps import open as open_app
from ..apps.base import task_of
from ..checkpoint import CheckpointError, load_extras
from ..data.classification import parse_series_csv
from ..data.tokenizers import EOS_ID, CharTokenizer
from . import schemas
from .bare import BareModelPredictor

__all__ = ["ServedModel", "load_models", "jsonable", "model_name"]

NAME_RE = re.compile(r"[^A-Za-z0-9_.-]+")
# how a series classifier's CSV errors name the columns (the CLI names its flags)
CSV_ROLES = {"id": "the id column", "label": "the label column", "time": "the time column",
             "features": "a feature column"}


def jsonable(x: Any) -> Any:
    """Plain JSON types: numpy/torch scalars and arrays, pandas frames, NaN/inf -> None."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, torch.Tensor):
        return jsonable(x.detach().cpu().tolist())
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer, int)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if x is None or isinstance(x, str):
        return x
    if hasattr(x, "to_dict") and hasattr(x, "columns"):  # a pandas DataFrame
        return {str(c): jsonable([_cell(v) for v in x[c].tolist()]) for c in x.columns}
    if isinstance(x, (Path, np.datetime64)) or hasattr(x, "isoformat"):
        return str(x)
    return str(x)


def _cell(v):
    if hasattr(v, "isoformat"):
        return str(v)
    return v


def model_name(path: str | os.PathLike) -> str:
    """A URL-safe name from a checkpoint folder's name."""
    name = NAME_RE.sub("-", Path(path).resolve().name).strip("-.") or "model"
    return name[:64]


class _CsvFile:
    """A private temporary CSV holding request text, removed on exit."""

    def __init__(self, text: str):
        self.text = text

    def __enter__(self) -> str:
        fd, self.path = tempfile.mkstemp(prefix="rnnkit-serve-", suffix=".csv")
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(self.text)
        return self.path

    def __exit__(self, *exc) -> None:
        try:
            os.unlink(self.path)
        except OSError:
            pass


def _hide_path(message: str, path: str) -> str:
    """The server's temporary file named as "the CSV" (the readers' "CSV <path>" too)."""
    for name in (path, Path(path).name):
        message = message.replace(f"CSV {name}", "the CSV").replace(name, "the CSV")
    return message


class _TextRenderer:
    """New tokens -> new text, one piece per token (maybe empty for a special token).

    Char level: the token's character. Word level: the current line decoded again, minus
    what was shown (decoding is prefix-stable); ``<eos>`` is a line break.
    """

    def __init__(self, tokenizer, prompt_ids: list[int], chars: dict[int, str] | None = None):
        self.tokenizer = tokenizer
        self.char = isinstance(tokenizer, CharTokenizer)
        self.chars = {} if chars is None else chars  # char level: token -> its text, shared
        self.line: list[int] = []
        self.shown = ""
        self.space = bool(prompt_ids) and prompt_ids[-1] != EOS_ID  # after a prompt's word

    def add(self, token: int) -> str:
        if self.char:
            text = self.chars.get(token)
            if text is None:
                text = self.chars[token] = self.tokenizer.decode([token])
            return text
        if token == EOS_ID:
            self.line, self.shown, self.space = [], "", False
            return "\n"
        self.line.append(token)
        text = self.tokenizer.decode(self.line)
        piece, self.shown = text[len(self.shown):], text
        if self.space and piece:
            piece, self.space = " " + piece, False
        return piece


class ServedModel:
    """One checkpoint behind the HTTP endpoints; see the module docstring."""

    def __init__(self, name: str, predictor, path: str | os.PathLike | None = None):
        self.name, self.predictor = name, predictor
        self.task = getattr(predictor, "task", "") or "unknown"
        self.path = None if path is None else Path(path)
        self.schema = schemas.PREDICT_SCHEMAS.get(self.task)
        self._predict: Callable[[Any], dict] | None = getattr(self, f"_predict_{self.task}",
                                                              None)
        self._chars: dict[int, str] = {}  # a char LM's token texts, for every stream

    # ------------------------------------------------------------------------- describe
    @property
    def generative(self) -> bool:
        return self.task == "textgen"

    def info(self) -> dict:
        try:
            described = self.predictor.describe()
        except Exception as e:  # noqa: BLE001 - a listing must not fail on one model
            described = {"task": self.task, "error": f"{type(e).__name__}: {e}"}
        if isinstance(described.get("config"), dict):  # no server paths in a public listing
            described["config"] = _without_places(described["config"])
        endpoints = {"predict": f"/v1/models/{self.name}/predict"}
        if self.generative:
            endpoints["generate"] = f"/v1/models/{self.name}/generate"
        return jsonable({"name": self.name, "task": self.task, "generative": self.generative,
                         "endpoints": endpoints, **{k: v for k, v in described.items()
                                                    if k != "task"},
                         **self._input_info(described.get("input"))})

    def _input_info(self, described: dict | None = None) -> dict:
        """``{"input": ...}``: what a predict body takes. A classifier's ``{"kind": "text"}``
        or ``{"kind": "numeric", "features": F, "feature_names": [...] or None, "csv":
        {...}}``: what its page panel asks for; ``csv`` is the layout a ``{"csv": ...}`` body
        needs (``_csv_layout``). A bare model's is its ``describe()``'s. The other tasks':
        what the model reads (``kind``, its columns...; an anomaly model's ``describe()``
        input) with ``body`` (``request_fields``: the body's fields and what each holds)
        and ``options`` (the optional fields)."""
        if self.task == "classify":
            return self._classify_input()
        if self.task == "model" or self.task not in schemas.PREDICT_SCHEMAS:
            return {}
        try:
            shape = {**(described or {}), **self._reads()}
            body, options = self.request_fields()
        except Exception:  # noqa: BLE001 - a listing must not fail on one model
            return {}
        return {"input": {**shape, "body": body, "options": options}}

    def _reads(self) -> dict:
        """What a regressor, forecaster, translator or language model reads, in short."""
        p = self.predictor
        if self.task == "regress":
            return {"kind": "series" if p.mode == "window" else "rows",
                    "columns": list(p.features), "target": p.target,
                    **({"window": int(p.window)} if p.mode == "window" else {})}
        if self.task == "forecast":
            if p.kind == "table":
                return {"kind": "series", "time_col": p.spec.time_col,
                        "columns": list(p.spec.features), "target": list(p.spec.target),
                        "lookback": int(p.spec.lookback), "horizon": int(p.spec.horizon)}
            s = p.state
            return {"kind": "long" if s.id_col else "wide", "id_col": s.id_col,
                    "time_col": s.time_col, "target": s.target, "static": list(s.static),
                    "covariates": list(s.covariates), "horizon": int(s.horizon)}
        if self.task == "translate":
            return {"kind": "text"}
        if self.task == "textgen":
            level = "char" if isinstance(self.tokenizer, CharTokenizer) else "word"
            return {"kind": "prompt", "level": level}
        return {}

    def request_fields(self, endpoint: str = "predict") -> tuple[dict[str, str], list[str]]:
        """``(fields, options)`` of a request to ``endpoint``: the fields that carry the input,
        each with what it holds for this model (one of them when there are several), and the
        names of the optional ones."""
        if endpoint == "generate":
            return ({"prompt": "text to continue (empty: start a new line)"},
                    [f for f in schemas.GenerateRequest.model_fields if f != "prompt"])
        p, schema = self.predictor, self.schema
        options = [f for f in (schema.model_fields if schema else ())]
        if self.task == "classify":  # a text classifier refuses csv: not an option
            fields, options = self._classify_fields(), []
        elif self.task == "regress":
            fields, options = self._regress_fields(), []
        elif self.task == "anomaly":  # `values` is refused: its reader takes a CSV
            fields, options = {"csv": self._anomaly_csv()}, [f for f in options if f != "values"]
        elif self.task == "forecast":
            fields = {"csv": self._forecast_csv()}
            if p.kind != "table":
                options = [f for f in options if f != "origin"]  # refused for many series
        elif self.task == "translate":
            fields = {"inputs": "source sentences, a list of strings"}
        elif self.task == "textgen":
            fields = {"prompt": "text to continue (empty: start a new line); the answer lists "
                                "the likeliest next tokens"}
        elif self.task == "model":
            d = p.describe()["input"]
            fields = {"inputs": f"{d['description']}: a batch {d['shape']} as nested lists, "
                                f"or one sequence {d['one_sequence']}"}
            if not d.get("lengths"):
                options = [f for f in options if f != "lengths"]
        else:
            fields = {}
        return fields, [f for f in options if f not in fields]

    def takes(self, endpoint: str = "predict") -> str:
        """One sentence: what a request to ``endpoint`` carries for this model (said with a
        422 for a body of unknown or missing fields)."""
        try:
            fields, options = self.request_fields(endpoint)
        except Exception:  # noqa: BLE001 - the 422 is said without it, never a 500
            return ""
        if not fields:
            return ""
        return (f"model {self.name!r} (task {self.task}) takes "
                + "; or ".join(f"{k}: {v}" for k, v in fields.items())
                + (f" (optional: {', '.join(options)})" if options else ""))

    def _classify_fields(self) -> dict[str, str]:
        prep = self.predictor.preprocessing
        if prep.kind == "text":
            return {"inputs": "texts, a list of strings"}
        width = int(prep.input_size or 1)
        layout = self._csv_layout() or {}
        cols = [layout.get("id") or "id", *([layout["time"]] if layout.get("time") else []),
                *(layout.get("features") or ["the feature columns"])]
        return {"inputs": "numeric sequences, each a list of " + (
                    "numbers" if width == 1 else f"rows of {width} numbers (one per step)"),
                "csv": "the series as long-format CSV text, header row first, one row per "
                       f"series and step: columns {', '.join(cols)}"
                       + (f" (optional: {layout['label']})" if layout.get("label") else "")}

    def _regress_fields(self) -> dict[str, str]:
        p = self.predictor
        cols, F = list(p.features), len(p.features)
        named = f"column{'s' if F > 1 else ''} {', '.join(cols)}"
        actual = ("" if p.target in cols else f" (and {p.target}: the answer then gives the "
                                                 "actual values)")
        if p.mode == "window":
            step = "numbers" if F == 1 else f"rows of {F} numbers ({', '.join(cols)}), one per step"
            return {"csv": f"the series as CSV text, header row first, with the {named}"
                           f"{actual}; one prediction per window of {p.window} rows, the last "
                           "of the value after the series",
                    "values": f"the series, a list of at least {p.window} {step}"}
        return {"csv": f"CSV text, header row first, with the {named}{actual}; one prediction "
                       "per row",
                "values": f"rows of {F} number{'s' if F > 1 else ''} ({', '.join(cols)}), one "
                          "prediction per row"}

    def _anomaly_csv(self) -> str:
        p = self.predictor
        if p.config.layout != "stream":
            n = int(p.meta["length"])
            return (f"the sequences as CSV text, one per row: {n} values, or the class and "
                    f"{n} values (as in training)")
        cols = list(p.meta.get("columns", []))
        time_col = p.describe()["input"].get("time_col")
        return ("the stream as CSV text, header row first: "
                + (f"the time column {time_col}, " if time_col else "")
                + f"the value column{'s' if len(cols) > 1 else ''} {', '.join(cols)} (a 0/1 "
                "label column is optional)")

    def _forecast_csv(self) -> str:
        p = self.predictor
        if p.kind == "table":
            spec = p.spec
            cols = [*([spec.time_col] if spec.time_col else []), *spec.features]
            return (f"the series as CSV text, header row first, with the columns "
                    f"{', '.join(cols)}; at least {spec.lookback} rows (the forecast starts "
                    "after the last, or at origin)")
        s = p.state
        if s.id_col:
            cols = [s.id_col, *([s.time_col] if s.time_col else []), s.target, *s.static,
                    *s.covariates]
            return ("the series as long-format CSV text, header row first, one row per series "
                    f"and step: columns {', '.join(cols)}"
                    + (" (future rows of the covariates: an empty target)"
                       if s.covariates else ""))
        series = ("every column but the time column" if s.target in (None, "", "all")
                  else s.target)
        return ("the series as CSV text, header row first: "
                + (f"the time column {s.time_col}, " if s.time_col else "")
                + f"one column per series ({series})")

    def _classify_input(self) -> dict:
        prep = getattr(self.predictor, "preprocessing", None)
        if getattr(prep, "kind", None) not in ("text", "numeric"):
            return {}
        if prep.kind == "text":
            return {"input": {"kind": "text"}}
        names = list(prep.features) if prep.features else None
        return {"input": {"kind": "numeric", "features": int(prep.input_size or 1),
                          "feature_names": names, "csv": self._csv_layout()}}

    def _csv_layout(self) -> dict | None:
        """A series classifier's CSV columns, as saved in its checkpoint by ``rnnkit classify
        train --series-csv``: ``id`` (one trained otherwise: ``"id"``), ``time`` (null: rows
        in file order), ``features`` (null: every other column holding numbers) and ``label``
        (optional in a request; null: none). None for any other model."""
        prep = getattr(self.predictor, "preprocessing", None)
        if self.task != "classify" or getattr(prep, "kind", None) != "numeric":
            return None
        info = prep.info or {}
        return {"id": info.get("id_col") or "id", "time": info.get("time_col"),
                "features": list(prep.features) if prep.features else None,
                "label": info.get("label_col")}

    # ------------------------------------------------------------------------ language models
    @property
    def lm(self) -> torch.nn.Module:
        return self.predictor.model

    @property
    def tokenizer(self):
        return self.predictor.tokenizer

    def encode_prompt(self, prompt: str) -> list[int]:
        """Prompt ids as the text generator reads them; ValueError for characters it lacks."""
        from ..apps import textgen

        ids = textgen.encode_prompt(self.tokenizer, prompt) or textgen.start_ids(self.tokenizer)
        if not ids:
            raise ValueError("the prompt is empty and the vocabulary has no newline to start "
                             "from; send a prompt")
        return ids

    def never_drawn(self) -> list[int]:
        """Tokens a stream never draws: what is no text (<pad>, <bos>, <unk>; char level's
        <eos>), as ``rnnkit textgen sample`` leaves them out; none for a bare model."""
        from ..apps import textgen

        tokenizer = getattr(self.predictor, "tokenizer", None)
        return textgen.never_drawn(tokenizer) if tokenizer is not None else []

    def eos_id(self) -> int | None:
        return None if isinstance(self.tokenizer, CharTokenizer) else EOS_ID

    @torch.no_grad()
    def beam(self, ids: list[int], width: int, length_penalty: float, max_tokens: int,
             stop_at_eos: bool) -> tuple[list[int], str]:
        """``(tokens, finish_reason)`` of a beam search after ``ids`` (the prompt's), as
        ``rnnkit textgen sample --beam`` searches: "eos" when the best beam ended its line
        (word level), "length" when it reached ``max_tokens``."""
        from ..generate import beam_generate

        eos = self.eos_id() if stop_at_eos else None
        tokens = beam_generate(self.lm, ids, max_tokens, beam_width=width, eos_id=eos,
                               length_penalty=length_penalty, suppress_ids=self.never_drawn())
        return tokens, "eos" if eos is not None and len(tokens) < max_tokens else "length"

    def renderer(self, prompt_ids: list[int]) -> _TextRenderer:
        return _TextRenderer(self.tokenizer, prompt_ids, self._chars)

    # ------------------------------------------------------------------------------ predict
    def predict(self, request) -> dict:
        if self._predict is None:
            raise ValueError(f"model {self.name!r} (task {self.task}) has no HTTP predict")
        return self._predict(request)

    @torch.no_grad()
    def _predict_textgen(self, req: schemas.TextGenPredictRequest) -> dict:
        ids = self.encode_prompt(req.prompt)
        self.lm.eval()
        logits, _ = self.lm(torch.tensor([ids], dtype=torch.long))
        probs = logits[0, -1].float().softmax(-1)
        top = probs.topk(min(req.top, probs.numel()))
        tokens = [self.tokenizer.decode([i], skip_specials=False)
                  for i in top.indices.tolist()]
        return {"next": [{"token": t, "id": i, "prob": p} for t, i, p in
                         zip(tokens, top.indices.tolist(), top.values.tolist(), strict=True)]}

    def _predict_classify(self, req: schemas.ClassifyRequest) -> dict:
        if _exactly_one(req, {"inputs": "texts or sequences", "csv": "a series CSV"}) == "csv":
            return self._classify_csv(req.csv)
        inputs = list(req.inputs)
        kind, width = self.predictor.preprocessing.kind, self.predictor.preprocessing.input_size
        if (kind == "text") != isinstance(inputs[0], str):  # the CLI's hint names its flags
            raise ValueError(f"inputs: model {self.name!r} classifies " + (
                "texts; send them as a list of strings" if kind == "text" else
                "numeric sequences; send each as a list of " + (
                    "numbers" if width == 1 else f"rows of {width} numbers (one per step)")
                + ", or the series as a CSV in csv"))
        if not isinstance(inputs[0], str):  # numbers: (T,) or (T, F) per sequence
            count = sum(len(s) if not s or not isinstance(s[0], list) else sum(map(len, s))
                        for s in inputs)
            limit = schemas.LIMITS["values"]
            if count > limit:
                raise ValueError(f"inputs: {count} numbers in all, more than the limit of "
                                 f"{limit}")
            # the batch is padded to its longest sequence: one long sequence among many short
            # ones must not make a padded array far larger than the numbers sent
            width = max((len(s[0]) if s and isinstance(s[0], list) else 1) for s in inputs)
            padded = len(inputs) * max(len(s) for s in inputs) * width
            if padded > limit:
                raise ValueError(f"inputs: padded to the longest sequence they would be "
                                 f"{padded} numbers, more than the limit of {limit}; send "
                                 "sequences of very different lengths in separate requests")
        examples = self.predictor.examples(inputs)
        return self._noted({"predictions": jsonable(self.predictor.predict(examples))},
                           examples)

    def _noted(self, answer: dict, examples) -> dict:
        """``answer`` with a ``note`` where some series are longer or shorter than any the
        classifier was trained on (labelled all the same, as ``classify predict`` does)."""
        note = self.predictor.length_note(examples)
        if note:
            answer["note"] = note.removeprefix("note: ")
        return answer

    def _classify_csv(self, text: str) -> dict:
        """Series named by their ids, read as ``rnnkit classify predict --series-csv`` reads
        them, in the columns of ``_csv_layout``: ``{"predictions": [{"id", "label", "probs"}
        ...]}`` in the order the ids first appear; where the CSV has the label column, each
        also gives its ``actual`` label and the answer the ``accuracy`` over the series (a
        label the classifier never learned counts as a miss)."""
        from ..apps.classify import Examples

        layout = self._csv_layout()
        if layout is None:
            raise ValueError(f"csv: model {self.name!r} classifies texts; send them as inputs, "
                             "a list of strings")
        table = parse_series_csv(text, layout["id"], layout["label"], layout["time"],
                                 layout["features"], label_optional=True,
                                 max_values=schemas.LIMITS["values"], column_names=CSV_ROLES)
        examples = Examples(values=table.values, lengths=table.lengths, source="the CSV",
                            ids=table.ids, features=table.features)
        predictions = self.predictor.predict(examples)
        rows = [{"id": i, **p} for i, p in zip(table.ids, predictions, strict=True)]
        answer: dict[str, Any] = self._noted({"predictions": rows}, examples)
        if table.labels is not None:
            for row, actual in zip(rows, table.labels, strict=True):
                row["actual"] = actual
            answer["accuracy"] = sum(r["label"] == r["actual"] for r in rows) / len(rows)
        return jsonable(answer)

    def _predict_translate(self, req: schemas.TranslateRequest) -> dict:
        if req.n_best > req.beam:
            raise ValueError(f"n_best ({req.n_best}) cannot exceed beam ({req.beam})")
        found = self.predictor.predict(list(req.inputs), beam=req.beam,
                                       length_penalty=req.length_penalty, max_len=req.max_len,
                                       n_best=req.n_best, too_long=req.too_long)
        if req.n_best == 1:
            answer: dict[str, Any] = {"translations": list(found)}
        else:
            answer = {"translations": [hyps[0][1] for hyps in found],
                      "hypotheses": [[{"score": float(score), "text": text}
                                      for score, text in hyps] for hyps in found]}
        if req.attention:
            maps = []
            for sentence in req.inputs:
                text, tokens_in, tokens_out, matrix = self.predictor.attention(
                    sentence, beam=req.beam, length_penalty=req.length_penalty,
                    max_len=req.max_len, too_long=req.too_long)
                maps.append({"text": text, "tokens_in": list(tokens_in),
                             "tokens_out": list(tokens_out), "matrix": jsonable(matrix)})
            answer["attention"] = maps
        return answer

    def _predict_forecast(self, req: schemas.ForecastRequest) -> dict:
        with _CsvFile(req.csv) as path:
            try:
                frame = self.predictor.predict(path, origin=req.origin, level=req.level)
                history = self._history(path)
            except ValueError as e:
                raise ValueError(_hide_path(str(e), path)) from None
        return {"forecast": jsonable(frame), "history": history}

    def _history(self, path: str) -> dict | None:
        """The last rows of the input before the forecast (for the chart), if readable."""
        import pandas as pd

        lookback = getattr(self.predictor.config, "lookback", None) or 96
        try:
            frame = pd.read_csv(path)
        except Exception:  # noqa: BLE001 - the chart simply goes without history
            return None
        return jsonable(frame.tail(int(lookback)).reset_index(drop=True))

    def _predict_regress(self, req: schemas.SeriesRequest) -> dict:
        given = [k for k in ("threshold", "holdoff", "fill", "allow_gaps")
                 if getattr(req, k) is not None]
        if given:
            raise ValueError(f"{', '.join(given)}: for anomaly models only")
        if req.csv is not None and req.values is None and hasattr(self.predictor,
                                                                   "predict_csv"):
            with _CsvFile(req.csv) as path:
                try:
                    rows, pred, actual = self.predictor.predict_csv(path)
                except ValueError as e:
                    raise ValueError(_hide_path(str(e), path)) from None
            return {"predictions": jsonable({"row": rows, "prediction": pred,
                                             **({} if actual is None else {"actual": actual})})}
        return {"predictions": jsonable(self._series_call(req))}

    def _predict_model(self, req: schemas.BareModelRequest) -> dict:
        return {"outputs": jsonable(self.predictor.predict(req.inputs, req.lengths))}

    def _predict_anomaly(self, req: schemas.SeriesRequest) -> dict:
        if req.values is not None:  # its reader takes a stream's or sequences' CSV (was a 500)
            raise ValueError("an anomaly model takes `csv` (the stream or the sequences as CSV "
                             "text, in its training layout), not `values`")
        predictor = self.predictor
        settings = {k: v for k, v in (("threshold", req.threshold), ("holdoff", req.holdoff),
                                      ("fill", req.fill), ("allow_gaps", req.allow_gaps))
                    if v is not None}
        if settings:  # this request's own, as the CLI's --threshold/--holdoff (on a copy:
            # the served predictor is shared by concurrent requests)
            predictor = copy.copy(predictor).configure(**settings)
        try:
            return {"scores": jsonable(self._series_call(req, predictor))}
        except ValueError as e:  # the reader's advice names CLI flags: a request's fields
            text = str(e)
            for flag, field in (("--fill ffill|interpolate", '"fill": "ffill" or "interpolate"'),
                                ("--allow-gaps", '"allow_gaps": true'), ("--fill", '"fill"')):
                text = text.replace(flag, field)
            raise ValueError(text) from None

    def _series_call(self, req: schemas.SeriesRequest, predictor=None):
        predictor = predictor or self.predictor
        if _exactly_one(req, {"csv": "CSV text", "values": "numbers or rows"}) == "values":
            return predictor.predict(np.asarray(req.values, dtype=np.float64))
        with _CsvFile(req.csv) as path:
            try:
                return predictor.predict(path)
            except ValueError as e:
                raise ValueError(_hide_path(str(e), path)) from None


# config fields that say where training ran (an anomaly config kept its data file's path)
_PLACES = frozenset({"data", "checkpoint", "path", "out", "device", "save_dir"})


def _without_places(config: dict) -> dict:
    """``config`` without the fields that name files, folders or devices of the server."""
    return {k: v for k, v in config.items() if k not in _PLACES
            and not (isinstance(v, str) and (v.startswith("/") or v.startswith("~")))}


def _exactly_one(req, fields: dict[str, str]) -> str:
    """The one of ``fields`` (name: what it holds) that the request sets; ``ValueError``
    saying so when it sets none or more than one."""
    given = [name for name in fields if getattr(req, name) is not None]
    if len(given) != 1:
        raise ValueError("send exactly one of " + " or ".join(f"{name} ({what})" for name, what
                                                              in fields.items()))
    return given[0]


def is_bare(path: Path) -> bool:
    """Whether the checkpoint folder holds a bare model (``rnnkit.save``, ``rnnkit
    import-keras``): its extras name no application (served as task ``"model"``)."""
    load_extras(path)  # an unreadable folder is an error, not a bare model
    try:
        task_of(path)
    except CheckpointError:
        return True
    return False


def load_models(paths: list[str | os.PathLike], device: str = "cpu") -> dict[str, ServedModel]:
    """``{name: ServedModel}`` for checkpoint folders; names from the folder names, made
    unique with ``-2``, ``-3``... A folder without an application (``is_bare``) is served as
    task ``"model"`` (``bare.BareModelPredictor``). Raises ``ValueError`` naming a folder that
    does not load."""
    models: dict[str, ServedModel] = {}
    for path in paths:
        p = Path(path)
        if not p.is_dir():
            keras = p.is_file() and p.suffix.lower() in (".keras", ".h5")
            raise ValueError(f"--checkpoint {path}: " + (
                "a Keras file; convert it first: rnnkit import-keras FILE --checkpoint DIR"
                if keras else "a file, not a checkpoint folder" if p.is_file()
                else "no such checkpoint folder"))
        try:
            if is_bare(p):
                predictor = BareModelPredictor.load(p, device=device)
            else:
                predictor = open_app(p, device=device)
        except (ValueError, OSError, KeyError) as e:
            raise ValueError(f"--checkpoint {path}: {e}") from None
        name, n = model_name(p), 1
        while name in models:
            n += 1
            name = f"{model_name(p)}-{n}"
        models[name] = ServedModel(name, predictor, p)
    return models
