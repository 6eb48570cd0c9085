// Reference: @huggingface/hub (the HF JavaScript client, its Node cache functions mirror
// huggingface_hub's cache layout) downloads every file of the given repos from HF_ENDPOINT
// (the mock hub) into CACHE_DIR. Usage: node snapshot_js.cjs CACHE_DIR model:ORG/NAME dataset:ORG/NAME ...
const { snapshotDownload } = require("@huggingface/hub");

async function main() {
  const [cacheDir, ...specs] = process.argv.slice(2);
  for (const spec of specs) {
    const [type, name] = spec.split(":");
    const folder = await snapshotDownload({ repo: { type, name }, cacheDir, hubUrl: process.env.HF_ENDPOINT });
    console.log(folder);
  }
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
