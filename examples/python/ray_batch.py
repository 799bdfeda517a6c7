"""Read a folder tree of digit images on Ray and write one row per file as Parquet.

    python examples/python/ray_batch.py [FOLDER] [--workers 1,2] [--out results/] [--address ADDR]

FOLDER defaults to MNIST's 10,000 test digits written as PNGs (what `digitnet data export --out
DIR --split test` writes), made once in a temporary folder. For each worker count the whole
folder is read and written (what `digitnet.ray.read_folder` does, timed in two steps), and the
throughput printed. Without
--address a local Ray cluster is started on this machine; with it (e.g.
`--address ray://head-node:10001`, or `auto` on a cluster node) the same code runs on a real
cluster, whose nodes must all see FOLDER (a shared file system) and have digitnet installed.
"""

import argparse
import os
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import ray

import digitnet
import digitnet.ray

REPO = Path(__file__).resolve().parents[2]


def mnist_folder(root: Path) -> Path:
    """MNIST's test digits as PNGs, one folder per class."""
    from PIL import Image

    x, y = digitnet.read_idx(REPO / "data/mnist/t10k-images-idx3-ubyte.gz", REPO / "data/mnist/t10k-labels-idx1-ubyte.gz")
    for i, (image, label) in enumerate(zip(x, y)):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / str(label) / f"{i:05}.png")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="a folder tree of images (default: MNIST's test digits as PNGs)")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure in turn, comma-separated (e.g. 1,2,1,2)")
    parser.add_argument("--out", default=None, help="where to write the Parquet files (default: a temporary folder)")
    parser.add_argument("--address", default=None, help="a Ray cluster's address (default: start a local one)")
    parser.add_argument("--task", default="predict", choices=digitnet.ray.TASKS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder) if args.folder else mnist_folder(Path(tmp) / "mnist")
        if args.address:
            ray.init(address=args.address)
        else:
            # One logical CPU more than the cores: with as many workers as cores, the tasks that
            # list the paths and write the files would otherwise wait for the workers to stop.
            ray.init(num_cpus=os.cpu_count() + 1, include_dashboard=False, log_to_driver=False)
        files = len(digitnet.ray.list_images(folder))
        for run, workers in enumerate(int(w) for w in args.workers.split(",")):
            out = Path(args.out or tmp) / f"run{run + 1}-{workers}-workers"
            # digitnet.ray.read_folder in two timed steps: the answers (the workers started, every
            # file read), then the Parquet files written.
            start = time.perf_counter()
            ds = digitnet.ray.dataset(digitnet.ray.list_images(folder), task=args.task, workers=workers, batch_size=200).materialize()
            answered = time.perf_counter() - start
            ds.write_parquet(str(out))
            seconds = time.perf_counter() - start
            table = pq.read_table(out)
            errors = sum(e is not None for e in table.column("error").to_pylist())
            print(
                f"{workers} worker(s): {files} files in {seconds:.1f} s = {files / seconds:.0f} files/s "
                f"(answers {answered:.1f} s, writing {seconds - answered:.1f} s; {errors} errors) → {out}",
                flush=True,
            )
        ray.shutdown()


if __name__ == "__main__":
    main()
