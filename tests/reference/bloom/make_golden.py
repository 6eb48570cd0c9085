#!/usr/bin/python3
"""Golden outputs for xmtf's BLOOM engine, computed by an independent PyTorch implementation.

Written from the architecture of HuggingFace's BloomForCausalLM (modeling_bloom.py): fused QKV
viewed as [batch, seq, n_head, 3, head_dim], ALiBi bias = slope_h * key_position added by
baddbmm with alpha = 1/sqrt(head_dim), masked_fill with finfo.min, softmax in fp32, GeLU tanh
with HF's constants, LM head tied to the word embeddings. Autograd gives the gradients.

The batch is decoder-packed the way Megatron-DeepSpeed's t0loading branch packs for BLOOMZ
(rows of seq_len + 1 tokens, samples appended until the next does not fit, longer samples
skipped), re-implemented here; loss weights follow --norm-target-loss.

Run:  /usr/bin/python3 tests/reference/bloom/make_golden.py   (writes tests/data/bloom/golden/)
Needs only python3-torch (Debian). Deterministic (fixed seeds).
"""
import json
import math
import os
import struct

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "data", "bloom", "golden")


# ---------------------------------------------------------------- safetensors (independent writer)
def save_safetensors(path, tensors, metadata=None):
    dtypes = {torch.float32: "F32", torch.int32: "I32", torch.float16: "F16", torch.bfloat16: "BF16"}
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name, t in tensors.items():
        t = t.detach().contiguous()
        raw = t.view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------- model
def alibi_slopes(n_head):
    closest = 2 ** math.floor(math.log2(n_head))
    base = torch.tensor(2 ** (-(2 ** -(math.log2(closest) - 3))), dtype=torch.float32)
    slopes = torch.pow(base, torch.arange(1, 1 + closest, dtype=torch.int32))
    if closest != n_head:
        extra_base = torch.tensor(2 ** (-(2 ** -(math.log2(2 * closest) - 3))), dtype=torch.float32)
        remaining = min(closest, n_head - closest)
        slopes = torch.cat([slopes, torch.pow(extra_base, torch.arange(1, 1 + 2 * remaining, 2, dtype=torch.int32))])
    return slopes


def make_params(cfg, seed):
    g = torch.Generator().manual_seed(seed)
    c, v, ffn = cfg["hidden_size"], cfg["vocab_size"], 4 * cfg["hidden_size"]

    def w(*shape, std=0.1):
        return (torch.randn(*shape, generator=g) * std).requires_grad_()

    def ln(n):
        return (1.0 + 0.1 * torch.randn(n, generator=g)).requires_grad_(), w(n)

    p = {"word_embeddings.weight": w(v, c, std=0.2)}
    p["word_embeddings_layernorm.weight"], p["word_embeddings_layernorm.bias"] = ln(c)
    for l in range(cfg["n_layer"]):
        h = f"h.{l}."
        p[h + "input_layernorm.weight"], p[h + "input_layernorm.bias"] = ln(c)
        p[h + "self_attention.query_key_value.weight"] = w(3 * c, c)
        p[h + "self_attention.query_key_value.bias"] = w(3 * c)
        p[h + "self_attention.dense.weight"] = w(c, c)
        p[h + "self_attention.dense.bias"] = w(c)
        p[h + "post_attention_layernorm.weight"], p[h + "post_attention_layernorm.bias"] = ln(c)
        p[h + "mlp.dense_h_to_4h.weight"] = w(ffn, c)
        p[h + "mlp.dense_h_to_4h.bias"] = w(ffn)
        p[h + "mlp.dense_4h_to_h.weight"] = w(c, ffn)
        p[h + "mlp.dense_4h_to_h.bias"] = w(c)
    p["ln_f.weight"], p["ln_f.bias"] = ln(c)
    return p


def bloom_gelu(x):
    return x * 0.5 * (1.0 + torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))


def bloom_forward(cfg, p, input_ids, segment_ids):
    b, t = input_ids.shape
    c, nh = cfg["hidden_size"], cfg["n_head"]
    hd = c // nh
    eps = cfg["layer_norm_epsilon"]
    # Mask (True = masked): causal, same segment, never padding (segment 0).
    seg_q = segment_ids[:, :, None]
    seg_k = segment_ids[:, None, :]
    causal = torch.tril(torch.ones(t, t, dtype=torch.bool))[None]
    allowed = causal & (seg_q == seg_k) & (seg_q > 0)
    mask = ~allowed[:, None, :, :]
    # HF: alibi = slopes[..., None] * arange over key positions, shape [b * nh, 1, t].
    positions = torch.arange(t, dtype=torch.float32)
    alibi = (alibi_slopes(nh)[:, None] * positions[None, :]).repeat(b, 1).reshape(b * nh, 1, t)

    x = F.embedding(input_ids, p["word_embeddings.weight"])
    x = F.layer_norm(x, (c,), p["word_embeddings_layernorm.weight"], p["word_embeddings_layernorm.bias"], eps)
    for l in range(cfg["n_layer"]):
        h = f"h.{l}."
        ln_in = F.layer_norm(x, (c,), p[h + "input_layernorm.weight"], p[h + "input_layernorm.bias"], eps)
        fused = F.linear(ln_in, p[h + "self_attention.query_key_value.weight"], p[h + "self_attention.query_key_value.bias"])
        fused = fused.view(b, t, nh, 3, hd)
        q, k, v = fused[..., 0, :], fused[..., 1, :], fused[..., 2, :]
        q = q.transpose(1, 2).reshape(b * nh, t, hd)
        k = k.permute(0, 2, 3, 1).reshape(b * nh, hd, t)
        v = v.transpose(1, 2).reshape(b * nh, t, hd)
        scores = torch.baddbmm(alibi, q, k, beta=1.0, alpha=1.0 / math.sqrt(hd)).view(b, nh, t, t)
        scores = torch.masked_fill(scores.float(), mask, torch.finfo(torch.float32).min)
        probs = F.softmax(scores, dim=-1, dtype=torch.float32).view(b * nh, t, t)
        context = torch.bmm(probs, v).view(b, nh, t, hd).permute(0, 2, 1, 3).reshape(b, t, c)
        x = x + F.linear(context, p[h + "self_attention.dense.weight"], p[h + "self_attention.dense.bias"])
        ln_post = F.layer_norm(x, (c,), p[h + "post_attention_layernorm.weight"], p[h + "post_attention_layernorm.bias"], eps)
        fc = bloom_gelu(F.linear(ln_post, p[h + "mlp.dense_h_to_4h.weight"], p[h + "mlp.dense_h_to_4h.bias"]))
        x = x + F.linear(fc, p[h + "mlp.dense_4h_to_h.weight"], p[h + "mlp.dense_4h_to_h.bias"])
    x = F.layer_norm(x, (c,), p["ln_f.weight"], p["ln_f.bias"], eps)
    return F.linear(x, p["word_embeddings.weight"])


# ---------------------------------------------------------------- MTF packing (reference)
def make_samples(seed, n, vocab, max_in, max_tgt, eos):
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n):
        n_in = int(torch.randint(1, max_in + 1, (1,), generator=g))
        n_tgt = int(torch.randint(1, max_tgt + 1, (1,), generator=g))
        inputs = torch.randint(4, vocab, (n_in,), generator=g).tolist()
        targets = torch.randint(4, vocab, (n_tgt,), generator=g).tolist() + [eos]  # EOS ends a target
        samples.append((inputs, targets))
    return samples


def pack(samples, seq_len, n_rows, pad_id):
    """Rows of seq_len + 1 tokens; samples one after another until the next does not fit."""
    rows, segs, is_in = [], [], []
    cur_tok, cur_seg, cur_in = [], [], []
    skipped, used, segment = 0, 0, 0
    for inputs, targets in samples:
        n = len(inputs) + len(targets)
        if n > seq_len + 1:
            skipped += 1
            continue
        if len(cur_tok) + n > seq_len + 1:
            rows.append(cur_tok); segs.append(cur_seg); is_in.append(cur_in)
            cur_tok, cur_seg, cur_in, segment = [], [], [], 0
            if len(rows) == n_rows:
                break
        segment += 1
        cur_tok += inputs + targets
        cur_seg += [segment] * n
        cur_in += [1] * len(inputs) + [0] * len(targets)
        used += 1
    else:
        if cur_tok and len(rows) < n_rows:
            rows.append(cur_tok); segs.append(cur_seg); is_in.append(cur_in)
    assert len(rows) == n_rows, "not enough samples for the batch"
    width = seq_len + 1
    tok = torch.full((n_rows, width), pad_id, dtype=torch.int32)
    seg = torch.zeros((n_rows, width), dtype=torch.int32)
    inp = torch.zeros((n_rows, width), dtype=torch.int32)
    for r in range(n_rows):
        tok[r, : len(rows[r])] = torch.tensor(rows[r], dtype=torch.int32)
        seg[r, : len(segs[r])] = torch.tensor(segs[r], dtype=torch.int32)
        inp[r, : len(is_in[r])] = torch.tensor(is_in[r], dtype=torch.int32)
    return tok, seg, inp, skipped


def loss_weights(seg, inp, norm_target_loss):
    """Weight of predicting row[t+1] from position t: nonzero iff row[t+1] is a target token."""
    is_target = (seg > 0) & (inp == 0)
    label_is_target = is_target[:, 1:]
    weights = torch.zeros(label_is_target.shape, dtype=torch.float32)
    if not norm_target_loss:
        return label_is_target.float() / label_is_target.sum()
    n_targets = 0
    for r in range(seg.shape[0]):
        for s in seg[r].unique().tolist():
            if s == 0:
                continue
            where = (seg[r, 1:] == s) & label_is_target[r]
            length = int(where.sum())
            weights[r][where] = 1.0 / length
            n_targets += 1
    return weights / n_targets


# ---------------------------------------------------------------- optimiser reference
def lr_at(step, max_lr, min_lr, warmup, total):
    if step <= warmup:
        return max_lr * step / warmup
    ratio = (step - warmup) / (total - warmup)
    return min_lr + (max_lr - min_lr) * 0.5 * (math.cos(math.pi * ratio) + 1.0)


def no_decay(name):
    return name.endswith(".bias") or "layernorm" in name or name.startswith("ln_f.")


def run(cfg, name, param_seed, data_seed, seq_len, n_rows, prefix, adam_steps):
    out = os.path.join(OUT, name)
    os.makedirs(out, exist_ok=True)
    p = make_params(cfg, param_seed)
    samples = make_samples(data_seed, 40, cfg["vocab_size"], 9, 6, cfg["eos_token_id"])
    samples.insert(2, ([5] * (seq_len + 1), [cfg["eos_token_id"]]))  # too long: skipped
    tok, seg, inp, skipped = pack(samples, seq_len, n_rows, cfg["pad_token_id"])
    input_ids, target_ids = tok[:, :-1].contiguous(), tok[:, 1:].contiguous()
    weights = loss_weights(seg, inp, True)
    token_mean_weights = loss_weights(seg, inp, False)

    logits = bloom_forward(cfg, p, input_ids.long(), seg[:, :-1])
    nll = F.cross_entropy(logits.reshape(-1, cfg["vocab_size"]), target_ids.reshape(-1).long(), reduction="none")
    loss = (nll * weights.reshape(-1)).sum()
    loss.backward()

    golden = {
        "packed_tokens": tok, "packed_segment_ids": seg, "packed_is_input": inp,
        "skipped": torch.tensor([skipped], dtype=torch.int32),
        "input_ids": input_ids, "target_ids": target_ids,
        "segment_ids": seg[:, :-1].contiguous(), "is_input": inp[:, :-1].contiguous(),
        "loss_weights": weights, "token_mean_weights": token_mean_weights,
        "logits": logits.detach(), "loss": loss.detach().reshape(1),
    }
    flat_in = [x for s in samples for x in s[0]]
    flat_tg = [x for s in samples for x in s[1]]
    golden["sample_inputs"] = torch.tensor(flat_in, dtype=torch.int32)
    golden["sample_targets"] = torch.tensor(flat_tg, dtype=torch.int32)
    golden["sample_input_lengths"] = torch.tensor([len(s[0]) for s in samples], dtype=torch.int32)
    golden["sample_target_lengths"] = torch.tensor([len(s[1]) for s in samples], dtype=torch.int32)
    for k, v in p.items():
        golden["grad." + k] = v.grad.detach().clone()

    if adam_steps:
        max_lr, min_lr, warmup, betas, eps, wd, clip = 3e-3, 3e-4, 3, (0.9, 0.95), 1e-8, 0.1, 1.0
        decay = [v for k, v in p.items() if not no_decay(k)]
        plain = [v for k, v in p.items() if no_decay(k)]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": plain, "weight_decay": 0.0}],
                                lr=max_lr, betas=betas, eps=eps, foreach=False)
        losses, lrs, norms = [], [], []
        for step in range(1, adam_steps + 1):
            lr = lr_at(step, max_lr, min_lr, warmup, adam_steps)
            for group in opt.param_groups:
                group["lr"] = lr
            opt.zero_grad()
            logits_s = bloom_forward(cfg, p, input_ids.long(), seg[:, :-1])
            nll_s = F.cross_entropy(logits_s.reshape(-1, cfg["vocab_size"]), target_ids.reshape(-1).long(), reduction="none")
            loss_s = (nll_s * weights.reshape(-1)).sum()
            loss_s.backward()
            norm = torch.nn.utils.clip_grad_norm_(list(p.values()), clip)
            opt.step()
            losses.append(loss_s.item()); lrs.append(lr); norms.append(float(norm))
        golden["adam_losses"] = torch.tensor(losses, dtype=torch.float32)
        golden["adam_lrs"] = torch.tensor(lrs, dtype=torch.float32)
        golden["adam_grad_norms"] = torch.tensor(norms, dtype=torch.float32)
        settings = {"max_lr": max_lr, "min_lr": min_lr, "warmup": warmup, "steps": adam_steps, "beta1": betas[0],
                    "beta2": betas[1], "eps": eps, "weight_decay": wd, "clip": clip}
        with open(os.path.join(out, "adam.json"), "w") as f:
            json.dump(settings, f, indent=2)

    weights_file = {(prefix + k): v for k, v in make_params(cfg, param_seed).items()}
    save_safetensors(os.path.join(out, "model.safetensors"), weights_file, {"format": "pt"})
    save_safetensors(os.path.join(out, "golden.safetensors"), golden)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    print(f"{name}: loss {loss.item():.6f}, {n_rows} rows, skipped {skipped}")


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    base = {"model_type": "bloom", "layer_norm_epsilon": 1e-5, "bos_token_id": 1, "eos_token_id": 2,
            "pad_token_id": 3, "unk_token_id": 0}
    # Model a: power-of-two heads, HF's current key names, weights saved with "transformer.".
    cfg_a = dict(base, vocab_size=256, hidden_size=64, n_layer=2, n_head=4)
    run(cfg_a, "tiny4h", 1234, 99, 32, 3, "transformer.", 10)
    # Model b: 3 heads (not a power of two), bloomz-560m's old key names, bare tensor names.
    cfg_b = dict(base, vocab_size=128, n_embed=48, n_layer=2, num_attention_heads=3)
    cfg_b_model = dict(base, vocab_size=128, hidden_size=48, n_layer=2, n_head=3)
    run(cfg_b_model, "tiny3h", 4321, 7, 24, 2, "", 0)
    with open(os.path.join(OUT, "tiny3h", "config.json"), "w") as f:
        json.dump(cfg_b, f, indent=2)
    slopes = {str(n): alibi_slopes(n).tolist() for n in range(1, 33)}
    with open(os.path.join(OUT, "alibi_slopes.json"), "w") as f:
        json.dump(slopes, f)


if __name__ == "__main__":
    main()
