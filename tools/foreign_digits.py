#!/usr/bin/env python3
"""Writes a small digit set of other writers as image folders, to check `train --folder`.

The set is scikit-learn's copy of the UCI optical recognition of handwritten digits (1,797
digits of 43 writers, 8x8 grey levels 0-16; none of them MNIST's writers), rendered as RGB
photos-of-paper: dark blue-black ink on cream paper, upscaled to 40x40 (bicubic). A seeded,
stratified 70/30 split gives about 1,250 training and 540 test images:

    OUT/train/<digit>/<n>.png    OUT/test/<digit>/<n>.png

Run: python3 tools/foreign_digits.py OUT   (needs numpy, pillow and scikit-learn)
"""
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def main(out: Path) -> None:
    d = load_digits()
    rng = np.random.default_rng(0)
    paper = np.array([238, 232, 214], dtype=np.float64)  # cream
    ink = np.array([30, 35, 70], dtype=np.float64)       # blue-black
    counts = {"train": 0, "test": 0}
    for digit in range(10):
        idx = np.flatnonzero(d.target == digit)
        rng.shuffle(idx)
        n_train = int(round(0.7 * len(idx)))
        for part, members in (("train", idx[:n_train]), ("test", idx[n_train:])):
            folder = out / part / str(digit)
            folder.mkdir(parents=True, exist_ok=True)
            for i in members:
                a = (d.images[i] / 16.0)[..., None]
                rgb = (1 - a) * paper + a * ink
                img = Image.fromarray(rgb.round().astype(np.uint8), "RGB").resize((40, 40), Image.BICUBIC)
                img.save(folder / f"{i:04d}.png")
                counts[part] += 1
    print(f"wrote {counts['train']} training and {counts['test']} test images under {out}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: foreign_digits.py OUT")
    main(Path(sys.argv[1]))
