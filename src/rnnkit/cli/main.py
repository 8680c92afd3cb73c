"""Entry point: ``rnnkit VERB ...``. Each verb lives in its own module under ``rnnkit.cli``.

A verb module exposes ``register(subparsers)``, which adds its parser and sets
``run=function(args) -> int``. Bad input (``ValueError``, missing files, undecodable text)
exits with status 2 and one line on stderr; set ``RNNKIT_DEBUG=1`` for the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from ..training.start_notice import drop_pending, notice_at_start
from .common import Parser, apply_threads, examples
from .config_flags import flags_named

# verb modules, in the order --help lists them
VERB_MODULES = [
    "rnnkit.cli.demo",
    "rnnkit.cli.regress",
    "rnnkit.cli.train",
    "rnnkit.cli.predict",
    "rnnkit.cli.classify",
    "rnnkit.cli.forecast",
    "rnnkit.cli.textgen",
    "rnnkit.cli.diagnose",
    "rnnkit.cli.translate",
    "rnnkit.cli.export",
    "rnnkit.cli.import_keras",
    "rnnkit.cli.launch",
    "rnnkit.cli.anomaly",
    "rnnkit.cli.serve",
    "rnnkit.cli.info",
]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="rnnkit",
        description="Recurrent neural networks: train, predict, generate, forecast, classify.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=examples("rnnkit demo --out rnnkit-demo", "rnnkit VERB --help"),
    )
    from rnnkit import __version__

    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    for name in VERB_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


# a module an optional piece imports -> (the package to name, the extra that installs it)
_EXTRAS = {
    "sklearn": ("scikit-learn", "anomaly"), "statsforecast": ("statsforecast", "forecast"),
    "onnx": ("onnx", "export"), "onnxruntime": ("onnxruntime", "export"),
    "onnxscript": ("onnxscript", "export"), "h5py": ("h5py", "export"),
    "fastapi": ("FastAPI", "serve"), "uvicorn": ("uvicorn", "serve"),
    "pydantic": ("pydantic", "serve"),
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # named by the verb (argparse's top level said "rnnkit: error:")
        print(f"{_verb(parser, args)}: error: unrecognized arguments: {' '.join(extra)}",
              file=sys.stderr)
        return 2
    args._argv = sys.argv[1:] if argv is None else None  # the shell's words (launch restarts)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        apply_threads(args)
        _say_replacing(args)
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print("rnnkit: interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, IsADirectoryError, NotADirectoryError,
            PermissionError, UnicodeDecodeError) as e:
        if os.environ.get("RNNKIT_DEBUG"):
            raise
        if not _speaks_for_bad_input():
            return 2
        verb, message = _verb(parser, args), _first_line(e)
        if isinstance(e, ValueError):  # a setting the user typed is named by its flag
            message = flags_named(message, sys.argv[1:] if argv is None else argv)
        if isinstance(e, UnicodeDecodeError):
            fix = ("pass --encoding (e.g. latin-1)" if getattr(args, "encoding", None)
                   else "save it as UTF-8")  # advise --encoding only where the verb has it
            message = f"cannot decode the input as {e.encoding}; {fix}"
        print(f"{verb}: error: {message}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `rnnkit ... | head`: the reader left; not an error of ours
        _silence_stdout()
        return 0
    except Exception as e:  # the last line of defence: one line + a report file, never a trace
        if os.environ.get("RNNKIT_DEBUG"):
            raise
        extra = _EXTRAS.get((e.name or "").split(".")[0]) \
            if isinstance(e, ModuleNotFoundError) else None
        if extra:  # an optional piece without its extra: what to install, no bug report
            print(f"{_verb(parser, args)}: error: this needs {extra[0]}, which is not "
                  f"installed: pip install 'rnnkit[{extra[1]}]'", file=sys.stderr)
            return 2
        if _machine_failure(e):  # a full disk, a dead peer: say which, no bug report
            print(f"{_verb(parser, args)}: error: {_first_line(e)}", file=sys.stderr)
            return 1
        report = _write_crash_report(argv)
        first = (str(e).splitlines() or [""])[0]
        print(f"rnnkit: unexpected error: {type(e).__name__}: {first} (full report: {report}; "
              "set RNNKIT_DEBUG=1 to see the traceback)", file=sys.stderr)
        return 1
    finally:
        drop_pending()  # a run that ended before training leaves no note for the next call


def _speaks_for_bad_input() -> bool:
    """Under ``rnnkit launch``, each machine's first process (local rank 0) says what is
    wrong with the input: its other processes read the same files and options and fail alike
    (the same line N times)."""
    from .launch import LAUNCHER_PID

    return not (os.environ.get(LAUNCHER_PID) and int(os.environ.get("LOCAL_RANK", "0") or 0) > 0)


def _say_replacing(args) -> None:
    """A training verb pointed at a folder that holds a finished model replaces it when
    training ends: said before it starts (``--resume`` continues it instead)."""
    training = args.verb == "train" or getattr(args, "action", None) == "train"
    folder = getattr(args, "checkpoint", None)
    if not training or getattr(args, "resume", True) or not isinstance(folder, str) or \
            int(os.environ.get("RANK", "0")) > 0:
        return
    if not (Path(folder) / "config.json").is_file():
        return
    from ..apps.base import task_of

    try:  # another application's model: the verb refuses the folder, with its own line
        same = task_of(folder) == ("regress" if args.verb == "train" else args.verb)
    except Exception:  # noqa: BLE001 - unreadable: the verb says what is wrong with it
        return
    if same:  # said once training starts: not before a bad-input error's one line
        notice_at_start(f"note: {folder} holds a trained model; this run replaces it when it "
                        "ends (--resume continues it instead)")


def _verb(parser, args) -> str:
    return " ".join(a for a in [parser.prog, getattr(args, "verb", None),
                                getattr(args, "action", None)] if a)


def _first_line(e: BaseException) -> str:
    return str(e).splitlines()[0] if str(e).strip() else type(e).__name__


def _machine_failure(e: BaseException) -> bool:
    """The system or another process failed, not rnnkit: an OSError (disk full, a read-only
    or vanished folder, a refused connection) or a collective that lost its peers."""
    from rnnkit.training.distributed import DistributedError

    return isinstance(e, (OSError, DistributedError))


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush raises nothing more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _write_crash_report(argv) -> str:
    """The traceback and command line in a file under the temp folder; returns its path."""
    import tempfile
    import traceback

    text = (f"rnnkit {' '.join(sys.argv[1:] if argv is None else argv)}\n\n"
            + traceback.format_exc())
    try:
        fd, path = tempfile.mkstemp(prefix="rnnkit-crash-", suffix=".txt")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return path
    except OSError:
        return "(could not be written)"


if __name__ == "__main__":
    sys.exit(main())
