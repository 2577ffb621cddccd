#!/usr/bin/env bash
# Rebuild data/instructions, data/preferences and data/tasks from data/corpus (deterministic).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec "${PYTHON:-python3}" "$here/build_instructions.py"
