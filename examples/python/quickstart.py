"""digitnet from Python in a few lines: the built-in model on numpy digits and on a photo, then
LeNet trained for one epoch, its history plotted if matplotlib is installed.

    pip install ./python
    python examples/python/quickstart.py            # from the repository's root
"""

from pathlib import Path

import numpy as np

import digitnet

REPO = Path(__file__).resolve().parents[2]
MNIST = REPO / "data" / "mnist"

# MNIST as numpy arrays: uint8 [N, 28, 28], 0 = background (float32 0–1 works too).
x_train, y_train = digitnet.read_idx(MNIST / "train-images-idx3-ubyte.gz", MNIST / "train-labels-idx1-ubyte.gz")
x_test, y_test = digitnet.read_idx(MNIST / "t10k-images-idx3-ubyte.gz", MNIST / "t10k-labels-idx1-ubyte.gz")

# The built-in classifier on arrays …
model = digitnet.load()
predicted = model.predict(x_test)  # int64 [10000]
print(f"built-in model: {np.mean(predicted == y_test):.2%} of the MNIST test set")
print("probabilities of the first test digit:", np.round(model.predict_proba(x_test[:1])[0], 3))

# … and on photos: the same answers as `digitnet predict --json` / `digitnet read --json`.
print(model.predict_files([REPO / "web/fixtures/digit.png"])[0]["digit"])  # 2
print(model.read_files([REPO / "web/fixtures/number.png"])[0]["text"])  # 72104
print(f"{digitnet.load_angle().angles([REPO / 'web/fixtures/rotated.png'])[0]['angle']:.1f}°")

# LeNet from scratch for one epoch (about 10 s on 2 cores), 5,000 images held out to validate.
lenet, history = digitnet.train("lenet", x_train, y_train, epochs=1, validation_split=5000)
report = lenet.evaluate(x_test, y_test)  # the report of `digitnet eval --json`
print(f"LeNet after one epoch: {report['accuracy']:.2%} test accuracy, kappa {report['kappa']:.4f}")
print(lenet.summary())
lenet.save("lenet.safetensors")  # `digitnet predict --model lenet.safetensors …` reads it

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("history:", history)
else:
    fig, (loss, acc) = plt.subplots(1, 2, figsize=(8, 3))
    for key in ("train_loss", "val_loss"):
        loss.plot(history["epoch"], history[key], marker="o", label=key)
    for key in ("train_acc", "val_acc"):
        acc.plot(history["epoch"], history[key], marker="o", label=key)
    for ax in (loss, acc):
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    fig.savefig("lenet-history.png")
    print("history plotted in lenet-history.png")
