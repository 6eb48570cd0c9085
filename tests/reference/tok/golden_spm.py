#!/usr/bin/python3
"""Golden ids from python3-sentencepiece for every *.model in tests/data/tokenizers over
corpus.jsonl. Run: /usr/bin/python3 golden_spm.py. Writes golden_spm.jsonl, one line per
(model, corpus entry): {"model", "index", "text" (lossy UTF-8), "ids" (no eos), "decoded"}."""
import json, os, glob
import sentencepiece as spm

here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(here, "../../data/tokenizers")
corpus = []
for line in open(os.path.join(here, "corpus.jsonl"), encoding="utf-8"):
    e = json.loads(line)
    corpus.append(bytes.fromhex(e["hex"]).decode("utf-8", "replace") if "hex" in e else e["text"])
with open(os.path.join(here, "golden_spm.jsonl"), "w", encoding="utf-8") as out:
    for path in sorted(glob.glob(os.path.join(data, "*.model"))):
        sp = spm.SentencePieceProcessor(model_file=path)
        for i, text in enumerate(corpus):
            ids = sp.encode(text)
            out.write(json.dumps({"model": os.path.basename(path), "index": i, "text": text,
                                  "ids": ids, "decoded": sp.decode(ids)}, ensure_ascii=False) + "\n")
        print(os.path.basename(path), "pad", sp.pad_id(), "eos", sp.eos_id(), "unk", sp.unk_id(), "bos", sp.bos_id(), sp.get_piece_size())
