"""The archive's .ts format: known arrays from hand-written files, every refusal with its one
line, the CLI reading it through --ucr, and (where aeon is installed) aeon's own loader on
the .ts files aeon ships."""

import glob
import os

import numpy as np
import pytest

from rnnkit.cli.main import main
from rnnkit.data.classification import _is_float, read_ucr
from rnnkit.data.ts_file import is_ts, parse_ts, read_archive, read_ts

HEADER = """# two motion axes, unequal lengths
% an ARFF-style comment, kept by some archive files
@problemName Toy
@timeStamps false
@univariate false
@dimensions 2
@equalLength false
@classLabel true up down
@data
"""


def test_multivariate_unequal_lengths_are_read_padded_with_their_lengths():
    text = HEADER + "1,2,3:4,5,6:up\n\n0.5,?:-1,NaN:down\n1e3,2:3,4:up\n"
    table = parse_ts(text)
    assert table.values.dtype == np.float32 and table.values.shape == (3, 3, 2)
    np.testing.assert_array_equal(table.values[0], [[1, 4], [2, 5], [3, 6]])
    # the missing last step of both features: a series of one step, padded with 0
    np.testing.assert_array_equal(table.values[1], [[0.5, -1], [0, 0], [0, 0]])
    np.testing.assert_array_equal(table.values[2, :2], [[1000, 3], [2, 4]])
    assert table.lengths.tolist() == [3, 1, 2]
    assert table.labels == ["up", "down", "up"]


def test_labels_are_spelled_as_in_the_tsv_layout_and_may_be_absent():
    text = "@classLabel true 1.0 2.0\n@data\n1,2:1.0\n3,4:2\n"
    assert parse_ts(text).labels == ["1", "2"]  # as read_ucr: one spelling per number
    unlabelled = parse_ts("@classLabel false\n@data\n1,2\n3,4,5\n")
    assert unlabelled.labels is None and unlabelled.lengths.tolist() == [2, 3]


@pytest.mark.parametrize("text, message", [
    ("@problemName x\n1,2:a\n", "line 2: expected an @ tag or @data"),
    ("@problemName x\n", "has no @data line"),
    ("@classLabel true a\n@data\n", "has no series after @data"),
    ("@classLabel\ttrue  a\n@dimensions 2\n@data\n1,2:a\n", "1 features, but @dimensions says 2"),
    ("@timeStamps true\n@data\n(0,1),(1,2):a\n", "has time stamps (@timeStamps true)"),
    ("@RELATION GunPoint\n@ATTRIBUTE att1 NUMERIC\n@data\n1,2\n", "is an ARFF file"),
    ("@targetLabel true\n@data\n1,2:0.5\n", "holds regression targets"),
    ("@classLabel maybe\n@data\n1,2:a\n", "@classLabel must be true or false, got 'maybe'"),
    ("@classLabel true a b\n@data\n1,2:c\n", "line 3: label 'c' is not one of @classLabel's "
                                             "classes (a, b)"),
    ("@classLabel true a\n@data\n:a\n", "line 3, feature 1, step 1: '' is not a number"),
    ("@classLabel true a\n@data\na\n", "line 3: expected the features, then ':' and the class"),
    ("@dimensions 3\n@classLabel true a\n@data\n1:2:a\n", "2 features, but @dimensions says 3"),
    ("@classLabel true a\n@data\n1:2:a\n1:a\n", "line 4: 1 features, line 3 has 2"),
    ("@classLabel true a\n@data\n1,2:3:a\n", "features have different numbers of steps (2, 1)"),
    ("@classLabel true a\n@data\n1,x,3:a\n", "line 3, feature 1, step 2: 'x' is not a number"),
    ("@classLabel true a\n@data\n1,1e39:a\n", "step 2: 1e39 is not a finite float32 number"),
    ("@classLabel true a\n@data\n1,inf:a\n", "step 2: inf is not a finite float32 number"),
    ("@classLabel true a\n@data\n1,?,3:a\n", "line 3, feature 1, step 2: missing value inside"),
    ("@classLabel true a\n@data\n1,2:3,?:a\n", "line 3, feature 2, step 2: missing value inside"),
    ("@classLabel true a\n@data\n?,?:a\n", "line 3: the series has no values"),
])
def test_bad_files_are_refused_with_one_line_naming_where(text, message):
    with pytest.raises(ValueError) as e:
        parse_ts(text, source="f.ts")
    assert message in str(e.value) and str(e.value).startswith("f.ts")
    assert "\n" not in str(e.value)


def test_a_table_larger_than_memory_is_refused_before_it_is_allocated():
    # two series, one of 2 steps, one claimed long: the padded size is what is checked
    long = ",".join(["1"] * 10)
    with pytest.raises(ValueError, match="read_ts: 2 series of up to 10 steps"):
        from unittest import mock
        with mock.patch("rnnkit.runtime.memory_available", return_value=10):
            parse_ts(f"@classLabel true a\n@data\n1,2:a\n{long}:a\n")


def test_read_archive_tells_the_two_layouts_apart(tmp_path):
    (tmp_path / "a.tsv").write_text("1\t0.5\t1.5\n2\t2.5\tNaN\n")
    (tmp_path / "a.ts").write_text(HEADER + "0.5,1.5:1,1:up\n2.5:2:down\n")
    tsv, ts = read_archive(tmp_path / "a.tsv"), read_archive(tmp_path / "a.ts")
    assert tsv.values.shape == (2, 2, 1) and tsv.lengths.tolist() == [2, 1]
    assert ts.values.shape == (2, 2, 2) and ts.lengths.tolist() == [2, 1]
    assert is_ts((tmp_path / "a.ts").read_text()) and not is_ts("1\t2\n")
    with pytest.raises(ValueError, match=r"in the archive.s \.ts format .*ts_file\.read_ts"):
        read_ucr(tmp_path / "a.ts")
    with pytest.raises(ValueError, match="not found"):
        read_ts(tmp_path / "missing.ts")


def _motions(n: int, labelled: bool = True) -> str:
    """Two features; class "up" rises, "down" falls; lengths 6-9."""
    lines = []
    for i in range(n):
        sign = 1 if i % 2 else -1
        steps = 6 + i % 4
        ramp = ",".join(f"{sign * t / steps:.3f}" for t in range(steps))
        noise = ",".join(f"{((i * 7 + t) % 5) / 10:.1f}" for t in range(steps))
        lines.append(f"{ramp}:{noise}" + (f":{'up' if sign > 0 else 'down'}" if labelled else ""))
    return "@univariate false\n@dimensions 2\n@classLabel " + (
        "true up down" if labelled else "false") + "\n@data\n" + "\n".join(lines) + "\n"


def test_the_cli_trains_predicts_and_evaluates_from_ts_files(tmp_path, capsys):
    (tmp_path / "m_TRAIN.ts").write_text(_motions(40))
    (tmp_path / "m_TEST.ts").write_text(_motions(10))
    (tmp_path / "m_NEW.ts").write_text(_motions(4, labelled=False))
    ck = str(tmp_path / "ck")
    assert main(["classify", "train", "--ucr", str(tmp_path / "m_TRAIN.ts"), "--checkpoint", ck,
                 "--epochs", "40", "--ensemble", "1", "--hidden-size", "8", "--lr", "0.01",
                 "--quiet"]) == 0
    assert "classes down, up" in capsys.readouterr().out
    assert main(["classify", "evaluate", "--checkpoint", ck, "--ucr",
                 str(tmp_path / "m_TEST.ts")]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out
    assert main(["classify", "predict", "--checkpoint", ck, "--ucr",
                 str(tmp_path / "m_NEW.ts")]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 4
    # evaluate needs labels: one line, exit 2, nothing written
    assert main(["classify", "evaluate", "--checkpoint", ck, "--ucr",
                 str(tmp_path / "m_NEW.ts")]) == 2
    err = capsys.readouterr().err.strip()
    assert "has no class labels (@classLabel false)" in err and len(err.splitlines()) == 1


AEON_FILES = "datasets/data/*/*.ts"


def test_aeon_s_own_loader_reads_the_same_series():
    """aeon (the benchmarks' extra) is the reference: its .ts files and its loader. aeon
    lower-cases labels and keeps "1.0" as written, so labels are compared after both."""
    aeon = pytest.importorskip("aeon.datasets")
    files = sorted(glob.glob(os.path.join(os.path.dirname(os.path.dirname(aeon.__file__)),
                                          AEON_FILES)))
    read = 0
    for path in files:
        try:
            mine = read_ts(path)
        except ValueError as e:  # time stamps, regression targets: refused, as documented
            assert "@timeStamps true" in str(e) or "@targetLabel true" in str(e)
            continue
        X, y = aeon.load_from_ts_file(path)
        assert len(X) == len(mine.values)
        for i, x in enumerate(X):
            x = np.asarray(x, dtype=np.float64).T  # (T, F)
            n = mine.lengths[i]
            np.testing.assert_allclose(mine.values[i, :n], x[:n], rtol=1e-6)
            assert np.isnan(x[n:]).all()  # what aeon keeps past the length: missing values
        assert [str(float(v)) if _is_float(v) else v.lower() for v in mine.labels] == [
            str(float(v)) if _is_float(v) else str(v) for v in y]
        read += 1
    assert read >= 10
