"""Generate text from an exported character model with onnxruntime and NumPy only (no torch).

    rnnkit textgen train --text input.txt --minutes 5 --checkpoint runs/char
    rnnkit export --checkpoint runs/char --format onnx --out exported/char
    python examples/onnx_generate.py exported/char --prompt "ROMEO:" --length 200

The prompt is read by the whole-sequence graph (``model.onnx``) in one call, then each new
character goes through the streaming graph (``step.onnx``) with the LSTM/GRU state carried as
plain arrays, as ``rnnkit textgen sample`` does in PyTorch. With ``--temperature 0`` (greedy,
the default) the text is the same as ``rnnkit textgen sample --temperature 0``; above 0 it
samples with NumPy's generator (other draws than torch's, so other text for the same seed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

SPECIALS = {0, 2, 3}  # <pad>, <bos>, <eos>: not shown, as tokenizer.decode(skip_specials=True)
NEVER = [0, 1, 2, 3]  # <pad>, <unk>, <bos>, <eos>: no text, never drawn (as rnnkit textgen sample)


def fail(message: str):
    """Bad input: one line on stderr, status 2 (as the rnnkit command line)."""
    print(f"onnx_generate: {message}", file=sys.stderr)
    sys.exit(2)


def load(folder: Path):
    if not (folder / "export.json").is_file():
        fail(f"{folder} is not a folder written by rnnkit export (it has no export.json)")
    doc = json.loads((folder / "export.json").read_text(encoding="utf-8"))
    if doc.get("task") != "textgen" or not (folder / "tokenizer.json").is_file():
        fail(f"{folder} holds a {doc.get('task') or doc.get('model_class', 'model')} export; "
             "this example reads character language models (rnnkit textgen)")
    tok = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    if tok.get("type") != "CharTokenizer":
        fail(f"{folder} holds a {tok.get('type')} language model; this example reads "
             "character models")
    sessions = {name: ort.InferenceSession(str(folder / g["file"]),
                                           providers=["CPUExecutionProvider"])
                for name, g in doc["graphs"].items()}
    return doc, tok, sessions


def encode(tok: dict, prompt: str) -> list[int]:
    stoi = {s: i for i, s in enumerate(tok["itos"])}
    text = prompt.lower() if tok.get("lower") else prompt
    unknown = sorted({c for c in text if c not in stoi})
    if unknown:
        fail(f"the prompt has characters outside the vocabulary: {unknown}")
    return [stoi[c] for c in text]


def zero_state(doc: dict, graph: str, batch: int = 1) -> dict[str, np.ndarray]:
    return {p["name"]: np.zeros([batch if d == "batch" else d for d in p["shape"]], np.float32)
            for p in doc["graphs"][graph]["inputs"] if p["name"] in ("h", "c")}


def generate(folder: str | Path, prompt: str, length: int, temperature: float = 0.0,
             top_k: int | None = None, seed: int = 0) -> str:
    folder = Path(folder)
    doc, tok, sessions = load(folder)
    ids = encode(tok, prompt)
    newline = tok["itos"].index("\n") if "\n" in tok["itos"] else None
    context = ids or ([newline] if newline is not None else [])  # "" starts a new line
    if not context:
        fail("give a --prompt (the vocabulary has no newline to start from)")
    rng = np.random.default_rng(seed)
    model, step = sessions["model"], sessions["step"]
    names = [o.name for o in model.get_outputs()]  # logits, h_next[, c_next]
    outs = model.run(None, {"tokens": np.array([context], np.int64), **zero_state(doc, "model")})
    logits = outs[0][:, -1]  # (1, V)
    carry = doc["graphs"]["step"]["carry"]  # h_next -> h, c_next -> c
    state = {carry[n]: v for n, v in zip(names, outs, strict=True) if n in carry}
    new = []
    for i in range(length):
        token = pick(logits[0], temperature, top_k, rng)
        new.append(token)
        if i == length - 1:
            break
        outs = step.run(None, {"token": np.array([token], np.int64), **state})
        logits = outs[0]
        state = {carry[n]: v for n, v in zip(names, outs, strict=True) if n in carry}
    shown = [i for i in ids + new if i not in SPECIALS]
    return "".join(tok["itos"][i] for i in shown)


def pick(logits: np.ndarray, temperature: float, top_k: int | None, rng) -> int:
    logits = logits.astype(np.float64)
    logits[NEVER] = -np.inf
    if temperature == 0:
        return int(np.argmax(logits))
    z = logits / temperature
    if top_k is not None and top_k < len(z):
        z[z < np.sort(z)[-top_k]] = -np.inf
    p = np.exp(z - z.max())
    return int(rng.choice(len(z), p=p / p.sum()))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", help="a folder written by rnnkit export")
    p.add_argument("--prompt", default="", help="text to continue")
    p.add_argument("--length", type=int, default=200, help="characters to generate")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.length < 1:  # as rnnkit textgen sample
        p.error(f"--length must be a positive integer, got {args.length}")
    if not 0 <= args.temperature < float("inf"):
        p.error(f"--temperature must be a finite number >= 0 (0 = greedy), got {args.temperature}")
    if args.top_k is not None and args.top_k < 1:
        p.error(f"--top-k must be an integer >= 1, got {args.top_k}")
    if not 0 <= args.seed < 2**63:
        p.error(f"--seed must lie in 0..2**63-1, got {args.seed}")
    print(generate(args.folder, args.prompt, args.length, args.temperature, args.top_k,
                   args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
