#!/usr/bin/python3
"""Rank-classification scoring in PyTorch, the peer of xmtf-eval in bench/eval/bench_rank_eval.sh.

Scores the examples of xmtf-eval's --predictions files (the rendered inputs and choices) with the
plain-torch BLOOM of tests/reference/bloom/make_golden.py on the same weights, tokenized by
HuggingFace tokenizers (tests/reference/eval/tokenize_hf.js, outside the timing), in batches of
examples, two ways:
  full   as lm-evaluation-harness / t-zero do it: every input + " " + choice row of a batch,
         right-padded, one forward with logits at every position, log_softmax, gather;
  cache  the algorithm xmtf-eval uses: each input once (its keys and values kept), then every
         choice of the batch against its input's cache, the LM head only on the positions that
         predict choice tokens.
Prints one JSON line per mode: examples, seconds, examples_per_s, and the largest difference
from xmtf-eval's summed log-probabilities (a check that both computed the same thing).

Usage: /usr/bin/python3 bench_rank_torch.py MODEL_DIR TOKENIZER THREADS BATCH PREDICTIONS.jsonl...
"""
import json
import math
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "..", "..", "tests", "reference")
sys.path.insert(0, os.path.join(REFERENCE, "bloom"))
from check_export import read_safetensors  # noqa: E402
from make_golden import alibi_slopes, bloom_forward, bloom_gelu  # noqa: E402


def hf_encode(tokenizer, texts):
    run = subprocess.run(["node", os.path.join(REFERENCE, "eval", "tokenize_hf.js"), tokenizer], input=json.dumps(texts),
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def load(model_dir):
    cfg = json.load(open(os.path.join(model_dir, "config.json")))
    tensors, _ = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    return cfg, {k.removeprefix("transformer."): v.float().contiguous() for k, v in tensors.items()}


def score_full(cfg, p, batch):
    """batch: [(input_ids, [choice_ids...])] -> [[sum logp]]"""
    rows = [(e, c, inp + ch) for e, (inp, chs) in enumerate(batch) for c, ch in enumerate(chs)]
    longest = max(len(r[2]) for r in rows)
    ids = torch.full((len(rows), longest), cfg["pad_token_id"], dtype=torch.long)
    seg = torch.zeros((len(rows), longest), dtype=torch.int32)
    for i, (_, _, row) in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        seg[i, : len(row)] = 1
    logp = torch.log_softmax(bloom_forward(cfg, p, ids, seg), dim=-1)
    sums = [[0.0] * len(chs) for _, chs in batch]
    for i, (e, c, row) in enumerate(rows):
        n_in = len(batch[e][0])
        targets = torch.tensor(batch[e][1][c])
        sums[e][c] = logp[i, n_in - 1 + torch.arange(len(targets)), targets].double().sum().item()
    return sums


def blocks(cfg, p, x, query_pos, key_pos, mask, past=None):
    """BLOOM blocks over x [R, T, c]; keys are the past (per layer [R, nh, P, hd]) then x's own.
    query_pos [R, T], key_pos [R, P+T] absolute positions; mask [R, T, P+T] True = hidden.
    Returns the final hidden state and each layer's own keys / values."""
    r, t, c = x.shape
    nh, eps = cfg["n_head"], cfg["layer_norm_epsilon"]
    hd = c // nh
    slopes = alibi_slopes(nh)
    alibi = slopes[None, :, None, None] * (key_pos[:, None, None, :] - query_pos[:, None, :, None]).float()
    own = []
    for l in range(cfg["n_layer"]):
        h = f"h.{l}."
        ln_in = F.layer_norm(x, (c,), p[h + "input_layernorm.weight"], p[h + "input_layernorm.bias"], eps)
        fused = F.linear(ln_in, p[h + "self_attention.query_key_value.weight"], p[h + "self_attention.query_key_value.bias"])
        fused = fused.view(r, t, nh, 3, hd)
        q, k, v = (fused[..., i, :].transpose(1, 2) for i in range(3))  # [R, nh, T, hd]
        own.append((k, v))
        if past is not None:
            k = torch.cat([past[l][0], k], dim=2)
            v = torch.cat([past[l][1], v], dim=2)
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd) + alibi
        scores = scores.masked_fill(mask[:, None], torch.finfo(torch.float32).min)
        context = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(r, t, c)
        x = x + F.linear(context, p[h + "self_attention.dense.weight"], p[h + "self_attention.dense.bias"])
        ln_post = F.layer_norm(x, (c,), p[h + "post_attention_layernorm.weight"], p[h + "post_attention_layernorm.bias"], eps)
        fc = bloom_gelu(F.linear(ln_post, p[h + "mlp.dense_h_to_4h.weight"], p[h + "mlp.dense_h_to_4h.bias"]))
        x = x + F.linear(fc, p[h + "mlp.dense_4h_to_h.weight"], p[h + "mlp.dense_4h_to_h.bias"])
    return x, own


def head_logp(cfg, p, hidden_rows, targets):
    c = hidden_rows.shape[-1]
    x = F.layer_norm(hidden_rows, (c,), p["ln_f.weight"], p["ln_f.bias"], cfg["layer_norm_epsilon"])
    logp = torch.log_softmax(F.linear(x, p["word_embeddings.weight"]), dim=-1)
    return logp[torch.arange(len(targets)), targets].double()


def embed(cfg, p, ids):
    c = p["word_embeddings.weight"].shape[1]
    x = F.embedding(ids, p["word_embeddings.weight"])
    return F.layer_norm(x, (c,), p["word_embeddings_layernorm.weight"], p["word_embeddings_layernorm.bias"],
                        cfg["layer_norm_epsilon"])


def score_cache(cfg, p, batch):
    b = len(batch)
    lens = torch.tensor([len(inp) for inp, _ in batch])
    li = int(lens.max())
    ids = torch.full((b, li), cfg["pad_token_id"], dtype=torch.long)
    for e, (inp, _) in enumerate(batch):
        ids[e, : len(inp)] = torch.tensor(inp)
    pos = torch.arange(li)[None].expand(b, li)
    causal = pos[:, None, :] > pos[:, :, None]  # key after query
    hidden, cache = blocks(cfg, p, embed(cfg, p, ids), pos, pos, causal)
    first_targets = torch.tensor([ch[0] for _, chs in batch for ch in chs])
    first_rows = torch.tensor([e for e, (_, chs) in enumerate(batch) for _ in chs])
    first = head_logp(cfg, p, hidden[first_rows, lens[first_rows] - 1], first_targets)
    sums = [[0.0] * len(chs) for _, chs in batch]
    k = 0
    for e, (_, chs) in enumerate(batch):
        for c in range(len(chs)):
            sums[e][c] = first[k].item()
            k += 1
    rows = [(e, c, ch) for e, (_, chs) in enumerate(batch) for c, ch in enumerate(chs) if len(ch) >= 2]
    if not rows:
        return sums
    lc = max(len(ch) - 1 for _, _, ch in rows)
    owner = torch.tensor([e for e, _, _ in rows])
    fed = torch.full((len(rows), lc), cfg["pad_token_id"], dtype=torch.long)
    for i, (_, _, ch) in enumerate(rows):
        fed[i, : len(ch) - 1] = torch.tensor(ch[:-1])
    start = lens[owner][:, None]
    query_pos = start + torch.arange(lc)[None]
    key_pos = torch.cat([torch.arange(li)[None].expand(len(rows), li), query_pos], dim=1)
    past_hidden = torch.arange(li)[None, None, :] >= start[:, :, None]  # the input's padding
    own_after = torch.arange(lc)[None, None, :] > torch.arange(lc)[None, :, None]
    mask = torch.cat([past_hidden.expand(len(rows), lc, li), own_after.expand(len(rows), lc, lc)], dim=2)
    past = [(k_[owner], v_[owner]) for k_, v_ in cache]
    hidden, _ = blocks(cfg, p, embed(cfg, p, fed), query_pos, key_pos, mask, past)
    which = [(i, t) for i, (_, _, ch) in enumerate(rows) for t in range(len(ch) - 1)]
    targets = torch.tensor([rows[i][2][t + 1] for i, t in which])
    logp = head_logp(cfg, p, hidden[torch.tensor([i for i, _ in which]), torch.tensor([t for _, t in which])], targets)
    for (i, _), lp in zip(which, logp.tolist()):
        e, c, _ = rows[i]
        sums[e][c] += lp
    return sums


def main():
    model_dir, tokenizer, threads, batch_size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    cfg, p = load(model_dir)
    examples, expected = [], []
    for path in sys.argv[5:]:
        for line in open(path, encoding="utf-8"):
            row = json.loads(line)
            if "skipped" not in row:
                examples.append((row["input"], row["choices"]))
                expected.append(row["logprobs"])
    texts = [t for inp, chs in examples for t in [inp] + [" " + c for c in chs]]
    ids = iter(hf_encode(tokenizer, texts))
    tokenized = [(next(ids), [next(ids) for _ in chs]) for _, chs in examples]
    for mode, score in (("full", score_full), ("cache", score_cache)):
        with torch.no_grad():
            score(cfg, p, tokenized[:batch_size])  # warm-up
            start = time.perf_counter()
            got = []
            for begin in range(0, len(tokenized), batch_size):
                got.extend(score(cfg, p, tokenized[begin : begin + batch_size]))
            seconds = time.perf_counter() - start
        diff = max(abs(a - b) for g, x in zip(got, expected) for a, b in zip(g, x))
        print(json.dumps({"mode": mode, "examples": len(tokenized), "seconds": round(seconds, 3),
                          "examples_per_s": round(len(tokenized) / seconds, 2), "max_abs_diff_vs_xmtf": diff}))


if __name__ == "__main__":
    main()
