#!/usr/bin/env bash
# Runs every test project of the solution and prints one summary line:
#   Tests: N passed, N failed, N skipped
set -uo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
dotnet test Substrate.slnx --nologo "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# dotnet test prints one "Failed: a, Passed: b, Skipped: c" line per test assembly.
sed 's/\x1b\[[0-9;]*m//g' "$log" | awk '
  /Failed:[ ]*[0-9]+, Passed:[ ]*[0-9]+, Skipped:[ ]*[0-9]+/ {
    for (i = 1; i <= NF; i++) {
      if ($i == "Failed:")  { v = $(i+1); gsub(/,/, "", v); failed += v }
      if ($i == "Passed:")  { v = $(i+1); gsub(/,/, "", v); passed += v }
      if ($i == "Skipped:") { v = $(i+1); gsub(/,/, "", v); skipped += v }
    }
  }
  END { printf "Tests: %d passed, %d failed, %d skipped\n", passed, failed, skipped }'
rm -f "$log"
exit "$status"
