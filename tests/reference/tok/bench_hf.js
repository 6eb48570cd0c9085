// Single-core throughput of the HuggingFace tokenizers library (Rust) on a JSON-lines file of
// strings (one per line), batch encode, no special tokens. Run with RAYON_NUM_THREADS=1
// TOKENIZERS_PARALLELISM=false: node bench_hf.js TOKENIZER.json TEXTS.jsonl [batch]
const fs = require('fs');
const { Tokenizer } = require('@anush008/tokenizers');
async function main() {
  const [tokenizerPath, textsPath, batchArg] = process.argv.slice(2);
  const batch = Number(batchArg || 1000);
  const t0 = process.hrtime.bigint();
  const tokenizer = Tokenizer.fromFile(tokenizerPath);
  const loadSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const texts = fs.readFileSync(textsPath, 'utf8').split('\n').filter((l) => l.length).map((l) => JSON.parse(l));
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
  let tokens = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < texts.length; i += batch) {
    const encodings = await tokenizer.encodeBatch(texts.slice(i, i + batch), { addSpecialTokens: false });
    for (const e of encodings) tokens += e.getIds().length;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({ engine: 'hf-tokenizers-0.6.0', load_seconds: loadSeconds, texts: texts.length, bytes,
    tokens, seconds, tokens_per_second: tokens / seconds }));
}
main();
