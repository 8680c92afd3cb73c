"""``rnnkit.runtime.end_with_parent``: a worker ends when its parent is killed, even by SIGKILL
(which no handler in the parent can see), and at once if its parent is already gone."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="PR_SET_PDEATHSIG is Linux's")

# the parent starts a worker that asks to end with it, prints the worker's pid, then waits
PARENT = textwrap.dedent("""
    import os, subprocess, sys, time
    worker = subprocess.Popen([sys.executable, "-c", (
        "import os, sys, time\\n"
        "from rnnkit.runtime import end_with_parent\\n"
        f"assert end_with_parent({os.getpid()})\\n"
        "print('armed', flush=True)\\n"
        "time.sleep(60)\\n")], stdout=subprocess.PIPE, text=True)
    assert worker.stdout.readline().strip() == "armed"
    print(worker.pid, flush=True)
    time.sleep(60)
""")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return "\nState:\tZ" not in f.read()  # a zombie has ended
    except FileNotFoundError:
        return False


def test_a_worker_ends_when_its_parent_is_killed():
    with subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE,
                          text=True) as parent:
        try:
            worker = int(parent.stdout.readline())
            assert _alive(worker)
            parent.send_signal(signal.SIGKILL)
            parent.wait(timeout=10)
            deadline = time.monotonic() + 10
            while _alive(worker) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _alive(worker)
        finally:
            parent.kill()


def test_a_worker_whose_parent_is_already_gone_ends_at_once():
    # told to expect pid 1, which is not its parent (this test process is): as if its parent
    # had ended, and it been re-parented, before the call
    code = ("from rnnkit.runtime import end_with_parent\n"
            "end_with_parent(1)\n"
            "import time; time.sleep(30)\n")
    done = subprocess.run([sys.executable, "-c", code], timeout=30)
    assert done.returncode == -signal.SIGTERM
