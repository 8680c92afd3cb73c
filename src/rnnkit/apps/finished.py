"""``--resume`` on a run that already finished: train nothing, keep the saved model, say so.

What a Keras or PyTorch user expects of resuming a complete run: no more training, the saved
model left exactly as it is (the same bytes), and one line on stderr saying the run had
already finished. ``fit(resume=True)`` trains nothing when its stored run is complete and
says so (``History.already_finished``); the applications use these pieces so that they do not
then save, refit or re-plot anything:

- ``spent_epochs``: the stored run stopped on its time budget and the new budget gives it no
  more time (``fit`` would otherwise train on for at least one more epoch);
- ``finished_run``: for applications that remove ``fit``'s run state once their model is
  saved (anomaly, classify), whether the folder holds the finished run being resumed;
- ``say_finished``: the one line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..checkpoint import CheckpointError, load_extras
from ..training.state import resumed_history
from .base import TASK_KEY

__all__ = ["spent_epochs", "finished_run", "say_finished"]


def _stored_history(folder: Path) -> dict | None:
    try:
        doc = json.loads((folder / "history.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("rows"), list) else None


def spent_epochs(folder, budget: float | None, *where: str) -> int | None:
    """The stored run's epoch count when it ended on its time budget and ``budget`` gives it
    no more time than it had (its budget is ``extras[where[0]][where[1]]...``, e.g.
    ``"textgen", "minutes"``); else None. Passed to ``fit`` as ``epochs``, it makes a resume
    of such a run train nothing."""
    if folder is None or budget is None:
        return None
    folder = Path(folder)
    try:  # the state's history where fit left one: history.json can be an epoch ahead of it
        doc = resumed_history(folder) or _stored_history(folder)
    except CheckpointError:
        doc = None  # a damaged state: fit's resume says so, in one line
    if doc is None or doc.get("stop_reason") != "time_budget" or not doc.get("rows"):
        return None
    try:
        before = load_extras(folder)
    except (CheckpointError, OSError, ValueError):
        return None
    for key in where:
        before = before.get(key) if isinstance(before, dict) else None
    if not isinstance(before, (int, float)) or budget > before:
        return None  # more time than before: the run goes on
    return len(doc["rows"])


def finished_run(folder, task: str, settings: dict, run_dir_name: str,
                 length_keys=("epochs",)) -> bool:
    """True when ``folder`` holds the saved model of a finished ``task`` run with these
    ``settings`` (its ``extras["config"]``) and no run state (``run_dir_name``): resuming it
    trains nothing. False when there is a run to resume, or no model. A finished run with
    other data or model settings is refused like ``fit``'s resume (one line); so is one asked
    to train longer, since its run state was removed when the model was saved."""
    from ..training.resume_check import check_same_run

    folder = Path(folder)
    if (folder / run_dir_name).exists() or not (folder / "config.json").is_file():
        return False
    try:
        extras = load_extras(folder)
    except (CheckpointError, OSError, ValueError):
        return False
    if extras.get(TASK_KEY) != task or not isinstance(extras.get("config"), dict):
        return False
    check_same_run(folder, {TASK_KEY: task, "config": settings})
    stored = extras["config"]
    for key in length_keys:
        if key in stored and key in settings and stored[key] != settings[key]:
            raise ValueError(f"resume: the run in {folder} already finished with {key} "
                             f"{stored[key]}, and its training state was removed when its model "
                             f"was saved, so it cannot train on to {key} {settings[key]}; train "
                             "again without --resume (into another folder to keep this model)")
    return True


def say_finished(task: str, folder, epochs: int | None = None) -> None:
    """One line on stderr: the run had already finished, nothing was trained (rank 0 only
    under torchrun)."""
    from ..checkpoint import another_rank

    if another_rank():
        return
    done = f" ({epochs} epoch{'s' if epochs != 1 else ''})" if epochs else ""
    print(f"note: rnnkit {task} train --resume: the run in {folder} had already finished"
          f"{done}; nothing was trained and the saved model is unchanged", file=sys.stderr,
          flush=True)
