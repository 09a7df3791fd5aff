"""The vLLM backend refuses, in one line and before vLLM is imported, an LLM family its plugin does not
register (InternVL3.5's Qwen3 dense and MoE), instead of failing inside the engine's start-up."""

from __future__ import annotations

import pytest

from vleval.errors import VlevalError
from vleval.models.backends import vllm as vllm_backend
from vleval.models.backends.vllm import VLLMBackend
from vleval.synthetic.checkpoints import make_tiny_checkpoint


@pytest.mark.parametrize("family", ["qwen3", "qwen3_moe"])
def test_qwen3_checkpoints_are_refused_with_the_way_out(family, tmp_path, monkeypatch):
    def no_engine():
        raise AssertionError("vLLM was imported before the refusal")

    monkeypatch.setattr(vllm_backend, "import_vllm", no_engine)
    path = make_tiny_checkpoint(tmp_path / family, family)
    with pytest.raises(VlevalError, match=f"has a {family} LLM.*use --backend hf") as info:
        VLLMBackend(path)
    assert "\n" not in str(info.value)
