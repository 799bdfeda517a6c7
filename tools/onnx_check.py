#!/usr/bin/env python3
"""Checks digitnet's ONNX export against ONNX Runtime on the 10,000 MNIST test images.

For each model below, `digitnet export` writes an .onnx file, `onnx.checker` validates it
(full check, with shape inference), ONNX Runtime runs it on x = pixel / 255 ([N, 1, 28, 28]
float32), and its outputs are compared with digitnet's own for the same model
(`cargo run --example mnist_logits`, source in tools/mnist_logits.rs). A model passes when
every output is within 1e-4 · max(1, |digitnet's value|) of digitnet's and at most 3 of the
10,000 predicted classes differ (near-ties: both sides compute in float32 in different orders).

Run from the repository root, in a Python environment with onnx, onnxruntime and numpy:

    python3 -m venv /tmp/ortvenv && /tmp/ortvenv/bin/pip install onnx onnxruntime numpy
    /tmp/ortvenv/bin/python tools/onnx_check.py            # all models
    /tmp/ortvenv/bin/python tools/onnx_check.py builtin    # just some

Exit status 0 when every model passes.
"""

import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Every layer type, asymmetric "same" padding with stride, dilation, no-bias conv, average
# pooling, dropout, 1-d batch norm and a normalisation inside the graph.
EVERY_LAYER = {
    "name": "every", "input": [1, 28, 28], "classes": [str(d) for d in range(10)],
    "normalization": {"mean": 0.1307, "std": 0.3081},
    "layers": [
        {"type": "conv2d", "out_channels": 6, "kernel": [3, 2], "padding": "same", "stride": 2},
        {"type": "batch_norm"}, {"type": "leaky_relu", "slope": 0.2},
        {"type": "conv2d", "out_channels": 8, "kernel": 3, "padding": [1, 2], "dilation": 2, "bias": False},
        {"type": "tanh"}, {"type": "avg_pool2d", "kernel": 2}, {"type": "dropout", "rate": 0.3},
        {"type": "max_pool2d", "kernel": 3, "stride": 1}, {"type": "sigmoid"}, {"type": "identity"},
        {"type": "flatten"}, {"type": "dense", "out_features": 32}, {"type": "batch_norm"}, {"type": "relu"},
        {"type": "dense", "out_features": 10},
    ],
}

# (name, export arguments, mnist_logits model spec); {every} is replaced by the JSON file.
MODELS = [
    ("builtin", ["--model", "builtin"], "builtin"),
    ("builtin-rotation", ["--model", "builtin-rotation"], "builtin-rotation"),
    ("small", ["--untrained", "--arch", "small", "--seed", "1"], "arch:small:1"),
    ("lenet", ["--untrained", "--arch", "lenet", "--seed", "1"], "arch:lenet:1"),
    ("keras", ["--untrained", "--arch", "keras", "--seed", "1"], "arch:keras:1"),
    ("scratch8", ["--untrained", "--arch", "scratch8", "--seed", "1"], "arch:scratch8:1"),
    ("every-layer.json", ["--untrained", "--arch", "{every}", "--seed", "2"], "arch:{every}:2"),
]


def read_images():
    with gzip.open(os.path.join(ROOT, "data", "mnist", "t10k-images-idx3-ubyte.gz"), "rb") as f:
        data = f.read()
    n, rows, cols = struct.unpack(">III", data[4:16])
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, 1, rows, cols)


def run(cmd):
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr}")


def main():
    import onnx
    import onnxruntime as ort

    wanted = set(sys.argv[1:])
    run(["cargo", "build", "--release", "--quiet", "--bin", "digitnet", "--example", "mnist_logits"])
    digitnet = os.path.join(ROOT, "target", "release", "digitnet")
    logits_tool = os.path.join(ROOT, "target", "release", "examples", "mnist_logits")
    x = read_images().astype(np.float32) / np.float32(255.0)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        every = os.path.join(tmp, "every.json")
        with open(every, "w") as f:
            json.dump(EVERY_LAYER, f)
        print(f"{'model':18} {'outputs':>7} {'max |ort - digitnet|':>21} {'argmax differ':>13}  result")
        for name, export_args, spec in MODELS:
            if wanted and name not in wanted:
                continue
            path = os.path.join(tmp, name + ".onnx")
            run([digitnet, "export", *[a.replace("{every}", every) for a in export_args], "--out", path])
            onnx.checker.check_model(onnx.load(path), full_check=True)
            ref_path = os.path.join(tmp, name + ".f32")
            run([logits_tool, spec.replace("{every}", every), ref_path])
            ref = np.fromfile(ref_path, dtype="<f4").reshape(len(x), -1)
            options = ort.SessionOptions()
            options.intra_op_num_threads = 2
            session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
            out = np.concatenate([session.run(None, {"input": x[i:i + 1000]})[0] for i in range(0, len(x), 1000)])
            assert out.shape == ref.shape, (out.shape, ref.shape)
            diff = np.abs(out - ref)
            worst = float(diff.max())
            within = bool((diff <= 1e-4 * np.maximum(1.0, np.abs(ref))).all())
            differ = int((out.argmax(1) != ref.argmax(1)).sum()) if ref.shape[1] > 1 else 0
            ok = within and differ <= 3
            failures += not ok
            print(f"{name:18} {ref.shape[1]:7d} {worst:21.3e} {differ:13d}  {'pass' if ok else 'FAIL'}")
    print(f"onnxruntime {ort.__version__}, onnx {onnx.__version__}: {'all passed' if not failures else f'{failures} failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
