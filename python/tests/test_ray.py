"""Batch reading on a local Ray cluster: every row equals single-process `predict_files`."""

import os

import numpy as np
import pytest

import digitnet

ray = pytest.importorskip("ray", reason="the Ray round-trip needs `pip install ray[data] pyarrow`")
pq = pytest.importorskip("pyarrow.parquet")

# The number of generated images (a few thousand by default; DIGITNET_RAY_IMAGES to change it).
IMAGES = int(os.environ.get("DIGITNET_RAY_IMAGES", "3000"))


@pytest.fixture(scope="module")
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def image_tree(tmp_path_factory, mnist_test, photos):
    """MNIST test digits as PNGs in one folder per class (as `digitnet data export` writes
    them), the photo-like images and a broken file in a folder of their own."""
    from PIL import Image

    x, y = mnist_test
    root = tmp_path_factory.mktemp("tree")
    for i in range(IMAGES):
        d = root / "digits" / str(y[i])
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(x[i]).save(d / f"{i:05}.png")
    (root / "photos").mkdir()
    for p in photos:
        if os.path.exists(p):
            os.link(p, root / "photos" / os.path.basename(p))
    return root


def test_ray_rows_equal_single_process_predict(local_ray, image_tree, tmp_path):
    import digitnet.ray

    paths = digitnet.ray.list_images(image_tree)
    assert len(paths) >= IMAGES + 20
    n = digitnet.ray.read_folder(image_tree, tmp_path / "out", workers=2, batch_size=100)
    assert n == len(paths)
    rows = pq.read_table(tmp_path / "out").to_pylist()
    assert sorted(r["path"] for r in rows) == paths
    expected = {a["path"]: a for a in digitnet.load().predict_files(paths)}
    for r in rows:
        e = expected[r["path"]]
        if "error" in e:
            assert r["error"] == e["error"] and r["digit"] is None
            continue
        assert r["error"] is None
        assert r["digit"] == e["digit"]
        assert np.float32(r["confidence"]) == np.float32(e["confidence"])
        np.testing.assert_array_equal(np.asarray(r["probabilities"], np.float32), np.asarray(e["probabilities"], np.float32))
    assert sum(r["error"] is not None for r in rows) == 1  # the file that is no image
    # The exported digits are MNIST's, read as the built-in model reads them: nearly all right.
    digits = [r for r in rows if "/digits/" in r["path"]]
    right = sum(r["digit"] == os.path.basename(os.path.dirname(r["path"])) for r in digits)
    assert right / len(digits) > 0.99


def test_ray_read_and_json_lines(local_ray, tmp_path):
    import json

    import digitnet.ray
    from conftest import REPO

    numbers = [str(REPO / "web" / "fixtures" / "number.png")] * 3
    rows = digitnet.ray.dataset(numbers, task="read", workers=1, batch_size=2).take_all()
    expected = digitnet.load().read_files(numbers)
    assert [r["text"] for r in rows] == [e["text"] for e in expected]
    assert [json.loads(r["digits"]) for r in rows] == [e["digits"] for e in expected]
    with pytest.raises(FileNotFoundError):
        digitnet.ray.read_folder(tmp_path / "nothing-here", tmp_path / "out")
