"""Diagnostics: gradient flow through time, recurrent Jacobians, gate saturation, plots.

    d = rnnkit.diagnostics.analyze(model, x, y, loss="mse")
    d.layers[0].grad_norm        # ‖∂L/∂h_t‖ per step, (T,)
    d.layers[0].jacobian_norm    # ‖∂h_T/∂h_t‖_F per step, (T,)
    d.layers[0].gates            # LSTM/GRU gate saturation shares
    plot_gradient_flow({"lstm": d.layers[0].grad_norm}, "flow.png")

``analysis`` computes, ``probe`` records per-step tensors, ``plots`` draws, ``experiment``
trains cells on the generated tasks, ``report`` writes what ``rnnkit diagnose`` shows.
"""

from .analysis import Diagnosis, LayerDiagnosis, analyze, gate_saturation, hidden_stats
from .experiment import CELLS, RunResult, build_model, compare_cells, exploding_gradients
from .plots import plot_gradient_flow, plot_runs
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
    "plot_gradient_flow",
    "plot_runs",
    "CELLS",
    "RunResult",
    "build_model",
    "compare_cells",
    "exploding_gradients",
]
