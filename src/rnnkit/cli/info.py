"""``rnnkit info``: what a checkpoint folder holds — its task, config and a model summary.

Prints the application task (the tag ``rnnkit.open`` reads; none for a bare model saved with
``rnnkit.save``), the rnnkit version and time that wrote it, the model's class and
constructor settings, the extras (long values shortened) and ``rnnkit.summary`` of the model:
parameters per layer and state sizes. ``--json`` prints the same as one JSON object.
"""

from __future__ import annotations

import json
import time

from .common import add_common, examples, new_parser

EXAMPLES = (
    "rnnkit info --checkpoint tests/data/regressor_v0.1.0",
    "rnnkit info --checkpoint tests/data/regressor_v0.1.0 --json",
)


def register(subparsers) -> None:
    p = new_parser(subparsers, "info", help="show a checkpoint's task, config and model summary",
                   epilog=examples(*EXAMPLES),
                   description=__doc__.split("\n\n")[0].replace("`", ""))
    p.add_argument("--checkpoint", required=True, metavar="DIR", help="checkpoint folder to read")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    add_common(p)
    p.set_defaults(run=run)


def describe(path) -> dict:
    """Everything ``info`` prints, as a JSON-able dict (task, written_by, model, summary...)."""
    from .. import checkpoint
    from ..summary import layer_rows, summary

    doc = checkpoint.read_config(path)
    model = checkpoint.load(path)
    try:
        from ..apps import base

        task = base.task_of(path)
    except (ImportError, ValueError):
        task = None
    saved = doc.get("saved_at")
    return {"checkpoint": str(path), "task": task,
            "rnnkit_version": doc.get("rnnkit_version"),
            "saved_at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(saved))
            if isinstance(saved, (int, float)) else None,
            "model_class": doc["model_class"], "model_config": doc["model_config"],
            "extras": doc["extras"], "parameters": sum(p.numel() for p in model.parameters()),
            "layers": layer_rows(model), "summary": summary(model)}


def _short(value, width: int = 70) -> str:
    text = json.dumps(value, ensure_ascii=False)
    if len(text) <= width:
        return text
    size = f" ({len(value)} entries)" if isinstance(value, (list, dict)) else ""
    return text[: width - 5] + " ..." + size


def run(args) -> int:
    from ..runtime import resolve_device

    resolve_device(args.device)  # info reads on the CPU; a device that is not here is still
    info = describe(args.checkpoint)  # refused, as every verb refuses it
    if args.json:
        print(json.dumps({k: v for k, v in info.items() if k != "summary"}, indent=1))
        return 0
    task = info["task"] or "none (a bare model: load it with rnnkit.load)"
    written = " ".join(x for x in (f"rnnkit {info['rnnkit_version']}", info["saved_at"]) if x)
    lines = [f"checkpoint: {info['checkpoint']}", f"task: {task}", f"written by: {written}",
             f"model: {info['model_class']}", "config:"]
    lines += [f"  {k}: {_short(v)}" for k, v in info["model_config"].items()]
    lines += ["extras:" if info["extras"] else "extras: none"]
    lines += [f"  {k}: {_short(v)}" for k, v in info["extras"].items()]
    print("\n".join(lines) + "\n\n" + info["summary"])
    return 0
