#!/usr/bin/env bash
# Install vleval into ./.venv on a fresh machine.
#   ./install.sh        the package (enough for `vleval demo` and real evaluations)
#   ./install.sh test   plus the test tools (pytest, ruff, playwright) and the optional extras the tests
#                       exercise (Parquet, MLflow, W&B, inspect_ai, ppi-python)
# torch is installed first and pinned, so that nothing pulls a multi-GB CUDA build by accident.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q torch==2.13.0
if [ "${1:-}" = "test" ]; then
    .venv/bin/python -m pip install -q -e '.[test,export,mlflow,wandb,inspect]'
else
    .venv/bin/python -m pip install -q -e .
fi
echo "vleval installed in $(pwd)/.venv"
echo "activate it to call vleval (and torchrun) by name: source $(pwd)/.venv/bin/activate"
