#!/usr/bin/python3
"""Golden renderings of promptsource templates by Python's jinja2, for tests/unit/prompts.

Run with Debian's interpreter (python3-jinja2, python3-yaml):
    /usr/bin/python3 tests/reference/prompts/render_golden.py
It reads tests/data/prompts/golden_pairs.tsv (template file, data file, language, seed, row cap)
and writes tests/reference/prompts/golden.jsonl:
  {"kind": "file", ...}    every template of every file as PyYAML parses it
  {"kind": "render", ...}  per pair, template and row: promptsource's Template.apply() parts and
                           answer choices, or the exception's type when rendering fails.

apply() below follows promptsource/templates.py (bigscience-workshop/promptsource): the
environment (BaseLoader, zip global, choice / most_frequent filters), the "}}" -> " | string |
truncate(2048) }}" rewrite, the "|||" protector, answer_choices rendered first then bound.
Rows are loaded the way the HF datasets loaders load the published files, written here
independently of the C++ adapters (src/prompts/rows.cpp).
"""
import csv
import json
import os
import random
import sys
from collections import Counter

import jinja2
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "..", "data", "prompts"))
OUT = os.path.join(HERE, "golden.jsonl")

TEXT_VAR_LENGTH = 2048
PIPE_PROTECTOR = "3ed2dface8203c4c9dfb1a5dc58e41e0"


class Template(yaml.YAMLObject):
    yaml_tag = "!Template"
    yaml_loader = yaml.SafeLoader


class TemplateMetadata(yaml.YAMLObject):
    yaml_tag = "!TemplateMetadata"
    yaml_loader = yaml.SafeLoader


def most_frequent(items):
    if not items:
        return
    item_counts = Counter(items).most_common()
    max_freq = item_counts[0][1]
    return [c[0] for c in item_counts if c[1] == max_freq]


env = jinja2.Environment(loader=jinja2.BaseLoader)
env.globals.update(zip=zip)
env.filters["choice"] = lambda choices: random.choice(choices)
env.filters["most_frequent"] = most_frequent


def escape_pipe(example):
    return {k: v.replace("|||", PIPE_PROTECTOR) if isinstance(v, str) else v for k, v in example.items()}


def unescape_pipe(text):
    return text.replace(PIPE_PROTECTOR, "|||")


def answer_choices_list(template, example):
    if template.answer_choices is None:
        return None
    rendered = env.from_string(template.answer_choices).render(**escape_pipe(example))
    return [unescape_pipe(choice.strip()) for choice in rendered.split("|||")]


def apply(template, example):
    jinja = template.jinja.replace("}}", f" | string | truncate({TEXT_VAR_LENGTH}) }}}}")
    rtemplate = env.from_string(jinja)
    protected = escape_pipe(example)
    if "answer_choices" in protected:
        raise ValueError("Example contains the restricted key 'answer_choices'.")
    protected["answer_choices"] = answer_choices_list(template, example)
    rendered = rtemplate.render(**protected)
    return [unescape_pipe(part).strip() for part in rendered.split("|||")], protected["answer_choices"]


# ---- rows as the HF datasets loaders produce them ------------------------------------------

XNLI_LABELS = ["entailment", "neutral", "contradiction"]


def xnli_rows(path, lang):
    if path.endswith(".jsonl"):
        raw = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    else:
        with open(path, encoding="utf-8", newline="") as f:
            raw = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [
        {"premise": r["sentence1"], "hypothesis": r["sentence2"], "label": XNLI_LABELS.index(r["gold_label"])}
        for r in raw
        if r["language"] == lang
    ]


def story_cloze_rows(path):
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        return [
            {
                "story_id": r[0],
                "input_sentence_1": r[1],
                "input_sentence_2": r[2],
                "input_sentence_3": r[3],
                "input_sentence_4": r[4],
                "sentence_quiz1": r[5],
                "sentence_quiz2": r[6],
                "answer_right_ending": int(r[7]),
            }
            for r in reader
        ]


def xwinograd_rows(path, lang):
    """dataset.tsv -> sentence with the pronoun replaced by "_", options in file order."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if fields[0] != lang:
                continue
            tokens, pronoun, candidates = (json.loads(x) for x in fields[4:7])
            if len(candidates) != 2:
                continue
            sentence, word = fields[3], pronoun[0]
            nth = "".join(token + " " for token in tokens[: pronoun[1][0]]).count(word)
            at = sentence.find(word)
            for _ in range(nth):
                at = sentence.find(word, at + len(word))
            if at < 0:
                raise ValueError(f"pronoun {word!r} not found in {sentence!r}")
            rows.append(
                {
                    "sentence": sentence[:at] + "_" + sentence[at + len(word):],
                    "option1": candidates[0][0],
                    "option2": candidates[1][0],
                    "answer": "1" if candidates[0][3] else "2",
                }
            )
    return rows


def load_rows(dataset, path, lang):
    name = dataset.split("/")[-1]
    if name == "xwinograd" and path.endswith(".tsv"):
        return xwinograd_rows(path, lang)
    if name == "xnli":
        return xnli_rows(path, lang)
    if name in ("story_cloze", "xstory_cloze") and path.endswith(".csv"):
        return story_cloze_rows(path)
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


# ---- golden file -----------------------------------------------------------------------------


def metadata_dict(m):
    if m is None:
        return None
    return {k: getattr(m, k, None) for k in ("original_task", "choices_in_prompt", "metrics", "languages")}


def main():
    pairs = []
    for line in open(os.path.join(DATA, "golden_pairs.tsv"), encoding="utf-8"):
        if line.startswith("#") or not line.strip():
            continue
        templates, data, lang, seed, max_rows = line.rstrip("\n").split("\t")
        pairs.append((templates, data, lang, int(seed), int(max_rows)))

    out = []
    seen_files = set()
    for index, (templates_path, data_path, lang, seed, max_rows) in enumerate(pairs):
        parsed = yaml.load(open(os.path.join(DATA, templates_path), encoding="utf-8"), Loader=yaml.SafeLoader)
        templates = list(parsed["templates"].values())
        if templates_path not in seen_files:
            seen_files.add(templates_path)
            out.append(
                {
                    "kind": "file",
                    "templates": templates_path,
                    "dataset": parsed["dataset"],
                    "subset": parsed.get("subset"),
                    "parsed": [
                        {
                            "id": t.id,
                            "name": t.name,
                            "jinja": t.jinja,
                            "answer_choices": t.answer_choices,
                            "reference": t.reference,
                            "metadata": metadata_dict(getattr(t, "metadata", None)),
                        }
                        for t in templates
                    ],
                }
            )
        rows = load_rows(parsed["dataset"], os.path.join(DATA, data_path), lang)
        if max_rows:
            rows = rows[:max_rows]
        random.seed(seed)  # one generator per pair, templates outer, rows inner (as xmtf-prompt)
        for template in templates:
            for row_index, row in enumerate(rows):
                record = {"kind": "render", "pair": index, "template": template.name, "row": row_index}
                try:
                    parts, choices = apply(template, row)
                    record["parts"] = parts
                    record["answer_choices"] = choices
                except Exception as error:  # the C++ renderer must fail on the same rows
                    record["error"] = type(error).__name__
                out.append(record)
        print(f"pair {index}: {templates_path} x {data_path} ({lang}): {len(templates)} templates x {len(rows)} rows", file=sys.stderr)

    with open(OUT + ".tmp", "w", encoding="utf-8") as f:
        for record in out:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(OUT + ".tmp", OUT)
    renders = sum(1 for r in out if r["kind"] == "render")
    errors = sum(1 for r in out if "error" in r)
    print(f"wrote {OUT}: {len(seen_files)} template files, {renders} renderings ({errors} errors)", file=sys.stderr)


if __name__ == "__main__":
    main()
