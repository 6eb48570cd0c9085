#!/usr/bin/env python3
"""Baseline for xmtf-shard's benchmark: the same per-line validation and output with Python's
json module (BOM/CRLF normalisation, UTF-8, NUL, object, string fields, non-empty targets),
writing the kept lines to one output file. Usage: baseline_validate.py INPUT.jsonl OUTPUT.jsonl"""
import json
import sys


def valid(line):
    if line.strip(b" \t") == b"" or b"\x00" in line:
        return False
    try:
        value = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return (isinstance(value, dict) and isinstance(value.get("inputs"), str)
            and isinstance(value.get("targets"), str) and value["targets"] != "")


def main(source, destination):
    kept = rejected = 0
    with open(source, "rb") as lines, open(destination, "wb") as out:
        for number, line in enumerate(lines, start=1):
            line = line.rstrip(b"\n")
            if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if line.endswith(b"\r"):
                line = line[:-1]
            if valid(line):
                out.write(line + b"\n")
                kept += 1
            else:
                rejected += 1
    print(f"kept {kept} rejected {rejected}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
