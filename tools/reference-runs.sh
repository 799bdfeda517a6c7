#!/usr/bin/env bash
# The README's reference runs: train each built-in network on MNIST (55,000 training images,
# 5,000 held out for validation), then evaluate the best-validation model once on the test set.
# Logs and models go to runs/reference/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
bin=target/release/digitnet
out=runs/reference
mkdir -p "$out"
run() {
    local name=$1; shift
    local start=$(date +%s)
    "$bin" train "$@" --out "$out/$name.safetensors" 2>&1 | tee "$out/$name.train.log"
    local end=$(date +%s)
    "$bin" eval --model "$out/$name.safetensors" --plots "$out/$name-plots" | tee "$out/$name.eval.txt"
    "$bin" eval --model "$out/$name.safetensors" --json > "$out/$name.eval.json"
    echo "$name: wall time $((end - start)) s" | tee -a "$out/times.txt"
}
which="${1:-all}"
[[ $which == all || $which == keras ]] && run keras --arch keras --epochs 12 --lr 0.001
# lenet and small: cosine schedule and batch 32, chosen on the validation split (see README).
[[ $which == all || $which == lenet ]] && run lenet --arch lenet --epochs 10 --lr 0.001 --schedule cosine --batch-size 32
[[ $which == all || $which == small ]] && run small --arch small --epochs 10 --lr 0.01 --schedule cosine --batch-size 32
[[ $which == all || $which == scratch24 ]] && run scratch24 --arch scratch24 --epochs 10 --lr 0.001
