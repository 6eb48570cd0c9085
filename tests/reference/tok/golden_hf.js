// Golden ids from the HuggingFace tokenizers library (Rust, via @anush008/tokenizers 0.6.0) for
// every tokenizer.json in tests/data/tokenizers (and variants/, made by make_variants.py) over
// corpus.jsonl.
// Run: cd tests/reference/tok && npm install @anush008/tokenizers@0.6.0 && node golden_hf.js
// Writes golden_hf.jsonl: one line per (tokenizer, corpus entry):
//   {"tokenizer": file, "index": i, "text": lossy-UTF-8 text, "ids": [...], "decoded": str}
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require('@anush008/tokenizers');

const dataDir = path.join(__dirname, '../../data/tokenizers');
const corpus = fs.readFileSync(path.join(__dirname, 'corpus.jsonl'), 'utf8')
  .split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l))
  // Invalid UTF-8 reaches the tokenizer as the WHATWG lossy decoding (U+FFFD per maximal subpart).
  .map((e) => ('hex' in e ? Buffer.from(e.hex, 'hex').toString('utf8') : e.text));

async function main() {
  const files = fs.readdirSync(dataDir).filter((f) => f.endsWith('.tokenizer.json')).sort()
    .concat(fs.readdirSync(path.join(dataDir, 'variants')).filter((f) => f.endsWith('.tokenizer.json')).sort()
      .map((f) => 'variants/' + f));
  const out = [];
  for (const file of files) {
    const tokenizer = Tokenizer.fromFile(path.join(dataDir, file));
    for (let i = 0; i < corpus.length; i++) {
      const encoding = await tokenizer.encode(corpus[i], null, { addSpecialTokens: false });
      const ids = encoding.getIds();
      const decoded = await tokenizer.decode(ids, false);
      out.push(JSON.stringify({ tokenizer: file, index: i, text: corpus[i], ids, decoded }));
    }
  }
  fs.writeFileSync(path.join(__dirname, 'golden_hf.jsonl'), out.join('\n') + '\n');
  console.log(`wrote ${out.length} encodings for ${files.length} tokenizers`);
}
main();
