#!/usr/bin/python3
"""Independent check of an HF folder exported by xmtf (model.safetensors + config.json).

Parses the safetensors file by hand (8-byte little-endian header length, JSON header, raw
little-endian data; torch.frombuffer), checks what transformers requires to load it as
BloomForCausalLM (metadata format "pt", "transformer."-prefixed names, tied lm_head absent,
config keys), then runs make_golden.py's PyTorch BLOOM on the golden batch and compares the
logits with the golden ones.

Usage: /usr/bin/python3 tests/reference/bloom/check_export.py EXPORT_DIR GOLDEN_DIR [atol]
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import bloom_forward  # noqa: E402

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "I32": torch.int32}


def read_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        raw = bytearray(data[base + begin : base + end])
        t = torch.frombuffer(raw, dtype=DTYPES[info["dtype"]]) if raw else torch.empty(0, dtype=DTYPES[info["dtype"]])
        tensors[name] = t.reshape(info["shape"])
    return tensors, meta


def main():
    export_dir, golden_dir = sys.argv[1], sys.argv[2]
    atol = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-4
    tensors, meta = read_safetensors(os.path.join(export_dir, "model.safetensors"))
    assert meta.get("format") == "pt", meta
    assert all(k.startswith("transformer.") for k in tensors), "names must carry transformer."
    assert "lm_head.weight" not in tensors
    cfg = json.load(open(os.path.join(export_dir, "config.json")))
    assert cfg["model_type"] == "bloom" and cfg["architectures"] == ["BloomForCausalLM"]
    for key in ("hidden_size", "n_head", "n_layer", "vocab_size", "layer_norm_epsilon"):
        assert key in cfg, key
    params = {k[len("transformer."):]: v.float() for k, v in tensors.items()}
    golden, _ = read_safetensors(os.path.join(golden_dir, "golden.safetensors"))
    logits = bloom_forward(cfg, params, golden["input_ids"].long(), golden["segment_ids"])
    real = golden["segment_ids"] > 0
    err = (logits - golden["logits"])[real].abs().max().item()
    print(f"{len(tensors)} tensors, dtype {next(iter(tensors.values())).dtype}, max |logit diff| {err:.3e}")
    assert err < atol, f"logits differ by {err}"
    print("OK")


if __name__ == "__main__":
    main()
