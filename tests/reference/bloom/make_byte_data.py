#!/usr/bin/python3
"""Small pre-tokenized MTF data for the trainer's tests and the demo, with no tokenizer needed.

Takes the first 80 lines per language of the xP3-style XCOPA prompts (real XCOPA validation
rows rendered with the real promptsource templates, see tests/data/bloom/PROVENANCE.md) and
maps UTF-8 bytes to ids 4 + byte (0-3 stay BLOOM's unk/bos/eos/pad), so a BLOOM config with
vocab_size 260 trains on it. Targets get no EOS here: the trainer appends it.

Run: /usr/bin/python3 tests/reference/bloom/make_byte_data.py SRC_DIR
(SRC_DIR = the folder holding <lang>/xp3_xcopa_<lang>_validation.jsonl)
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "data", "bloom", "mtf")


def ids(text):
    return [4 + b for b in text.encode("utf-8")]


def main():
    src = sys.argv[1]
    os.makedirs(OUT, exist_ok=True)
    for lang in ["sw", "tr", "zh"]:
        with open(os.path.join(src, lang, f"xp3_xcopa_{lang}_validation.jsonl"), encoding="utf-8") as f:
            lines = [json.loads(line) for line in f][:80]
        with open(os.path.join(OUT, f"{lang}.jsonl"), "w", encoding="utf-8") as f:
            for row in lines:
                f.write(json.dumps({"input_ids": ids(row["inputs"]), "target_ids": ids(" " + row["targets"])}) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
