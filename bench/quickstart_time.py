"""`vislab quickstart` wall time, imports included, as `make demo` runs it; beside it the same
quickstart with the digits transformed one image at a time (data/batched.py switched off), in
one run, alternated.

Each run is a fresh process (`python -c` calling the CLI), timed from its start to its exit;
the test accuracy each run reached is read from its metrics.json. The medians, the fastest
runs (this machine's speed varies from minute to minute; the fastest run is the one least
disturbed) and the ratio of the medians are printed and written as JSON.

    python bench/quickstart_time.py [--rounds 5] [--out bench/results/quickstart_time.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN = """
import sys
if sys.argv[2] == "per-image":
    import vislab.data.batched as batched
    batched.batched_images = lambda *args: None
from vislab.cli import main
sys.argv = ["vislab", "quickstart", "--quiet", "--out", sys.argv[1]]
main()
"""


def one_run(way: str) -> tuple[float, float]:
    """(seconds from the process's start to its exit, test accuracy)."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", RUN, folder, way], check=True, capture_output=True)
        seconds = time.perf_counter() - start
        metrics = json.loads((Path(folder) / "quickstart-digits" / "metrics.json").read_text())
    return seconds, metrics["metrics"]["accuracy"]["value"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default="bench/results/quickstart_time.json")
    args = parser.parse_args()
    runs: dict[str, list[tuple[float, float]]] = {"batched": [], "per-image": []}
    for _ in range(args.rounds):
        for way in runs:
            runs[way].append(one_run(way))
    result = {
        way: {
            "wall_s": [round(s, 2) for s, _ in done],
            "median_wall_s": round(statistics.median(s for s, _ in done), 2),
            "fastest_wall_s": round(min(s for s, _ in done), 2),
            "test_accuracy": [round(a, 4) for _, a in done],
        }
        for way, done in runs.items()
    }
    result["ratio_per_image_to_batched"] = round(
        result["per-image"]["median_wall_s"] / result["batched"]["median_wall_s"], 2
    )
    result["platform"] = platform.platform()
    print(json.dumps(result, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
