"""Request bodies: pydantic models with bounds, unknown fields refused.

Every body is parsed from the raw bytes by ``parse_body`` (UTF-8 checked first, then
pydantic's JSON parser, which refuses NaN and Infinity), so a malformed request gets one
4xx answer whose ``detail`` says what is wrong, never a 500. No body names a file on the
server: data travels inline (CSV text, lists of numbers, strings).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .settings import MAX_TOKENS_CEILING

__all__ = ["GenerateRequest", "TextGenPredictRequest", "ClassifyRequest", "TranslateRequest",
           "ForecastRequest", "SeriesRequest", "BareModelRequest", "PREDICT_SCHEMAS",
           "BodyError", "parse_body", "LIMITS"]

# hard ceilings of the schemas; the server's own limits (``--max-tokens`` ...) may be lower
LIMITS = {"prompt_chars": 20_000, "max_tokens": MAX_TOKENS_CEILING, "items": 1_000,
          "item_chars": 20_000, "csv_chars": 5_000_000, "values": 1_000_000, "top": 1_000,
          "translation_words": 1_000}

Text = Annotated[str, Field(max_length=LIMITS["item_chars"])]
Finite = Annotated[float, Field(allow_inf_nan=False)]
# a multivariate sequence: T steps of F numbers each (how many in all: ``LIMITS["values"]``)
Step = Annotated[list[Finite], Field(max_length=LIMITS["values"])]
Steps = Annotated[list[Step], Field(max_length=LIMITS["values"])]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class GenerateRequest(_Body):
    """``POST /v1/models/{name}/generate``: continue a prompt (language models)."""

    prompt: str = Field("", max_length=LIMITS["prompt_chars"],
                        description="text to continue; empty: start a new line")
    max_tokens: int = Field(200, ge=1, le=LIMITS["max_tokens"],
                            description="new tokens at most (the server may allow fewer)")
    temperature: float = Field(1.0, ge=0.0, le=100.0, allow_inf_nan=False,
                               description="0: greedy; higher: more random")
    top_k: int | None = Field(None, ge=1, le=1_000_000,
                              description="draw among the k likeliest tokens only")
    top_p: float | None = Field(None, gt=0.0, le=1.0, allow_inf_nan=False,
                                description="draw among the smallest set reaching p")
    repetition_penalty: float = Field(1.0, gt=0.0, le=100.0, allow_inf_nan=False, description=(
        "above 1: the prompt's and the text's tokens less likely (logits divided where "
        "positive, multiplied where negative; as the CLI's --repetition-penalty)"))
    seed: int | None = Field(None, ge=0, le=2**63 - 1,
                             description="makes the draws reproducible")
    beam: int | None = Field(None, ge=1, le=64, description=(
        "beam search of this width instead of sampling (as the CLI's --beam): the likeliest "
        "continuation, sent whole when found; no sampling fields with it"))
    length_penalty: float = Field(1.0, ge=-100.0, le=100.0, allow_inf_nan=False,
                                  description="beam search: rank by log p / length**this")
    stop_at_eos: bool = Field(True, description=(
        "word-level models: end at the end of a line; false: go on (as the CLI's --no-stop)"))
    stream: bool = Field(False, description="true: Server-Sent Events, one per token")

    # the fields that choose how tokens are drawn: a beam search uses none of them
    SAMPLING: ClassVar[tuple[str, ...]] = ("temperature", "top_k", "top_p",
                                           "repetition_penalty", "seed")


class TextGenPredictRequest(_Body):
    """``predict`` for a language model: the likeliest next tokens after a prompt."""

    prompt: str = Field("", max_length=LIMITS["prompt_chars"])
    top: int = Field(10, ge=1, le=LIMITS["top"], description="how many tokens to list")


class ClassifyRequest(_Body):
    """``predict`` for a classifier: texts (or numeric sequences) -> label and probabilities.

    A series classifier takes sequences of numbers (one feature per step) or, trained on F
    features per step, sequences of steps, each a list of F numbers; at most
    ``LIMITS["values"]`` numbers in all (checked when predicting). Or, instead of ``inputs``,
    ``csv``: long-format CSV text, one row per (series, step), in the columns that
    ``GET /v1/models`` lists under ``input.csv``; the answer names each series by its id.
    """

    inputs: list[Text] | list[list[Finite]] | list[Steps] | None = Field(
        None, min_length=1, max_length=LIMITS["items"],
        description="texts; or sequences of numbers (one feature per step); or sequences of "
                    "steps, each step a list of F numbers, for a classifier of F features")
    csv: str | None = Field(None, min_length=1, max_length=LIMITS["csv_chars"],
                            description="series classifiers, instead of inputs: long-format "
                                        "CSV text (header row first, one row per series and "
                                        "step; columns as GET /v1/models says in input.csv)")


class TranslateRequest(_Body):
    """``predict`` for a translation model."""

    inputs: list[Text] = Field(..., min_length=1, max_length=LIMITS["items"],
                               description="source sentences")
    beam: int = Field(5, ge=1, le=32, description="beam width (1: greedy)")
    length_penalty: Finite = Field(1.0, ge=-10.0, le=10.0, description=(
        "rank beams by log p / length ** length_penalty (0: none; as the CLI's "
        "--length-penalty)"))
    max_len: int | None = Field(None, ge=1, le=LIMITS["translation_words"], description=(
        "the most words per translation (default: twice the source's length plus 10)"))
    n_best: int = Field(1, ge=1, le=32, description=(
        "with n_best > 1 (at most beam) also answer `hypotheses`: the n best per input, "
        "each {score, text}, best first"))
    too_long: Literal["truncate", "error"] = Field("truncate", description=(
        "a source longer than the model's maximum: cut it (default) or answer 422"))
    attention: bool = Field(False, description="also return each output's attention matrix")


class ForecastRequest(_Body):
    """``predict`` for a forecaster: a CSV laid out like the training data."""

    csv: str = Field(..., min_length=1, max_length=LIMITS["csv_chars"],
                     description="the series as CSV text (header row first)")
    origin: str | int | None = Field(None, description="timestamp or row of the first "
                                     "forecast step (default: after the last row)")
    level: float | None = Field(None, gt=0.0, lt=1.0, allow_inf_nan=False,
                                description="central interval coverage, e.g. 0.8")


class SeriesRequest(_Body):
    """``predict`` for regression and anomaly models: a CSV, or (regression) values/rows."""

    csv: str | None = Field(None, min_length=1, max_length=LIMITS["csv_chars"],
                            description="CSV text in the training layout")
    values: list[Finite] | list[list[Finite]] | None = Field(
        None, min_length=1, max_length=LIMITS["values"],
        description="regression models only: a series, or rows of features")
    threshold: Finite | None = Field(None, description=(
        "anomaly models: flag above this (a stream's likelihood lies in (0, 1)); default the "
        "checkpoint's, as the CLI's --threshold"))
    holdoff: int | None = Field(None, ge=0, le=1_000_000, description=(
        "anomaly streams: readings after a flag that are not flagged again (--holdoff)"))
    fill: Literal["ffill", "interpolate"] | None = Field(None, description=(
        "anomaly models: fill missing readings so (--fill); default: refuse them"))
    allow_gaps: bool | None = Field(None, description=(
        "anomaly streams: take rows in order despite gaps or repeated times (--allow-gaps)"))


class BareModelRequest(_Body):
    """``predict`` for a bare model (task ``model``: ``rnnkit.save``, ``rnnkit import-keras``).

    ``inputs``: a batch as nested lists, ``(B, T)`` token ids for a model whose first layer
    is an embedding, else ``(B, T, F)`` floats; or one sequence, ``(T,)`` or ``(T, F)``,
    answered unbatched. Checked when predicting (``serve.bare``): rectangular, finite, ids in
    the vocabulary, at most ``LIMITS["values"]`` numbers.
    """

    inputs: list[Any] = Field(..., min_length=1, max_length=LIMITS["values"],
                              description="(B, T) ids or (B, T, F) floats as GET /v1/models "
                                          "says in input; or one sequence, (T,) or (T, F)")
    lengths: list[int] | None = Field(None, min_length=1, max_length=LIMITS["items"],
                                      description="right-padded batches: each sequence's "
                                                  "length (where input.lengths is true)")


PREDICT_SCHEMAS: dict[str, type[_Body]] = {
    "textgen": TextGenPredictRequest, "classify": ClassifyRequest,
    "translate": TranslateRequest, "forecast": ForecastRequest,
    "regress": SeriesRequest, "anomaly": SeriesRequest, "model": BareModelRequest,
}


class BodyError(Exception):
    """A request body that cannot be read: ``status`` and a one-line ``detail``."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def _describe(error: ValidationError, schema: type[BaseModel] | None = None) -> str:
    """One line: up to five problems, ``where: what``. A field of several accepted forms
    (``inputs``: texts, or number sequences, or step sequences) that matches none is one
    problem: what it accepts, and where the form it came nearest to failed (pydantic lists a
    failure per form, under type tags such as ``list[list[float]]``)."""
    parts, unions = [], {}
    for e in error.errors():
        loc = tuple(e.get("loc", ()))
        tag = next((i for i, p in enumerate(loc) if isinstance(p, str) and "[" in p), None)
        if tag is None:
            msg = "unknown field" if e.get("type") == "extra_forbidden" else e.get("msg", "")
            parts.append(f"{'.'.join(map(str, loc)) or 'body'}: {msg or 'invalid'}")
            continue
        where, rest = loc[:tag], loc[tag + 1:]
        if where not in unions:
            unions[where] = (rest, e.get("msg", "invalid"))
            parts.append(where)  # its place in the order; filled in below
        elif len(rest) > len(unions[where][0]):  # the form that got furthest
            unions[where] = (rest, e.get("msg", "invalid"))
    for i, part in enumerate(parts):
        if isinstance(part, tuple):
            rest, msg = unions[part]
            field = schema.model_fields.get(str(part[0])) if schema and part else None
            accepts = f" (accepted: {field.description})" if field and field.description else ""
            name = ".".join(map(str, part)) or "body"
            parts[i] = (f"{name} matches none of its accepted forms{accepts}; nearest: "
                        f"{'.'.join(map(str, part + rest))}: {msg}")
    more = len(parts) - 5
    return "; ".join(parts[:5]) + (f" (and {more} more)" if more > 0 else "")


def parse_body(raw: bytes, schema: type[_Body], takes: Callable[[], str] | None = None) -> _Body:
    """The body as ``schema``; ``BodyError`` (400/422) with a readable detail otherwise.
    ``takes``: a sentence on what this model's body carries (``ServedModel.takes``), added
    where the body is not an object or has unknown or missing fields."""
    if not raw.strip():
        raw = b"{}"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BodyError(400, f"the body is not valid UTF-8 (byte {e.start})") from None
    try:
        return schema.model_validate_json(raw)
    except ValidationError as e:
        if any(err.get("type") == "json_invalid" for err in e.errors()):
            msg = e.errors()[0].get("msg", "")
            raise BodyError(400, f"the body is not valid JSON: {msg}") from None
        hint = takes() if takes is not None and any(
            err.get("type") in ("model_type", "extra_forbidden", "missing")
            for err in e.errors()) else ""
        hint = f"; {hint}" if hint else ""
        if any(err.get("type") == "model_type" for err in e.errors()):
            raise BodyError(422, f"the body must be a JSON object with the fields of "
                            f"{schema.__name__}{hint}") from None
        raise BodyError(422, _describe(e, schema) + hint) from None
