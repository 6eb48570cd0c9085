#!/usr/bin/python3
"""Writes small tokenizer.json variants to tests/data/tokenizers/variants/: GPT-2's first 3,000
merges (and the vocabulary they need) behind pipelines that the two real files do not exercise:
ByteLevel add_prefix_space, every Split behaviour and invert, normalizers, added tokens with
lstrip / rstrip / single_word / normalized. HF tokenizers makes their golden ids like the others."""
import json, os, copy

here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(here, "../../data/tokenizers")
base = json.load(open(os.path.join(data, "gpt2_from_gpt3encoder.tokenizer.json"), encoding="utf-8"))
merges = base["model"]["merges"][:3000]
old_vocab = base["model"]["vocab"]
keep = set(t for t, i in old_vocab.items() if i < 256)
for m in merges:
    a, b = m.split(" ")
    keep |= {a, b, a + b}
vocab = {t: i for i, t in enumerate(sorted(keep, key=lambda t: old_vocab[t]))}
base["model"]["vocab"] = vocab
base["model"]["merges"] = merges
base["added_tokens"] = [{"id": len(vocab), "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                         "rstrip": False, "normalized": False, "special": True}]

def byte_level(prefix=False, regex=False):
    return {"type": "ByteLevel", "add_prefix_space": prefix, "trim_offsets": True, "use_regex": regex}

def split(pattern, behavior, invert=False, regex=True):
    return {"type": "Split", "pattern": {"Regex" if regex else "String": pattern}, "behavior": behavior, "invert": invert}

def variant(name, normalizer=None, pre_tokenizer=None, added=()):
    t = copy.deepcopy(base)
    t["normalizer"] = normalizer
    t["pre_tokenizer"] = pre_tokenizer
    next_id = len(vocab) + 1
    for a in added:
        t["added_tokens"].append(dict({"id": next_id, "single_word": False, "lstrip": False, "rstrip": False,
                                       "normalized": False, "special": False}, **a))
        next_id += 1
    os.makedirs(os.path.join(data, "variants"), exist_ok=True)
    with open(os.path.join(data, "variants", name + ".tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(t, f, ensure_ascii=False)

variant("prefix_space", pre_tokenizer=byte_level(prefix=True, regex=True))
variant("nfkc_lowercase_merged_with_next", normalizer={"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]},
        pre_tokenizer={"type": "Sequence", "pretokenizers": [split(" ", "MergedWithNext", regex=False), byte_level()]})
variant("merged_with_previous", pre_tokenizer={"type": "Sequence", "pretokenizers": [split(r"[.,!?;:]", "MergedWithPrevious"), byte_level()]})
variant("contiguous_invert", pre_tokenizer={"type": "Sequence", "pretokenizers": [split(r"\p{L}+", "Contiguous", invert=True), byte_level()]})
variant("removed_whitespace", pre_tokenizer={"type": "Sequence", "pretokenizers": [split(r"\s+", "Removed"), byte_level(prefix=True)]})
variant("nfd_strip_replace", normalizer={"type": "Sequence", "normalizers": [
            {"type": "NFD"}, {"type": "Strip", "strip_left": True, "strip_right": True},
            {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "}]},
        pre_tokenizer=byte_level(regex=True))
variant("added_token_flags", pre_tokenizer=byte_level(regex=True), added=[
    {"content": "[MASK]", "lstrip": True, "special": True},
    {"content": "<sep>", "rstrip": True, "special": True},
    {"content": "hello", "single_word": True, "normalized": True},
    {"content": "Straße", "normalized": True},
    {"content": "world", "normalized": False}])
print("variants written")
