"""The pandas fast path for label-and-values rows against the careful row-by-row reader: the
same float32 arrays and labels on every layout it takes, and no answer (the careful reader
then reports) where a row is padded, ragged or not numbers."""

import numpy as np
import pytest

from rnnkit.data import classification
from rnnkit.data.rows_fast import read_rows_fast

rng = np.random.default_rng(3)
X = rng.normal(size=(30, 7)) * 10.0 ** rng.integers(-8, 8, size=(30, 7))
LAB = rng.integers(1, 4, size=30)


def joined(row_text, sep="\n"):
    return sep.join(row_text(x, lab) for x, lab in zip(X, LAB, strict=True))


LAYOUTS = {
    "comma": ("first", joined(lambda x, lab: f"{lab}," + ",".join(repr(float(v)) for v in x))),
    "spaces": ("first", joined(lambda x, lab: f"{lab} , " + " , ".join(f"{v:.6e}" for v in x))),
    "tabs": ("first", joined(lambda x, lab: f"{float(lab)}\t" + "\t".join(f"{v:.8g}" for v in x))),
    "whitespace": ("first", joined(lambda x, lab: f"  {float(lab):.7e}  "
                                   + "  ".join(f"{v:.7e}" for v in x))),
    "last": ("last", joined(lambda x, lab: ",".join(repr(float(v)) for v in x) + f",{lab}")),
    "integers": ("first", joined(lambda x, lab: f"{lab}," + ",".join(str(int(v)) for v in x))),
    "blank lines, CRLF": ("first", joined(lambda x, lab: f"{lab},"
                                          + ",".join(repr(float(v)) for v in x), "\r\n\r\n")),
    "named classes": ("first", joined(lambda x, lab: f"class {lab}," + ",".join(map(str, x)))),
    "R's write.csv": ("cls", '"","V1","V2","V3","V4","V5","V6","V7","cls"\n' + "\n".join(
        f'"{i + 1}",' + ",".join(repr(float(v)) for v in x) + f',"c{lab}"'
        for i, (x, lab) in enumerate(zip(X, LAB, strict=True)))),
    "a header after blank lines": ("label", "\n\nlabel," + ",".join(f"t{j}" for j in range(7))
                                   + "\n\n" + joined(lambda x, lab: f"{lab}," + ",".join(
                                       repr(float(v)) for v in x))),
    "no labels": ("none", "\n".join(",".join(repr(float(v)) for v in x) for x in X)),
}


def careful(text, label, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(classification, "read_rows_fast", lambda *args: None)
        return classification.parse_ucr(text, label=label)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_fast_rows_equal_the_careful_reader(layout, monkeypatch):
    label, text = LAYOUTS[layout]
    used = []
    real = classification.read_rows_fast

    def spy(*args):
        out = real(*args)
        used.append(out is not None)
        return out

    monkeypatch.setattr(classification, "read_rows_fast", spy)
    values, lengths, labels = classification.parse_ucr(text, label=label)
    assert used == [True]  # this layout did take the fast path
    ref_values, ref_lengths, ref_labels = careful(text, label, monkeypatch)
    np.testing.assert_array_equal(values, ref_values)
    np.testing.assert_array_equal(lengths, ref_lengths)
    assert labels == ref_labels


@pytest.mark.parametrize("rows", [
    "1,0.5,0.25\n2,0.5\n",            # ragged
    "1,0.5,NaN\n2,0.5,0.25\n",        # NaN padding: a shorter series
    "1,0.5,x\n2,0.5,0.25\n",          # not a number
    "1,0.5,inf\n2,0.5,0.25\n",        # infinite
    "1,0.5,1e39\n2,0.5,0.25\n",       # beyond float32
    '1,0.5,"0,25"\n2,0.5,0.25\n',     # a quoted delimiter
    ",0.5,0.25\n2,0.5,0.25\n",        # an empty label
])
def test_fast_path_leaves_what_needs_reporting_to_the_careful_reader(rows):
    lines = [(i + 1, line) for i, line in enumerate(rows.splitlines())]
    assert read_rows_fast(rows, lines, ",", 0, 3, 0) is None
