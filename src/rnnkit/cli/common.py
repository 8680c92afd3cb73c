"""Conventions every verb shares: --seed, --device, --quiet, and one-line errors."""

from __future__ import annotations

import argparse


class UsageError(ValueError):
    """Bad input from the user: printed as one line, exit status 2, no traceback."""


def add_common(parser: argparse.ArgumentParser) -> None:
    """--seed, --device, --quiet: the options every verb takes."""
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when present, else CPU), cpu, cuda, cuda:1, ...")
    parser.add_argument("--quiet", action="store_true", help="print only results, no progress")


def examples(*lines: str) -> str:
    """An epilog of real example commands for --help."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def new_parser(subparsers, name: str, help: str, epilog: str, description: str | None = None):
    return subparsers.add_parser(
        name, help=help, description=description or help, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter)
