#!/usr/bin/env bash
# Runs `digitnet bench` and the PyTorch and TensorFlow peer benchmarks (../shared/peers/) one
# after the other on this machine, ROUNDS times in alternation (default 3), then prints each
# figure's ratio to the best peer.
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
# Override their interpreters with TORCH_PY and TF_PY. Results go to runs/bench/.
set -euo pipefail
cd "$(dirname "$0")/.."
peers=${PEERS_DIR:-../shared/peers}
torch_py=${TORCH_PY:-$HOME/torch-venv/bin/python}
tf_py=${TF_PY:-$HOME/tf-venv/bin/python}
rounds=${ROUNDS:-3}
out=runs/bench
mkdir -p "$out"
export MNIST_DIR=$PWD/data/mnist PEER_THREADS=2

# Say what is missing before building anything.
missing=0
for f in "$peers/pytorch_bench.py" "$peers/tensorflow_bench.py"; do
  [[ -f $f ]] || { echo "compare.sh: $f not found: the peer benchmarks live in ../shared/peers (or set PEERS_DIR)" >&2; missing=1; }
done
[[ -x $torch_py ]] || { echo "compare.sh: no Python with PyTorch at $torch_py: install it (see above) or set TORCH_PY" >&2; missing=1; }
[[ -x $tf_py ]] || { echo "compare.sh: no Python with TensorFlow at $tf_py: install it (see above) or set TF_PY" >&2; missing=1; }
(( missing == 0 )) || exit 1

cargo build --release --locked
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
done

python3 - "$out" "$rounds" <<'PY'
import json, sys, os
out, rounds = sys.argv[1], int(sys.argv[2])
def load(r, name):
    path = os.path.join(out, f"round-{r}", name)
    return {json.loads(l)["arch"]: json.loads(l) for l in open(path) if l.strip()}
runs = {s: [load(r, f) for r in range(1, rounds + 1)] for s, f in
        [("ours", "digitnet.jsonl"), ("torch", "torch.jsonl"), ("tf", "tf.jsonl")]}
def best(system, arch, key):
    values = [run[arch][key] for run in runs[system]]
    return min(values) if key == "b1_latency_us" else max(values)
targets = {"small": (2.0, 0.5, 1.0), "lenet": (1.5, 0.5, 1.0), "keras": (1.2, 0.6, 1.0)}
mark = lambda ok: "✓" if ok else "✗"

def ratios(get):
    """Per arch: (train, b1, b1000) ratios of digitnet to the best peer, figures from get."""
    res = {}
    for arch in targets:
        bt = max(get("torch", arch, "train_img_s"), get("tf", arch, "train_img_s"))
        bl = min(get("torch", arch, "b1_latency_us"), get("tf", arch, "b1_latency_us"))
        bb = max(get("torch", arch, "b1000_img_s"), get("tf", arch, "b1000_img_s"))
        res[arch] = (get("ours", arch, "train_img_s") / bt, get("ours", arch, "b1_latency_us") / bl,
                     get("ours", arch, "b1000_img_s") / bb, bt, bl, bb)
    return res

print()
print(f"Best of {rounds} alternating rounds per figure and system:")
print()
print("| arch | digitnet train img/s | best peer | ratio (target) | digitnet batch-1 µs | best peer | ratio (target) | digitnet batch-1000 img/s | best peer | ratio (target) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for arch, (rt, rl, rb, bt, bl, bb) in ratios(best).items():
    tt, tl, tb = targets[arch]
    print(f"| {arch} | {best('ours', arch, 'train_img_s'):,.0f} | {bt:,.0f} | {rt:.2f}× (≥ {tt}×) {mark(rt >= tt)} | "
          f"{best('ours', arch, 'b1_latency_us'):.0f} | {bl:.0f} | {rl:.2f}× (≤ {tl}×) {mark(rl <= tl)} | "
          f"{best('ours', arch, 'b1000_img_s'):,.0f} | {bb:,.0f} | {rb:.2f}× (≥ {tb}×) {mark(rb >= tb)} |")
print()
print("Each round on its own (train / batch-1 / batch-1000 ratios):")
for r in range(rounds):
    one = ratios(lambda s, a, k: runs[s][r][a][k])
    print(f"  round {r + 1}: " + "; ".join(f"{a} {v[0]:.2f} / {v[1]:.2f} / {v[2]:.2f}" for a, v in one.items()))
PY
