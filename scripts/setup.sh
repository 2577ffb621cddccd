#!/usr/bin/env bash
# Installs what building and testing Substrate needs on a fresh Debian 12 machine.
# Idempotent: installs only what is missing. Needs root (or sudo) for apt-get.
set -euo pipefail

need_apt=()
command -v dotnet >/dev/null || { echo "error: the .NET 10 SDK is required (dotnet not on PATH)" >&2; exit 1; }
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
# llama.cpp (LLamaSharp's native backend, used by interop tests) links against OpenMP.
ldconfig -p 2>/dev/null | grep -q 'libgomp.so.1 ' || need_apt+=(libgomp1)
# An independent float64 NumPy Llama checks our logits from the saved safetensors (tests/Substrate.Models.Tests/Reference).
/usr/bin/python3 -c 'import numpy' 2>/dev/null || need_apt+=(python3-numpy)
# Data-parallel training runs over Open MPI (mpirun, libmpi.so.40); its tests launch two ranks.
command -v mpirun >/dev/null || need_apt+=(openmpi-bin)
[ -f /usr/include/x86_64-linux-gnu/mpi/mpi.h ] || [ -f /usr/lib/x86_64-linux-gnu/openmpi/include/mpi.h ] || need_apt+=(libopenmpi-dev)

if [ ${#need_apt[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${need_apt[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Reference files the tests compare against (tokenizer vocabularies of other libraries);
# fetched into .cache/, never committed.
if [ -f scripts/fetch-test-references.sh ]; then
  bash scripts/fetch-test-references.sh || echo "setup: test references could not be fetched; those tests will skip" >&2
fi
