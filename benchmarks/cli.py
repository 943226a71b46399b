"""Wall time of the command line's start: `hgr --help` and `hgr parse "a dog chases a cat"` (issue 16 item 9).

    .venv/bin/python benchmarks/cli.py [--repeats 5] [--json]

Each command runs `--repeats` times as a fresh process (`python -m hgr ...`, what the `hgr` script runs), after one
untimed run that warms the file cache; it prints p50 and max wall seconds, and the three slowest imports of one
extra run under `-X importtime` (what the time goes to). Targets from the issue: `--help` <= 1 s, parse <= 3 s.
Run it on a quiet machine: it measures start-up, which any other job on the cores slows down.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "hgr --help": ["--help"],
    'hgr parse "a dog chases a cat"': ["parse", "a dog chases a cat"],
}


def wall_seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hgr", *argv], check=True, capture_output=True)
    return time.perf_counter() - start


def slowest_imports(argv: list[str], n: int = 3) -> list[tuple[str, float]]:
    """The `n` modules with the largest cumulative import time (seconds), outermost first among equals."""
    err = subprocess.run([sys.executable, "-X", "importtime", "-m", "hgr", *argv], check=True,
                         capture_output=True, text=True).stderr
    rows = []
    for line in err.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            _, cumulative, name = line.split("|")
            rows.append((name.strip(), int(cumulative) / 1e6))
    top_level = [(name, seconds) for name, seconds in rows if "." not in name]
    return sorted(top_level, key=lambda row: -row[1])[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per command")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    report = {}
    for label, argv in COMMANDS.items():
        wall_seconds(argv)                                   # warm the file cache
        times = [wall_seconds(argv) for _ in range(args.repeats)]
        report[label] = {"p50_s": statistics.median(times), "max_s": max(times), "runs": args.repeats,
                         "slowest_imports_s": slowest_imports(argv)}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for label, row in report.items():
        imports = ", ".join(f"{name} {seconds:.2f}" for name, seconds in row["slowest_imports_s"])
        print(f"{label:<34} p50 {row['p50_s']:.2f} s  max {row['max_s']:.2f} s  ({row['runs']} runs; "
              f"slowest imports: {imports or 'none'})")


if __name__ == "__main__":
    main()
