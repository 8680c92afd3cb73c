"""Classification results as text and files: prediction lines and CSV, the evaluation report."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from .inputs import Examples

__all__ = ["prediction_lines", "write_predictions", "report_lines", "unseen_note", "write_report"]


def _shown(examples: Examples, i: int, width: int = 60) -> str:
    text = (examples.texts[i] if examples.texts is not None
            else str(examples.ids[i]) if examples.ids is not None else f"series {i + 1}")
    text = " ".join(text.split())  # a line break or tab inside would split the printed row
    return text if len(text) <= width else text[: width - 3] + "..."


def _first_column(examples: Examples) -> tuple[str, list]:
    """The predictions CSV's first column: the texts, the series' ids (--series-csv), or the
    series' numbers in input order."""
    if examples.texts is not None:
        return "text", list(examples.texts)
    if examples.ids is not None:
        return "id", list(examples.ids)
    return "series", list(range(1, len(examples) + 1))


def prediction_lines(examples: Examples, predictions: list[dict]) -> list[str]:
    """``label<TAB>class=p ...<TAB>input`` per prediction."""
    return [f"{p['label']}\t" + " ".join(f"{c}={q:.3f}" for c, q in p["probs"].items())
            + f"\t{_shown(examples, i)}" for i, p in enumerate(predictions)]


def write_predictions(path: str | os.PathLike, examples: Examples, predictions: list[dict]
                      ) -> None:
    """A CSV: the text (or series id, or number), the label, one ``p_<class>`` column per
    class. Written beside ``path`` and renamed onto it: an existing file is replaced whole
    or not at all."""
    from ...checkpoint import atomic_write

    path = Path(path)
    classes = list(predictions[0]["probs"]) if predictions else []

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            name, first = _first_column(examples)
            w.writerow([name, "label", *[f"p_{c}" for c in classes]])
            for i, p in enumerate(predictions):
                w.writerow([first[i], p["label"], *[f"{p['probs'][c]:.6f}" for c in classes]])

    atomic_write(path, write)


def report_lines(report: dict, source: str) -> list[str]:
    """The evaluation report as printed by ``rnnkit classify evaluate``."""
    from ...metrics import format_confusion

    classes = report["classes"]
    return [f"examples: {report['n']} from {source}",
            f"accuracy: {report['accuracy']:.4f}",
            f"macro-F1: {report['macro_f1']:.4f}",
            "per-class F1: " + ", ".join(f"{c}={f:.4f}" for c, f in
                                         zip(classes, report["per_class_f1"], strict=True)),
            "confusion matrix (rows: true, columns: predicted):",
            format_confusion(report["confusion"], classes)]


def unseen_note(report: dict) -> str | None:
    """One line on the examples whose labels the model never saw in training (scored as
    wrong), or None when there are none."""
    unseen = report.get("unseen_labels") or {}
    if not unseen:
        return None
    shown = ", ".join(f"{label!r} ({n})" for label, n in list(unseen.items())[:10])
    more = f" and {len(unseen) - 10} more" if len(unseen) > 10 else ""
    known = [c for c in report["classes"] if c not in unseen]
    return (f"note: {sum(unseen.values())} of {report['n']} examples have labels never seen in "
            f"training, scored as wrong: {shown}{more}; the model knows {', '.join(known)}")


def write_report(report: dict, plot: str | os.PathLike, json_path=None) -> None:
    """The confusion-matrix PNG at ``plot`` and, with ``json_path``, the report as JSON
    (``atomic_write`` makes their folders; each file replaced whole or not at all)."""
    from ...checkpoint import atomic_write
    from ...metrics import plot_confusion

    plot = Path(plot)
    title = f"accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f}"

    def write_png(tmp: Path) -> None:  # a file object: matplotlib's format is png, not .tmp
        with open(tmp, "wb") as f:
            plot_confusion(report["confusion"], report["classes"], f, title=title)

    atomic_write(plot, write_png)
    if json_path:
        atomic_write(json_path, lambda tmp: tmp.write_text(json.dumps(report, indent=2) + "\n",
                                                           encoding="utf-8"))

