#!/usr/bin/env bash
# GPU acceptance check of fsar-bench (see benchmarks/gpu_check.py): extraction (bf16,
# channels-last), the four methods trained and evaluated briefly, their records against the
# CPU's, one --finetune step with activation checkpointing, a torchrun (NCCL) evaluation.
# Usage: benchmarks/gpu_check.sh [--device cuda|cpu] [--workdir DIR] [--json FILE]
# Meant to finish in under 8 minutes on one GPU; prints throughput and peak GPU memory.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python}"
if [ -x "$here/../.venv/bin/python" ] && [ -z "${PYTHON:-}" ]; then
    python="$here/../.venv/bin/python"
fi
exec "$python" "$here/gpu_check.py" "$@"
