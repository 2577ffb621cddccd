// Reference renderings of a tokenizer_config.json's chat_template, as transformers.js's apply_chat_template makes
// them: @huggingface/jinja (the Jinja it runs) with the variables it passes — messages, add_generation_prompt,
// tools and documents (null when not given), and the special tokens of the config unwrapped from AddedToken objects.
//
// Usage: node reference-chat-template.cjs <nodeDeps> <tokenizer_config.json> <cases.json> <out.json>
//   nodeDeps: the npm prefix scripts/fetch-test-references.sh installed @huggingface/jinja into
//   cases.json: [{"messages": [...], "tools": [...] | null, "add_generation_prompt": bool, "now": ISO time?}, ...]
//     "now" fixes the clock strftime_now reads (times are UTC here, local time in the C# test)
//   out.json: [{"text": "..."} | {"error": "..."}, ...], one per case
'use strict';
process.env.TZ = 'UTC';
const fs = require('fs');
const path = require('path');

const [nodeDeps, configPath, casesPath, outPath] = process.argv.slice(2);
const { Template } = require(path.join(nodeDeps, 'node_modules', '@huggingface', 'jinja'));
const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
const template = new Template(config.chat_template);

// transformers.js's SPECIAL_TOKEN_ATTRIBUTES and getToken: a string, or an AddedToken object's content.
const special = {};
for (const key of ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token']) {
  const item = config[key];
  if (!item) continue;
  special[key] = typeof item === 'object' ? item.content : item;
}

const cases = JSON.parse(fs.readFileSync(casesPath, 'utf8'));
const RealDate = Date;
const out = cases.map((c) => {
  globalThis.Date = c.now
    ? class extends RealDate { constructor(...a) { super(...(a.length ? a : [RealDate.parse(c.now)])); } }
    : RealDate;
  try {
    return {
      text: template.render({
        messages: c.messages, add_generation_prompt: c.add_generation_prompt, tools: c.tools ?? null, documents: null, ...special,
      }),
    };
  } catch (e) {
    return { error: String(e.message || e) };
  }
});
fs.writeFileSync(outPath, JSON.stringify(out));
