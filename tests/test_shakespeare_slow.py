"""Real data (slow): Tiny Shakespeare's standard split, and two epochs of the defaults.

Run with ``pytest -m slow``; needs ``$RNNKIT_DATA/tinyshakespeare/input.txt``. The figure the
issue asks for (<= 1.50 nats/char after 95 s on 2 threads) is measured, with its command, by
``benchmarks/shakespeare.py``. Here the budget is counted in epochs, not seconds, so the result
does not depend on the machine's speed or load: the 95-second budget bought 675 steps on
2026-11-21 and 270 on 2026-11-30 (a slower machine; 2 threads under load spin and lose 4x
more). Two epochs are 490 steps; 1 thread avoids the spinning.
"""

import pytest
import torch

from rnnkit.apps.textgen import TextGenConfig, prepare, train
from rnnkit.data.text import data_root, read_text

PATH = data_root() / "tinyshakespeare" / "input.txt"
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not PATH.is_file(), reason=f"{PATH} not found")]


def test_standard_split_and_vocabulary():
    text = read_text(PATH)
    tok, train_ids, val_ids = prepare(text, TextGenConfig())
    assert len(text) == 1_115_394
    assert (len(train_ids), len(val_ids)) == (1_003_854, 111_540)
    assert tok.vocab_size - 4 == 65


def test_two_epochs_of_defaults_learn_shakespeare(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        history = train(TextGenConfig(epochs=2), read_text(PATH), tmp_path / "ckpt",
                        quiet=True)
    finally:
        torch.set_num_threads(threads)
    assert min(history["val_loss"]) < 1.65
