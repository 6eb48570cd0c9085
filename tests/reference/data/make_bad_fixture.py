#!/usr/bin/env python3
"""Writes tests/data/xp3/bad_input/: one folder per case family, built from real xP3-style lines
(tests/data/xp3/samples) plus every kind of broken line xmtf-shard must reject or repair.
Run from the repository root; the output is committed."""
import os

ROOT = "tests/data/xp3"
good = open(f"{ROOT}/samples/sw/xp3_xcopa_sw_validation.jsonl", "rb").read().split(b"\n")[:40]
card = open(f"{ROOT}/xp3_card_example.jsonl", "rb").read().rstrip(b"\n")

# sw: a BOM, CRLF endings, every kind of bad line, duplicates, extra fields, and a truncated
# last line (cut in the middle of a JSON string, no final newline).
lines = [b"\xef\xbb\xbf" + good[0]]
lines += [g + b"\r" for g in good[1:6]]                     # CRLF
lines += [
    b'{"inputs": "a\x00b", "targets": "c"}',                  # NUL byte
    b'{"inputs": "caf\xe9", "targets": "x"}',                 # Latin-1, not UTF-8
    b'{"inputs": "\xed\xa0\x80", "targets": "x"}',            # UTF-8-encoded surrogate
    b'["inputs", "targets"]',                                 # not an object
    b'"just a string"',                                       # not an object
    b'{"inputs": 3, "targets": "x"}',                         # inputs not a string
    b'{"inputs": "x", "targets": null}',                      # targets not a string
    b'{"inputs": "x", "targets": ["a"]}',                     # targets not a string
    b'{"inputs": "x"}',                                       # targets missing
    b'{"targets": "x"}',                                      # inputs missing
    b'{"inputs": "x", "targets": ""}',                        # empty targets
    b'',                                                      # empty line
    b'{"inputs": "x", "targets": "y"} trailing',              # trailing garbage
    b'{"inputs": "x", "targets": "y"',                        # unclosed object
]
lines += good[6:20]
lines += good[6:11]                                           # duplicates of earlier lines
lines += [card]
lines += [b'{"inputs": "x3", "targets": "y3", "language": "sw", "dataset": "xcopa", "config": "sw", "template": "best_option", "split": "validation"}']
lines += good[20:30]
lines += [card]                                               # duplicate
body = b"\n".join(lines) + b"\n" + good[30][: len(good[30]) // 2]   # truncated last line
os.makedirs(f"{ROOT}/bad_input/sw", exist_ok=True)
open(f"{ROOT}/bad_input/sw/xp3_bad_lines.jsonl", "wb").write(body)

# sw, second file: a valid last line without its final newline (kept), and a file that is
# entirely CRLF.
second = b"\r\n".join(good[30:40])
open(f"{ROOT}/bad_input/sw/xp3_no_final_newline.jsonl", "wb").write(second)
