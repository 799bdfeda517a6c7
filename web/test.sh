#!/usr/bin/env bash
# Browser test of `digitnet serve`'s page and of `train --dashboard`: starts the release binary's
# server on a free loopback port and a short training run with its dashboard, runs
# web/browser_test.js (Playwright driving Debian's chromium, headless, at a desktop and a phone
# size), then stops the training run with SIGINT (its dashboard stays after training until then)
# and checks that it ends cleanly.
#
# Needs: target/release/digitnet (cargo build --release), /usr/bin/chromium
# (apt-get install chromium) and playwright-core (cd web && npm ci).
# The photos it uploads, web/fixtures/, are made by `cargo run --release --example web_fixtures`.
# Usage: web/test.sh [SCREENSHOT_DIR]   (e.g. docs: serve-page.png, serve-page-phone.png,
#                                        dashboard.png, dashboard-phone.png)
# Exit status 0 when every check passed, 1 when one failed, 2 when it cannot run here.
set -euo pipefail
screenshots="${1:+$(realpath -m "$1")}"
cd "$(dirname "$0")"
binary="${CARGO_TARGET_DIR:-../target}/release/digitnet"
[[ -x "$binary" ]] || { echo "browser test: $binary not built (cargo build --release)"; exit 2; }
[[ -x "${CHROMIUM:-/usr/bin/chromium}" ]] || { echo "browser test: no chromium (apt-get install chromium)"; exit 2; }
[[ -d node_modules/playwright-core ]] || { echo "browser test: no playwright-core (cd web && npm ci)"; exit 2; }
[[ -z "$screenshots" ]] || mkdir -p "$screenshots"

work="$(mktemp -d)"
server="" trainer=""
cleanup() {
  for p in $server $trainer; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Prints the first http://… address in log file $1 (waiting up to 20 s while process $2 lives).
address() {
  for _ in $(seq 200); do
    grep -o 'http://[0-9.:]*' "$1" | head -1 | grep . && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  echo "browser test: no address from $(basename "$1" .log):" >&2
  cat "$1" >&2
  return 1
}

"$binary" serve --addr 127.0.0.1:0 --workers 1 >"$work/serve.log" 2>&1 &
server=$!
# A short run (4 epochs on 8000 images, a few seconds) whose dashboard the test opens when done.
mkdir "$work/data"
node mnist_subset.js "$work/data" 8000
"$binary" train --data "$work/data" --val-split 1000 --epochs 4 --out "$work/run/lenet.safetensors" \
  --dashboard 127.0.0.1:0 >"$work/train.log" 2>&1 &
trainer=$!
page="$(address "$work/serve.log" "$server")"
dashboard="$(address "$work/train.log" "$trainer")"

status=0
node browser_test.js --page "$page" --dashboard "$dashboard" ${screenshots:+--screenshots "$screenshots"} || status=1

# The training run waits after training, serving its dashboard, until Ctrl-C; then it ends.
if ! grep -q "training done; the dashboard stays at $dashboard until Ctrl-C" "$work/train.log"; then
  echo "FAILED: train --dashboard did not say that the dashboard stays:"; cat "$work/train.log"; status=1
fi
kill -INT "$trainer"
for _ in $(seq 100); do kill -0 "$trainer" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$trainer" 2>/dev/null; then
  echo "FAILED: train --dashboard still runs 10 s after SIGINT"; status=1
elif wait "$trainer"; then
  echo "ok: train --dashboard ends cleanly on Ctrl-C (SIGINT)"
else
  echo "FAILED: train --dashboard ended with status $? on SIGINT:"; cat "$work/train.log"; status=1
fi
trainer=""
exit "$status"
