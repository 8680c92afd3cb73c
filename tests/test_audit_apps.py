"""Found by auditing classify, textgen, translate, export and import-keras with a newcomer's
own files and absurd settings: each test fails without its fix."""

import csv
import json
import zipfile

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data.classification import read_series_csv, read_text_csv, read_text_files
from rnnkit.data.text import read_text

QUIET = ["--quiet"]


def write_csv(path, rows, encoding="utf-8"):
    with open(path, "w", newline="", encoding=encoding) as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)


def reviews(n=24):
    good, bad = ["great", "lovely", "fine"], ["awful", "dull", "boring"]
    return [(f"the film was {(good if i % 2 else bad)[i % 3]}", "pos" if i % 2 else "neg")
            for i in range(n)]


def one_line_error(capsys, argv, message):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert message in err, err
    assert len(err.splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def clf(tmp_path_factory):
    d = tmp_path_factory.mktemp("audit_clf")
    write_csv(d / "reviews.csv", reviews())
    assert main(["classify", "train", "--csv", str(d / "reviews.csv"), "--text-col", "text",
                 "--label-col", "label", "--epochs", "1", "--hidden-size", "4",
                 "--embedding-dim", "4", "--checkpoint", str(d / "ck"), *QUIET]) == 0
    return d


# ------------------------------------------------------------------ byte-order marks
def test_a_byte_order_mark_is_not_part_of_the_first_column_or_line(tmp_path):
    # Excel's "CSV UTF-8" and Notepad write one; the header read '\ufefftext' before
    write_csv(tmp_path / "bom.csv", reviews(4), encoding="utf-8-sig")
    texts, labels = read_text_csv(tmp_path / "bom.csv", "text", "label")
    assert texts[0] == "the film was awful" and labels[:2] == ["neg", "pos"]
    (tmp_path / "a.pos").write_text("\ufeffgood film\nnice\n", encoding="utf-8")
    (tmp_path / "a.neg").write_text("bad film\n", encoding="utf-8")
    texts, _ = read_text_files([tmp_path / "a.pos", tmp_path / "a.neg"])
    assert texts[0] == "good film"
    (tmp_path / "s.csv").write_text("\ufeffid,step,x,label\na,0,1,up\nb,0,2,down\n",
                                    encoding="utf-8")
    assert len(read_series_csv(tmp_path / "s.csv", "id", "label", "step").ids) == 2
    # textgen learned '\ufeff' as a character of its vocabulary
    (tmp_path / "notes.txt").write_bytes("\ufeffhello".encode())
    assert read_text(tmp_path / "notes.txt") == "hello"


# ------------------------------------------------------------------ classify predict / evaluate
def test_predict_prints_one_row_per_text_even_with_line_breaks_and_tabs(clf, capsys):
    assert main(["classify", "predict", "--checkpoint", str(clf / "ck"), "--text",
                 "great\nfilm", "--text", "dull\tfilm", *QUIET]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert [line.split("\t")[2] for line in lines] == ["great film", "dull film"]


def test_an_existing_out_file_is_replaced_whole_or_not_at_all(clf, capsys, monkeypatch):
    out = clf / "predictions.csv"
    out.write_text("precious\n", encoding="utf-8")
    from rnnkit.apps.classify import report

    real_writer = csv.writer

    def failing_writer(f):
        w = real_writer(f)

        class Half:
            def writerow(self, row):
                if row[0] != "text":
                    raise OSError(28, "No space left on device")
                w.writerow(row)
        return Half()

    monkeypatch.setattr(report.csv, "writer", failing_writer)
    assert main(["classify", "predict", "--checkpoint", str(clf / "ck"), "--text", "great",
                 "--out", str(out), *QUIET]) == 1
    assert "No space left on device" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "precious\n"
    assert [p.name for p in clf.iterdir() if p.name.startswith(".predictions")] == []


def test_evaluate_json_and_plot_are_whole_files_and_a_folder_is_refused_first(clf, capsys):
    report_json, plot = clf / "report.json", clf / "cm.png"
    for path in (report_json, plot):
        path.write_text("old\n")
    assert main(["classify", "evaluate", "--checkpoint", str(clf / "ck"), "--csv",
                 str(clf / "reviews.csv"), "--json", str(report_json), "--plot", str(plot),
                 *QUIET]) == 0
    assert json.loads(report_json.read_text())["n"] == 24
    assert plot.read_bytes()[:4] == b"\x89PNG"  # written through a temporary file
    assert [p.name for p in clf.iterdir() if p.name.endswith(".tmp")] == []
    capsys.readouterr()
    # before: the report was printed and the plot written, then --json crashed on the folder
    (clf / "a_folder").mkdir()
    one_line_error(capsys, ["classify", "evaluate", "--checkpoint", str(clf / "ck"), "--csv",
                            str(clf / "reviews.csv"), "--json", str(clf / "a_folder")],
                   f"--json {clf / 'a_folder'} is a folder; expected a file")
    assert not (clf / "ck" / "confusion_matrix.png").exists()


def test_an_absurd_ensemble_is_refused_before_training(clf, capsys):
    ck = clf / "huge"
    one_line_error(capsys, ["classify", "train", "--csv", str(clf / "reviews.csv"),
                            "--text-col", "text", "--label-col", "label", "--hidden-size", "4",
                            "--embedding-dim", "4", "--ensemble", str(10**9),
                            "--checkpoint", str(ck)],
                   "classify: an ensemble of 1000000000 models of ")
    assert not ck.exists()


# ------------------------------------------------------------------ beam widths
@pytest.fixture(scope="module")
def textgen_ck(tmp_path_factory):
    d = tmp_path_factory.mktemp("audit_tg")
    (d / "c.txt").write_text("the quick brown fox jumps over the lazy dog. " * 20)
    assert main(["textgen", "train", "--text", str(d / "c.txt"), "--hidden-size", "4",
                 "--epochs", "1", "--seq-len", "8", "--batch-size", "2", "--sample-length",
                 "0", "--checkpoint", str(d / "ck"), *QUIET]) == 0
    return d / "ck"


def test_textgen_sample_refuses_a_beam_that_cannot_fit(textgen_ck, capsys):
    # it died of a MemoryError ("unexpected error" and a crash report) before
    one_line_error(capsys, ["textgen", "sample", "--checkpoint", str(textgen_ck), "--prompt",
                            "the", "--beam", str(10**9), "--length", "5"],
                   "beam search of width 1000000000 over ")
    assert capsys.readouterr().out == ""
    assert main(["textgen", "sample", "--checkpoint", str(textgen_ck), "--prompt", "the",
                 "--beam", "3", "--length", "5", *QUIET]) == 0
    assert capsys.readouterr().out.startswith("the")


@pytest.fixture(scope="module")
def translate_ck(tmp_path_factory):
    d = tmp_path_factory.mktemp("audit_tr")
    src = ["ein mann", "eine frau", "ein hund", "eine katze"] * 5
    tgt = ["a man", "a woman", "a dog", "a cat"] * 5
    for name, lines in (("s.de", src), ("t.en", tgt)):
        (d / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["translate", "train", "--src", str(d / "s.de"), "--tgt", str(d / "t.en"),
                 "--val-src", str(d / "s.de"), "--val-tgt", str(d / "t.en"), "--hidden-size",
                 "8", "--embedding-dim", "4", "--epochs", "1", "--checkpoint", str(d / "ck"),
                 *QUIET]) == 0
    return d / "ck"


def test_translate_refuses_a_beam_that_cannot_fit_and_batch_size_0(translate_ck, capsys):
    # the process was killed by the kernel's out-of-memory killer before
    one_line_error(capsys, ["translate", "predict", "--checkpoint", str(translate_ck),
                            "--text", "ein mann", "--beam", str(10**9)],
                   "beam search of width 1000000000 over ")
    # "range() arg 3 must not be zero" before
    one_line_error(capsys, ["translate", "predict", "--checkpoint", str(translate_ck),
                            "--text", "ein mann", "--batch-size", "0"],
                   "--batch-size must be a positive integer, got 0")
    assert main(["translate", "predict", "--checkpoint", str(translate_ck), "--text",
                 "ein mann", "--beam", "4", *QUIET]) == 0


# ------------------------------------------------------------------ export, import-keras
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_export_refuses_a_device_that_is_not_here(textgen_ck, tmp_path, capsys):
    # every other verb refuses it; export ignored it and wrote the folder
    one_line_error(capsys, ["export", "--checkpoint", str(textgen_ck), "--out",
                            str(tmp_path / "ex"), "--device", "cuda"],
                   "device 'cuda' requested but CUDA is not available here")
    assert not (tmp_path / "ex").exists()


def test_import_keras_names_what_a_zip_lacks_and_refuses_a_folder(tmp_path, capsys):
    with zipfile.ZipFile(tmp_path / "m.keras", "w") as z:
        z.writestr("config.json", "{}")
    # "(it lacks There is no item named 'model.weights.h5' in the archive)" before
    one_line_error(capsys, ["import-keras", str(tmp_path / "m.keras"), "--checkpoint",
                            str(tmp_path / "ck")],
                   "is a zip file but not a .keras model (it lacks model.weights.h5)")
    (tmp_path / "d.keras").mkdir()
    one_line_error(capsys, ["import-keras", str(tmp_path / "d.keras"), "--checkpoint",
                            str(tmp_path / "ck")],
                   "d.keras is a folder; expected a .keras or .h5 file")
    assert not (tmp_path / "ck").exists()


# ------------------------------------------------------------------ serve
def test_serve_on_a_port_in_use_is_one_line_and_exit_1_and_port_0_is_announced(clf):
    import os
    import socket
    import subprocess
    import sys
    import time

    pytest.importorskip("uvicorn")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "rnnkit.cli.main", "serve", "--checkpoint", str(clf / "ck"),
            "--threads", "1"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # before: "on http://127.0.0.1:PORT/" announced, then uvicorn's log and exit status 3
        done = subprocess.run(base + ["--port", str(port)], env=env, capture_output=True,
                              text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (f"rnnkit serve: error: cannot listen on 127.0.0.1:{port}: "
                                   "Address already in use")
    proc = subprocess.Popen(base + ["--port", "0"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        first = proc.stderr.readline()  # printed once the socket is bound
        assert first.startswith("rnnkit serve: ck (classify) on http://127.0.0.1:"), first
        chosen = int(first.rsplit(":", 1)[1].strip("/\n"))
        assert chosen != 0
        import httpx

        end = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{chosen}/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < end, "did not start"
                time.sleep(0.2)
        assert r.json()["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(30)
        proc.stderr.close()


def test_a_byte_order_mark_is_not_part_of_a_parallel_files_first_word(tmp_path):
    from rnnkit.data.parallel import read_lines

    path = tmp_path / "src.txt"
    path.write_bytes("ein hund\nzwei katzen\n".encode("utf-8-sig"))
    assert read_lines(path) == ["ein hund", "zwei katzen"]
