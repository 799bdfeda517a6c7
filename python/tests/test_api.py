"""The Python API against the command line: same answers, same reports, same errors."""

import gzip
import json
import threading
import time

import numpy as np
import pytest

import digitnet
from conftest import REPO, cli_json


def f32(values):
    """JSON numbers as the float32 values they were printed from."""
    return np.asarray(values, dtype=np.float32)


def test_builtin_model_on_the_mnist_test_set_is_evals(mnist_test, cli):
    x, y = mnist_test
    model = digitnet.load()
    predicted = model.predict(x)
    assert predicted.dtype == np.int64 and predicted.shape == (10000,)
    accuracy = float((predicted == y).mean())
    assert accuracy >= 0.996, accuracy
    report = model.evaluate(x, y)
    code, expected = cli_json(cli, "eval", "--json")
    assert code == 0
    # The whole report, figure for figure: the same network on the same inputs in the same batches.
    assert report == expected
    confusion = np.zeros((10, 10), dtype=int)
    np.add.at(confusion, (y, predicted), 1)
    assert confusion.tolist() == expected["confusion"]


def test_dtypes_and_layouts_agree(mnist_test):
    x, _ = mnist_test
    x = x[:1200]
    model = digitnet.load()
    p = model.predict_proba(x)
    assert p.dtype == np.float32 and p.shape == (1200, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    assert (p.argmax(axis=1) == model.predict(x)).all()
    # The same levels as 0–1 floats, and with a channel axis, give the same probabilities.
    np.testing.assert_allclose(model.predict_proba(x.astype(np.float32) / 255), p, atol=1e-6)
    np.testing.assert_array_equal(model.predict_proba(x[:, None]), p)
    # A non-contiguous view is copied and answered as its contiguous copy.
    view = np.asfortranarray(x)
    np.testing.assert_array_equal(model.predict_proba(view), p)


def test_the_gil_is_released_while_the_engine_computes(mnist_test):
    x, _ = mnist_test
    model = digitnet.load()
    ticks = 0
    done = threading.Event()

    def count():
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            time.sleep(0.001)

    t = threading.Thread(target=count)
    t.start()
    start = time.perf_counter()
    model.predict(x)
    elapsed = time.perf_counter() - start
    done.set()
    t.join()
    # Holding the GIL for the whole call would leave the counter near 0; released, it ticks
    # about once a millisecond (allow for a loaded machine: a tenth of that).
    assert ticks > elapsed * 1000 / 10, (ticks, elapsed)


def test_predict_files_read_files_and_angles_are_the_clis(photos, cli):
    model = digitnet.load()
    for method, command in [(model.predict_files, "predict"), (model.read_files, "read")]:
        answers = method(photos)
        code, expected = cli_json(cli, command, "--json", *photos)
        assert code == 1  # the broken and the missing file
        assert [sorted(a) for a in answers] == [sorted(e) for e in expected]
        for a, e in zip(answers, expected):
            assert a["path"] == e["path"]
            if "error" in e:
                assert a["error"] == e["error"]
            elif command == "predict":
                assert a["digit"] == e["digit"]
                assert f32(a["confidence"]) == f32(e["confidence"])
                np.testing.assert_array_equal(f32(a["probabilities"]), f32(e["probabilities"]))
            else:
                assert a["text"] == e["text"]
                assert [(d["digit"], d["box"]) for d in a["digits"]] == [(d["digit"], d["box"]) for d in e["digits"]]
                np.testing.assert_array_equal(f32([d["confidence"] for d in a["digits"]]), f32([d["confidence"] for d in e["digits"]]))
    assert sum("error" in a for a in model.predict_files(photos)) == 2
    rotated = [str(REPO / "web" / "fixtures" / "rotated.png")] + photos[1:4]
    angles = digitnet.load_angle().angles(rotated)
    code, expected = cli_json(cli, "angle", "--json", *rotated)
    assert code == 0
    assert [a["path"] for a in angles] == [e["path"] for e in expected]
    np.testing.assert_array_equal(f32([a["angle"] for a in angles]), f32([e["angle"] for e in expected]))


def test_errors_are_python_exceptions_with_the_clis_messages(tmp_path, cli):
    model = digitnet.load()
    digits = np.zeros((2, 28, 28), dtype=np.uint8)
    with pytest.raises(TypeError, match="float64"):
        model.predict(digits.astype(np.float64))
    with pytest.raises(TypeError, match="numpy array"):
        model.predict(digits.tolist())
    with pytest.raises(ValueError, match=r"shape \[N, 28, 28\] or \[N, 1, 28, 28\].*\[2, 28, 27\]"):
        model.predict(np.zeros((2, 28, 27), dtype=np.uint8))
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.zeros((28, 28), dtype=np.uint8))
    bad = np.zeros((3, 28, 28), dtype=np.float32)
    bad[2, 5, 5] = np.nan
    with pytest.raises(ValueError, match="NaN in image 2"):
        model.predict_proba(bad)
    bad[2, 5, 5] = 255.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.predict(bad)
    with pytest.raises(ValueError, match="label 10"):
        model.evaluate(digits, [0, 10])
    with pytest.raises(ValueError, match="2 images but 3 labels"):
        model.evaluate(digits, [0, 1, 2])
    with pytest.raises(FileNotFoundError, match="no-such-model.safetensors"):
        digitnet.load(tmp_path / "no-such-model.safetensors")
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(ValueError) as e:
        digitnet.load(corrupt)
    code, _, err = cli("predict", "--model", corrupt, REPO / "web" / "fixtures" / "digit.png")
    assert code != 0 and str(e.value) in err
    with pytest.raises(ValueError, match="not a classifier"):
        digitnet.load("builtin-rotation")
    with pytest.raises(ValueError, match="rotation"):
        digitnet.load_angle("builtin")
    with pytest.raises(ValueError, match="not a classifier"):
        digitnet.load_angle().predict(digits)
    with pytest.raises(ValueError, match="unknown field `lrr`"):
        digitnet.train("small", digits, [0, 1], lrr=0.1)
    with pytest.raises(ValueError, match="unknown architecture|arch"):
        digitnet.train("no-such-arch", digits, [0, 1])
    # The augmentations of `digitnet train` reach the same checks (`augment_photo` etc.).
    with pytest.raises(ValueError, match="photo 2"):
        digitnet.train("small", digits, [0, 1], validation_split=1, augment_photo=2.0)
    with pytest.raises(ValueError, match="stroke 5"):
        digitnet.train("small", digits, [0, 1], validation_split=1, augment_stroke=5.0)
    with pytest.raises(ValueError, match="augment-photo"):
        digitnet.train("small", digits, [0, 1], validation_split=1, augment_photo=0.5, pipeline="resize")


def write_idx(directory, x, y, stem="train"):
    """A four-file IDX data set as `digitnet train --data` reads it (gzipped)."""
    directory.mkdir(parents=True, exist_ok=True)
    n, rows, cols = x.shape
    for split, (xs, ys) in {"train": (x, y), "t10k": (x[:100], y[:100])}.items():
        header = b"\x00\x00\x08\x03" + b"".join(v.to_bytes(4, "big") for v in (len(xs), rows, cols))
        with gzip.open(directory / f"{split}-images-idx3-ubyte.gz", "wb") as f:
            f.write(header + np.ascontiguousarray(xs).tobytes())
        with gzip.open(directory / f"{split}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(b"\x00\x00\x08\x01" + len(ys).to_bytes(4, "big") + np.asarray(ys, dtype=np.uint8).tobytes())


def test_train_is_the_clis_training_run(tmp_path, mnist_train, mnist_test, cli):
    """One short epoch from arrays trains exactly what `digitnet train --data` trains on the
    same images with the same settings: the same history and the same model."""
    x, y = mnist_train
    x, y = x[:4000], y[:4000]
    epochs = []
    model, history = digitnet.train("small", x, y, epochs=1, validation_split=500, lr=0.01, verbose=False, on_epoch=epochs.append)
    assert sorted(history) == ["epoch", "lr", "seconds", "train_acc", "train_loss", "val_acc", "val_loss"]
    assert history["epoch"] == [1] and len(epochs) == 1
    write_idx(tmp_path / "data", x, y)
    out = tmp_path / "cli.safetensors"
    code, _, _ = cli("train", "--arch", "small", "--data", tmp_path / "data", "--epochs", 1, "--val-split", 500, "--lr", 0.01, "--out", out)
    assert code == 0
    expected = json.loads((tmp_path / "cli.history.json").read_text())
    for key in ["train_loss", "train_acc", "val_loss", "val_acc", "lr"]:
        assert history[key] == [r[key] for r in expected], key
    xt, yt = mnist_test
    np.testing.assert_array_equal(model.predict_proba(xt[:500]), digitnet.load(out).predict_proba(xt[:500]))
    # Learned something: the `small` network after one epoch on 3,500 images.
    assert (model.predict(xt[:1000]) == yt[:1000]).mean() > 0.8
    # Saved and loaded, the same model; its summary is the CLI's.
    model.save(tmp_path / "py.safetensors")
    again = digitnet.load(tmp_path / "py.safetensors")
    np.testing.assert_array_equal(again.predict_proba(xt[:200]), model.predict_proba(xt[:200]))
    assert again.metadata["epoch"] == "1"
    code, table, _ = cli("summary", "--model", tmp_path / "py.safetensors")
    assert code == 0 and model.summary().strip() in table


def test_train_from_a_folder(tmp_path, mnist_train):
    from PIL import Image

    x, y = mnist_train
    names = {3: "three", 7: "seven"}
    for label, name in names.items():
        (tmp_path / name).mkdir()
        for i in np.flatnonzero(y == label)[:150]:
            Image.fromarray(x[i]).save(tmp_path / name / f"{i}.png")
    model, history = digitnet.train("small", folder=tmp_path, epochs=2, validation_split=0.2, lr=0.01, verbose=False)
    assert model.classes == ["seven", "three"]
    assert model.pipeline == "resize"
    assert len(history["val_acc"]) == 2
    answers = model.predict_files([tmp_path / "three" / f"{i}.png" for i in np.flatnonzero(y == 3)[:20]])
    assert sum(a["digit"] == "three" for a in answers) >= 15
