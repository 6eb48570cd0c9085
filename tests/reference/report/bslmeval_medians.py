#!/usr/bin/env python3
"""Golden medians and maxima over prompts of BigScience's bslmeval.json, computed independently of
xmtf-aggregate with Python's statistics module (the way the BigScience and BLOOMZ tables take the
median over prompts): one line per prompted task,
    task <TAB> prompts <TAB> median accuracy <TAB> max accuracy <TAB> n implied by acc_stderr
For each "task+prompt" key the latest run (largest timestamp key) is used; only entries with "acc".
Run: python3 tests/reference/report/bslmeval_medians.py tests/data/results/bigscience-tr11/bslmeval.json \
       > tests/data/results/golden/bslmeval_medians.tsv
"""
import json
import statistics
import sys

results = json.load(open(sys.argv[1]))["results"]
by_task = {}
for key, runs in results.items():
    if "+" not in key:
        continue
    entry = runs[max(runs)]
    if "acc" not in entry:
        continue
    task, prompt = key.split("+", 1)
    by_task.setdefault(task, []).append(entry)
print("task\tprompts\tmedian\tmax\tn")
for task in sorted(by_task):
    entries = by_task[task]
    accs = [e["acc"] for e in entries]
    best = max(entries, key=lambda e: e["acc"])
    p, se = best["acc"], best.get("acc_stderr", 0)
    n = round(1 + p * (1 - p) / se ** 2) if se and 0 < p < 1 else ""
    print(f"{task}\t{len(accs)}\t{statistics.median(accs):.12f}\t{max(accs):.12f}\t{n}")
