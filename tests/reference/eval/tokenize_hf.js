// Encodes texts with the HuggingFace tokenizers library (Rust, via @anush008/tokenizers 0.6.0,
// installed by tests/reference/tok: cd ../tok && npm install @anush008/tokenizers@0.6.0).
// Usage: node tokenize_hf.js TOKENIZER.json < texts.json (a JSON array of strings)
//        -> stdout: a JSON array of id arrays (no special tokens added).
const fs = require('fs');
const path = require('path');
const { Tokenizer } = require(path.join(__dirname, '../tok/node_modules/@anush008/tokenizers'));

async function main() {
  const texts = JSON.parse(fs.readFileSync(0, 'utf8'));
  const tokenizer = Tokenizer.fromFile(process.argv[2]);
  const out = [];
  for (const text of texts) {
    const encoding = await tokenizer.encode(text, null, { addSpecialTokens: false });
    out.push(Array.from(encoding.getIds()));
  }
  process.stdout.write(JSON.stringify(out));
}
main();
