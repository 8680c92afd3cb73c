"""Reports of ``rnnkit diagnose``: markdown tables, plots and a JSON dump in one folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..data.tasks import get_task
from .analysis import Diagnosis, LayerDiagnosis
from .experiment import RunResult
from .plots import plot_gradient_flow, plot_runs

__all__ = ["markdown_table", "diagnosis_table", "write_task_report", "write_checkpoint_report"]


def _fmt(v, spec: str = ".3g") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return format(v, spec)


def _jac_first(layer: LayerDiagnosis | None) -> float | None:
    if layer is None or layer.jacobian_norm is None:
        return None
    return float(layer.jacobian_norm[0])


def markdown_table(results: dict[str, RunResult], task: str, length: int) -> str:
    """One row per cell: final test loss, steps to solve, and the gradient-flow numbers."""
    task_obj = get_task(task)
    lines = [
        f"| cell | final test {task_obj.loss} | steps to < {task_obj.solved_below:g} | "
        "‖∂L/∂h₁‖ / ‖∂L/∂h_T‖ at init | after training | ‖∂h_T/∂h₁‖_F after training | "
        "gate saturation | share \\|h\\| > 0.95 | steps trained | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in results.items():
        first = run.initial.layers[0] if run.initial else None
        last = run.final.layers[0] if run.final else None
        sat = last.saturation() if last else None
        status = str(run.solved_at) if run.solved_at is not None else "not solved"
        if run.diverged_at is not None:
            status = f"diverged at {run.diverged_at}"
        lines.append(
            f"| {name} | {_fmt(run.final_test_loss, '.4f')} | {status} | "
            f"{_fmt(first.grad_ratio() if first else None, '.2e')} | "
            f"{_fmt(last.grad_ratio() if last else None, '.2e')} | "
            f"{_fmt(_jac_first(last), '.2e')} | "
            f"{_fmt(sat, '.1%') if sat is not None else 'n/a'} | "
            f"{_fmt(last.hidden.get('saturated') if last else None, '.1%')} | "
            f"{_trained(run)} | {run.seconds:.0f} |")
    lines += ["", f"Task {task}, T = {length}: the input-ignoring baseline scores "
              f"{task_obj.loss} {task_obj.baseline(length):.4f}."]
    return "\n".join(lines)


def _trained(run: RunResult) -> str:
    """Steps taken, and of how many where a time budget (not solving, not diverging)
    ended the run early: cells compared side by side may have trained for different
    lengths."""
    if run.planned and run.trained < run.planned and run.solved_at is None and \
            run.diverged_at is None:
        return f"{run.trained} of {run.planned} (time budget)"
    return str(run.trained)


def diagnosis_table(diagnoses: dict[str, Diagnosis]) -> str:
    """One row per (model, recurrent cell) of ``analyze`` results."""
    lines = ["| model | layer | cell | H | T | loss | ‖∂L/∂h₁‖ / ‖∂L/∂h_T‖ | ‖∂h_T/∂h₁‖_F | "
             "gates < 0.05 / > 0.95 | share \\|h\\| > 0.95 | dead units |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, d in diagnoses.items():
        for layer in d.layers:
            gates = ", ".join(f"{g} {v['low']:.0%}/{v['high']:.0%}"
                              for g, v in layer.gates.items()) or "n/a"
            lines.append(
                f"| {label} | {layer.name} | {layer.kind} | {layer.hidden_size} | "
                f"{layer.steps} | {_fmt(d.loss, '.4g')} | {_fmt(layer.grad_ratio(), '.2e')} | "
                f"{_fmt(_jac_first(layer), '.2e')} | {gates} | "
                f"{_fmt(layer.hidden.get('saturated'), '.1%')} | "
                f"{_fmt(layer.hidden.get('dead_units'), '.0%')} |")
    return "\n".join(lines)


def _curves(diagnoses: dict[str, Diagnosis], attr: str) -> dict[str, np.ndarray]:
    curves = {}
    for label, d in diagnoses.items():
        for layer in d.layers:
            values = getattr(layer, attr)
            if values is not None:
                curves[label if len(d.layers) == 1 else f"{label}: {layer.name}"] = values
    return curves


def _dump(path: Path, obj) -> Path:
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    path.write_text(json.dumps(clean(obj), indent=1) + "\n", encoding="utf-8")
    return path


def write_task_report(out: Path, task: str, length: int, results: dict[str, RunResult],
                      exploding: dict[str, RunResult] | None = None,
                      command: str = "") -> list[Path]:
    """gradient_flow.png, jacobians.png, learning_curves.png, [exploding.png], report.md,
    results.json under ``out``."""
    out = Path(out)
    task_obj = get_task(task)
    files = []
    init = {k: r.initial for k, r in results.items() if r.initial}
    final = {k: r.final for k, r in results.items() if r.final}
    files.append(plot_gradient_flow(
        {"at initialisation": _curves(init, "grad_norm"),
         "after training": _curves(final, "grad_norm")},
        out / "gradient_flow.png", title=f"‖∂L/∂h_t‖, {task} T={length}"))
    files.append(plot_gradient_flow(
        {"at initialisation": _curves(init, "jacobian_norm"),
         "after training": _curves(final, "jacobian_norm")},
        out / "jacobians.png", ylabel="‖∂h_T/∂h_t‖_F", title=f"{task} T={length}"))
    files.append(plot_runs({k: r.curves() for k, r in results.items()},
                           out / "learning_curves.png", baseline=task_obj.baseline(length),
                           loss_label=task_obj.loss, title=f"{task} T={length}"))
    md = [f"# rnnkit diagnose: {task}, T = {length}", ""]
    if command:
        md += ["```", command, "```", ""]
    md += [markdown_table(results, task, length), "",
           "![gradient flow](gradient_flow.png)", "", "![Jacobians](jacobians.png)", "",
           "![learning curves](learning_curves.png)", "",
           "## Per-cell diagnosis after training", "", diagnosis_table(final), ""]
    if exploding:
        files.append(plot_runs({k: r.curves() for k, r in exploding.items()},
                               out / "exploding.png", baseline=task_obj.baseline(length),
                               loss_label=task_obj.loss,
                               title="ReLU RNN with and without gradient clipping"))
        md += ["## Exploding gradients: a ReLU RNN with and without clipping", "",
               "The same IRNN (same initial weights, same batches) trained with plain SGD "
               "(lr 0.01), once without and once with gradient-norm clipping.", "",
               "| run | final test loss | max ‖∇θ L‖ | steps clipped | steps skipped "
               "(non-finite) | diverged at |", "|---|---|---|---|---|---|"]
        for label, r in exploding.items():
            gmax = max(r.grad_norm) if r.grad_norm else None
            md.append(f"| {label} | {_fmt(r.final_test_loss, '.4f')} | {_fmt(gmax, '.3g')} | "
                      f"{_fmt(float(np.mean(r.clipped)) if r.clipped else 0.0, '.0%')} | "
                      f"{r.skipped} | {r.diverged_at if r.diverged_at else '—'} |")
        md += ["", "![exploding gradients](exploding.png)", ""]
    files.append(out / "report.md")
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
    payload = {"task": task, "length": length, "command": command,
               "results": {k: r.to_dict() for k, r in results.items()}}
    if exploding:
        payload["exploding"] = {k: r.to_dict() for k, r in exploding.items()}
    files.append(_dump(out / "results.json", payload))
    return files


def _history_run(folder: Path) -> dict | None:
    """fit's history.json in a checkpoint folder, as a ``plot_runs`` run (per epoch)."""
    path = folder / "history.json"
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        rows = doc["rows"]
        epochs = [r["epoch"] for r in rows]
        run = {"step": epochs, "loss": [r["train_loss"] for r in rows],
               "grad_norm": doc.get("grad_norms") or [], "eval_step": [], "test_loss": []}
        if any(r.get("val_loss") is not None for r in rows):
            run["eval_step"] = epochs
            run["test_loss"] = [r.get("val_loss") for r in rows]
        run["grad_step"] = list(range(1, len(run["grad_norm"]) + 1))
        return run
    except (ValueError, KeyError, TypeError):
        return None  # not fit's history: nothing to plot


def write_checkpoint_report(out: Path, diagnoses: dict[str, Diagnosis],
                            folders: dict[str, str], data: str,
                            loss: str | None) -> list[Path]:
    """gradient_flow.png (with targets), jacobians.png, [learning_curves.png], report.md,
    results.json under ``out``."""
    out = Path(out)
    files = []
    md = ["# rnnkit diagnose: checkpoints", "",
          f"Data: `{data}`; loss: {loss or 'none (no targets: loss gradients skipped)'}.", ""]
    md += [diagnosis_table(diagnoses), ""]
    grads = _curves(diagnoses, "grad_norm")
    if grads:
        files.append(plot_gradient_flow(grads, out / "gradient_flow.png", title="‖∂L/∂h_t‖"))
        md += ["![gradient flow](gradient_flow.png)", ""]
    jacs = _curves(diagnoses, "jacobian_norm")
    if jacs:
        files.append(plot_gradient_flow(jacs, out / "jacobians.png", ylabel="‖∂h_T/∂h_t‖_F",
                                        title="‖∂h_T/∂h_t‖_F"))
        md += ["![Jacobians](jacobians.png)", ""]
    histories = {label: run for label in diagnoses
                 if (run := _history_run(Path(folders[label]))) is not None}
    if histories:
        files.append(plot_runs(histories, out / "learning_curves.png", loss_x="epoch",
                               title="training history (history.json)"))
        md += ["![learning curves](learning_curves.png)", ""]
    files.append(out / "report.md")
    (out / "report.md").write_text("\n".join(md), encoding="utf-8")
    files.append(_dump(out / "results.json", {
        "data": data, "loss": loss,
        "checkpoints": {k: {"folder": folders[k], **d.to_dict()} for k, d in diagnoses.items()}}))
    return files
