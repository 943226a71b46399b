"""Load: many concurrent gradio_client users against `python app.py` on loopback; requests served, failures,
latency and the server's peak memory.

    .venv/bin/python benchmarks/load.py                                  # the embedded demo (32 users x 20)
    .venv/bin/python benchmarks/load.py --collection DIR --checkpoint FILE --users 32 --queries 20
    .venv/bin/python benchmarks/load.py --tiny --json                    # the tests' six-clip collection

Each user is its own gradio_client.Client (its own session) and sends its queries one after another: every
`--upload-every`-th one uploads a clip to /captions (decode, CNN features, ranking), the others are text queries to
/search (the collection's captions, re-cased and with a varying top-k). Latency is measured by the user, so it
includes the time a request waits in the app's queue (hgr/app/server.py: demo.queue(default_concurrency_limit=2)).
Peak memory is the server process's VmHWM (/proc/<pid>/status). Bounded: at most users x queries requests, each
with a --timeout, and no new request after --max-seconds. With --json the last line is
{"requests", "failures", "p50_ms", "p95_ms", "peak_rss_mb"}.
"""
from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


@dataclass
class LoadResult:
    requests: int = 0                                             # completed with an answer
    failures: list[str] = field(default_factory=list)             # what went wrong, one line each
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"search": [], "captions": []})  # seconds
    not_sent: int = 0                                             # skipped after --max-seconds
    seconds: float = 0.0
    peak_rss_mb: float = 0.0

    def all_ms(self) -> list[float]:
        return sorted(s * 1000 for kind in self.latencies.values() for s in kind)

    def summary(self) -> dict:
        ms = self.all_ms()
        return {"requests": self.requests, "failures": len(self.failures),
                "p50_ms": round(statistics.median(ms), 1) if ms else None,
                "p95_ms": round(percentile(ms, 95), 1) if ms else None, "peak_rss_mb": round(self.peak_rss_mb, 1)}


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_values[max(0, math.ceil(q / 100 * len(sorted_values)) - 1)]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def user_clips(clip: Path, users: int) -> list[Path]:
    """One copy of `clip` per user, the same frames with a different metadata tag (ffmpeg stream copy): distinct
    files, as distinct users send. Byte-identical uploads share one path in gradio's content-addressed upload
    folder, and the app deletes an upload after use, so concurrent identical uploads can find it gone (see
    docs/security.md, known issues)."""
    import imageio_ffmpeg

    folder = Path(tempfile.mkdtemp(prefix="hgr-load-clips-"))
    out = []
    for u in range(users):
        dest = folder / f"user{u}-{clip.name}"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(clip), "-c", "copy",
                        "-metadata", f"comment=load-test user {u}", str(dest)], check=True)
        out.append(dest)
    return out


def run_load(url: str, pid: int, texts: list[str], clip: Path, users: int = 32, queries: int = 20,
             upload_every: int = 5, timeout: float = 300.0, max_seconds: float = 900.0) -> LoadResult:
    """Drive the app at `url` (loopback only) with `users` concurrent users of `queries` requests each."""
    from gradio_client import Client, handle_file

    host = urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to load-test {url}: this benchmark drives loopback servers only")
    result, lock = LoadResult(), threading.Lock()
    clips = user_clips(clip, users)
    start = time.perf_counter()

    def user(u: int) -> None:
        try:
            client = Client(url, verbose=False)
        except Exception as err:  # a refused connection is a failure of every request of this user
            with lock:
                result.failures += [f"user {u}: cannot connect ({err})"] * queries
            return
        for q in range(queries):
            if time.perf_counter() - start > max_seconds:
                with lock:
                    result.not_sent += queries - q
                return
            upload = upload_every > 0 and q % upload_every == upload_every - 1
            t0 = time.perf_counter()
            try:
                if upload:
                    out = client.submit(handle_file(str(clips[u])), 5, api_name="/captions").result(timeout=timeout)
                else:
                    text = texts[(u * queries + q) % len(texts)]
                    text = text.upper() if q % 3 == 1 else text.capitalize() + "." if q % 3 == 2 else text
                    out = client.submit(text, 1 + (u + q) % 10, api_name="/search").result(timeout=timeout)
                if not out.get("results"):
                    raise RuntimeError("an answer without results")
            except Exception as err:  # any failure is counted, with what it was
                with lock:
                    result.failures.append(f"user {u} query {q}: {type(err).__name__}: {str(err)[:200]}")
                continue
            with lock:
                result.requests += 1
                result.latencies["captions" if upload else "search"].append(time.perf_counter() - t0)

    try:
        with ThreadPoolExecutor(max_workers=users) as pool:
            list(pool.map(user, range(users)))
    finally:
        shutil.rmtree(clips[0].parent, ignore_errors=True)
    result.seconds = time.perf_counter() - start
    result.peak_rss_mb = peak_rss_mb(pid)
    return result


def report(result: LoadResult, users: int, queries: int) -> str:
    lines = [f"{users} users x {queries} queries: {result.requests} requests completed, {len(result.failures)} "
             f"failures, {result.not_sent} not sent, in {result.seconds:.1f} s "
             f"({result.requests / max(result.seconds, 1e-9):.1f} requests/s)"]
    for kind, values in result.latencies.items():
        ms = sorted(s * 1000 for s in values)
        if ms:
            lines.append(f"  {kind:<9} n={len(ms):<4} p50 {statistics.median(ms):8.0f} ms   p95 "
                         f"{percentile(ms, 95):8.0f} ms   max {ms[-1]:8.0f} ms")
    s = result.summary()
    lines.append(f"  all       p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms; server peak RSS (VmHWM) "
                 f"{result.peak_rss_mb:.0f} MB")
    lines += [f"  failure: {f}" for f in result.failures[:10]]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collection", type=Path, help="default: the embedded demo (assets/demo)")
    parser.add_argument("--checkpoint", type=Path, help="default: checkpoints/demo.pt")
    parser.add_argument("--tiny", action="store_true", help="the tests' six-clip collection (built here)")
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--queries", type=int, default=20, help="requests per user")
    parser.add_argument("--upload-every", type=int, default=5, help="every N-th request uploads a clip (0: never)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one request may take")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="no new request after this long")
    parser.add_argument("--concurrency", type=int, default=2, help="the app's --concurrency (requests per endpoint)")
    parser.add_argument("--json", action="store_true", help="end with the figures as one JSON line")
    args = parser.parse_args()

    from hgr.collection import Collection
    from tests.appfixture import AppProcess, benchmark_data

    collection, checkpoint = benchmark_data(args.tiny, args.collection, args.checkpoint)
    with Collection.open(collection) as coll:
        texts = sorted({c for caps in coll.captions.values() for c in caps})[:500]
        clip = next((p for v in coll.video_ids if (p := coll.video_path(v)) is not None), None)
    if not texts or clip is None:
        raise SystemExit(f"{collection} needs captions and at least one playable video file for this benchmark")
    print(f"collection {collection} ({len(texts)} distinct captions used as queries), checkpoint {checkpoint}, "
          f"upload {clip.name} ({clip.stat().st_size / 1e6:.2f} MB)", flush=True)
    app = AppProcess("--collection", str(collection), "--checkpoint", str(checkpoint), "--concurrency",
                     str(args.concurrency))
    try:
        print(f"app at {app.url} (pid {app.proc.pid}), {peak_rss_mb(app.proc.pid):.0f} MB peak RSS after start-up",
              flush=True)
        result = run_load(app.url, app.proc.pid, texts, clip, args.users, args.queries, args.upload_every,
                          args.timeout, args.max_seconds)
        alive = app.proc.poll() is None
    finally:
        app.close()
    print(report(result, args.users, args.queries))
    print(f"  server still running at the end: {alive}")
    if args.json:
        print(json.dumps(result.summary()))
    return 0 if not result.failures and alive else 1


if __name__ == "__main__":
    raise SystemExit(main())
