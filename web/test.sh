#!/usr/bin/env bash
# Browser test of `digitnet serve`: starts the release binary on a free loopback port and runs
# web/browser_test.js (Playwright driving Debian's chromium, headless).
#
# Needs: target/release/digitnet (cargo build --release), /usr/bin/chromium
# (apt-get install chromium) and playwright-core (cd web && npm ci).
# The photos it uploads, web/fixtures/, are made by `cargo run --release --example web_fixtures`.
# Usage: web/test.sh [SCREENSHOT.png]
# Exit status 0 when every check passed, 1 when one failed, 2 when it cannot run here.
set -euo pipefail
screenshot="${1:+$(realpath -m "$1")}"
cd "$(dirname "$0")"
binary="${CARGO_TARGET_DIR:-../target}/release/digitnet"
[[ -x "$binary" ]] || { echo "browser test: $binary not built (cargo build --release)"; exit 2; }
[[ -x "${CHROMIUM:-/usr/bin/chromium}" ]] || { echo "browser test: no chromium (apt-get install chromium)"; exit 2; }
[[ -d node_modules/playwright-core ]] || { echo "browser test: no playwright-core (cd web && npm ci)"; exit 2; }

log="$(mktemp)"
"$binary" serve --addr 127.0.0.1:0 --workers 1 >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do
  url="$(grep -o 'http://[0-9.:]*' "$log" || true)"
  [[ -n "$url" ]] && break
  kill -0 "$server" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
[[ -n "$url" ]] || { echo "browser test: the server did not start"; cat "$log"; exit 1; }
node browser_test.js "$url" ${screenshot:+"$screenshot"}
