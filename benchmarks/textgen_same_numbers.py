"""Fixed work, so contention cannot change it: train textgen on the first 120,000 characters of
Tiny Shakespeare (hidden size 128, 2 epochs, seed 0, 1 thread) and print the per-epoch losses.

Run it with 0.1.0 and with the current code; the lines must match::

    git worktree add /tmp/rnnkit-old 1af5e09
    PYTHONPATH=/tmp/rnnkit-old/src python benchmarks/textgen_same_numbers.py
    python benchmarks/textgen_same_numbers.py
"""

import os
import tempfile

import torch

torch.set_num_threads(1)
path = os.path.join(os.environ.get("RNNKIT_DATA", "../shared/data"), "tinyshakespeare",
                    "input.txt")
text = open(path, encoding="utf-8").read()[:120_000]
ckpt = tempfile.mkdtemp()
try:
    from rnnkit.apps.textgen import Config, train
except ImportError:  # rnnkit 0.1.0
    from rnnkit.textgen import TextGenConfig, train_text

    rows = train_text(text, ckpt, TextGenConfig(hidden_size=128), epochs=2, quiet=True)["history"]
    val, tr = [r["val_loss"] for r in rows], [r["train_loss"] for r in rows]
else:
    history = train(Config(hidden_size=128, epochs=2), text, ckpt, quiet=True)
    val, tr = history["val_loss"], history["train_loss"]
print("val", [round(v, 6) for v in val], "train", [round(v, 6) for v in tr])
