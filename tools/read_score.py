#!/usr/bin/env python3
"""Scores `digitnet read --json` on a folder of number images with `labels.json` (file -> the
digits, as `digitnet data numbers` writes it and as real development sets are labelled):
exactly right, and characters right (length of the label minus the edit distance, at least 0).
It measures through the command a user runs; it chooses nothing.

Run: python3 tools/read_score.py DIR [BINARY] [-- READ OPTIONS]   (BINARY default
target/release/digitnet; SHOW_ALL=1 prints every image, otherwise only the misses)
"""
import json
import os
import subprocess
import sys


def edit_distance(a, b):
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        new = [i]
        for j, cb in enumerate(b, 1):
            new.append(min(row[j] + 1, new[j - 1] + 1, row[j - 1] + (ca != cb)))
        row = new
    return row[-1]


def main():
    args = sys.argv[1:]
    extra = args[args.index("--") + 1:] if "--" in args else []
    args = args[: args.index("--")] if "--" in args else args
    if not args:
        sys.exit(__doc__)
    folder = args[0]
    binary = args[1] if len(args) > 1 else "target/release/digitnet"
    labels = json.load(open(os.path.join(folder, "labels.json")))
    files = [os.path.join(folder, f) for f in sorted(labels)]
    out = subprocess.run([binary, "read", "--json", *extra, *files], capture_output=True, text=True)
    results = json.loads(out.stdout)
    if isinstance(results, dict):
        results = [results]
    exact = chars = total = 0
    for r in results:
        name = os.path.basename(r["path"])
        want, got = labels[name], r.get("text", "")
        exact += got == want
        total += len(want)
        chars += max(0, len(want) - edit_distance(got, want))
        if got != want or os.environ.get("SHOW_ALL"):
            print(f"{name}: want {want}, read {got!r} (raw {r.get('raw')!r}) {r.get('error', '')}")
    print(f"{exact}/{len(labels)} exactly right = {100 * exact / len(labels):.1f} %; characters {chars}/{total} = {100 * chars / total:.1f} %")


main()
