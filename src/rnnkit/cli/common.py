"""Conventions every verb shares: --seed, --device, --quiet, --threads, and one-line errors."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# torch threads per process. Measured (benchmarks/threads.py: SequenceRegressor(1, 32), 2 epochs
# of 1,971 windows) on the shared 2-core machine under load ~25: 1 thread 11-16 s wall, 0.75 CPU
# s a run; 2 threads 83-522 s wall, 21-66 CPU s (threads spinning on busy cores). Quiet, the
# two are within a few % for models this small (BENCHMARKS.md, seed examples: 0.41 vs 0.43 s).
DEFAULT_THREADS = 1


class UsageError(ValueError):
    """Bad input from the user: printed as one line, exit status 2, no traceback."""


def add_common(parser: argparse.ArgumentParser) -> None:
    """--seed, --device, --quiet, --threads: the options every verb takes."""
    parser.add_argument("--seed", type=seed_type, default=0, metavar="N",
                        help="random seed, 0 to 2**63-1 (default 0)")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when present, else CPU), cpu, cuda, cuda:1, ...")
    parser.add_argument("--quiet", action="store_true", help="print only results, no progress")
    if "--threads" not in parser._option_string_actions:  # a verb may define its own
        parser.add_argument("--threads", type=threads_type, default=DEFAULT_THREADS, metavar="N",
                            help=f"CPU threads for torch (default {DEFAULT_THREADS}; more help "
                                 "only large models on idle cores)")


def add_training_flags(parser: argparse.ArgumentParser, config_cls: type,
                       checkpoint_help: str = "folder for the model (created)") -> None:
    """What every training action takes: ``--checkpoint DIR``, ``--resume``, one flag per
    field of the application's ``Config`` (``rnnkit.cli.config_flags``) and the common ones."""
    from .config_flags import add_config_flags

    parser.add_argument("--checkpoint", required=True, metavar="DIR", help=checkpoint_help)
    parser.add_argument("--resume", action="store_true",
                        help="continue the run stored in --checkpoint (after a kill)")
    add_config_flags(parser, config_cls, group="model and training")
    add_common(parser)


def seed_type(text: str) -> int:
    """``--seed``: a whole number in [0, 2**63) (torch's generators take no more), checked
    while parsing so that a bad one is refused before anything is read or written."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= n < 2**63:
        raise argparse.ArgumentTypeError(f"must lie in 0 to 2**63-1, got {text}")
    return n


def threads_type(text: str) -> int:
    """``--threads``: a positive integer, checked while parsing."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    limit = 4 * (os.cpu_count() or 1)  # 100000 threads: oneDNN "could not create a primitive"
    if n > max(limit, 64):
        raise argparse.ArgumentTypeError(f"{n} threads on {os.cpu_count()} CPUs; expected at "
                                         f"most {max(limit, 64)}")
    return n


def apply_threads(args: argparse.Namespace) -> None:
    """Set torch's thread count from ``--threads`` (verbs without the flag leave it)."""
    n = getattr(args, "threads", None)
    if n is not None:
        import torch

        torch.set_num_threads(n)


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (``rnnkit VERB: error: ...``, exit 2),
    not the usage block; ``--help`` still shows everything."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def out_file(path: str | None, flag: str, suffixes=None):
    """``Path(path)`` for an output file (None stays None), checked before any work: a folder,
    a name not ending in one of ``suffixes``, or a missing folder that could not be made (a
    file in the way, no permission) is refused. Missing folders are made when the file is
    written (``checkpoint.atomic_write``), so bad input still writes nothing."""
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{flag} {p} is a folder; expected a file name")
    if suffixes and p.suffix.lower() not in suffixes:
        raise UsageError(f"{flag} {p}: expected a file ending in {', '.join(suffixes)}")
    from ..checkpoint import check_folder  # the same test a checkpoint folder passes

    try:
        check_folder(p.absolute().parent, "the folder")
    except ValueError as e:
        raise UsageError(f"{flag} {p}: cannot make its folder {p.parent} ({e})") from None
    return p


def write_lines(path: Path, lines: list[str]) -> None:
    """Write ``lines`` (one per line) to ``path`` atomically (``atomic_write`` makes its
    folder)."""
    from ..checkpoint import atomic_write

    atomic_write(path, lambda tmp: tmp.write_text("".join(line + "\n" for line in lines),
                                                   encoding="utf-8"))


def no_action(parser: argparse.ArgumentParser) -> int:
    """What ``rnnkit VERB`` without an action does: print the verb's help, exit 2."""
    parser.print_help(sys.stderr)
    return 2


def examples(*lines: str) -> str:
    """An epilog of real example commands for --help."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def new_parser(subparsers, name: str, help: str, epilog: str, description: str | None = None):
    # "resolve": a verb that defines a common flag itself (after add_common) overrides it
    return subparsers.add_parser(
        name, help=help, description=description or help, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter, conflict_handler="resolve")
