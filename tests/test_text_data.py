"""Text readers, the seeds' prefix dataset and contiguous TBPTT stream batching."""

import pytest
import torch

from rnnkit.data.text import StreamBatches, prefix_dataset, read_text, split_text


def test_prefix_dataset_matches_hand_computed_example():
    # the seeds' Keras recipe: every prefix (length >= 2) of every sentence, pre-padded to the
    # longest, last token as label
    sentences = [[3, 7, 9, 4], [5, 8], [6, 2, 1]]
    x, y = prefix_dataset(sentences)
    assert x.tolist() == [[0, 0, 3], [0, 3, 7], [3, 7, 9], [0, 0, 5], [0, 0, 6], [0, 6, 2]]
    assert y.tolist() == [7, 9, 4, 8, 2, 1]
    assert x.dtype == y.dtype == torch.long
    x, y = prefix_dataset(sentences, max_length=2, pad_id=-1)
    assert x.tolist() == [[-1, 3], [3, 7], [7, 9], [-1, 5], [-1, 6], [6, 2]]
    with pytest.raises(ValueError, match=r"^prefix_dataset: expected at least one sentence of "
                                         r"two or more tokens$"):
        prefix_dataset([[1], []])


def test_stream_batches_are_contiguous_across_batches():
    ids = torch.arange(103)
    batches = StreamBatches(ids, batch_size=4, seq_len=7)
    assert batches.steps == 25 and len(batches) == 4  # chunks of 7, 7, 7, 4 steps
    chunks = list(batches)
    assert [x.shape for x, _ in chunks] == [(4, 7), (4, 7), (4, 7), (4, 4)]
    # concatenating the chunks along time gives each stream back as one unbroken run
    rows = torch.cat([x for x, _ in chunks], 1)
    for b in range(4):
        assert rows[b].tolist() == list(range(25 * b, 25 * b + 25))
    # chunk k+1 starts where chunk k ended, row by row; targets are inputs shifted by one
    for (x0, y0), (x1, _) in zip(chunks[:-1], chunks[1:], strict=True):
        assert torch.equal(x1[:, 0], x0[:, -1] + 1)
        assert torch.equal(y0[:, -1], x1[:, 0])
    for x, y in chunks:
        assert torch.equal(y, x + 1)
    assert batches.num_tokens == 100


def test_stream_batches_errors():
    with pytest.raises(ValueError, match=r"^StreamBatches: 4 tokens are too few for "
                                         r"batch_size=4; need at least 5$"):
        StreamBatches(torch.arange(4), batch_size=4, seq_len=2)
    with pytest.raises(ValueError, match=r"^StreamBatches: seq_len must be a positive integer, "
                                         r"got 0$"):
        StreamBatches(torch.arange(40), batch_size=4, seq_len=0)


def test_read_text_and_its_errors(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("héllo\n", encoding="utf-8")
    assert read_text(good) == "héllo\n"
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9 au lait".encode("latin-1"))
    assert read_text(latin, encoding="latin-1") == "caf\xe9 au lait"
    with pytest.raises(ValueError, match=r"^cannot decode '.*latin.txt' as utf-8: byte 0xe9 at "
                                         r"offset 3; pass the file's encoding with --encoding "
                                         r"\(e.g. --encoding latin-1\)$"):
        read_text(latin)
    empty = tmp_path / "empty.txt"
    empty.write_text(" \n\n")
    with pytest.raises(ValueError, match=r"^text file '.*empty.txt' is empty$"):
        read_text(empty)
    with pytest.raises(ValueError, match=r"^text file '.*missing.txt' not found$"):
        read_text(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match=r"is a folder; expected a file$"):
        read_text(tmp_path)
    with pytest.raises(ValueError, match=r"^unknown encoding 'klingon'"):
        read_text(good, encoding="klingon")


def test_split_text_first_ninety_percent():
    train, val = split_text("abcdefghij", 0.1)
    assert (train, val) == ("abcdefghi", "j")
