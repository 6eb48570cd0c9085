#!/usr/bin/python3
"""Writes a BLOOM-sized stand-in tokenizer.json (250,680 ids, about 250k merges, ~14 MB: the size
of BLOOM's real file, which cannot be vendored here) for load-time and memory measurements:
the BLOOM-style pipeline of tests/data/tokenizers, its vocabulary extended with merges of
existing tokens. Usage: make_bloom_sized_tokenizer.py OUT.json"""
import json, os, sys

here = os.path.dirname(os.path.abspath(__file__))
base = json.load(open(os.path.join(here, "../../data/tokenizers/bloomstyle_gpt2vocab.tokenizer.json"), encoding="utf-8"))
model = base["model"]
vocab, merges = model["vocab"], model["merges"]
specials = {t["content"]: t["id"] for t in base["added_tokens"]}
tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1]) if t not in specials]
target = 250680
next_id = max(vocab.values()) + 1
i = 0
while next_id < target:
    a = tokens[i % len(tokens)]
    b = tokens[(i * 7919 + (i // len(tokens)) * 104729 + 13) % len(tokens)]
    i += 1
    if a + b in vocab or len(a + b) > 48:
        continue
    vocab[a + b] = next_id
    merges.append(f"{a} {b}")
    next_id += 1
json.dump(base, open(sys.argv[1], "w", encoding="utf-8"), ensure_ascii=False)
print(sys.argv[1], len(vocab), "ids", len(merges), "merges", os.path.getsize(sys.argv[1]), "bytes")
