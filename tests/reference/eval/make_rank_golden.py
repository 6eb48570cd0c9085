#!/usr/bin/python3
"""Golden rank classification for xmtf-eval, computed independently of the C++ code:
promptsource's Template.apply with jinja2 (tests/reference/prompts/render_golden.py), rows
loaded as the HF datasets loaders do (same file), tokens from HuggingFace tokenizers (node,
tokenize_hf.js) and choice scores from the plain-torch BLOOM of tests/reference/bloom (each
input + choice alone: no cache, no batching, no padding).

Per example (t-zero's rank evaluation, as the paper): render input, targets and answer choices;
gold = answer_choices.index(targets[0]); each choice scored by the sum of log p(token) of the
tokens of " " + choice after the input's tokens; prediction = the first argmax.

Writes tests/reference/eval/rank_golden.jsonl:
  {"kind": "case", "name", "dataset", "templates", "data", "config", "split", "limit", "template_names"}
  {"kind": "example", "case", "template", "index", "input", "choices", "gold", "logprobs", "prediction"}
     or, for a row that is not scored, "skipped": "no_input" | "no_choices" | "no_gold"
  {"kind": "result", "case", "template", "prompt_language", "n", "correct", "skipped": {...}}

Run: /usr/bin/python3 tests/reference/eval/make_rank_golden.py   (needs python3-torch,
python3-jinja2, python3-yaml, node and tests/reference/tok/node_modules). Deterministic.
"""
import json
import os
import random
import re
import subprocess
import sys

import torch
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "bloom"))
sys.path.insert(0, os.path.join(HERE, "..", "prompts"))
from check_export import read_safetensors  # noqa: E402
from make_golden import bloom_forward  # noqa: E402
import render_golden  # noqa: E402  (promptsource's apply and the HF-style row loaders)

DATA = os.path.normpath(os.path.join(HERE, "..", "..", "data"))
PROMPTS = os.path.join(DATA, "prompts")
MODEL = os.path.join(DATA, "eval", "tiny-bloom-50261")
TOKENIZER = os.path.join(DATA, "tokenizers", "bloomstyle_gpt2vocab.tokenizer.json")
OUT = os.path.join(HERE, "rank_golden.jsonl")

PAPER = {
    "xcopa": ["best_option", "C1 or C2? premise, so/because\u2026", "i_am_hesitating", "cause_effect", "plausible_alternatives"],
    "xnli": ["guaranteed/possible/impossible", "MNLI crowdsource", "GPT-3 style", "justified in saying", "can we infer"],
    "xwinograd": ["underscore refer to", "Replace", "stand for", "does underscore refer to", "True or False"],
}

# name, --dataset, templates, data, config, split, limit, templates (None: all with answer choices)
CASES = [
    ("xcopa_sw_en", "xcopa", "promptsource/pr826/xcopa/en/templates.yaml", "xcopa/val.sw.jsonl", "sw", "validation", 16,
     PAPER["xcopa"] + ["\u2026What could happen next, C1 or C2?"]),
    ("xcopa_zh_mt_ht", "xcopa", "promptsource/pr827/xcopa/zh/templates.yaml", "xcopa/val.zh.jsonl", "zh", "validation", 8, None),
    ("xnli_en", "xnli", "promptsource/pr827/xnli/en/templates.yaml", "xnli/xnli.dev.tsv", "en", "validation", None, PAPER["xnli"]),
    ("xnli_fr_mt_ht", "xnli", "promptsource/pr827/xnli/fr/templates.yaml", "xnli/xnli.test.tsv", "fr", "test", None, None),
    ("xnli_ar_jsonl", "xnli", "promptsource/pr827/xnli/ar/templates.yaml", "xnli/xnli.dev.jsonl", "ar", "validation", None, None),
    ("xstory_cloze_en", "xstory_cloze", "promptsource/pr827/Muennighoff/xstory_cloze/en/templates.yaml",
     "story_cloze/cloze_test_val_spring2016.csv", "en", "validation", None, None),
    ("xwinograd_en", "xwinograd", "promptsource/pr827/Muennighoff/xwinograd/en/templates.yaml", "xwinograd/dataset.sample.tsv",
     "en", "test", None, PAPER["xwinograd"]),
    ("xwinograd_fr_mt", "xwinograd", "promptsource/pr827/Muennighoff/xwinograd/fr/templates.yaml", "xwinograd/dataset.sample.tsv",
     "fr", "test", 6, None),
]


def prompt_language(name):
    m = re.search(r"_[a-z]{2,3}(mt|ht)$", name)
    return "EN" if not m else m.group(1).upper()


def hf_encode(texts):
    run = subprocess.run(["node", os.path.join(HERE, "tokenize_hf.js"), TOKENIZER], input=json.dumps(texts),
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def load_model():
    cfg = json.load(open(os.path.join(MODEL, "config.json")))
    tensors, _ = read_safetensors(os.path.join(MODEL, "model.safetensors"))
    return cfg, {k[len("transformer."):]: v.float() for k, v in tensors.items()}


def score(cfg, params, input_ids, choice_ids):
    ids = torch.tensor([input_ids + choice_ids], dtype=torch.long)
    with torch.no_grad():
        logp = torch.log_softmax(bloom_forward(cfg, params, ids, torch.ones_like(ids))[0].double(), dim=-1)
    n_in = len(input_ids)
    return sum(logp[n_in - 1 + k, t].item() for k, t in enumerate(choice_ids))


def render_case(case):
    name, dataset, templates_path, data_path, config, split, limit, names = case
    parsed = yaml.load(open(os.path.join(PROMPTS, templates_path), encoding="utf-8"), Loader=yaml.SafeLoader)
    templates = list(parsed["templates"].values())
    if names is None:
        templates = [t for t in templates if t.answer_choices is not None]
    else:
        templates = [next(t for t in templates if t.name == n) for n in names]
    rows = render_golden.load_rows(parsed["dataset"], os.path.join(PROMPTS, data_path), config)
    if limit:
        rows = rows[:limit]
    rendered = []
    for template in templates:
        random.seed(0)
        for index, row in enumerate(rows):
            parts, choices = render_golden.apply(template, row)
            example = {"kind": "example", "case": name, "template": template.name, "index": index, "input": parts[0],
                       "choices": choices}
            target = parts[1] if len(parts) > 1 else ""
            if not parts[0]:
                example["skipped"] = "no_input"
            elif choices is None or not any(choices):
                example["skipped"] = "no_choices"
            elif not target or target not in choices:
                example["skipped"] = "no_gold"
            else:
                example["gold"] = choices.index(target)
            rendered.append(example)
    return templates, rendered


def main():
    cfg, params = load_model()
    out = []
    for case in CASES:
        name, dataset, templates_path, data_path, config, split, limit, names = case
        templates, examples = render_case(case)
        out.append({"kind": "case", "name": name, "dataset": dataset, "templates": "prompts/" + templates_path,
                    "data": "prompts/" + data_path, "config": config, "split": split, "limit": limit,
                    "template_names": [t.name for t in templates] if names is not None else None})
        scored = [e for e in examples if "skipped" not in e]
        texts = []
        for e in scored:
            texts.append(e["input"])
            texts.extend(" " + c for c in e["choices"])
        ids = iter(hf_encode(texts))
        for e in scored:
            input_ids = next(ids)
            e["logprobs"] = [score(cfg, params, input_ids, next(ids)) for _ in e["choices"]]
            e["prediction"] = max(range(len(e["logprobs"])), key=lambda j: (e["logprobs"][j], -j))
        out.extend(examples)
        for t in templates:
            mine = [e for e in examples if e["template"] == t.name]
            done = [e for e in mine if "skipped" not in e]
            skipped = {k: sum(1 for e in mine if e.get("skipped") == k) for k in ("no_input", "no_choices", "no_gold")}
            out.append({"kind": "result", "case": name, "template": t.name, "prompt_language": prompt_language(t.name),
                        "n": len(done), "correct": sum(1 for e in done if e["prediction"] == e["gold"]), "skipped": skipped})
        print(f"{name}: {len(templates)} templates, {len(scored)} scored of {len(examples)}", file=sys.stderr)
    with open(OUT + ".tmp", "w", encoding="utf-8") as f:
        for record in out:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(OUT + ".tmp", OUT)
    print("wrote", OUT, file=sys.stderr)


if __name__ == "__main__":
    main()
