#!/usr/bin/env bash
# Runs `digitnet bench` and the peer benchmarks (../shared/peers/: PyTorch and TensorFlow, and
# ONNX Runtime and OpenVINO for inference) one after the other on this machine, ROUNDS times in
# alternation (default 3), then prints each figure's ratio to the best of the four peers
# (training: the best of PyTorch and TensorFlow, the two that train).
#
# This machine is shared: its speed drifts by ±20–40 % over minutes, so one pass of three
# benchmarks run minutes apart can favour whichever ran in a quiet spell. Alternating rounds
# and keeping each system's best figure per architecture (highest images/s, lowest latency)
# gives all three the same chances; every round's raw JSON stays in runs/bench/round-N/
# and the per-round ratios are printed too.
#
# Peers must be installed once per machine (large downloads), e.g.:
#   python3 -m venv ~/torch-venv && ~/torch-venv/bin/pip install torch numpy
#   python3 -m venv ~/tf-venv && ~/tf-venv/bin/pip install tensorflow numpy
#   ~/torch-venv/bin/pip install onnx onnxruntime openvino      # onnx_bench.py exports from torch
# Override their interpreters with TORCH_PY, TF_PY and ONNX_PY (default: TORCH_PY).
# Results go to runs/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
peers=${PEERS_DIR:-../shared/peers}
torch_py=${TORCH_PY:-$HOME/torch-venv/bin/python}
tf_py=${TF_PY:-$HOME/tf-venv/bin/python}
onnx_py=${ONNX_PY:-$torch_py}
rounds=${ROUNDS:-3}
out=runs/bench
mkdir -p "$out"
export MNIST_DIR=$PWD/data/mnist PEER_THREADS=2

# Say what is missing before building anything.
missing=0
for f in "$peers/pytorch_bench.py" "$peers/tensorflow_bench.py" "$peers/onnx_bench.py"; do
  [[ -f $f ]] || { echo "compare.sh: $f not found: the peer benchmarks live in ../shared/peers (or set PEERS_DIR)" >&2; missing=1; }
done
[[ -x $torch_py ]] || { echo "compare.sh: no Python with PyTorch at $torch_py: install it (see above) or set TORCH_PY" >&2; missing=1; }
[[ -x $tf_py ]] || { echo "compare.sh: no Python with TensorFlow at $tf_py: install it (see above) or set TF_PY" >&2; missing=1; }
if [[ ! -x $onnx_py ]]; then
  echo "compare.sh: no Python at $onnx_py for ONNX Runtime and OpenVINO: install them (see above) or set ONNX_PY" >&2; missing=1
elif ! "$onnx_py" -c "import torch, onnx, onnxruntime, openvino" 2>/dev/null; then
  echo "compare.sh: $onnx_py lacks torch, onnx, onnxruntime or openvino: pip install them (see above) or set ONNX_PY" >&2; missing=1
fi
(( missing == 0 )) || exit 1

cargo build --release --locked
# Which machine the figures come from: the CPU and its vector extensions (each digitnet line's
# `simd` says which copy of the kernels ran).
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//' || true)
family=$(grep -m1 'cpu family' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | tr -d ' ' || true)
model=$(grep -m1 '^model[[:space:]]' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | tr -d ' ' || true)
ext=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | tr ' ' '\n' | grep -E '^(avx2|fma|avx512f|avx512_vnni|avx512_bf16|amx_tile)$' | tr '\n' ' ' || true)
echo "machine: ${cpu:-unknown CPU} (family ${family:-?} model ${model:-?}), $(nproc) cores; ${ext:-no AVX2/AVX-512}"
for r in $(seq 1 "$rounds"); do
  dir=$out/round-$r
  mkdir -p "$dir"
  echo "== round $r: digitnet"
  target/release/digitnet bench --threads 2 --json | tee "$dir/digitnet.jsonl"
  echo "== round $r: pytorch"
  "$torch_py" "$peers/pytorch_bench.py" bench --archs small,lenet,keras --out "$dir/torch.json" > "$dir/torch.jsonl"
  cat "$dir/torch.jsonl"
  echo "== round $r: tensorflow"
  "$tf_py" "$peers/tensorflow_bench.py" --archs small,lenet,keras --out "$dir/tf.json" > "$dir/tf.jsonl" 2> "$dir/tf.err"
  cat "$dir/tf.jsonl"
  echo "== round $r: onnxruntime, openvino"
  "$onnx_py" "$peers/onnx_bench.py" --archs small,lenet,keras > "$dir/onnx.jsonl" 2> "$dir/onnx.err"
  cat "$dir/onnx.jsonl"
done

python3 - "$out" "$rounds" <<'PY'
import json, sys, os
out, rounds = sys.argv[1], int(sys.argv[2])
def load(r, name):
    """{system: {arch: figures}} from one round's JSON lines (onnx.jsonl holds two engines)."""
    res = {}
    for l in open(os.path.join(out, f"round-{r}", name)):
        if l.strip():
            j = json.loads(l)
            res.setdefault(j.get("peer"), {})[j["arch"]] = j
    return res
files = {"ours": "digitnet.jsonl", "torch": "torch.jsonl", "tf": "tf.jsonl", "onnx": "onnx.jsonl"}
raw = {s: [load(r, f) for r in range(1, rounds + 1)] for s, f in files.items()}
# One list of rounds per system; the ONNX file's two engines become two systems.
runs = {"ours": [next(iter(x.values())) for x in raw["ours"]], "torch": [next(iter(x.values())) for x in raw["torch"]],
        "tf": [next(iter(x.values())) for x in raw["tf"]], "onnxruntime": [x.get("ort", {}) for x in raw["onnx"]],
        "openvino": [x.get("openvino", {}) for x in raw["onnx"]]}
trainers = ["torch", "tf"]
peers = ["torch", "tf", "onnxruntime", "openvino"]
def best(system, arch, key):
    values = [run[arch][key] for run in runs[system] if arch in run and key in run[arch]]
    if not values:
        return None
    return min(values) if key == "b1_latency_us" else max(values)
# Issue 21's targets: training ≥ 2× (small) or 1.5× the best peer, batch-1 latency ≤ 0.8× and
# batch-1000 ≥ 1.2× the best of all four.
targets = {"small": (2.0, 0.8, 1.2), "lenet": (1.5, 0.8, 1.2), "keras": (1.5, 0.8, 1.2)}
mark = lambda ok: "✓" if ok else "✗"

def ratios(get):
    """Per arch: (train, b1, b1000) ratios of digitnet to the best peer, the best peers' figures
    and names, figures from get."""
    res = {}
    for arch in targets:
        def pick(systems, key, better):
            have = [(get(s, arch, key), s) for s in systems if get(s, arch, key) is not None]
            return better(have)
        bt, nt = pick(trainers, "train_img_s", max)
        bl, nl = pick(peers, "b1_latency_us", min)
        bb, nb = pick(peers, "b1000_img_s", max)
        res[arch] = (get("ours", arch, "train_img_s") / bt, get("ours", arch, "b1_latency_us") / bl,
                     get("ours", arch, "b1000_img_s") / bb, (bt, nt), (bl, nl), (bb, nb))
    return res

print()
print(f"Best of {rounds} alternating rounds per figure and system (best peer: torch, tf, onnxruntime, openvino;")
print("training: torch, tf):")
print()
print("| arch | digitnet train img/s | best peer | ratio (target) | digitnet batch-1 µs | best peer | ratio (target) | digitnet batch-1000 img/s | best peer | ratio (target) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for arch, (rt, rl, rb, (bt, nt), (bl, nl), (bb, nb)) in ratios(best).items():
    tt, tl, tb = targets[arch]
    print(f"| {arch} | {best('ours', arch, 'train_img_s'):,.0f} | {bt:,.0f} ({nt}) | {rt:.2f}× (≥ {tt}×) {mark(rt >= tt)} | "
          f"{best('ours', arch, 'b1_latency_us'):.1f} | {bl:.1f} ({nl}) | {rl:.2f}× (≤ {tl}×) {mark(rl <= tl)} | "
          f"{best('ours', arch, 'b1000_img_s'):,.0f} | {bb:,.0f} ({nb}) | {rb:.2f}× (≥ {tb}×) {mark(rb >= tb)} |")
print()
print("Each round on its own (train / batch-1 / batch-1000 ratios):")
for r in range(rounds):
    def one(s, a, k, r=r):
        fig = runs[s][r].get(a, {})
        return fig.get(k)
    rr = ratios(one)
    print(f"  round {r + 1}: " + "; ".join(f"{a} {v[0]:.2f} / {v[1]:.2f} / {v[2]:.2f}" for a, v in rr.items()))
PY
