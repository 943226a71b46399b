"""The load benchmark in a short setting: 8 concurrent gradio_client users x 3 requests (text queries and clip
uploads) against the tiny fixture app; every request must be answered and the app must keep running.

The full run (32 users x 20 requests, the demo collection) is `benchmarks/load.py`; its figures are in
docs/security.md. Nothing here is timed: latency is reported by the benchmark, never asserted.
"""
from __future__ import annotations

import importlib.util
import sys

from tests.appfixture import CAPTIONS, REPO, app_data, guarded_app


def load_benchmark():
    spec = importlib.util.spec_from_file_location("hgr_load_benchmark", REPO / "benchmarks" / "load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module                                    # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def test_short_load_has_no_failures():
    bench = load_benchmark()
    app, _ = guarded_app()
    texts = [c for caps in CAPTIONS.values() for c in caps]
    result = bench.run_load(app.url, app.proc.pid, texts, app_data() / "videos" / "clip2.mp4", users=8, queries=3,
                            upload_every=3, timeout=300, max_seconds=600)
    print("\n" + bench.report(result, 8, 3))
    assert result.failures == [] and result.requests == 24 and result.not_sent == 0
    assert len(result.latencies["captions"]) == 8 and len(result.latencies["search"]) == 16
    summary = result.summary()
    assert set(summary) == {"requests", "failures", "p50_ms", "p95_ms", "peak_rss_mb"} and summary["peak_rss_mb"] > 0
    assert app.proc.poll() is None


def test_percentile_is_nearest_rank():
    bench = load_benchmark()
    values = [float(v) for v in range(1, 101)]
    assert bench.percentile(values, 95) == 95 and bench.percentile(values, 50) == 50
    assert bench.percentile([3.0], 95) == 3 and bench.percentile([1.0, 2.0], 95) == 2
