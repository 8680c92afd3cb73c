"""A prototype, not a feature: snapshot ensembles (Huang et al. 2017, "Train 1, get M for
free") on the UCR sets, to decide whether rnnkit's numeric classifier should offer them.

``ucr.py`` with ``--config ensemble=M,epochs=E`` trains M members of E epochs each from
fresh seeds; here each member after the first starts from the previous member's final
weights instead (a warm restart of the cosine schedule), so the M snapshots cost about one
network of M*E epochs. Everything else (splits, ``--cv``, anchors, the printed table) is
``ucr.py``'s; it patches ``rnnkit.apps.classify.training`` in each worker process:

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/ucr_snapshots.py --cv 3 --no-anchors \
        --sets ArrowHead,GunPoint --config ensemble=3,epochs=50
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ucr  # noqa: E402

import rnnkit.apps.classify.training as training  # noqa: E402

CARRY: dict = {}  # within one classify.train call (one Preprocessing): the last weights
_build, _fit_member = training.build_model, training._fit_member


def build_model(config, prep, train_set):
    model = _build(config, prep, train_set)
    if CARRY.get("prep") is prep and "state" in CARRY:
        model.load_state_dict(CARRY["state"])  # the warm restart from the last member
    return model


def fit_member(config, prep, *args, **kwargs):
    if CARRY.get("prep") is not prep:  # a new classify.train call: its first member is fresh
        CARRY.clear()
        CARRY["prep"] = prep
    model, history, best = _fit_member(config, prep, *args, **kwargs)
    CARRY["state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return model, history, best


# at import, so that ucr.py's spawned workers (which import this file as __mp_main__) patch too
training.build_model, training._fit_member = build_model, fit_member

if __name__ == "__main__":
    ucr.main()
