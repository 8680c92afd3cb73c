"""``rnnkit import-keras``: a Keras model file (.keras or legacy .h5) as an rnnkit checkpoint.

No TensorFlow needed: the config is JSON and the weights are read with h5py. The checkpoint
holds a ``KerasSequential`` model that predicts what the Keras model predicts and that rnnkit
loads, trains further (``rnnkit.fit``) and exports (``rnnkit export``). A layer rnnkit cannot
convert exits with status 2 naming it, and nothing is written.
"""

from __future__ import annotations

from pathlib import Path

from .common import UsageError, add_common, examples, new_parser

EXAMPLES = (
    "python examples/keras_next_number.py --out runs",
    "rnnkit import-keras runs/next_number.keras --checkpoint runs/keras-next",
    "rnnkit import-keras runs/next_number.h5 --checkpoint runs/keras-next-h5 --quiet",
    "rnnkit export --checkpoint runs/keras-next --format onnx --out exported/keras-next",
)


def register(subparsers) -> None:
    p = new_parser(subparsers, "import-keras", help="convert a Keras model file to a checkpoint",
                   epilog=examples(*EXAMPLES),
                   description=__doc__.split("\n\n")[0].replace("``", ""))
    p.add_argument("file", help="a .keras file (Keras 3) or a legacy .h5 model file")
    p.add_argument("--checkpoint", required=True, help="the checkpoint folder to write")
    add_common(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ..checkpoint import save
    from ..keras_import import KerasImportError, from_keras
    from ..runtime import resolve_device

    resolve_device(args.device)  # the import runs on the CPU; a device not here is refused
    out = Path(args.checkpoint)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"{out} already exists; give a new checkpoint folder")
    try:
        model = from_keras(args.file)
    except KerasImportError as e:  # one line without the API's "from_keras: " prefix
        raise UsageError(str(e).removeprefix("from_keras: ")) from None
    save(model, out, extras={"source": "keras", "keras_file": Path(args.file).name})
    if not args.quiet:
        for spec in model.specs:
            detail = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "type")
            print(f"  {spec['type']}: {detail}")
    print(f"imported {args.file} ({len(model.specs)} layers, "
          f"{sum(p.numel() for p in model.parameters())} parameters) to {out}/")
    return 0
