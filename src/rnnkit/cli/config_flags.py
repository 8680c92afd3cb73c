"""Command-line flags built from an application's ``Config`` dataclass.

Each field becomes ``--field-name`` with the field's type, its default, and the comment
written after it in the class body as help text, so a default lives in one place (the
dataclass) and every verb spells a shared setting the same way.

Example::

    add_config_flags(parser, textgen.Config, skip={"val_fraction"})
    config = config_from_args(textgen.Config, args)
"""

from __future__ import annotations

import argparse
import inspect
import io
import math
import re
import tokenize
import types
import typing
from dataclasses import MISSING, fields, is_dataclass
from functools import cache

__all__ = ["add_config_flags", "config_from_args", "field_comments", "flag_name",
           "flags_named", "states_default"]


def flag_name(field: str) -> str:
    return "--" + field.replace("_", "-")


@cache
def field_comments(cls: type) -> dict[str, str]:
    """``{field: comment}`` from ``name: type = default  # comment`` lines of ``cls``'s body.

    A comment continues on the comment-only lines right below its field (until a blank line
    or the next statement): ``--help`` shows the whole of it, not its first line."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    comments: dict[str, str] = {}
    field: str | None = None  # the field the next comment belongs to
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.NAME and tok.start[1] == 4:
            line = tok.line.strip()
            is_field = ":" in line and not line.startswith(("def ", "class ", "@", "return"))
            field = tok.string if is_field else None
        elif tok.type == tokenize.COMMENT and field is not None:
            comments[field] = (comments.get(field, "") + " " + tok.string[1:].strip()).strip()
        elif tok.type == tokenize.NL and not tok.line.strip():
            field = None  # a blank line ends a comment
    return comments


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _parse_bool(text: str) -> bool:
    low = text.lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _base_type(annotation) -> tuple[type | None, bool, bool]:
    """(scalar type, optional?, list?) of a field's annotation."""
    optional = False
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else str
        origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        inner = typing.get_args(annotation)
        return (inner[0] if inner else str), optional, True
    return annotation, optional, False


def _converter(kind: type | None, optional: bool):
    base = {int: _int, float: _finite_float, bool: _parse_bool}.get(kind, str)
    if not optional:
        return base

    def convert(text: str):
        return None if text.lower() in ("none", "off") else base(text)

    return convert


def _numbers(kind: type):
    """A list flag's word as a list of numbers: one, or several separated by commas."""
    one = _converter(kind, False)

    def convert(text: str) -> list:
        return [one(part) for part in text.split(",")] if "," in text else [one(text)]

    return convert


# a field's comment that already says its default ("(default: the first column)", "(default
# 0.9999)"): --help adds no second "(default: none)" contradicting it
_STATES_DEFAULT = re.compile(r"\(default\b|\bdefault:", re.IGNORECASE)


def states_default(comment: str) -> bool:
    """Whether a field's comment already says what its default is."""
    return bool(_STATES_DEFAULT.search(comment))


def add_config_flags(parser: argparse.ArgumentParser, cls: type, *, skip=(), defaults=None,
                     group: str | None = None, shown: dict | None = None) -> None:
    """Add one flag per field of the dataclass ``cls`` (``skip``: field names left out;
    ``defaults``: shown/used defaults that differ from the dataclass for this verb;
    ``shown``: what ``--help`` says the default is, where the field's own is a placeholder,
    e.g. None resolved later).

    The help states a default once: ``(default: X)`` is added unless the comment already
    says it (``states_default``). A ``str`` field whose default is the empty string has none
    to fall back on (anomaly's ``data``, regress's ``target``): its help says "(required)",
    not "default: none" (the application's check refuses it missing, in one line)."""
    assert is_dataclass(cls), cls
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    target = parser.add_argument_group(group) if group else parser
    defaults = defaults or {}
    for f in fields(cls):
        if f.name in skip or not f.init:
            continue
        kind, optional, is_list = _base_type(hints[f.name])
        if f.name in defaults:
            default = defaults[f.name]
        elif f.default is not MISSING:
            default = f.default
        elif f.default_factory is not MISSING:
            default = f.default_factory()
        else:
            default = None
        text = comments.get(f.name, f.name.replace("_", " "))
        required = kind is str and not optional and not is_list and default == ""
        said = (shown or {}).get(f.name, "none" if default is None or default == "" else default)
        if isinstance(said, (list, tuple)):
            said = " ".join(map(str, said)) or "none"
        if required:
            help_text = f"{text} (required)"
        elif f.name not in (shown or {}) and states_default(text):
            help_text = text
        else:
            help_text = f"{text} (default: {said})"
        kw = dict(dest=f.name, default=argparse.SUPPRESS, help=help_text.replace("%", "%%"))
        if kind is bool and not optional:
            target.add_argument(flag_name(f.name), action=argparse.BooleanOptionalAction, **kw)
        elif is_list and kind in (int, float):  # numbers: `0.1 0.5 0.9` or `0.1,0.5,0.9`
            target.add_argument(flag_name(f.name), nargs="*", type=_numbers(kind),
                                metavar=kind.__name__.upper(), **kw)
        elif is_list:
            target.add_argument(flag_name(f.name), nargs="*", type=_converter(kind, False),
                                metavar=kind.__name__.upper() if kind else "X", **kw)
        else:
            meta = getattr(kind, "__name__", "X").upper()
            target.add_argument(flag_name(f.name), type=_converter(kind, optional),
                                metavar=meta, **kw)
    parser.set_defaults(**{f"_config_default_{k}": v for k, v in defaults.items()})


def _commas_split(value):
    """A list of names given as ``a b`` or ``a,b`` (the forecast and regress verbs' column
    lists take commas): split at commas; other values as they are."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        parts = [part.strip() for v in value for part in v.split(",") if part.strip()]
        return parts or value  # `--features ""` is an empty name, refused, not "the default"
    if isinstance(value, list) and all(isinstance(v, list) for v in value):
        return [number for v in value for number in v]  # `_numbers`' words, in order
    return value


def config_from_args(cls: type, args: argparse.Namespace, **overrides):
    """``cls(**settings)`` from the flags given on the command line (others keep the
    dataclass's defaults, or the verb's ``defaults`` passed to ``add_config_flags``)."""
    given = vars(args)
    kwargs = {}
    for f in fields(cls):
        if not f.init:
            continue
        if f.name in overrides:
            kwargs[f.name] = overrides[f.name]
        elif f.name in given:
            kwargs[f.name] = _commas_split(given[f.name])
        elif f"_config_default_{f.name}" in given:
            kwargs[f.name] = given[f"_config_default_{f.name}"]
    return cls(**kwargs)


def flags_named(message: str, words: list[str]) -> str:
    """A ``Config.check()`` message as the command line's user reads it: a field they set by
    a flag (one of ``words``, the command's words) is named by that flag, and the settings
    class's prefix goes (``classify Config: batch_size must be ...`` -> ``--batch-size must
    be ...``). Fields the user did not type keep their names: those came from elsewhere."""
    typed = {w.split("=", 1)[0] for w in words if w.startswith("--") and len(w) > 2}
    named = message
    for flag in sorted(typed, key=len, reverse=True):
        words_of = flag[2:].split("-")  # as a field (top_k), a word (top-k) or words (top k)
        spelled = "|".join(re.escape(sep.join(words_of)) for sep in ("_", "-", " "))
        # the setting as the subject of the complaint (the message's or a clause's first
        # word), not a word of its text ("empty text (example 1)") or of a quoted value
        named = re.sub(rf"(^|: |; |, )(?:{spelled})(?= (must|needs|acts on|\(\S+\) must))",
                       rf"\g<1>{flag}", named)
        # a resumed run's changed setting: "the setting hidden_size (config.hidden_size)
        # was 64 in that run" names the flag, without the path into the stored extras
        named = re.sub(rf"(the setting )(?:{spelled})(?: \([\w.]+\))?(?= was )",
                       rf"\g<1>{flag}", named)
        # a limit quoted as name=value (a tokenizer's "at least min_freq=5 times"), unless
        # the message names the flag itself ("pass empty='skip' / --empty skip": both ways)
        if flag not in message:
            named = re.sub(rf"(^|[\s(])(?:{spelled})=(\S+)", rf"\g<1>{flag} \g<2>", named)
    if named != message:  # the owner's prefix ("classify Config: ", "anomaly: ",
        # "WordTokenizer.fit: ") goes
        named = re.sub(r"^[\w ]+: (?=--)|^[A-Z]\w*\.\w+: ", "", named)
    return named
