"""``rnnkit export``: a checkpoint as ONNX graphs (whole sequence + streaming step), verified.

Writes a new folder holding ``model.onnx`` (dynamic batch and time axes), ``step.onnx`` (one
step, the state as inputs and outputs) for unidirectional models, ``encoder.onnx`` and
``decoder_step.onnx`` for translation models, the tokenizer(s) and ``export.json`` (config,
inputs and outputs of every graph). Every graph is checked in onnxruntime against PyTorch
first; a difference beyond 1e-4 exits with status 2 and writes nothing.
"""

from __future__ import annotations

from .common import UsageError, add_common, examples, new_parser

EXAMPLES = (
    "rnnkit export --checkpoint runs/next --out exported/next --tolerance 1e-5",
    "rnnkit export --checkpoint runs/notes --format onnx --out exported/notes",
    'python examples/onnx_generate.py exported/notes --prompt "The old" --length 200',
)


def register(subparsers) -> None:
    p = new_parser(subparsers, "export", help="export a checkpoint as verified ONNX graphs",
                   epilog=examples(*EXAMPLES),
                   description=__doc__.split("\n\n")[0].replace("``", ""))
    p.add_argument("--checkpoint", required=True, help="checkpoint folder to export")
    p.add_argument("--format", default="onnx", type=str.lower, help="onnx (default)")
    p.add_argument("--out", required=True,
                   help="the folder to create (it must not exist, or be empty)")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="largest onnxruntime-vs-PyTorch difference accepted (1e-4)")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..export import FORMATS, ExportError, export

    if args.format not in FORMATS:
        raise UsageError(f"unknown format {args.format!r}; expected one of {', '.join(FORMATS)}")
    if not args.tolerance > 0:
        raise UsageError(f"--tolerance must be > 0, got {args.tolerance}")
    from ..runtime import resolve_device

    resolve_device(args.device)  # the export runs on the CPU, but a device not here is refused
    try:
        out = export(args.checkpoint, args.out, args.format, tolerance=args.tolerance)
    except ExportError as e:  # one line without the API's "export: " prefix
        raise UsageError(str(e).removeprefix("export: ")) from None
    if not args.quiet:
        import json

        doc = json.loads((out / "export.json").read_text(encoding="utf-8"))
        for name, diff in doc["verification"]["max_difference"].items():
            print(f"{name}.onnx: max |onnxruntime - PyTorch| = {diff:.2e}")
        choice = ((doc["extras"].get("forecast") or {}).get("panel") or {}).get("choice") or {}
        classical = sorted(sid for sid, method in choice.items() if method != "rnn")
        if classical:  # what serving and predict use for them is not in the graphs
            print(f"note: {len(classical)} of {len(choice)} series are forecast by classical "
                  "methods or combinations, not by this network alone (export.json: "
                  "extras.forecast.panel.choice)")
    print(f"exported {args.checkpoint} to {out}/")
    return 0
