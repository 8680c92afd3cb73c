"""``rnnkit translate train|predict|evaluate``: encoder–decoder translation with attention.

A thin layer over ``rnnkit.data.parallel`` (reading, batching), ``rnnkit.Seq2Seq``,
``rnnkit.fit`` and ``rnnkit.decoding`` (beam search, BLEU). Every input is read and checked
before anything is written, so bad input leaves no files behind.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .common import UsageError, add_common, examples, new_parser

EXAMPLES = examples(
    "D=../shared/data/multi30k; rnnkit translate train --src $D/train.lc.norm.tok.de --tgt "
    "$D/train.lc.norm.tok.en --val-src $D/val.lc.norm.tok.de --val-tgt $D/val.lc.norm.tok.en "
    "--checkpoint runs/de-en --minutes 30",
    'rnnkit translate predict --checkpoint runs/de-en --text "ein mann fährt fahrrad ." '
    "--beam 5",
    "rnnkit translate predict --checkpoint runs/de-en --src test.de --out test.hyp.en",
    "rnnkit translate evaluate --checkpoint runs/de-en --src $D/test_2016_flickr.lc.norm.tok.de "
    "--tgt $D/test_2016_flickr.lc.norm.tok.en --beam 5 --length-penalty 1.5",
)


def register(subparsers) -> None:
    from ..translation import TranslationConfig

    d = TranslationConfig()
    p = new_parser(subparsers, "translate", help="train and use an encoder-decoder translator",
                   epilog=EXAMPLES)
    actions = p.add_subparsers(dest="action", metavar="ACTION")

    t = new_parser(actions, "train", help="train a translator on parallel text files",
                   epilog=EXAMPLES,
                   description="Train a Seq2Seq translator; the epoch with the best validation "
                               "BLEU (greedy) is kept in --checkpoint. Files hold one tokenised "
                               "sentence per line; line i of --src translates line i of --tgt.")
    t.add_argument("--src", required=True, metavar="FILE", help="source sentences, one per line")
    t.add_argument("--tgt", required=True, metavar="FILE", help="their translations, line by line")
    t.add_argument("--val-src", required=True, metavar="FILE", help="validation source sentences")
    t.add_argument("--val-tgt", required=True, metavar="FILE", help="validation translations")
    t.add_argument("--checkpoint", required=True, metavar="DIR",
                   help="folder for the best model (created; overwritten when it improves)")
    t.add_argument("--cell", default=d.cell, choices=["gru", "lstm"],
                   help=f"encoder and decoder cell (default {d.cell})")
    t.add_argument("--attention", default=d.attention, choices=["bahdanau", "dot", "general"],
                   help=f"additive (Bahdanau) or multiplicative (Luong) (default {d.attention})")
    t.add_argument("--input-feeding", action="store_true", help="feed h~_{t-1} to the decoder")
    t.add_argument("--hidden-size", type=int, default=d.hidden_size, metavar="N",
                   help=f"decoder size; each encoder direction has half (default {d.hidden_size})")
    t.add_argument("--embedding-dim", type=int, default=d.embedding_dim, metavar="N",
                   help=f"word embedding size (default {d.embedding_dim})")
    t.add_argument("--num-layers", type=int, default=d.num_layers, metavar="N")
    t.add_argument("--dropout", type=float, default=d.dropout, metavar="X",
                   help=f"dropout in [0, 1) (default {d.dropout})")
    t.add_argument("--teacher-forcing", type=float, default=d.teacher_forcing, metavar="X",
                   help="chance of feeding the true previous token while training (default 1)")
    t.add_argument("--tie-embeddings", action="store_true",
                   help="the output layer reuses the target embedding")
    t.add_argument("--share-embeddings", action="store_true",
                   help="one joint vocabulary and embedding for source and target")
    t.add_argument("--min-freq", type=int, default=d.min_freq, metavar="N",
                   help=f"rarer words become <unk> (default {d.min_freq})")
    t.add_argument("--max-vocab", type=int, default=None, metavar="N",
                   help="largest vocabulary per side")
    t.add_argument("--max-len", type=int, default=d.max_len, metavar="N",
                   help=f"most tokens per sentence; see --too-long (default {d.max_len})")
    t.add_argument("--too-long", default=d.too_long, choices=["truncate", "error"],
                   help="longer sentences: cut to --max-len tokens (default) or refuse")
    t.add_argument("--empty", default=d.empty, choices=["skip", "error"],
                   help="pairs with an empty side: skip and count (default) or refuse")
    budget = t.add_argument_group("length of the run (default 10 epochs)")
    budget.add_argument("--epochs", type=int, default=None, metavar="N")
    budget.add_argument("--minutes", type=float, default=None, metavar="X",
                        help="wall-clock budget; the lr decays over it")
    t.add_argument("--batch-size", type=int, default=d.batch_size, metavar="N")
    t.add_argument("--lr", type=float, default=d.lr, metavar="X",
                   help=f"peak Adam lr (default {d.lr})")
    t.add_argument("--schedule", choices=("cosine", "linear", "constant"), default=d.schedule,
                   help=f"lr over the run (default {d.schedule})")
    t.add_argument("--clip-norm", type=float, default=d.clip_norm, metavar="X")
    t.add_argument("--encoding", default="utf-8", metavar="NAME")
    add_common(t)
    t.set_defaults(run=run_train)

    p_ = new_parser(actions, "predict", help="translate sentences with a trained model",
                    epilog=EXAMPLES)
    p_.add_argument("--checkpoint", required=True, metavar="DIR",
                    help="folder written by translate train")
    src = p_.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", action="append", help="a sentence to translate (repeatable)")
    src.add_argument("--src", metavar="FILE", help="a file of sentences, one per line")
    _decoding_options(p_)
    p_.add_argument("--n-best", type=int, default=1, metavar="N",
                    help="print the N best translations of each sentence (index, score, text)")
    p_.add_argument("--out", default=None, metavar="FILE",
                    help="write translations here instead of stdout")
    p_.add_argument("--attention-png", default=None, metavar="FILE",
                    help="save the first sentence's attention heat map to this PNG")
    add_common(p_)
    p_.set_defaults(run=run_predict)

    e = new_parser(actions, "evaluate", help="corpus BLEU and exact match on parallel files",
                   epilog=EXAMPLES)
    e.add_argument("--checkpoint", required=True, metavar="DIR",
                   help="folder written by translate train")
    e.add_argument("--src", required=True, metavar="FILE", help="source sentences, one per line")
    e.add_argument("--tgt", required=True, metavar="FILE",
                   help="reference translations, line by line")
    _decoding_options(e)
    e.add_argument("--empty", default="skip", choices=["skip", "error"],
                   help="pairs with an empty side: skip and count (default) or refuse")
    e.add_argument("--tokenize", default="none", choices=["none", "13a", "intl", "char"],
                   help="sacrebleu tokenizer: none (default, for tokenised text) or 13a ...")
    e.add_argument("--out", default=None, metavar="FILE",
                   help="also write the translations to this file")
    add_common(e)
    e.set_defaults(run=run_evaluate)
    p.set_defaults(run=lambda args: _no_action(p))


def _decoding_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--beam", type=int, default=5, help="beam width; 1 = greedy (default 5)")
    p.add_argument("--length-penalty", type=float, default=1.0,
                   help="rank beams by log p / length**LP (default 1; 0 = none)")
    p.add_argument("--max-len", type=int, default=None,
                   help="most output tokens (default 2 x source length + 10)")
    p.add_argument("--too-long", default="truncate", choices=["truncate", "error"],
                   help="sources over the model's maximum: cut (default) or refuse")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--encoding", default="utf-8")


def _no_action(p) -> int:
    p.print_help()
    return 2


def _say(args, *parts) -> None:
    if not args.quiet:
        print(*parts, file=sys.stderr, flush=True)


def _positive(name: str, value, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if value is None or value < 1:
        raise UsageError(f"{name} must be a positive integer, got {value!r}")


# ------------------------------------------------------------------------------- train
def run_train(args) -> int:
    from rnnkit.data.parallel import read_parallel
    from rnnkit.translation import TranslationConfig, train_translation

    config = TranslationConfig(
        cell=args.cell, attention=args.attention, input_feeding=args.input_feeding,
        hidden_size=args.hidden_size, embedding_dim=args.embedding_dim,
        num_layers=args.num_layers, dropout=args.dropout, teacher_forcing=args.teacher_forcing,
        tie_embeddings=args.tie_embeddings, share_embeddings=args.share_embeddings,
        min_freq=args.min_freq, max_vocab=args.max_vocab, max_len=args.max_len,
        too_long=args.too_long, empty=args.empty, batch_size=args.batch_size, lr=args.lr,
        schedule=args.schedule, clip_norm=args.clip_norm)
    config.check()
    ckpt = Path(args.checkpoint)
    if ckpt.exists() and not ckpt.is_dir():
        raise UsageError(f"--checkpoint {ckpt} exists and is not a folder")
    # read and check everything before writing anything
    train = read_parallel(args.src, args.tgt, empty=args.empty, encoding=args.encoding)
    val = read_parallel(args.val_src, args.val_tgt, empty=args.empty, encoding=args.encoding)
    result = train_translation(train, val, ckpt, config, epochs=args.epochs,
                               minutes=args.minutes, seed=args.seed, device=args.device,
                               quiet=args.quiet, log=lambda s: _say(args, s))
    print(f"best val BLEU {result['val_bleu']:.2f} (greedy, tokenize=none) at epoch "
          f"{result['best_epoch']} of {result['epochs']}, {result['seconds']:.0f} s; saved to "
          f"{ckpt}")
    return 0


# ----------------------------------------------------------------------------- loading
def _load(args):
    from rnnkit.translation import load_translation

    model, src_tok, tgt_tok, _ = load_translation(args.checkpoint, device=args.device)
    return model, src_tok, tgt_tok


def _check_decoding(args) -> None:
    _positive("--beam", args.beam)
    _positive("--batch-size", args.batch_size)
    _positive("--max-len", args.max_len, allow_none=True)
    n_best = getattr(args, "n_best", 1)
    if not 1 <= n_best <= args.beam:
        raise UsageError(f"--n-best must lie in [1, --beam {args.beam}], got {n_best}")


def _encode(args, model, src_tok, sentences, line_numbers=None):
    """Ids of the sources, with notes on unknown words and truncation on stderr."""
    from rnnkit.data.parallel import encode_sources

    ids, cut = encode_sources(sentences, src_tok, model.max_src_len, args.too_long,
                              line_numbers)
    unknown = list(dict.fromkeys(w for s in sentences for w in src_tok.unknown(s)))
    if unknown:
        shown = ", ".join(unknown[:10]) + (", ..." if len(unknown) > 10 else "")
        _say(args, f"note: {len(unknown)} unknown source word(s) mapped to <unk>: {shown}")
    if cut:
        _say(args, f"note: truncated {cut} source sentence(s) to the model's maximum of "
                   f"{model.max_src_len} tokens")
    return ids


def _write(path: str, lines: list[str]) -> None:
    from rnnkit.checkpoint import atomic_write

    p = Path(path)
    if p.is_dir():
        raise UsageError(f"--out {p} is a folder; expected a file")
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(p, lambda tmp: tmp.write_text("".join(line + "\n" for line in lines),
                                                encoding="utf-8"))


# ----------------------------------------------------------------------------- predict
def run_predict(args) -> int:
    from rnnkit.data.parallel import read_lines
    from rnnkit.decoding import attention_for, join_tokens, translate_ids
    from rnnkit.models.seq2seq import plot_attention

    _check_decoding(args)
    if args.out and Path(args.out).is_dir():
        raise UsageError(f"--out {args.out} is a folder; expected a file")
    if args.attention_png and Path(args.attention_png).is_dir():
        raise UsageError(f"--attention-png {args.attention_png} is a folder; expected a file")
    model, src_tok, tgt_tok = _load(args)
    if args.text is not None:
        sentences = [s.strip() for s in args.text]
    else:
        sentences = [s.strip() for s in read_lines(args.src, args.encoding)]
        if not sentences:
            raise UsageError(f"--src {args.src} has no lines")
    ids = _encode(args, model, src_tok, sentences)
    found = translate_ids(model, ids, beam_width=args.beam, length_penalty=args.length_penalty,
                          max_len=args.max_len, n_best=args.n_best, batch_size=args.batch_size)
    if args.n_best == 1:
        lines = [join_tokens(tgt_tok, hyps[0].tokens) for hyps in found]
    else:
        lines = [f"{k}\t{h.score:.4f}\t{join_tokens(tgt_tok, h.tokens)}"
                 for hyps in found for k, h in enumerate(hyps)]
    if args.out:
        _write(args.out, lines)
    else:
        print("\n".join(lines))
    if args.attention_png:
        best = found[0][0].tokens
        weights = attention_for(model, ids[0], best)
        plot_attention(weights, [src_tok.itos[i] for i in ids[0]],
                       [tgt_tok.itos[i] for i in best] + ["<eos>"], args.attention_png,
                       title=sentences[0])
        _say(args, f"attention heat map saved to {args.attention_png}")
    return 0


# ---------------------------------------------------------------------------- evaluate
def run_evaluate(args) -> int:
    from rnnkit.data.parallel import read_parallel
    from rnnkit.decoding import bleu, exact_match, join_tokens, translate_ids

    _check_decoding(args)
    if args.out and Path(args.out).is_dir():
        raise UsageError(f"--out {args.out} is a folder; expected a file")
    pairs = read_parallel(args.src, args.tgt, empty=args.empty, encoding=args.encoding)
    model, src_tok, tgt_tok = _load(args)
    ids = _encode(args, model, src_tok, pairs.src, pairs.line_numbers)
    start = time.perf_counter()
    found = translate_ids(model, ids, beam_width=args.beam, length_penalty=args.length_penalty,
                          max_len=args.max_len, batch_size=args.batch_size)
    hyps = [join_tokens(tgt_tok, h[0].tokens) for h in found]
    score = bleu(hyps, pairs.tgt, tokenize=args.tokenize)
    em = exact_match(hyps, pairs.tgt)
    if args.out:
        _write(args.out, hyps)
    skipped = f", skipped {pairs.skipped_empty} with an empty side" if pairs.skipped_empty \
        else ""
    print(f"BLEU {score:.2f} (sacrebleu corpus BLEU, tokenize={args.tokenize}), exact match "
          f"{100 * em:.1f}% on {len(hyps)} pairs{skipped}; beam {args.beam}, "
          f"{time.perf_counter() - start:.1f} s")
    return 0
