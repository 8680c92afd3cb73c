"""Long-range dependencies: which cells learn the adding problem as T grows, and why.

For each length T and cell (Elman tanh RNN, IRNN = ReLU with identity recurrent init (Le et al.
2015), LSTM, GRU), train the same model shape (``SequenceRegressor``, last state -> linear)
with ``rnnkit.fit`` under one fixed step budget on fresh seeded batches, and report the final
test MSE, its ratio to the input-ignoring baseline (1/6), and the first evaluation step with
test MSE < 0.01. At the longest T the gradient flow ‖∂L/∂h_t‖ (``rnnkit.diagnostics``) is
measured on 100 held-out sequences at initialisation and after training; an IRNN trained
with plain SGD with and without ``clip_norm`` shows exploding gradients.

    .venv/bin/python benchmarks/long_range.py                      # the BENCHMARKS.md run
    .venv/bin/python benchmarks/long_range.py --lengths 50 --steps 200 --figures /tmp/lr

Prints markdown tables; writes PNGs to --figures and everything measured to --json.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import torch

from rnnkit.data.tasks import adding_baseline_mse
from rnnkit.diagnostics import compare_cells, exploding_gradients
from rnnkit.diagnostics.plots import plot_gradient_flow, plot_runs


def _fmt(v, spec=".4f"):
    return "—" if v is None or not math.isfinite(v) else format(v, spec)


def plot_test_curves(results: dict[int, dict], path: Path) -> None:
    """One panel per T: test MSE against training step, a line per cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(3.3 * len(results), 3.0), sharey=True,
                             squeeze=False)
    for ax, (T, runs) in zip(axes[0], results.items(), strict=True):
        for i, (cell, run) in enumerate(runs.items()):
            ax.plot(run.eval_step, run.test_loss, color=f"C{i}", label=cell, linewidth=1.4)
        ax.axhline(adding_baseline_mse(), color="grey", linestyle="--", linewidth=1)
        ax.axhline(0.01, color="grey", linestyle=":", linewidth=1)
        ax.set_yscale("log")
        ax.set_title(f"T = {T}", fontsize=10)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("test MSE")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lengths", default="50,100,200,400")
    p.add_argument("--cells", default="rnn-tanh,irnn,lstm,gru")
    p.add_argument("--steps", type=int, default=1500, help="optimizer steps per run")
    p.add_argument("--hidden-size", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=50)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--clip-norm", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--stop-when-solved", action="store_true",
                   help="end a run at its first evaluation with test MSE < 0.01")
    p.add_argument("--exploding-steps", type=int, default=300)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figures", default="docs", help="folder for the PNGs")
    p.add_argument("--json", default=None, help="write every measurement here")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    lengths = [int(v) for v in args.lengths.split(",")]
    cells = args.cells.split(",")
    figures = Path(args.figures)
    print(f"# long_range: adding problem, cells {', '.join(cells)}, T in {lengths}")
    print(f"# {args.steps} steps/run (Adam lr {args.lr:g}, batch {args.batch_size}, "
          f"H {args.hidden_size}, clip_norm {args.clip_norm:g}), test = 500 sequences every "
          f"{args.eval_every} steps, seed {args.seed}"
          + (", runs end once solved" if args.stop_when_solved else ""))
    print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.machine()}, python {platform.python_version()}")
    start = time.perf_counter()
    results: dict[int, dict] = {}
    for T in lengths:
        results[T] = compare_cells(
            "adding", T, cells, steps=args.steps, hidden_size=args.hidden_size,
            batch_size=args.batch_size, lr=args.lr, clip_norm=args.clip_norm,
            eval_every=args.eval_every, seed=args.seed, stop_when_solved=args.stop_when_solved,
            jacobians=False,
            log=lambda m: print(m, file=sys.stderr, flush=True))
        for cell, run in results[T].items():
            print(f"# T={T} {cell}: final {_fmt(run.final_test_loss)}, solved at "
                  f"{run.solved_at}, {run.seconds:.0f} s", flush=True)
    base = adding_baseline_mse()

    print("\n### Final test MSE (ratio to the always-predict-1 baseline 1/6 = 0.1667)\n")
    print("| cell | " + " | ".join(f"T={T}" for T in lengths) + " |")
    print("|---|" + "---|" * len(lengths))
    for cell in cells:
        row = [f"{_fmt(results[T][cell].final_test_loss)} "
               f"({_fmt(results[T][cell].final_test_loss / base, '.3f')})" for T in lengths]
        print(f"| {cell} | " + " | ".join(row) + " |")

    print(f"\n### Steps to test MSE < 0.01 (evaluated every {args.eval_every}; budget "
          f"{args.steps})\n")
    print("| cell | " + " | ".join(f"T={T}" for T in lengths) + " |")
    print("|---|" + "---|" * len(lengths))
    for cell in cells:
        row = []
        for T in lengths:
            r = results[T][cell]
            row.append(str(r.solved_at) if r.solved_at is not None else
                       (f"diverged at {r.diverged_at}" if r.diverged_at else "not solved"))
        print(f"| {cell} | " + " | ".join(row) + " |")

    print("\n### Gradient flow: ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ on 100 held-out sequences "
          "(init → after training)\n")
    print("| cell | " + " | ".join(f"T={T}" for T in lengths) + " |")
    print("|---|" + "---|" * len(lengths))
    for cell in cells:
        row = []
        for T in lengths:
            r = results[T][cell]
            a, b = r.initial.layers[0].grad_ratio(), r.final.layers[0].grad_ratio()
            row.append(f"{_fmt(a, '.1e')} → {_fmt(b, '.1e')}")
        print(f"| {cell} | " + " | ".join(row) + " |")

    longest = lengths[-1]
    print(f"\n### Gate saturation after training, T={longest} (share of gate values < 0.05 or "
          "> 0.95)\n")
    for cell in cells:
        layer = results[longest][cell].final.layers[0]
        if layer.gates:
            shares = ", ".join(f"{g} {v['low']:.0%} low / {v['high']:.0%} high"
                               for g, v in layer.gates.items())
            print(f"- {cell}: {shares}")

    figures.mkdir(parents=True, exist_ok=True)
    flow = figures / "long_range_gradient_flow.png"
    plot_gradient_flow(
        {"at initialisation": {c: r.initial.layers[0].grad_norm
                               for c, r in results[longest].items()},
         "after training": {c: r.final.layers[0].grad_norm
                            for c, r in results[longest].items()}},
        flow, title=f"‖∂L/∂h_t‖, adding problem T={longest} (100 held-out sequences)")
    curves = figures / "long_range_curves.png"
    plot_test_curves(results, curves)

    print(f"\n### Exploding gradients: IRNN, plain SGD lr 0.01, T=100, "
          f"{args.exploding_steps} steps\n")
    runs = exploding_gradients("adding", 100, steps=args.exploding_steps, seed=args.seed,
                               hidden_size=args.hidden_size, batch_size=args.batch_size,
                               clip_norm=args.clip_norm,
                               log=lambda m: print(m, file=sys.stderr, flush=True))
    print("| run | max ‖∇θ L‖ | median ‖∇θ L‖ | worst test MSE | final test MSE | "
          "steps clipped | skipped (non-finite) |")
    print("|---|---|---|---|---|---|---|")
    for label, r in runs.items():
        g = sorted(r.grad_norm)
        finite = [v for v in r.test_loss if v is not None and math.isfinite(v)]
        print(f"| {label} | {g[-1]:.3g} | {g[len(g) // 2]:.3g} | "
              f"{_fmt(max(finite) if finite else None, '.4g')} | {_fmt(r.final_test_loss)} | "
              f"{sum(r.clipped) / max(1, len(r.clipped)):.0%} | {r.skipped} |")
    explode = figures / "long_range_exploding.png"
    plot_runs({k: r.curves() for k, r in runs.items()}, explode, baseline=adding_baseline_mse(),
              loss_label="mse", title="IRNN, SGD lr 0.01, adding T=100: without and with "
              f"clip_norm={args.clip_norm:g}")
    total = time.perf_counter() - start
    print(f"\nfigures: {flow}, {curves}, {explode}; total {total / 60:.1f} min")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "args": vars(args), "seconds": total,
            "results": {T: {c: r.to_dict() for c, r in runs_T.items()}
                        for T, runs_T in results.items()},
            "exploding": {k: r.to_dict() for k, r in runs.items()}},
            default=lambda o: None), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
