#!/usr/bin/env python3
"""One command for the ONNX conformance run: finds the backend test cases of the installed
`onnx` package (`onnx/backend/test/data/pytorch-converted` and `node`; onnx 1.23 dropped
`node` from its wheel, so install onnx==1.22.0 for both) and runs them through digitnet
(`cargo run --release --example onnx_conformance`, source in tools/onnx_conformance.rs).

    python3 -m venv /tmp/onnxvenv && /tmp/onnxvenv/bin/pip install onnx==1.22.0
    /tmp/onnxvenv/bin/python tools/onnx_conformance.py [EXTRA_CASE_DIR…]

Only the `onnx` package's files are used (no onnxruntime). Exit status: the runner's (1 when
any tried case fails).
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    import onnx

    data = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")
    dirs = [os.path.join(data, d) for d in ("pytorch-converted", "node") if os.path.isdir(os.path.join(data, d))]
    dirs += sys.argv[1:]
    print(f"onnx {onnx.__version__}: cases from {', '.join(dirs)}", flush=True)
    cmd = ["cargo", "run", "--release", "--quiet", "--example", "onnx_conformance", "--", *dirs]
    return subprocess.run(cmd, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
