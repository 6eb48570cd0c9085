#!/usr/bin/python3
"""Golden target log-probabilities for xmtf-score, from the independent plain-torch BLOOM of
tests/reference/bloom/make_golden.py (each sample alone, batch of one, no padding).

Writes tests/data/eval/:
  tiny-bloom-50261/{config.json, model.safetensors}  a random tiny BLOOM (F16 on disk) whose
      vocabulary covers tests/data/tokenizers/bloomstyle_gpt2vocab.tokenizer.json
  ids.jsonl     pre-tokenized lines {"input_ids": [...], "target_ids": [...]} (some with an "id")
  text.jsonl    text lines {"inputs": str, "targets": str}
  golden.jsonl  per line of both: {"file", "line", "input_ids", "target_ids", "logprob_sum", "tokens"}
Text is tokenized by HuggingFace tokenizers (tokenize_hf.js, node): inputs as they are, targets
as " " + targets (BLOOMZ's target prefix), no special tokens, no EOS (xmtf-score's defaults).

Run: /usr/bin/python3 tests/reference/eval/make_score_golden.py   (needs python3-torch, node and
tests/reference/tok/node_modules). Deterministic.
"""
import json
import os
import subprocess
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bloom"))
from make_golden import bloom_forward, make_params, save_safetensors  # noqa: E402

DATA = os.path.join(HERE, "..", "..", "data")
OUT = os.path.join(DATA, "eval")
TOKENIZER = os.path.join(DATA, "tokenizers", "bloomstyle_gpt2vocab.tokenizer.json")

TEXT = [
    ("Question: is the sky blue? Answer:", "yes"),
    ("Translate to French: I love cheese.", "J'aime le fromage."),
    ("Habari ya asubuhi? Jibu kwa Kiingereza:", "Good morning"),
    ("这句话的情感是什么？我很开心。", "积极"),
    ("Premise: the glass fell. Hypothesis: it broke. True or false?", "True"),
    ("Nothing to score after this", ""),
    ("A", "multi word target with several tokens in it"),
]


def hf_encode(texts):
    run = subprocess.run(["node", os.path.join(HERE, "tokenize_hf.js"), TOKENIZER], input=json.dumps(texts),
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def score(cfg, p, input_ids, target_ids):
    ids = torch.tensor([input_ids + target_ids], dtype=torch.long)
    with torch.no_grad():
        logits = bloom_forward(cfg, p, ids, torch.ones_like(ids))
        logp = torch.log_softmax(logits[0].double(), dim=-1)
    n_in = len(input_ids)
    total = sum(logp[n_in - 1 + k, t].item() for k, t in enumerate(target_ids))
    return total


def main():
    with open(os.path.join(DATA, "bloom", "tiny-bloom-50261.config.json")) as f:
        cfg = json.load(f)
    params = make_params(cfg, seed=61)
    # Stored in F16; the reference uses exactly the stored values.
    params = {k: v.detach().half() for k, v in params.items()}
    model_dir = os.path.join(OUT, "tiny-bloom-50261")
    os.makedirs(model_dir, exist_ok=True)
    save_safetensors(os.path.join(model_dir, "model.safetensors"),
                     {"transformer." + k: v for k, v in params.items()}, {"format": "pt"})
    with open(os.path.join(model_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    params = {k: v.float() for k, v in params.items()}

    g = torch.Generator().manual_seed(7)
    vocab = cfg["vocab_size"]
    id_rows = []
    for i, (n_in, n_tgt) in enumerate([(1, 1), (5, 3), (12, 7), (3, 0), (20, 2), (2, 9), (7, 1), (9, 4), (4, 5)]):
        row = {"input_ids": torch.randint(0, vocab, (n_in,), generator=g).tolist(),
               "target_ids": torch.randint(0, vocab, (n_tgt,), generator=g).tolist()}
        if i % 3 == 1:
            row = {"id": f"sample-{i}", **row}
        elif i % 3 == 2:
            row = {"id": i * 100, **row}
        id_rows.append(row)
    with open(os.path.join(OUT, "ids.jsonl"), "w") as f:
        for row in id_rows:
            f.write(json.dumps(row) + "\n")
    with open(os.path.join(OUT, "text.jsonl"), "w") as f:
        for inputs, targets in TEXT:
            f.write(json.dumps({"inputs": inputs, "targets": targets}, ensure_ascii=False) + "\n")

    encoded = hf_encode([t for pair in TEXT for t in (pair[0], " " + pair[1])])
    text_rows = [{"input_ids": encoded[2 * i], "target_ids": encoded[2 * i + 1] if TEXT[i][1] else []}
                 for i in range(len(TEXT))]

    with open(os.path.join(OUT, "golden.jsonl"), "w") as f:
        for name, rows in (("ids.jsonl", id_rows), ("text.jsonl", text_rows)):
            for line, row in enumerate(rows, 1):
                total = score(cfg, params, row["input_ids"], row["target_ids"])
                f.write(json.dumps({"file": name, "line": line, "input_ids": row["input_ids"],
                                    "target_ids": row["target_ids"], "logprob_sum": total,
                                    "tokens": len(row["target_ids"])}) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
