"""Parallel text: reading aligned files (line counts, empty lines, encodings), length limits,
batches with lengths in rnnkit.fit's form, length buckets, the reversal task, BLEU."""

import pytest
import torch

from rnnkit.data.parallel import (
    IGNORE_INDEX,
    LengthBuckets,
    ParallelDataset,
    collate_pairs,
    encode_sources,
    parallel_loader,
    read_parallel,
    reversal_pairs,
)
from rnnkit.data.tokenizers import BOS_ID, EOS_ID, PAD_ID, UNK_ID, WordTokenizer
from rnnkit.decoding import bleu, exact_match


def _files(tmp_path, src: str, tgt: str):
    s, t = tmp_path / "a.de", tmp_path / "a.en"
    s.write_text(src, encoding="utf-8")
    t.write_text(tgt, encoding="utf-8")
    return s, t


def test_read_parallel_keeps_aligned_pairs(tmp_path):
    s, t = _files(tmp_path, "ein mann .\nzwei hunde\r\n", "a man .\ntwo dogs\r\n")
    pairs = read_parallel(s, t)
    assert pairs.src == ["ein mann .", "zwei hunde"] and pairs.tgt == ["a man .", "two dogs"]
    assert pairs.line_numbers == [1, 2] and pairs.skipped_empty == 0 and len(pairs) == 2


def test_line_counts_must_match(tmp_path):
    s, t = _files(tmp_path, "a\nb\nc\n", "x\ny\n")
    with pytest.raises(ValueError, match=r"parallel text: '.*a\.de' has 3 lines but '.*a\.en' "
                                         r"has 2; line i of the source must translate line i "
                                         r"of the target"):
        read_parallel(s, t)


def test_empty_lines_are_skipped_and_counted_or_refused(tmp_path):
    s, t = _files(tmp_path, "a b\n\nc\nd\n", "x y\nz\n  \nw\n")
    pairs = read_parallel(s, t)
    assert pairs.src == ["a b", "d"] and pairs.line_numbers == [1, 4]
    assert pairs.skipped_empty == 2
    with pytest.raises(ValueError, match=r"parallel text: line 2 of the source is empty \(pass "
                                         r"empty='skip' / --empty skip to skip such pairs\)"):
        read_parallel(s, t, empty="error")
    s, t = _files(tmp_path, "\n\n", "x\n\n")
    with pytest.raises(ValueError, match="parallel text: no non-empty sentence pairs in"):
        read_parallel(s, t)


def test_missing_and_undecodable_files(tmp_path):
    s, t = _files(tmp_path, "a\n", "b\n")
    with pytest.raises(ValueError, match=r"text file '.*nope\.de' not found"):
        read_parallel(tmp_path / "nope.de", t)
    s.write_bytes(b"gr\xfcn\n")
    with pytest.raises(ValueError, match=r"cannot decode '.*a\.de' as utf-8: byte 0xfc at "
                                         "offset 2"):
        read_parallel(s, t)
    assert read_parallel(s, t, encoding="latin-1").src == ["grün"]


@pytest.fixture
def toks():
    de = WordTokenizer(punctuation="keep").fit(["ein mann fährt fahrrad .", "zwei hunde"])
    en = WordTokenizer(punctuation="keep").fit(["a man rides a bike .", "two dogs"])
    return de, en


def test_too_long_is_truncated_and_counted_or_refused(toks):
    de, en = toks
    data = ParallelDataset(["ein mann fährt fahrrad .", "zwei hunde"],
                           ["a man rides a bike .", "two dogs"], de, en, max_len=3)
    assert data.truncated == 1
    assert [len(s) for s, _ in data.pairs] == [3, 2] and [len(t) for _, t in data.pairs] == [3, 2]
    with pytest.raises(ValueError, match=r"target line 1 has 6 tokens, more than the maximum 5 "
                                         r"\(pass too_long='truncate' / --too-long truncate to "
                                         r"cut it\)"):
        ParallelDataset(["zwei hunde"], ["a man rides a bike ."], de, en, max_len=5,
                        too_long="error")
    ids, cut = encode_sources(["ein mann fährt fahrrad ."], de, max_len=2)
    assert cut == 1 and ids == [[de.stoi["ein"], de.stoi["mann"]]]
    with pytest.raises(ValueError, match="source line 7 has 5 tokens, more than the maximum 2"):
        encode_sources(["ein mann fährt fahrrad ."], de, 2, "error", line_numbers=[7])


def test_unknown_words_become_unk_and_empty_sources_are_refused(toks):
    de, _ = toks
    ids, cut = encode_sources(["ein katze fährt"], de)
    assert ids == [[de.stoi["ein"], UNK_ID, de.stoi["fährt"]]] and cut == 0
    with pytest.raises(ValueError, match="source line 2 is empty; there is nothing to "
                                         "translate"):
        encode_sources(["ein mann", ""], de)


def test_collate_gives_fit_batches_with_lengths():
    (src, lengths, tgt_in), tgt_out = collate_pairs([([5, 6, 7], [8, 9]), ([5], [8, 9, 10])])
    assert src.tolist() == [[5, 6, 7], [5, PAD_ID, PAD_ID]] and lengths.tolist() == [3, 1]
    assert tgt_in.tolist() == [[BOS_ID, 8, 9, PAD_ID], [BOS_ID, 8, 9, 10]]
    assert tgt_out.tolist() == [[8, 9, EOS_ID, IGNORE_INDEX], [8, 9, 10, EOS_ID]]


def test_length_buckets_cover_every_index_once_and_are_seeded():
    lengths = [int(x) for x in torch.randint(1, 30, (103,))]
    sampler = LengthBuckets(lengths, batch_size=8, seed=3, pool=4)
    first = list(sampler)
    assert sorted(i for b in first for i in b) == list(range(103)) and len(first) == len(sampler)
    assert list(LengthBuckets(lengths, 8, seed=3, pool=4)) == first  # same seed, same batches
    assert list(sampler) != first  # a fresh order each epoch
    spread = sum(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in first)
    assert spread < 0.5 * sum(max(lengths) - min(lengths) for _ in first)  # little padding
    assert list(LengthBuckets(lengths, 50, shuffle=False)) == [
        list(range(50)), list(range(50, 100)), [100, 101, 102]]
    with pytest.raises(ValueError, match="LengthBuckets: batch_size must be a positive "
                                         "integer, got 0"):
        LengthBuckets(lengths, 0)


def test_parallel_loader_feeds_the_model_signature(toks):
    de, en = toks
    data = ParallelDataset(["ein mann .", "zwei hunde"], ["a man .", "two dogs"], de, en)
    (src, lengths, tgt_in), tgt_out = next(iter(parallel_loader(data, 2, shuffle=False)))
    assert src.shape == (2, 3) and lengths.tolist() == [3, 2] and tgt_in.shape == tgt_out.shape


def test_reversal_pairs_are_seeded_reversals():
    src, tgt = reversal_pairs(20, vocab=5, min_len=2, max_len=4, seed=7)
    assert all(t.split() == s.split()[::-1] for s, t in zip(src, tgt, strict=True))
    assert all(2 <= len(s.split()) <= 4 for s in src)
    assert reversal_pairs(20, vocab=5, min_len=2, max_len=4, seed=7) == (src, tgt)
    with pytest.raises(ValueError, match="reversal_pairs: expected 1 <= min_len <= max_len, "
                                         "got 5 and 2"):
        reversal_pairs(3, min_len=5, max_len=2)


def test_bleu_and_exact_match():
    refs = ["a man rides a bike .", "two dogs play in the snow ."]
    assert bleu(refs, refs) == pytest.approx(100.0)
    assert 0 < bleu(["a man rides a bike .", "two dogs play ."], refs) < 100
    assert exact_match(["a man rides a bike .", "two  dogs"], refs) == 0.5
    with pytest.raises(ValueError, match="bleu: expected one reference per hypothesis, got 1 "
                                         "hypotheses and 2 references"):
        bleu(["a"], refs)
