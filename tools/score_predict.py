#!/usr/bin/env python3
"""Scores `digitnet predict --json` on a folder of images with a labels.json ({"file": "digit"}),
as ../shared/real-dev/single and tools/photo_validation.rs's output have: prints the wrong
answers, the count right (overall and by file-name prefix before the first '-'), and how many
answers said "not one digit". Measures through the command a user runs.

    python3 tools/score_predict.py DIR [BINARY=target/release/digitnet] [PREDICT_ARGS...]

e.g. `python3 tools/score_predict.py DIR target/release/digitnet --model runs/x/digits.safetensors`.
"""
import collections
import json
import os
import subprocess
import sys

if len(sys.argv) < 2:
    sys.exit(__doc__)
folder = sys.argv[1]
binary = sys.argv[2] if len(sys.argv) > 2 else "target/release/digitnet"
extra = sys.argv[3:]
labels = json.load(open(os.path.join(folder, "labels.json")))
files = sorted(labels)
out = subprocess.run([binary, "predict", "--json"] + extra + [os.path.join(folder, f) for f in files], capture_output=True, text=True)
answers = json.loads(out.stdout)
right, total, flagged = collections.Counter(), collections.Counter(), 0
for a in answers:
    name = os.path.basename(a["path"])
    kind = name.split("-")[0] if "-" in name else "all"
    total[kind] += 1
    flagged += bool(a.get("not_a_digit"))
    if a.get("digit") == labels[name]:
        right[kind] += 1
    else:
        print(f"wrong: {name}: a {labels[name]}, answered {a.get('digit', a.get('error'))} {a.get('reason', '')}")
for kind in sorted(total):
    print(f"{kind}: {right[kind]}/{total[kind]}")
n, r = sum(total.values()), sum(right.values())
print(f"all: {r}/{n} = {100 * r / n:.2f} % right; {flagged} answered 'not one digit'")
