#!/usr/bin/env bash
# Runs `digitnet bench` and the PyTorch and TensorFlow peer benchmarks (../shared/peers/) one
# after the other on this machine, then prints each figure's ratio to the best peer.
#
# Peers must be installed once per machine (large downloads), e.g.:
#   python3 -m venv ~/torch-venv && ~/torch-venv/bin/pip install torch numpy
#   python3 -m venv ~/tf-venv && ~/tf-venv/bin/pip install tensorflow numpy
# Override their interpreters with TORCH_PY and TF_PY. Results go to bench/results/.
set -euo pipefail
cd "$(dirname "$0")/.."
peers=${PEERS_DIR:-../shared/peers}
torch_py=${TORCH_PY:-$HOME/torch-venv/bin/python}
tf_py=${TF_PY:-$HOME/tf-venv/bin/python}
out=bench/results
mkdir -p "$out"
export MNIST_DIR=$PWD/data/mnist PEER_THREADS=2

cargo build --release --locked
echo "== digitnet"
target/release/digitnet bench --threads 2 --json | tee "$out/digitnet.jsonl"
echo "== pytorch"
"$torch_py" "$peers/pytorch_bench.py" bench --archs small,lenet,keras --out "$out/torch.json" > "$out/torch.jsonl"
cat "$out/torch.jsonl"
echo "== tensorflow"
"$tf_py" "$peers/tensorflow_bench.py" --archs small,lenet,keras --out "$out/tf.json" > "$out/tf.jsonl" 2> "$out/tf.err"
cat "$out/tf.jsonl"

python3 - "$out" <<'PY'
import json, sys, os
out = sys.argv[1]
def load(name):
    return \
        {json.loads(l)["arch"]: json.loads(l) for l in open(os.path.join(out, name)) if l.strip()}
ours, torch, tf = load("digitnet.jsonl"), load("torch.jsonl"), load("tf.jsonl")
targets = {"small": (2.0, 0.5, 1.0), "lenet": (1.5, 0.5, 1.0), "keras": (1.2, 0.6, 1.0)}
print()
print("| arch | digitnet train img/s | best peer | ratio (target) | digitnet batch-1 µs | best peer | ratio (target) | digitnet batch-1000 img/s | best peer | ratio (target) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for arch in ["small", "lenet", "keras"]:
    o, p, t = ours[arch], torch[arch], tf[arch]
    bt = max(p["train_img_s"], t["train_img_s"])
    bl = min(p["b1_latency_us"], t["b1_latency_us"])
    bb = max(p["b1000_img_s"], t["b1000_img_s"])
    tt, tl, tb = targets[arch]
    rt, rl, rb = o["train_img_s"] / bt, o["b1_latency_us"] / bl, o["b1000_img_s"] / bb
    mark = lambda ok: "✓" if ok else "✗"
    print(f"| {arch} | {o['train_img_s']:,.0f} | {bt:,.0f} | {rt:.2f}× (≥ {tt}×) {mark(rt >= tt)} | "
          f"{o['b1_latency_us']:.0f} | {bl:.0f} | {rl:.2f}× (≤ {tl}×) {mark(rl <= tl)} | "
          f"{o['b1000_img_s']:,.0f} | {bb:,.0f} | {rb:.2f}× (≥ {tb}×) {mark(rb >= tb)} |")
PY
