"""The Python binding's batch-1000 throughput against the command line's, in alternating rounds.

    python tools/python_throughput.py [rounds]     # after `pip install ./python` and `cargo build --release`

Each round: `digitnet bench --arch models/digits-arch.json --json` (the built-in model's
architecture; its batch-1000 figure is the median of 10 forward passes of 1,000 MNIST images,
2 threads), then `model.predict` of the built-in model on 1,000 MNIST test images from numpy,
timed the same way (median of 10 calls), and on all 10,000 at once. Prints images/s and the ratio.
"""

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import digitnet

REPO = Path(__file__).resolve().parents[1]


def cli_b1000() -> float:
    out = subprocess.run(
        [str(REPO / "target/release/digitnet"), "bench", "--arch", str(REPO / "models/digits-arch.json"), "--steps", "1", "--threads", "2", "--json"],
        capture_output=True, text=True, check=True, cwd=REPO,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])["b1000_img_s"]


def python_b1000(model, x) -> float:
    model.predict(x[:1000])  # warm-up
    times = []
    for _ in range(10):
        t = time.perf_counter()
        model.predict(x[:1000])
        times.append(time.perf_counter() - t)
    return 1000 / statistics.median(times)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    x, _ = digitnet.read_idx(REPO / "data/mnist/t10k-images-idx3-ubyte.gz", REPO / "data/mnist/t10k-labels-idx1-ubyte.gz")
    model = digitnet.load()
    cli, py, full = [], [], []
    for r in range(rounds):
        cli.append(cli_b1000())
        py.append(python_b1000(model, x))
        t = time.perf_counter()
        model.predict(x)
        full.append(len(x) / (time.perf_counter() - t))
        print(f"round {r + 1}: CLI batch-1000 {cli[-1]:.0f} img/s | Python predict batch 1000 {py[-1]:.0f} img/s ({py[-1] / cli[-1]:.3f}×) | all 10,000 {full[-1]:.0f} img/s", flush=True)
    c, p = statistics.median(cli), statistics.median(py)
    print(f"median: CLI {c:.0f} img/s, Python {p:.0f} img/s, ratio {p / c:.3f}; 10,000 at once {statistics.median(full):.0f} img/s")


if __name__ == "__main__":
    main()
