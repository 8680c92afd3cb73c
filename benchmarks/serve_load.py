"""rnnkit serve under load: streaming clients on loopback, batched scheduler vs one at a time.

The model is the Tiny Shakespeare benchmark's char LM shape: a 1x512 LSTM, 64-wide
embeddings, the 65 characters of Tiny Shakespeare (+4 specials) — with random weights
(seed 0) unless ``--checkpoint`` names a trained one: the work per token is the same.

For each server mode (``--batched``: one batched recurrent step per tick for every open
stream; ``--no-batched``: one stream at a time, first come first served) and each number of
concurrent clients (1, 8, 64, 256), every client keeps one streaming request open
(``"stream": true``, ``--tokens`` new tokens, then the next request) for ``--seconds``.
Reported: aggregate tokens/s received by all clients, p50/p99 time between consecutive
token arrivals of a stream (a read that brings several tokens counts once: the wait a reader
sees between updates; time to the first token is reported apart), the server's CPU seconds
and CPU per token received, and its split:

- "model/tok": the server's CPU in the model (reading prompts, the batched steps) and the
  draw (softmax, top-k/top-p, sampling), which the step thread times itself with its own
  thread CPU clock around those calls (``rnnkit_model_cpu_seconds_total`` in /metrics);
- "overhead/tok": all the rest of the server process's CPU per token (from /proc): HTTP,
  routing, SSE frames, the event loop and its socket writes, handing tokens between the
  threads, the scheduler's bookkeeping per stream. The overhead goal is this against a fifth
  of model/tok, both from the same run: no run-to-run drift of a separately timed ceiling
  enters it (an earlier "overhead" column, CPU/token less the ceiling's, moved by ±30 µs
  between runs for that reason; an "own/tok" column, all but the step thread, counted the
  step thread's bookkeeping as step);
- "loop/tok" and "loop sys": the event-loop thread's CPU per token and its system-time part
  (mostly the sends, which on loopback also run the receiving side of TCP); "step thr": the
  step thread's (model/tok plus the scheduler's bookkeeping around the model calls);
  "tok/send": tokens per send of tokens to a stream (from the server's token-interval
  histogram count plus one first send per request): the server's cost is mostly per send,
  so its CPU per token depends on this, which falls towards 1 when a tick takes longer than
  ``--stream-interval`` (as on a loaded machine);
- "step busy", "rq", "blocked": the step thread's wall time split (``/proc/PID/task/TID/
  schedstat``) into on a core, runnable but waiting for a core (other processes, the
  clients), and blocked: with streams open all along (64 clients), waiting for the GIL,
  which the event loop holds while it sends (one at a time with 1 client: also idle
  between requests). On a quiet machine "rq" is near 0 and busy + blocked is 1;
- "cli cores": the load generator's CPU in the row over its wall time (the client process,
  its event loop and socket reads: what it takes from the server's two cores);

and the server's memory per open stream (RSS with 256 streams open minus idle, over 256).
``--stream-interval S`` is passed to the server (``rnnkit serve --stream-interval``: at most
one send per S seconds to a stream, its tokens since the last send in one write).

First, the ceiling without any server: one scheduler tick (embedding, LSTM step, head,
softmax, draw for every row) timed in this process at batch 1, 8, 64, 256.

Server and clients are separate processes, each on 1 torch thread, niced. Bounded: at most
``--seconds`` per (mode, clients) pair. Timings taken on a shared, loaded machine are noisy.

    python benchmarks/serve_load.py                       # about 2.5 minutes
    python benchmarks/serve_load.py --seconds 5 --clients 1 64
    python benchmarks/serve_load.py --stream-interval 0.02
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def make_checkpoint(folder: Path) -> Path:
    """The 1x512 char LM with random weights and Tiny Shakespeare's characters."""
    from rnnkit import checkpoint
    from rnnkit.apps.textgen import Config
    from rnnkit.data.tokenizers import CharTokenizer
    from rnnkit.models.language_model import LanguageModel

    data = Path(os.environ.get("RNNKIT_DATA", ROOT.parent / "shared" / "data"))
    text_file = data / "tinyshakespeare" / "input.txt"
    text = (text_file.read_text(encoding="utf-8") if text_file.exists() else
            "".join(chr(c) for c in range(32, 97)) + "\n")
    tok = CharTokenizer().fit(text)
    config = Config(hidden_size=512, num_layers=1, embedding_dim=64)
    torch.manual_seed(0)
    lm = LanguageModel(tok.vocab_size, 512, 1, embedding_dim=64)
    return checkpoint.save(lm, folder, extras={"task": "textgen", "tokenizer": tok.to_dict(),
                                               "textgen": asdict(config)})


def ceiling(path: Path, batches=(1, 8, 64, 256), steps: int = 60) -> dict:
    """(wall, CPU) seconds per scheduler tick without a server (this process, 1 thread)."""
    from rnnkit.apps import open as open_app
    from rnnkit.serve.scheduler import GenerationSettings, StreamHandle, _Batch

    lm = open_app(path).model
    out = {}
    for b in batches:
        batch = _Batch(lm)

        async def handles(b=b):
            return [StreamHandle([5, 6, 7], GenerationSettings(max_tokens=10**9))
                    for _ in range(b)]
        batch.tick(asyncio.run(handles()))
        for _ in range(5):
            batch.tick([])
        start, cpu = time.perf_counter(), time.process_time()
        for _ in range(steps):
            batch.tick([])
        out[b] = ((time.perf_counter() - start) / steps, (time.process_time() - cpu) / steps)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stats(pid: int) -> tuple[float, int]:
    """(CPU seconds, RSS bytes) of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / tick
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return cpu, rss


def per_thread(pid: int, read) -> dict[int, tuple[float, float]]:
    """``read(task_dir)`` for each thread of a process, by thread id; threads that end while
    they are read (or have no such file) are left out."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out[int(task.name)] = read(task)
        except (OSError, ValueError):
            continue
    return out


def thread_cpu(pid: int) -> dict[int, tuple[float, float]]:
    """(user, system) CPU seconds of each thread of a process, by thread id. The main thread
    (id = pid) is uvicorn's event loop (HTTP, SSE, scheduling)."""
    tick = os.sysconf("SC_CLK_TCK")

    def read(task: Path) -> tuple[float, float]:
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) / tick, int(fields[12]) / tick
    return per_thread(pid, read)


def thread_sched(pid: int) -> dict[int, tuple[float, float]]:
    """(seconds on a core, seconds runnable but waiting for a core) of each thread of a
    process, from ``/proc/PID/task/TID/schedstat``: a thread's wall time less both is the
    time it was blocked (for the step thread under load: waiting for the GIL)."""
    def read(task: Path) -> tuple[float, float]:
        run, wait = (task / "schedstat").read_text().split()[:2]
        return int(run) / 1e9, int(wait) / 1e9
    return per_thread(pid, read)


def state_bytes(path: Path) -> int:
    """Bytes of one stream's recurrent state in the model at ``path`` (every layer's h, and
    c for an LSTM)."""
    from rnnkit.apps import open as open_app

    state = open_app(path).model.init_state(1)
    return sum(t.numel() * t.element_size()
               for t in torch.utils._pytree.tree_leaves(state) if torch.is_tensor(t))


def server_counters(port: int) -> dict[str, float]:
    """The server's counters so far, from /metrics: CPU seconds in the model and the draw,
    sends of tokens to streams (the gaps between sends, plus each stream's first send)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {"model_cpu": 0.0, "sends": 0.0}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith("rnnkit_model_cpu_seconds_total{"):
            out["model_cpu"] += float(value)
        elif name.startswith("rnnkit_token_interval_seconds_count{") or name == (
                'rnnkit_requests_total{endpoint="/v1/models/{name}/generate",status="200"}'):
            out["sends"] += float(value)
    return out


class Server:
    def __init__(self, path: Path, batched: bool, max_tokens: int,
                 interval: float | None = None, nice: int = 10):
        self.port = free_port()
        cmd = [sys.executable, "-m", "rnnkit.cli.main", "serve", "--checkpoint", str(path),
               "--port", str(self.port), "--threads", "1", "--quiet", "--max-streams", "1024",
               "--max-tokens", str(max_tokens), "--batched" if batched else "--no-batched"]
        if interval is not None:
            cmd += ["--stream-interval", str(interval)]
        self.proc = subprocess.Popen(["nice", "-n", str(nice), *cmd], stderr=subprocess.PIPE)
        end = time.monotonic() + 180
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError(self.proc.stderr.read().decode()) from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Tally:
    """What the clients received: token counts, time to first token, gaps between tokens."""

    def __init__(self):
        self.tokens, self.first, self.gaps = 0, [], []


async def one_stream(port: int, body: bytes, tally: Tally) -> None:
    """POST a streaming generate request and count its token events as they arrive (a
    stream cut off by the end of the run still counts what it received)."""
    sent = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /v1/models/lm/generate HTTP/1.1\r\nHost: bench\r\n"
                 b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                 + body)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head.decode(errors="replace"))
    # Counting markers in the raw bytes (a tail shorter than a marker carries over, so a
    # marker split between two reads counts once) keeps the load generator light: on this
    # 2-core machine every cycle it spends is taken from the server it measures.
    tail, done, last = b"", False, None
    try:
        while not done:
            data = await reader.read(65536)
            if not data:
                break
            now = time.perf_counter()
            chunk = tail + data
            n = chunk.count(b"event: token")
            done = b"event: done" in chunk or b"event: error" in chunk
            tail = chunk[-(len(b"event: token") - 1):]
            if n:
                if last is None:
                    tally.first.append(now - sent)
                else:
                    tally.gaps.append(now - last)
                tally.tokens += n
                last = now
    finally:
        writer.close()


async def load(port: int, clients: int, seconds: float, tokens: int, rss_probe=None) -> dict:
    body = json.dumps({"prompt": "ROMEO:", "max_tokens": tokens, "temperature": 1.0,
                       "stream": True}).encode()
    tally = Tally()
    start = time.perf_counter()
    end = start + seconds

    async def client():
        while time.perf_counter() < end:
            try:
                await asyncio.wait_for(one_stream(port, body, tally),
                                       max(end - time.perf_counter(), 0.01))
            except asyncio.TimeoutError:
                return

    tasks = [asyncio.ensure_future(client()) for _ in range(clients)]
    probe = None
    if rss_probe is not None:
        await asyncio.sleep(min(seconds / 2, 3.0))
        probe = rss_probe()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    received, first, gaps = tally.tokens, tally.first, tally.gaps

    def pct(xs, q):
        return statistics.quantiles(xs, n=100)[q - 1] if len(xs) >= 2 else float("nan")
    return {"clients": clients, "tokens": received, "tokens_per_s": received / elapsed,
            "seconds": elapsed,
            "gap_p50_ms": pct(gaps, 50) * 1e3, "gap_p99_ms": pct(gaps, 99) * 1e3,
            "first_p50_ms": pct(first, 50) * 1e3, "first_p99_ms": pct(first, 99) * 1e3,
            "rss_probe": probe}


def run_client(coroutine):
    """The clients' event loop: uvloop where installed (the ``serve`` extra), lighter than
    asyncio's own on the cores the server also needs."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8, 64, 256])
    ap.add_argument("--seconds", type=float, default=12.0, help="per (mode, clients) pair")
    ap.add_argument("--tokens", type=int, default=200, help="new tokens per request")
    ap.add_argument("--checkpoint", default=None, help="a trained textgen checkpoint instead")
    ap.add_argument("--modes", nargs="+", default=["batched", "one-at-a-time"])
    ap.add_argument("--stream-interval", type=float, default=None,
                    help="the server's --stream-interval (s between two sends to a stream; "
                         "default: the server's default)")
    ap.add_argument("--server-nice", type=int, default=10,
                    help="the server's niceness (default 10: yields to other work)")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="rnnkit-serve-load-"))
    path = Path(args.checkpoint) if args.checkpoint else make_checkpoint(tmp / "lm")
    what = ("trained " + str(path) if args.checkpoint
            else "1x512 LSTM char LM, random weights (seed 0)")
    print(f"model: {what}; torch {torch.__version__}, 1 thread; "
          f"load average {os.getloadavg()[0]:.1f}")
    cpu0 = time.process_time()
    ticks = ceiling(path)
    print("\nceiling, no server (one tick: embedding, LSTM step, head, softmax, draw):")
    for b, (s, c) in ticks.items():
        print(f"  batch {b:4d}: {s * 1e3:7.2f} ms/tick  {b / s:9.0f} tokens/s  "
              f"CPU {c / b * 1e6:7.0f} µs/token")
    results = {"ceiling_s_per_tick": ticks, "runs": []}
    for mode in args.modes:
        server = Server(path, batched=mode == "batched", max_tokens=args.tokens,
                        interval=args.stream_interval, nice=args.server_nice)
        try:
            time.sleep(1.0)
            idle_rss = proc_stats(server.proc.pid)[1]
            print(f"\n{mode} (server RSS idle {idle_rss / 2**20:.0f} MiB):")
            print(f"  {'clients':>7} {'tokens/s':>9} {'gap p50':>8} {'gap p99':>8} "
                  f"{'1st p50':>8} {'1st p99':>8} {'srv CPU s':>9} {'CPU/token':>9} "
                  f"{'model/tok':>9} {'overhead/tok':>12} {'/model':>6} "
                  f"{'loop/tok':>8} {'loop sys':>8} {'step thr':>8} {'tok/send':>8} "
                  f"{'step busy':>9} {'rq':>5} {'blocked':>7} {'cli cores':>9}")
            for n in args.clients:
                pid = server.proc.pid
                counters = server_counters(server.port)
                cpu_before, threads_before = proc_stats(pid)[0], thread_cpu(pid)
                sched_before = thread_sched(pid)
                probe = (lambda pid=pid: proc_stats(pid)[1]) if (
                    mode == "batched" and n == max(args.clients)) else None
                client_cpu = time.process_time()
                r = run_client(load(server.port, n, args.seconds, args.tokens, probe))
                r["client_cpu_s"] = time.process_time() - client_cpu
                r["server_cpu_s"] = proc_stats(server.proc.pid)[0] - cpu_before
                spent = {t: (u - threads_before.get(t, (0.0, 0.0))[0],
                             k - threads_before.get(t, (0.0, 0.0))[1])
                         for t, (u, k) in thread_cpu(pid).items()}
                sched = thread_sched(pid)
                after = server_counters(server.port)
                r["model_cpu_s"] = after["model_cpu"] - counters["model_cpu"]
                r["tokens_per_send"] = r["tokens"] / max(after["sends"] - counters["sends"], 1)
                per_token = 1e6 / max(r["tokens"], 1)
                r["server_cpu_us_per_token"] = r["server_cpu_s"] * per_token
                r["model_cpu_us_per_token"] = r["model_cpu_s"] * per_token
                # the overhead: everything the server did besides the model and the draw
                r["overhead_us_per_token"] = (r["server_cpu_us_per_token"]
                                              - r["model_cpu_us_per_token"])
                r["overhead_over_model"] = (r["overhead_us_per_token"]
                                            / max(r["model_cpu_us_per_token"], 1e-9))
                loop_user, loop_sys = spent.get(pid, (0.0, 0.0))
                r["loop_cpu_us_per_token"] = (loop_user + loop_sys) * per_token
                # system time: mostly the sends, which on loopback also run the receiving
                # side of TCP (on a network that work is the client machine's)
                r["loop_sys_us_per_token"] = loop_sys * per_token
                # the step thread (the busiest besides the loop): the model, the draw and the
                # scheduler's bookkeeping per stream around them
                step_cpu, step_tid = max(((sum(c), t) for t, c in spent.items() if t != pid),
                                         default=(0.0, None))
                r["step_thread_us_per_token"] = step_cpu * per_token
                # the step thread's time over the row's wall time: on a core ("busy"),
                # runnable but waiting for a core ("rq": other processes, the clients), and
                # the rest, blocked: with streams open all along, waiting for the GIL
                run0, rq0 = sched_before.get(step_tid, (0.0, 0.0))
                run1, rq1 = sched.get(step_tid, (run0, rq0))
                r["step_thread_busy"] = (run1 - run0) / r["seconds"]
                r["step_thread_rq"] = (rq1 - rq0) / r["seconds"]
                r["step_thread_blocked"] = max(
                    1.0 - r["step_thread_busy"] - r["step_thread_rq"], 0.0)
                r["client_cores"] = r["client_cpu_s"] / r["seconds"]
                r["mode"] = mode
                if r["rss_probe"]:
                    r["bytes_per_stream"] = (r["rss_probe"] - idle_rss) / n
                results["runs"].append(r)
                print(f"  {n:7d} {r['tokens_per_s']:9.0f} {r['gap_p50_ms']:7.1f}ms "
                      f"{r['gap_p99_ms']:7.1f}ms {r['first_p50_ms']:7.0f}ms "
                      f"{r['first_p99_ms']:7.0f}ms {r['server_cpu_s']:9.1f} "
                      f"{r['server_cpu_us_per_token']:7.0f}µs "
                      f"{r['model_cpu_us_per_token']:7.0f}µs "
                      f"{r['overhead_us_per_token']:10.1f}µs {r['overhead_over_model']:6.2f} "
                      f"{r['loop_cpu_us_per_token']:6.1f}µs {r['loop_sys_us_per_token']:6.1f}µs "
                      f"{r['step_thread_us_per_token']:6.0f}µs {r['tokens_per_send']:8.2f} "
                      f"{r['step_thread_busy']:9.2f} {r['step_thread_rq']:5.2f} "
                      f"{r['step_thread_blocked']:7.2f} {r['client_cores']:9.2f}",
                      flush=True)
                time.sleep(0.5)
        finally:
            server.stop()
    runs = {(r["mode"], r["clients"]): r for r in results["runs"]}
    print()
    for n in args.clients:
        if ("batched", n) in runs and ("one-at-a-time", n) in runs:
            ratio = runs[("batched", n)]["tokens_per_s"] / runs[("one-at-a-time", n)][
                "tokens_per_s"]
            print(f"batched / one at a time at {n:3d} clients: {ratio:.1f}x tokens/s")
    for r in results["runs"]:
        if "bytes_per_stream" in r:
            print(f"memory per open stream (RSS, {r['clients']} open): "
                  f"{r['bytes_per_stream'] / 1024:.0f} KiB; recurrent state alone: "
                  f"{state_bytes(path) / 1024:.1f} KiB")
    print(f"client process CPU, whole run (ceiling and every row): "
          f"{time.process_time() - cpu0:.1f} s; load average now "
          f"{os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
