"""Moved to ``rnnkit.metrics`` (every metric in one module); these names stay importable."""

from .metrics import (  # noqa: F401
    accuracy,
    classification_report,
    confusion_matrix,
    format_confusion,
    macro_f1,
    per_class_f1,
    plot_confusion,
)
