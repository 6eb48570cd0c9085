#!/usr/bin/env python3
"""Independent count of what xmtf-shard must produce from tests/data/xp3/{samples,bad_input},
using only Python's json module and the rules of docs/data.md:
  - a line is what lies between '\\n's; a last line without '\\n' is still a line;
  - a UTF-8 BOM is removed from a file's first line, one trailing '\\r' from every line;
  - valid: UTF-8, no NUL byte, one JSON object, "inputs" and "targets" strings, targets != "".
Writes tests/reference/data/golden_shard.json (committed). Run from the repository root."""
import hashlib
import json
import os

ROOT = "tests/data/xp3"


def classify(line):
    """None when the line is a valid example, else the reason category."""
    if line.strip(b" \t") == b"":
        return "empty"
    if b"\x00" in line:
        return "nul"
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        return "utf8"
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return "json"
    if not isinstance(value, dict):
        return "object"
    for key in ("inputs", "targets"):
        if key not in value:
            return "missing"
        if not isinstance(value[key], str):
            return "type"
    if value["targets"] == "":
        return "empty_targets"
    return None


def language_reference(folder):
    files, rejects, kept = {}, [], []
    seen, distinct, duplicates = set(), [], {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".jsonl"):
            continue
        data = open(os.path.join(folder, name), "rb").read()
        lines = data.split(b"\n")
        last_has_newline = data.endswith(b"\n")
        if last_has_newline:
            lines.pop()
        counts = {"lines_read": len(lines), "rejected": 0, "kept": 0}
        duplicates[name] = 0
        for number, line in enumerate(lines, start=1):
            if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if line.endswith(b"\r"):
                line = line[:-1]
            category = classify(line)
            if category is not None:
                truncated = number == len(lines) and not last_has_newline
                rejects.append([name, number, category, truncated])
                counts["rejected"] += 1
                continue
            counts["kept"] += 1
            kept.append(line + b"\n")
            if line in seen:
                duplicates[name] += 1
            else:
                seen.add(line)
                distinct.append(line + b"\n")
        files[name] = counts
    return {
        "files": files,
        "rejects": rejects,
        "train_samples": len(kept),
        "train_bytes": sum(len(line) for line in kept),
        "sha256_concatenated": hashlib.sha256(b"".join(kept)).hexdigest(),
        "dedup": {
            "samples": len(distinct),
            "bytes": sum(len(line) for line in distinct),
            "sha256_concatenated": hashlib.sha256(b"".join(distinct)).hexdigest(),
            "duplicates": duplicates,
        },
    }


golden = {}
for root in ("samples", "bad_input"):
    base = os.path.join(ROOT, root)
    golden[root] = {lang: language_reference(os.path.join(base, lang)) for lang in sorted(os.listdir(base))}
with open("tests/reference/data/golden_shard.json", "w") as out:
    json.dump(golden, out, indent=1, sort_keys=True)
    out.write("\n")
