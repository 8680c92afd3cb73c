"""Data: tokenizers, text readers, language-model datasets and batching."""

from . import windows  # rnnkit.data.windows without importing it first (the README names it)
from .text import StreamBatches, data_root, prefix_dataset, read_text, split_text
from .tokenizers import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPECIALS,
    UNK_ID,
    CharTokenizer,
    WordTokenizer,
    pad_sequences,
    tokenizer_from_dict,
)

__all__ = [
    "windows",
    "CharTokenizer",
    "WordTokenizer",
    "tokenizer_from_dict",
    "pad_sequences",
    "SPECIALS",
    "PAD_ID",
    "UNK_ID",
    "BOS_ID",
    "EOS_ID",
    "read_text",
    "split_text",
    "prefix_dataset",
    "StreamBatches",
    "data_root",
]
