#!/usr/bin/env bash
# Does the training dashboard slow training? Runs `train --arch lenet --epochs E` RUNS times
# without and RUNS times with --dashboard and a headless Chromium page open on it, alternating,
# and prints every epoch's seconds and the medians of the epochs after the first (Chromium
# starts, at about a second of CPU, during the first epoch of a run with the page). Needs what
# web/test.sh needs.
# Usage: web/dashboard_overhead.sh [RUNS=3] [EPOCHS=3]
set -euo pipefail
runs="${1:-3}"
epochs="${2:-3}"
cd "$(dirname "$0")"
binary="${CARGO_TARGET_DIR:-../target}/release/digitnet"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
train() { "$binary" train --arch lenet --epochs "$epochs" --out "$out/model.safetensors" "$@"; }
seconds() { grep -o '| [0-9.]*s' | tr -d '|s ' | awk '{print NR, $1}'; }
for i in $(seq "$runs"); do
  train 2>/dev/null | seconds | sed 's/^/without /' | tee -a "$out/times"
  train --dashboard 127.0.0.1:0 2>"$out/err" >"$out/log" &
  trainer=$!
  for _ in $(seq 50); do grep -q 'http://' "$out/err" && break; sleep 0.1; done
  node dashboard_watch.js "$(grep -o 'http://[0-9.:]*' "$out/err")" &
  watcher=$!
  # The dashboard stays after training until Ctrl-C: wait for the run's last line, then stop it.
  until grep -q 'training done' "$out/err"; do kill -0 "$trainer" || break; sleep 0.2; done
  kill -INT "$trainer"
  wait "$trainer"
  kill "$watcher"
  wait "$watcher" || true
  seconds <"$out/log" | sed 's/^/with /' | tee -a "$out/times"
done
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
later() { awk -v w="$1" '$1 == w && $2 > 1 {print $3}' "$out/times"; }
a="$(later without | median)"
b="$(later with | median)"
echo "median epoch after the first: ${a} s without the dashboard, ${b} s with it open ($(echo "$a $b" | awk '{printf "%+.1f", 100 * ($2 - $1) / $1}') %)"
