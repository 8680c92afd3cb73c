"""Diagnostics: gradient flow through time, recurrent Jacobians, gate saturation, plots."""

from .analysis import LOSSES, Diagnosis, LayerDiagnosis, analyze, gate_saturation, hidden_stats
from .probe import CellTrace, cell_kind, record, recurrent_layers

__all__ = [
    "analyze",
    "Diagnosis",
    "LayerDiagnosis",
    "gate_saturation",
    "hidden_stats",
    "record",
    "recurrent_layers",
    "CellTrace",
    "cell_kind",
    "LOSSES",
]
