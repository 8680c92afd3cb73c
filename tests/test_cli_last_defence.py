"""The CLI's last line of defence: an unexpected exception is one line + a report file; the
machine's or a peer's failure (a full disk, a dead rank) is one line and no report."""

import argparse
import errno
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("error", [
    OSError(errno.ENOSPC, "No space left on device"),
    OSError(errno.EROFS, "Read-only file system"),
])
def test_a_failing_machine_is_one_line_without_a_report(monkeypatch, capsys, tmp_path, error):
    from rnnkit.training.distributed import DistributedError

    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))  # where a report would go
    monkeypatch.delenv("RNNKIT_DEBUG", raising=False)
    for failure in (error, DistributedError("fit: rank 0 of 2 lost the other processes during "
                                            "backward (gradient all-reduce) (peer closed)")):
        def run(args, failure=failure):
            raise failure

        monkeypatch.setattr(cli_main, "build_parser", lambda run=run: _parser_running(run))
        assert cli_main.main([]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"rnnkit boom: error: {str(failure).splitlines()[0]}"]
    assert list(tmp_path.iterdir()) == []  # no crash report written


def test_atomic_write_names_the_file_asked_for_not_its_temporary(tmp_path):
    from rnnkit.checkpoint import atomic_write

    made = tmp_path / "new" / "deeper" / "pred.csv"  # a missing folder is made
    atomic_write(made, lambda tmp: tmp.write_text("x"))
    assert made.read_text() == "x"
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OSError) as caught:  # a file in the way of the folder
        atomic_write(blocker / "pred.csv", lambda tmp: tmp.write_text("x"))
    assert ".tmp" not in str(caught.value) and "a-file" in str(caught.value)

    def fails(tmp):
        raise OSError(errno.EIO, "Input/output error", str(tmp))

    target = tmp_path / "out.csv"
    with pytest.raises(OSError, match=r"Input/output error: '.*out\.csv'$") as caught:
        atomic_write(target, fails)
    assert caught.value.errno == errno.EIO
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "new"]


def test_bad_input_with_an_output_in_a_new_folder_writes_nothing(tmp_path, capsys):
    """The output's folder is made when the output is written, not when it is checked."""
    out = tmp_path / "new" / "p.csv"
    assert cli_main.main(["classify", "predict", "--checkpoint", str(tmp_path / "none"),
                          "--text", "good", "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("rnnkit classify predict: error: ")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("module,package,extra", [
    ("sklearn.metrics", "scikit-learn", "anomaly"), ("statsforecast", "statsforecast", "forecast"),
    ("onnxruntime", "onnxruntime", "export"), ("fastapi", "FastAPI", "serve")])
def test_a_missing_extra_says_what_to_install(monkeypatch, capsys, module, package, extra):
    """`pip install rnnkit` then `rnnkit demo` died in the anomaly part with "unexpected
    error: ModuleNotFoundError: No module named 'sklearn'" and a crash report."""
    def run(args):
        raise ModuleNotFoundError(f"No module named '{module}'", name=module)

    monkeypatch.setattr(cli_main, "build_parser", lambda: _parser_running(run))
    monkeypatch.delenv("RNNKIT_DEBUG", raising=False)
    assert cli_main.main([]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"rnnkit boom: error: this needs {package}, which is not installed: "
                   f"pip install 'rnnkit[{extra}]'"]


def test_a_missing_module_of_no_extra_is_still_a_crash_report(monkeypatch, capsys):
    def run(args):
        raise ModuleNotFoundError("No module named 'not_ours'", name="not_ours")

    monkeypatch.setattr(cli_main, "build_parser", lambda: _parser_running(run))
    monkeypatch.delenv("RNNKIT_DEBUG", raising=False)
    assert cli_main.main([]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("rnnkit: unexpected error: ModuleNotFoundError")
    Path(err.split("full report: ")[1].split(";")[0]).unlink()
