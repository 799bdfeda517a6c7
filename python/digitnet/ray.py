"""Reading many image files on Ray: a folder tree (or a list of paths) → ``ray.data`` →
``map_batches`` with :class:`Predictor` on a fixed pool of workers, each holding its own copy of
the model → one row per file, written as Parquet or JSON lines.

    import ray, digitnet.ray
    ray.init()                                   # or ray.init(address="ray://head:10001") for a cluster
    digitnet.ray.read_folder("scans/", "results/", workers=8)

Each worker answers a file exactly as ``model.predict_files`` (and ``digitnet predict --json``)
does in one process. The workers open the files themselves, so on a cluster the paths must be
readable on every node (a shared file system).

Columns: ``path``, ``error`` (None unless the file failed) and, per task, ``digit``,
``confidence``, ``probabilities`` (predict); ``text``, ``digits`` (read; ``digits`` as JSON
text of ``[{"digit", "confidence", "box"}]``); ``angle`` (angle).
"""

from __future__ import annotations

import json
import os
from typing import Dict, Iterable, List, Optional

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

TASKS = ("predict", "read", "angle")


def list_images(root: "os.PathLike[str] | str") -> List[str]:
    """Every image file under ``root`` (the extensions ``predict`` reads), sorted."""
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root}: not a directory")
    found = []
    for directory, _, files in os.walk(root):
        found.extend(os.path.join(directory, f) for f in files if f.lower().endswith(IMAGE_EXTENSIONS))
    return sorted(found)


class Predictor:
    """A ``map_batches`` callable class: loads the model once per worker, then answers batches
    of ``{"path": [...]}`` rows. ``model``: a model file or None for the built-in one;
    ``task``: "predict", "read" or "angle"; ``threads``: the engine's threads per worker."""

    def __init__(self, model: Optional[str] = None, task: str = "predict", threads: int = 1):
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        # The engine's thread pool is sized on first use, from this variable.
        os.environ.setdefault("RAYON_NUM_THREADS", str(threads))
        import digitnet

        self.task = task
        self.model = digitnet.load_angle(model) if task == "angle" else digitnet.load(model)

    def __call__(self, batch: Dict[str, np.ndarray]):
        import pyarrow as pa

        paths = [str(p) for p in batch["path"]]
        if self.task == "predict":
            answers = self.model.predict_files(paths)
            columns = {
                "digit": pa.array([a.get("digit") for a in answers], pa.string()),
                "confidence": pa.array([a.get("confidence") for a in answers], pa.float32()),
                "probabilities": pa.array([a.get("probabilities") for a in answers], pa.list_(pa.float32())),
            }
        elif self.task == "read":
            answers = self.model.read_files(paths)
            columns = {
                "text": pa.array([a.get("text") for a in answers], pa.string()),
                "digits": pa.array([json.dumps(a["digits"]) if "digits" in a else None for a in answers], pa.string()),
            }
        else:
            answers = self.model.angles(paths)
            columns = {"angle": pa.array([a.get("angle") for a in answers], pa.float32())}
        return pa.table({"path": pa.array(paths, pa.string()), **columns, "error": pa.array([a.get("error") for a in answers], pa.string())})


def dataset(paths: Iterable[str], model: Optional[str] = None, task: str = "predict", workers: int = 1, batch_size: int = 64, threads: int = 1):
    """A lazy ``ray.data.Dataset`` of the answers for ``paths`` (one row per file, in no
    particular order), computed by ``workers`` actors with ``threads`` engine threads each."""
    import ray.data

    items = [{"path": os.fspath(p)} for p in paths]
    if not items:
        raise ValueError("no image files to read")
    # Enough blocks that every worker gets several batches.
    blocks = max(1, min(len(items) // batch_size, 4 * workers))
    ds = ray.data.from_items(items, override_num_blocks=blocks)
    return ds.map_batches(
        Predictor,
        fn_constructor_kwargs={"model": model, "task": task, "threads": threads},
        compute=ray.data.ActorPoolStrategy(size=workers),
        batch_size=batch_size,
        num_cpus=threads,
        batch_format="numpy",
    )


def read_folder(
    root: "os.PathLike[str] | str",
    output: "os.PathLike[str] | str",
    model: Optional[str] = None,
    task: str = "predict",
    workers: int = 1,
    batch_size: int = 64,
    threads: int = 1,
    format: str = "parquet",
) -> int:
    """Answers every image under ``root`` on Ray and writes the rows to the directory
    ``output`` as Parquet (``format="parquet"``) or JSON lines (``"json"``) files; returns the
    number of files read. Needs ``ray.init()`` first (a local cluster, or ``address=`` a real one).
    Each worker holds ``threads`` CPUs until every file is answered; keep at least one CPU of the
    cluster free for the tasks that list the paths and write the files, or they wait for the
    workers to finish."""
    paths = list_images(root)
    ds = dataset(paths, model=model, task=task, workers=workers, batch_size=batch_size, threads=threads)
    output = os.fspath(output)
    if format == "parquet":
        ds.write_parquet(output)
    elif format == "json":
        ds.write_json(output)
    else:
        raise ValueError(f"format must be 'parquet' or 'json', got {format!r}")
    return len(paths)
