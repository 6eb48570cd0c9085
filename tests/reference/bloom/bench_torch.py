#!/usr/bin/python3
"""Training throughput of the PyTorch reference BLOOM (make_golden.py's model, autograd, AdamW)
for comparison with xmtf-train on the same config, batch and thread count; also the machine's
sgemm rate through the same BLAS.

Usage: /usr/bin/python3 bench_torch.py CONFIG.json SEQ_LEN STEPS THREADS
Prints one JSON line: tokens_per_s (all seq_len positions), seconds_per_step, sgemm_gflops.
"""
import json
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from make_golden import bloom_forward, make_params, no_decay  # noqa: E402


def sgemm_gflops(n=2048, repeats=5):
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def main():
    cfg = json.load(open(sys.argv[1]))
    cfg.setdefault("hidden_size", cfg.get("n_embed"))
    cfg.setdefault("n_head", cfg.get("num_attention_heads"))
    seq_len, steps, threads = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(threads)
    p = make_params(cfg, 1)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, cfg["vocab_size"], (1, seq_len + 1), generator=g)
    segments = torch.ones(1, seq_len, dtype=torch.int32)
    segments[0, seq_len // 2 :] = 2
    weights = torch.full((seq_len,), 1.0 / seq_len)
    opt = torch.optim.AdamW([{"params": [v for k, v in p.items() if not no_decay(k)], "weight_decay": 0.1},
                             {"params": [v for k, v in p.items() if no_decay(k)], "weight_decay": 0.0}], lr=1e-4,
                            foreach=False)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        opt.zero_grad()
        logits = bloom_forward(cfg, p, ids[:, :-1], segments)
        loss = (F.cross_entropy(logits.reshape(-1, cfg["vocab_size"]), ids[0, 1:], reduction="none") * weights).sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(p.values()), 1.0)
        opt.step()
        times.append(time.perf_counter() - start)
    per_step = min(times[1:]) if len(times) > 1 else times[0]
    print(json.dumps({"threads": threads, "seconds_per_step": per_step, "tokens_per_s": seq_len / per_step,
                      "sgemm_gflops": sgemm_gflops()}))


if __name__ == "__main__":
    main()
