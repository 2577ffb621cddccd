// Reference token ids for a family's tokenizer.json, from transformers.js's own tokenizer code.
// @lenml/tokenizers is the standalone extraction of transformers.js's src/tokenizers.js (its
// package.json: "a lightweight no-dependency fork of transformers.js (only tokenizers)"; its
// src/tokenizers/readme.md: "this code fork from https://github.com/huggingface/transformers",
// with only the ONNX and hub-download parts removed), so its ids are transformers.js's ids.
//
// Usage: node reference-family-tokenizer.cjs <nodeDeps> <modelsFolder> <texts.jsonl> <out.jsonl>
//   nodeDeps: the npm prefix scripts/fetch-test-references.sh installed @lenml/tokenizers into
//   modelsFolder: holds tokenizer.json and tokenizer_config.json
//   texts.jsonl: one JSON string per line
//   out.jsonl: one line per text, {"with": [ids], "without": [ids]} for add_special_tokens true/false
'use strict';
const fs = require('fs');
const path = require('path');

const [nodeDeps, modelsFolder, textsPath, outPath] = process.argv.slice(2);
const { TokenizerLoader } = require(path.join(nodeDeps, 'node_modules', '@lenml', 'tokenizers'));
const read = (name) => JSON.parse(fs.readFileSync(path.join(modelsFolder, name), 'utf8'));
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: read('tokenizer.json'),
  tokenizerConfig: read('tokenizer_config.json'),
});

const lines = fs.readFileSync(textsPath, 'utf8').split('\n').filter((l) => l.length > 0);
const out = lines.map((line) => {
  const text = JSON.parse(line);
  return JSON.stringify({
    with: tokenizer.encode(text, { add_special_tokens: true }),
    without: tokenizer.encode(text, { add_special_tokens: false }),
  });
});
fs.writeFileSync(outPath, out.join('\n') + '\n');
