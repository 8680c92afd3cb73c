"""Real data (slow): Multi30k de→en through the CLI — train for a few minutes on train,
select on val, then BLEU on test_2016_flickr with ``rnnkit translate evaluate``.

The full 30-minute run and its numbers are in BENCHMARKS.md ("Multi30k translation"); this
check trains for 4 epochs on 1 thread and asserts the floor such a run clears. It counts
epochs, not minutes: a wall-clock budget made the result depend on the machine's speed and
load. It failed that way (BLEU 19.79 after 3 epochs in 8 minutes): the CLI's ``--threads``
default had become 1, overriding the test's 2 threads, on a machine slower than the one the
floor was set on (Nov 21 epochs took 54 s on 2 threads, now ~200 s on 1). One thread, because
two threads on cores that other jobs share spin at every barrier: under a load of 6-7 one
epoch took 1,868 s on 2 threads.
"""

import re

import pytest
import torch

from rnnkit.cli.main import main
from rnnkit.data.text import data_root

DATA = data_root() / "multi30k"
EPOCHS = 4
FLOOR_BLEU = 24.0  # the 30-minute run was at 24.8 val BLEU (greedy) after 4 epochs, lr barely lowered


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "train.lc.norm.tok.de").exists(),
                    reason="Multi30k not found under $RNNKIT_DATA")
def test_multi30k_de_en_clears_the_floor_after_four_epochs(tmp_path, capsys):
    threads = torch.get_num_threads()
    try:
        ckpt = tmp_path / "de-en"
        assert main(["translate", "train", "--src", str(DATA / "train.lc.norm.tok.de"),
                     "--tgt", str(DATA / "train.lc.norm.tok.en"), "--val-src",
                     str(DATA / "val.lc.norm.tok.de"), "--val-tgt",
                     str(DATA / "val.lc.norm.tok.en"), "--checkpoint", str(ckpt), "--epochs",
                     str(EPOCHS), "--threads", "1", "--quiet"]) == 0
        capsys.readouterr()
        assert main(["translate", "evaluate", "--checkpoint", str(ckpt), "--src",
                     str(DATA / "test_2016_flickr.lc.norm.tok.de"), "--tgt",
                     str(DATA / "test_2016_flickr.lc.norm.tok.en"), "--beam", "5",
                     "--threads", "1", "--quiet"]) == 0
        printed = capsys.readouterr().out
    finally:
        torch.set_num_threads(threads)
    score = float(re.match(r"BLEU ([0-9.]+) ", printed).group(1))
    assert "on 1000 pairs" in printed
    assert score >= FLOOR_BLEU, printed
