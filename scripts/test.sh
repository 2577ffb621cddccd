#!/usr/bin/env bash
# Sets up what the tests need, runs every test project of the solution and prints one summary line:
#   Tests: N passed, N failed, N skipped
set -uo pipefail
cd "$(dirname "$0")/.."

# Set-up first (idempotent: installs only what is missing, fetches the tests' reference files once).
bash scripts/setup.sh || exit 1

log=$(mktemp)
dotnet test Substrate.slnx --nologo "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# The hand-written kernels run 16 lanes wide where AVX-512 is native and 8 wide elsewhere (AVX2 machines);
# on an AVX-512 machine, run their tests again with the runtime's AVX-512 off so the 8-lane path stays tested.
# Skipped when the caller passes its own --filter (two filters would not combine).
if [ "$status" -eq 0 ] && [[ " $* " != *" --filter"* ]] && grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
  for project in Substrate.Nn.Tests Substrate.Training.Tests; do
    DOTNET_EnableAVX512=0 dotnet test "tests/$project" --nologo --no-build "$@" \
      --filter "FullyQualifiedName~Fused|FullyQualifiedName~FastExp" 2>&1 | tee -a "$log"
    [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  done
fi
# The quantized decoder's integer dot products have AVX2/VNNI paths and a scalar fallback: run its tests on the fallback too.
if [ "$status" -eq 0 ] && [[ " $* " != *" --filter"* ]]; then
  DOTNET_EnableAVX2=0 dotnet test tests/Substrate.Interop.Tests --nologo --no-build "$@" \
    --filter "FullyQualifiedName~QuantizedDecoder|FullyQualifiedName~BlockKernel|FullyQualifiedName~QuantizedBatch" 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
  # The multi-row product's 256-bit tiles without VNNI (maddubs) — on an AVX-512 machine they run only with it off.
  DOTNET_EnableAVX512=0 DOTNET_EnableAVXVNNI=0 dotnet test tests/Substrate.Interop.Tests --nologo --no-build "$@" \
    --filter "FullyQualifiedName~QuantizedBatch" 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
fi

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
