"""``rnnkit translate train|predict|evaluate``: encoder–decoder translation with attention.

A thin layer over ``rnnkit.apps.translate``: the training flags are built from its
``Config``; each action parses, calls the application, prints. Every input is read and
checked before anything is written, so bad input leaves no files behind.
"""

from __future__ import annotations

import argparse
import sys
import time

from .common import (
    add_common,
    add_training_flags,
    examples,
    new_parser,
    no_action,
    out_file,
    write_lines,
)
from .config_flags import config_from_args

EXAMPLES = examples(
    "D=$RNNKIT_DATA/multi30k; rnnkit translate train --src $D/train.lc.norm.tok.de --tgt "
    "$D/train.lc.norm.tok.en --val-src $D/val.lc.norm.tok.de --val-tgt $D/val.lc.norm.tok.en "
    "--checkpoint runs/de-en --minutes 30",
    "D=$RNNKIT_DATA/multi30k; rnnkit translate train --src $D/train.lc.norm.tok.de --tgt "
    "$D/train.lc.norm.tok.en --val-src $D/val.lc.norm.tok.de --val-tgt $D/val.lc.norm.tok.en "
    "--checkpoint runs/de-en --epochs 40 --patience 5",
    'rnnkit translate predict --checkpoint runs/de-en --text "ein mann fährt fahrrad ." '
    "--beam 5",
    "D=$RNNKIT_DATA/multi30k; rnnkit translate predict --checkpoint runs/de-en "
    "--src $D/test_2016_flickr.lc.norm.tok.de --out test.hyp.en",
    "D=$RNNKIT_DATA/multi30k; rnnkit translate evaluate --checkpoint runs/de-en "
    "--src $D/test_2016_flickr.lc.norm.tok.de --tgt $D/test_2016_flickr.lc.norm.tok.en "
    "--beam 5 --length-penalty 1.5",
)

BEST_HELP = "folder for the best model (created; overwritten when it improves)"


def register(subparsers) -> None:
    p = new_parser(subparsers, "translate", help="train and use an encoder-decoder translator",
                   epilog=EXAMPLES)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    _register_train(actions)
    _register_predict(actions)
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
    p.set_defaults(run=lambda args: no_action(p))


def _register_train(actions) -> None:
    from ..apps.translate import Config

    t = new_parser(actions, "train", help="train a translator on parallel text files",
                   epilog=EXAMPLES,
                   description="Train a Seq2Seq translator; the epoch with the best validation "
                               "BLEU (greedy) is kept in --checkpoint, and --patience N stops "
                               "after N epochs without a higher one. Files hold one tokenised "
                               "sentence per line; line i of --src translates line i of --tgt.")
    t.add_argument("--src", required=True, metavar="FILE", help="source sentences, one per line")
    t.add_argument("--tgt", required=True, metavar="FILE", help="their translations, line by line")
    t.add_argument("--val-src", required=True, metavar="FILE", help="validation source sentences")
    t.add_argument("--val-tgt", required=True, metavar="FILE", help="validation translations")
    t.add_argument("--encoding", default="utf-8", metavar="NAME")
    add_training_flags(t, Config, BEST_HELP)
    t.set_defaults(run=run_train)


def _register_predict(actions) -> None:
    p = new_parser(actions, "predict", help="translate sentences with a trained model",
                   epilog=EXAMPLES)
    p.add_argument("--checkpoint", required=True, metavar="DIR",
                   help="folder written by translate train")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", action="append", help="a sentence to translate (repeatable)")
    src.add_argument("--src", metavar="FILE", help="a file of sentences, one per line")
    _decoding_options(p)
    p.add_argument("--n-best", type=int, default=1, metavar="N",
                   help="print the N best translations of each sentence, one per row: the "
                        "sentence's number (1 = the first), rank (0 = best), score, text; "
                        "tab-separated")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="write translations here instead of stdout")
    p.add_argument("--attention-png", default=None, metavar="FILE",
                   help="save the first sentence's attention heat map to this PNG")
    add_common(p)
    p.set_defaults(run=run_predict)


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


def _say(args, *parts) -> None:
    if not args.quiet:
        print(*parts, file=sys.stderr, flush=True)


def run_train(args) -> int:
    from ..apps import translate

    config = config_from_args(translate.Config, args)
    config.check()
    # read and check everything before writing anything
    pairs = [translate.read_pairs(s, t, empty=config.empty, encoding=args.encoding)
             for s, t in ((args.src, args.tgt), (args.val_src, args.val_tgt))]
    history = translate.train(config, *pairs, args.checkpoint, seed=args.seed,
                              device=args.device, quiet=args.quiet, resume=args.resume,
                              log=lambda s: _say(args, s))
    if history.already_finished:  # resume of a finished run: its note is said
        return 0
    stopped = (f" (stopped early: patience {config.patience})"
               if history.stop_reason == "early_stopping" else "")  # said even when --quiet
    print(f"best val BLEU {max(history['val_bleu']):.2f} (greedy, tokenize=none) at epoch "
          f"{history.best_epoch} of {len(history)}{stopped}, {history.seconds:.0f} s; saved to "
          f"{args.checkpoint}")
    return 0


def _encode(args, predictor, sentences, line_numbers=None):
    """Ids of the sources, with notes on unknown words and truncation on stderr."""
    ids, cut, unknown = predictor.encode(sentences, args.too_long, line_numbers)
    if unknown:
        shown = ", ".join(_printable(w) for w in unknown[:10]) + (", ..." if len(unknown) > 10
                                                                  else "")
        _say(args, f"note: {len(unknown)} unknown source word(s) mapped to <unk>: {shown}")
    if cut:
        _say(args, f"note: truncated {cut} source sentence(s) to the model's maximum of "
                   f"{predictor.model.max_src_len} tokens")
    return ids


def _search(args, predictor, ids, n_best=1):
    return predictor.search(ids, args.beam, args.length_penalty, args.max_len, n_best,
                            args.batch_size)


def run_predict(args) -> int:
    from ..apps import translate
    from ..data.parallel import read_lines

    out, png = out_file(args.out, "--out"), out_file(args.attention_png, "--attention-png",
                                                      (".png",))
    predictor = translate.load(args.checkpoint, device=args.device)
    predictor.check_search(args.length_penalty, args.max_len)  # before the notes on the input
    sentences = [s.strip() for s in (args.text or read_lines(args.src, args.encoding))]
    if not sentences:
        raise ValueError(f"--src {args.src} has no lines")
    found = _search(args, predictor, _encode(args, predictor, sentences), args.n_best)
    lines = [predictor.text(h[0].tokens) for h in found] if args.n_best == 1 else [
        f"{i}\t{k}\t{h.score:.4f}\t{predictor.text(h.tokens)}"  # rows name their sentence
        for i, hyps in enumerate(found, 1) for k, h in enumerate(hyps)]
    if out:
        write_lines(out, lines)
    else:
        print("\n".join(lines))
    if png:
        from ..models.seq2seq import plot_attention

        _, tokens_in, tokens_out, matrix = predictor.attention(
            sentences[0], args.beam, length_penalty=args.length_penalty, max_len=args.max_len)
        plot_attention(matrix, tokens_in, tokens_out, png, title=sentences[0])
        _say(args, f"attention heat map saved to {png}")
    return 0


def run_evaluate(args) -> int:
    from ..apps import translate
    from ..metrics import bleu, exact_match

    out = out_file(args.out, "--out")
    pairs = translate.read_pairs(args.src, args.tgt, empty=args.empty, encoding=args.encoding)
    predictor = translate.load(args.checkpoint, device=args.device)
    ids = _encode(args, predictor, pairs.src, pairs.line_numbers)
    start = time.perf_counter()
    hyps = [predictor.text(h[0].tokens) for h in _search(args, predictor, ids)]
    score, em = bleu(hyps, pairs.tgt, tokenize=args.tokenize), exact_match(hyps, pairs.tgt)
    if out:
        write_lines(out, hyps)
    skipped = f", skipped {pairs.skipped_empty} with an empty side" if pairs.skipped_empty \
        else ""
    print(f"BLEU {score:.2f} (sacrebleu corpus BLEU, tokenize={args.tokenize}), exact match "
          f"{100 * em:.1f}% on {len(hyps)} pairs{skipped}; beam {args.beam}, "
          f"{time.perf_counter() - start:.1f} s")
    return 0


def _printable(word: str) -> str:
    """A word as is, or its repr where it holds control characters (a binary file read as
    text put terminal escapes into the note)."""
    return word if word.isprintable() else repr(word)
