"""Write the small sample inputs that the README's command-line examples read.

    python examples/make_data.py            # -> examples/data/ (already in the repository)

Every file is generated here from a fixed seed, so it can be remade and checked; none is
real data (real datasets live outside the repository: see README, "Data"):

- ``series.csv``: one noisy seasonal series with a trend (time, value) for regress/train/predict;
- ``sales.csv``: four monthly series in long format (unique_id, ds, y) with trend and
  multiplicative seasonality, for ``forecast --id-col``;
- ``notes.txt``: English-like sentences from a small grammar, for ``textgen``;
- ``reviews.pos`` / ``reviews.neg``: short positive and negative review sentences, for
  ``classify``; ``reviews.csv``: more of them as a table (text, label), for ``classify --csv``;
- ``pairs.de`` / ``pairs.en`` (and ``pairs.val.*``, held out): toy German-English sentence
  pairs (line i translates line i), for ``translate``;
- ``sensor.csv``: a machine temperature stream (timestamp, value) with two injected faults,
  for ``anomaly``;
- ``waves_TRAIN.tsv`` / ``waves_TEST.tsv``: numeric series in the UCR layout (label, then the
  values, tab separated) of three shapes (sine, square, sawtooth) with random phase and
  noise, for ``classify --ucr``;
- ``motions.csv``: 16 three-axis accelerometer gestures (``wave``: a slow swing, ``shake``: a
  fast back and forth) of 8-12 steps in long format (series, step, gesture, ax, ay, az), for
  ``classify --series-csv`` (several features per step, unequal lengths).
"""

from __future__ import annotations

import argparse
import csv
import math
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent / "data"


def series(rng: random.Random, path: Path, n: int = 300) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "value"])
        for t in range(n):
            value = 10 + 0.02 * t + 3 * math.sin(2 * math.pi * t / 24) + rng.gauss(0, 0.3)
            w.writerow([t, f"{value:.4f}"])


def sales(rng: random.Random, path: Path, months: int = 72) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["unique_id", "ds", "y"])
        for k, (level, growth) in enumerate(((120, 0.010), (80, 0.004), (200, 0.007),
                                             (50, 0.012))):
            start = 2015 + k % 2  # the series start in different years
            for m in range(months - 6 * k):  # ... and have different lengths
                season = 1 + 0.25 * math.sin(2 * math.pi * (m % 12) / 12 + k)
                y = level * (1 + growth) ** m * season * (1 + rng.gauss(0, 0.03))
                w.writerow([f"store_{k + 1}", f"{start + m // 12}-{m % 12 + 1:02d}-01",
                            f"{y:.2f}"])


SUBJECTS = ["the old sailor", "a young queen", "the river", "my brother", "the quiet town",
            "a grey horse", "the captain", "her letter", "the winter wind", "our teacher"]
VERBS = ["remembers", "carries", "watches", "follows", "finds", "leaves", "answers", "keeps"]
OBJECTS = ["the long road", "a silver ring", "the morning light", "an empty boat",
           "the last song", "a small garden", "the northern sea", "a bright lantern"]
TAILS = ["before the rain", "at the edge of the field", "without a word", "in the evening",
         "when the bells ring", "and smiles", "for many years", "under the bridge"]


def notes(rng: random.Random, path: Path, lines: int = 600) -> None:
    out = []
    for _ in range(lines):
        s = f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)}"
        if rng.random() < 0.7:
            s += f" {rng.choice(TAILS)}"
        out.append(s[0].upper() + s[1:] + rng.choice([".", ".", ".", "!", "?"]))
    path.write_text("\n".join(out) + "\n", encoding="utf-8")


GOOD = ["gorgeous", "witty", "moving", "brilliant", "charming", "tender", "sharp", "funny"]
BAD = ["dull", "clumsy", "tedious", "lifeless", "messy", "shallow", "predictable", "bland"]
THINGS = ["film", "story", "cast", "script", "ending", "direction", "score", "dialogue"]


def reviews(rng: random.Random, pos: Path, neg: Path, n: int = 300) -> None:
    def sentence(words: list[str], other: list[str]) -> str:
        a, b = rng.sample(words, 2)
        s = f"a {a} {rng.choice(THINGS)} , {b} and {rng.choice(['often', 'always', 'mostly'])}"
        s += f" {rng.choice(words)}"
        if rng.random() < 0.3:  # a word of the other side, so one word is not the answer
            s += f" , if sometimes {rng.choice(other)}"
        return s + " ."

    pos.write_text("\n".join(sentence(GOOD, BAD) for _ in range(n)) + "\n", encoding="utf-8")
    neg.write_text("\n".join(sentence(BAD, GOOD) for _ in range(n)) + "\n", encoding="utf-8")


LEXICON = {  # German -> English, word for word in these sentences
    "ein": "a", "eine": "a", "mann": "man", "frau": "woman", "kind": "child", "hund": "dog",
    "fährt": "rides", "trägt": "carries", "sieht": "sees", "hält": "holds",
    "fahrrad": "bicycle", "ball": "ball", "buch": "book", "tasche": "bag",
    "rotes": "red", "blaues": "blue", "großes": "big", "kleines": "small",
}


def pairs(rng: random.Random, de: Path, en: Path, n: int = 400) -> None:
    src, tgt = [], []
    for _ in range(n):
        subj = rng.choice(["mann", "frau", "kind", "hund"])
        art = "eine" if subj == "frau" else "ein"
        verb = rng.choice(["fährt", "trägt", "sieht", "hält"])
        adj = rng.choice(["rotes", "blaues", "großes", "kleines", ""])
        obj = rng.choice(["fahrrad", "ball", "buch"])
        words = [art, subj, verb, "ein", *([adj] if adj else []), obj, "."]
        src.append(" ".join(words))
        tgt.append(" ".join(LEXICON.get(w, w) for w in words))
    de.write_text("\n".join(src) + "\n", encoding="utf-8")
    en.write_text("\n".join(tgt) + "\n", encoding="utf-8")


def sensor(rng: random.Random, path: Path, n: int = 1200) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "value"])
        for t in range(n):
            value = 70 + 5 * math.sin(2 * math.pi * t / 96) + rng.gauss(0, 0.4)
            if 800 <= t < 820:  # a fault: the temperature climbs
                value += 0.8 * (t - 800)
            if t == 1000:  # a spike
                value += 15
            hour, minute = divmod(t * 15, 60)
            day, hour = divmod(hour, 24)
            w.writerow([f"2024-01-{day + 1:02d} {hour:02d}:{minute:02d}:00", f"{value:.3f}"])


def reviews_csv(rng: random.Random, path: Path, n: int = 200) -> None:
    """A fresh draw of ``reviews``'s sentences, one per row with its label."""
    pos, neg = path.with_suffix(".pos.tmp"), path.with_suffix(".neg.tmp")
    reviews(rng, pos, neg, n // 2)
    rows = [(t, lab) for f, lab in ((pos, "pos"), (neg, "neg"))
            for t in f.read_text(encoding="utf-8").splitlines()]
    pos.unlink()
    neg.unlink()
    rng.shuffle(rows)
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows(rows)


def waves(rng: random.Random, path: Path, n: int = 60, length: int = 48) -> None:
    shapes = {"sine": lambda u: math.sin(2 * math.pi * u),
              "square": lambda u: 1.0 if u % 1 < 0.5 else -1.0,
              "sawtooth": lambda u: 2 * (u % 1) - 1}
    with path.open("w", encoding="utf-8") as f:
        for k in range(n):
            name = list(shapes)[k % 3]
            phase, cycles = rng.random(), rng.uniform(1.5, 3)
            values = [shapes[name](phase + cycles * t / length) + rng.gauss(0, 0.2)
                      for t in range(length)]
            f.write("\t".join([name, *(f"{v:.3f}" for v in values)]) + "\n")


def motions(rng: random.Random, path: Path, n: int = 16) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["series", "step", "gesture", "ax", "ay", "az"])
        for k in range(n):
            gesture, steps, phase = ("wave", "shake")[k % 2], rng.randint(8, 12), rng.random()
            for t in range(steps):
                u = phase + t / steps * (1 if gesture == "wave" else 4)  # cycles in the gesture
                ax = math.sin(2 * math.pi * u) + rng.gauss(0, 0.15)
                ay = (-1.0 + 0.3 * math.cos(2 * math.pi * u) if gesture == "wave"
                      else -1.0) + rng.gauss(0, 0.15)
                az = (0.5 * math.cos(2 * math.pi * u) if gesture == "wave" else 0.0) \
                    + rng.gauss(0, 0.15)
                w.writerow([f"m{k + 1:02d}", t, gesture, f"{ax:.2f}", f"{ay:.2f}", f"{az:.2f}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(HERE), help="folder to write (default: "
                        "examples/data)")
    out = Path(parser.parse_args().out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out {out} is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    series(rng, out / "series.csv")
    sales(rng, out / "sales.csv")
    notes(rng, out / "notes.txt")
    reviews(rng, out / "reviews.pos", out / "reviews.neg")
    pairs(rng, out / "pairs.de", out / "pairs.en")
    pairs(rng, out / "pairs.val.de", out / "pairs.val.en", n=60)
    sensor(rng, out / "sensor.csv")
    reviews_csv(rng, out / "reviews.csv")  # after the others: their draws stay as they were
    waves(rng, out / "waves_TRAIN.tsv")
    waves(rng, out / "waves_TEST.tsv")
    motions(rng, out / "motions.csv")
    print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}")


if __name__ == "__main__":
    main()
