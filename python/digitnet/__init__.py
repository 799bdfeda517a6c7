"""digitnet from Python: convolutional networks for handwritten digits, every layer written by
hand in Rust, behind an API a Keras or scikit-learn user already knows.

    >>> import digitnet, numpy as np
    >>> model = digitnet.load()                      # the built-in classifier (99.66 % on MNIST)
    >>> model.predict(x)                             # x: uint8 [N, 28, 28], 0 = background
    array([7, 2, 1, ...])
    >>> model.predict_files(["digit.png"])           # photos, as `digitnet predict --json`
    [{'path': 'digit.png', 'digit': '2', 'confidence': 1.0, 'probabilities': [...]}]
    >>> model, history = digitnet.train("lenet", x=x_train, y=y_train, epochs=3)

Arrays are MNIST-format digits (28×28, light ink on black: 0 = background), ``uint8`` 0–255 or
``float32`` 0–1, shaped ``[N, 28, 28]`` or ``[N, 1, 28, 28]``; they go to the network as they
are, normalised as the model was trained (image files go through the model's input pipeline
first, as on the command line). The engine runs with the GIL released; a C-contiguous array is
read in place. Every error is a Python exception (``ValueError``, ``TypeError``,
``FileNotFoundError``, ``OSError``) with the command line's message.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sys
import tempfile
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

import numpy as np

from . import _digitnet

__all__ = ["Model", "load", "load_angle", "train", "read_idx"]

PathLike = Union[str, "os.PathLike[str]"]

_HISTORY_KEYS = ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


def load(path: Optional[PathLike] = None, arch: Optional[str] = None) -> "Model":
    """A digit classifier: the built-in one when ``path`` is None (or ``"builtin"``), else a
    model file (safetensors, as ``digitnet train`` writes it, or a PyTorch state dict of a
    built-in architecture with ``arch``, e.g. ``arch="lenet"``)."""
    return Model(_digitnet.load(os.fspath(path) if path is not None else "builtin", arch, "classifier"))


def load_angle(path: Optional[PathLike] = None) -> "Model":
    """A rotation-angle model (``model.angles(paths)``): the built-in one when ``path`` is None,
    else a model file made by ``digitnet finetune``."""
    return Model(_digitnet.load(os.fspath(path) if path is not None else "builtin-rotation", None, "rotation"))


def _paths(paths: Union[PathLike, Iterable[PathLike]]) -> List[str]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return [os.fspath(p) for p in paths]


def _labels(y: Any, n: Optional[int] = None) -> List[int]:
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be a 1-d array of integer class indices, got dtype {y.dtype} and shape {y.shape}")
    if n is not None and len(y) != n:
        raise ValueError(f"{n} images but {len(y)} labels")
    if len(y) and (y.min() < 0 or y.max() > 255):
        raise ValueError(f"labels must be class indices 0–255, found {y.min()}…{y.max()}")
    return y.astype(np.uint8).tolist()


class Model:
    """A network and the input pipeline it was trained with (``digitnet.load``,
    ``digitnet.load_angle``, ``digitnet.train``). One call runs at a time per model; use one
    model per thread to run several at once."""

    def __init__(self, native: _digitnet.Model):
        self._m = native

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class indices, int64 ``[N]``, of the digits ``x`` (uint8 0–255 or float32 0–1,
        ``[N, 28, 28]`` or ``[N, 1, 28, 28]``, 0 = background)."""
        return self._m.predict(x)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities, float32 ``[N, classes]``, of the digits ``x`` (as ``predict``)."""
        return self._m.predict_proba(x)

    def evaluate(self, x: np.ndarray, y: Any) -> Dict[str, Any]:
        """The report of ``digitnet eval --json`` on the digits ``x`` and their labels ``y``:
        accuracy, loss, confusion matrix, precision/recall/F1 per class, kappa, top-2, ROC-AUC."""
        return json.loads(self._m.evaluate_json(x, _labels(y, len(x) if hasattr(x, "__len__") else None)))

    def predict_files(self, paths: Union[PathLike, Iterable[PathLike]]) -> List[Dict[str, Any]]:
        """The digit in each image file, as ``digitnet predict --json``: ``{"path", "digit",
        "confidence", "probabilities"}``, or ``{"path", "error"}`` for a file that failed."""
        return self._m.predict_files(_paths(paths))

    def read_files(self, paths: Union[PathLike, Iterable[PathLike]]) -> List[Dict[str, Any]]:
        """Every digit of the number in each image file, as ``digitnet read --json``: ``{"path",
        "text", "digits": [{"digit", "confidence", "box": [x, y, w, h]}]}`` or ``{"path", "error"}``."""
        return self._m.read_files(_paths(paths))

    def angles(self, paths: Union[PathLike, Iterable[PathLike]]) -> List[Dict[str, Any]]:
        """The rotation angle of the digit in each image file (degrees, counter-clockwise), as
        ``digitnet angle --json``: ``{"path", "angle"}`` or ``{"path", "error"}``."""
        return self._m.angles(_paths(paths))

    def save(self, path: PathLike) -> None:
        """Writes the model file (safetensors; the command line's ``--model`` reads it)."""
        self._m.save(os.fspath(path))

    def summary(self) -> str:
        """Layers, output shapes and parameter counts, as ``digitnet summary``."""
        return self._m.summary()

    @property
    def classes(self) -> List[str]:
        """Class names in output order (``"0"``…``"9"`` for digits; empty for a rotation model)."""
        return self._m.classes

    @property
    def input_shape(self) -> Tuple[int, int, int]:
        return self._m.input_shape

    @property
    def task(self) -> str:
        """``"classification"`` or ``"rotation"``."""
        return self._m.task

    @property
    def pipeline(self) -> str:
        """How image files become inputs: ``auto``, ``photo``, ``resize`` or ``mnist``."""
        return self._m.pipeline

    @property
    def metadata(self) -> Dict[str, str]:
        """The model file's metadata (validation accuracy, epoch, …)."""
        return self._m.metadata

    @property
    def architecture(self) -> Dict[str, Any]:
        """The architecture description (as ``--arch FILE.json`` takes it)."""
        return json.loads(self._m.architecture_json)

    def __repr__(self) -> str:
        return repr(self._m)


def train(
    arch: str = "lenet",
    x: Optional[np.ndarray] = None,
    y: Any = None,
    *,
    folder: Optional[PathLike] = None,
    epochs: int = 10,
    validation_split: float = 0.1,
    out: Optional[PathLike] = None,
    verbose: bool = True,
    on_epoch: Optional[Callable[[Dict[str, Any]], None]] = None,
    **options: Any,
) -> Tuple[Model, Dict[str, List[float]]]:
    """Trains ``arch`` (a built-in name — ``small``, ``lenet``, ``keras``, ``scratch8/16/24`` —
    or an architecture JSON file) from scratch with the library's training run, as ``digitnet
    train`` does, and returns the best-validation model and the history (a dict of lists, one
    value per epoch: ``epoch``, ``train_loss``, ``train_acc``, ``val_loss``, ``val_acc``, ``lr``,
    ``seconds``).

    Data: ``x`` (digits as for ``predict``; float32 is rounded to 0–255 levels) and ``y`` (class
    indices), or ``folder`` (one sub-folder of images per class, read through the ``resize``
    pipeline unless ``pipeline=`` says otherwise; the split is stratified).
    ``validation_split``: a fraction, or a number of images, held out to choose the best epoch.
    ``out``: where to keep the model file, checkpoint and history (default: a temporary folder,
    removed afterwards). ``options``: the other flags of ``digitnet train`` without dashes and
    with the same defaults — ``batch_size``, ``optimizer`` ("adam"/"sgd"), ``lr``, ``momentum``,
    ``nesterov``, ``weight_decay``, ``schedule`` ("constant"/"step"/"cosine"), ``step_every``,
    ``step_gamma``, ``dropout``, ``class_weights``, ``seed``, ``patience``, ``pipeline``,
    ``augment_rotation``, ``augment_shift``, ``augment_scale``, ``augment_flip``,
    ``augment_noise``, ``augment_elastic``, ``augment_elastic_sigma``, ``augment_one_of``,
    ``augment_stroke``, ``augment_styles``, ``augment_photo``.
    """
    options = dict(options, epochs=epochs, validation_split=validation_split)
    if (x is None) != (y is None):
        raise ValueError("train takes x and y together")
    labels = _labels(y, len(x)) if x is not None else None
    if folder is not None:
        folder = os.fspath(folder)

    def epoch_end(line: str, improved: bool) -> None:
        record = json.loads(line)
        if verbose:
            print(
                f"epoch {record['epoch']:>3}: train loss {record['train_loss']:.4f} acc {record['train_acc']:.4f} | "
                f"val loss {record['val_loss']:.4f} acc {record['val_acc']:.4f} | {record['seconds']:.1f}s" + (" *" if improved else ""),
                file=sys.stderr,
            )
        if on_epoch is not None:
            on_epoch(record)

    workdir = None
    if out is None:
        workdir = tempfile.mkdtemp(prefix="digitnet-train-")
        out_path = os.path.join(workdir, "model.safetensors")
    else:
        out_path = os.fspath(out)
    try:
        model, history = _digitnet.train_model(arch, json.dumps(options), out_path, x, labels, folder, epoch_end)
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    records = json.loads(history)
    columns: Dict[str, List[float]] = {"epoch": [r["epoch"] for r in records]}
    for key in _HISTORY_KEYS:
        columns[key] = [r[key] for r in records]
    return Model(model), columns


def read_idx(images: PathLike, labels: Optional[PathLike] = None):
    """MNIST's IDX files (gzipped or not) as numpy arrays: uint8 ``[N, rows, cols]`` images, and
    their uint8 labels when ``labels`` is given."""

    def raw(path: PathLike) -> bytes:
        path = os.fspath(path)
        with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
            return f.read()

    data = raw(images)
    if data[:4] != b"\x00\x00\x08\x03":
        raise ValueError(f"{os.fspath(images)}: not an IDX file of uint8 images")
    n, rows, cols = (int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(3))
    x = np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    if labels is None:
        return x
    data = raw(labels)
    if data[:4] != b"\x00\x00\x08\x01":
        raise ValueError(f"{os.fspath(labels)}: not an IDX file of uint8 labels")
    y = np.frombuffer(data, dtype=np.uint8, offset=8)
    if len(y) != n:
        raise ValueError(f"{n} images but {len(y)} labels")
    return x, y
