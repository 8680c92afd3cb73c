"""The CLI's last line of defence: an unexpected exception is one line + a report file."""

import argparse
from pathlib import Path

from rnnkit.cli import main as cli_main


def _parser_running(fn):
    parser = argparse.ArgumentParser(prog="rnnkit")
    parser.set_defaults(run=fn, verb="boom")
    return parser


def test_unexpected_exception_is_one_line_and_a_report(monkeypatch, capsys):
    def run(args):
        raise KeyError("deep inside")

    monkeypatch.setattr(cli_main, "build_parser", lambda: _parser_running(run))
    monkeypatch.delenv("RNNKIT_DEBUG", raising=False)
    assert cli_main.main([]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("rnnkit: unexpected error: KeyError: 'deep inside' (full report: ")
    report = Path(err[0].split("full report: ")[1].split(";")[0])
    assert "Traceback" in report.read_text(encoding="utf-8")
    report.unlink()


def test_broken_pipe_exits_quietly(monkeypatch, capsys):
    def run(args):
        raise BrokenPipeError

    monkeypatch.setattr(cli_main, "build_parser", lambda: _parser_running(run))
    monkeypatch.setattr(cli_main, "_silence_stdout", lambda: None)
    assert cli_main.main([]) == 0
    assert capsys.readouterr().err == ""
