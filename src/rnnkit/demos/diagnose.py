"""Demo part: why plain RNNs forget — the error signal ‖∂L/∂h_t‖ through 100 steps.

Four untrained cells read the same adding-problem batch (T = 100); ``rnnkit.diagnostics``
measures how much of the loss gradient at the last step reaches each earlier step. The tanh
RNN's shrinks geometrically; the identity-initialised ReLU RNN's barely moves; the gated cells
start out forgetting too (their gates sit near 0.5 before training).
``rnnkit diagnose --task adding`` trains them and shows what training does to the picture.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..data.tasks import adding_problem
from ..diagnostics import analyze, build_model, plot_gradient_flow

CELLS = ("rnn-tanh", "irnn", "lstm", "gru")
LENGTH, HIDDEN = 100, 32


def run(out_dir, seed: int = 0, quiet: bool = False) -> None:
    out_dir = Path(out_dir)
    x, y = adding_problem(16, LENGTH, seed=seed)
    curves = {}
    print(f"adding problem, T = {LENGTH}, untrained cells (H = {HIDDEN}): share of the final "
          "error signal reaching step 1")
    for cell in CELLS:
        torch.manual_seed(seed)
        d = analyze(build_model(cell, "adding", HIDDEN), x, y, jacobians=False,
                    float64=True).layers[0]
        curves[cell] = d.grad_norm
        print(f"  {cell:9s} ‖∂L/∂h_1‖ / ‖∂L/∂h_{LENGTH}‖ = {d.grad_ratio():.1e}")
    png = plot_gradient_flow(curves, out_dir / "diagnose-gradient-flow.png",
                             title=f"‖∂L/∂h_t‖ at initialisation, adding problem T={LENGTH}")
    print(f"wrote {png} (train and compare: rnnkit diagnose --task adding --length {LENGTH} "
          f"--out {out_dir / 'diagnose'})")
