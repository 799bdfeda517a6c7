"""Shared fixtures: the repository's MNIST as numpy arrays, the command-line binary the
answers are compared with, and photo-like test images."""

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import digitnet

REPO = Path(__file__).resolve().parents[2]
MNIST = REPO / "data" / "mnist"


@pytest.fixture(scope="session")
def mnist_test():
    return digitnet.read_idx(MNIST / "t10k-images-idx3-ubyte.gz", MNIST / "t10k-labels-idx1-ubyte.gz")


@pytest.fixture(scope="session")
def mnist_train():
    return digitnet.read_idx(MNIST / "train-images-idx3-ubyte.gz", MNIST / "train-labels-idx1-ubyte.gz")


@pytest.fixture(scope="session")
def cli():
    """Runs the `digitnet` binary (DIGITNET_CLI, or target/release/digitnet of this checkout)
    and returns (exit code, stdout, stderr). Skipped where it is not built, unless
    DIGITNET_REQUIRE_CLI=1 (as in CI), where its absence fails."""
    path = Path(os.environ.get("DIGITNET_CLI", REPO / "target" / "release" / "digitnet"))
    if not path.is_file():
        message = f"{path} not found: build it with `cargo build --release`"
        if os.environ.get("DIGITNET_REQUIRE_CLI") == "1":
            pytest.fail(message)
        pytest.skip(message)

    def run(*args):
        p = subprocess.run([str(path), *map(str, args)], capture_output=True, text=True, cwd=REPO)
        return p.returncode, p.stdout, p.stderr

    return run


def cli_json(cli, *args):
    code, out, _ = cli(*args)
    return code, json.loads(out)


@pytest.fixture(scope="session")
def photos(tmp_path_factory, mnist_test):
    """The repository's sample photos, and MNIST test digits made photo-like (dark ink on
    light, uneven paper, larger, off centre; PNG and JPEG), a file that is no image and a
    missing one."""
    from PIL import Image

    x, _ = mnist_test
    d = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    paths = [REPO / "web" / "fixtures" / "digit.png"]
    for i in range(24):
        side = int(rng.integers(60, 160))
        ink = np.asarray(Image.fromarray(x[i]).resize((side, side), Image.BILINEAR), dtype=np.float32) / 255
        paper = 200 + 40 * np.linspace(0, 1, side)[None, :] + rng.normal(0, 4, (side, side))
        canvas = np.full((side + 40, side + 60), 230.0)
        oy, ox = int(rng.integers(0, 40)), int(rng.integers(0, 60))
        canvas[oy : oy + side, ox : ox + side] = paper * (1 - 0.85 * ink)
        img = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
        path = d / (f"photo{i}.jpg" if i % 3 == 0 else f"photo{i}.png")
        img.save(path, quality=80) if path.suffix == ".jpg" else img.save(path)
        paths.append(path)
    (d / "not-an-image.png").write_bytes(b"this is text, not a PNG")
    paths += [d / "not-an-image.png", d / "missing.png"]
    return [str(p) for p in paths]
