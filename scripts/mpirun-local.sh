#!/usr/bin/env bash
# mpirun with the settings Substrate's tests and single-machine runs use (the one place they live):
#   --oversubscribe       more ranks than cores is allowed (2 ranks on a 2-core CI machine, each with --threads 1);
#   --bind-to none        libtorch's threads are not pinned to one core per rank;
#   btl self,vader,tcp    shared memory between ranks on one machine, TCP between machines;
#   btl_vader_single_copy_mechanism none
#                         containers often forbid the cross-process memory copy (CMA) vader tries first.
# Open MPI refuses to run as root unless told; CI runs as root, so the override is set here, for this command only.
# Usage: scripts/mpirun-local.sh -np 2 [--hostfile hosts] dotnet substrate.dll pretrain …
set -euo pipefail
command -v mpirun >/dev/null || { echo "error: mpirun not found (install Open MPI: openmpi-bin libopenmpi-dev, or run scripts/setup.sh)" >&2; exit 127; }
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
exec mpirun --oversubscribe --bind-to none --mca btl self,vader,tcp --mca btl_vader_single_copy_mechanism none "$@"
