#!/usr/bin/env bash
# The transfer-learning comparison in README: the built-in classifier fine-tuned into a
# rotation-angle regressor with 0, 2 and all-but-the-head layers frozen, and the same network
# trained from scratch; each for EPOCHS epochs (Adam 0.003, cosine, batch 64, seed 1), the best
# validation epoch kept, then evaluated once on the rotated MNIST test digits.
# Usage: scripts/rotation-runs.sh [EPOCHS]   (logs and reports go to runs/rotation/)
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${1:-4}
OUT=runs/rotation
mkdir -p "$OUT"
cargo build --release --locked
D=target/release/digitnet
run() {
    local name=$1; shift
    local start=$(date +%s)
    "$D" "$@" --epochs "$EPOCHS" --lr 0.003 --out "$OUT/$name.safetensors" | tee "$OUT/$name.log"
    echo "wall time: $(( $(date +%s) - start )) s" | tee -a "$OUT/$name.log"
    "$D" eval --model "$OUT/$name.safetensors" | tee "$OUT/$name.eval.txt"
}
run freeze0 finetune --from builtin --freeze 0
run freeze2 finetune --from builtin --freeze 2
run freezeall finetune --from builtin --freeze all
run scratch train --task rotation --arch docs/rotation-runs/scratch-arch.json --schedule cosine
