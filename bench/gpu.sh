#!/usr/bin/env bash
# The GPU check of issue 14, sized for about 8 minutes of one H200 (run it first on a GPU machine):
# 1B and 8B shapes, bf16, one-at-a-time vs hf batched (SDPA) vs hf batched + vision cache, on the
# MMStar-like and MMBench-like workloads; stores the achieved TFLOP/s in the calibration table that
# `vleval run --dry-run` estimates from. Results: bench/results-1B.json, bench/results-8B.json and the
# printed tables (record them in bench/RESULTS.md with date, hardware and this command).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
MODES=(one-at-a-time "hf batched sdpa" "hf batched sdpa+cache")
"$PY" bench/throughput.py --shape 1B --samples 64 --new-tokens 64 --modes "${MODES[@]}" --calibrate \
    --out bench/results-1B.json
"$PY" bench/throughput.py --shape 8B --samples 48 --new-tokens 64 --max-batch-size 32 --max-batch-tiles 256 \
    --modes "${MODES[@]}" --calibrate --out bench/results-8B.json
