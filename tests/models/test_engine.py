"""The engine helpers the backends and the local judge share (``vleval.models.engine``)."""

from __future__ import annotations

import ast
import importlib.util
import json
from pathlib import Path

import pytest

import vleval
from vleval.errors import VlevalError
from vleval.models import engine
from vleval.synthetic.judge_checkpoint import make_tiny_judge

SRC = Path(vleval.__file__).parent


def _imported(module_file: Path) -> set[str]:
    """Every vleval module a source file imports, at the top or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(module_file.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("vleval"):
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("vleval"))
    return names


def test_the_local_judge_uses_the_shared_helpers_not_a_backend_or_the_runner():
    imported = _imported(SRC / "judge" / "local.py")
    assert "vleval.models.engine" in imported
    assert not {m for m in imported if m.startswith(("vleval.models.backends", "vleval.runner"))}
    for backend in ("hf.py", "vllm.py"):
        assert "vleval.models.engine" in _imported(SRC / "models" / "backends" / backend), backend


def test_the_helpers_are_a_leaf():
    assert _imported(SRC / "models" / "engine.py") <= {"vleval.errors", "vleval.models.metadata"}


@pytest.mark.parametrize(
    ("heads", "gpus", "size"), [(32, 8, 8), (28, 8, 7), (14, 4, 2), (7, 4, 1), (16, 0, 1), (0, 3, 1)]
)
def test_tensor_parallel_size_divides_the_attention_heads(heads, gpus, size):
    assert engine.tensor_parallel_size(heads, gpus) == size


def test_a_given_device_wins_and_none_means_the_visible_gpus_else_the_cpu():
    import torch

    assert engine.default_device("cuda:1") == "cuda:1"
    assert engine.default_device(None) == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_without_vllm_the_error_names_the_extra_to_install():
    assert not engine.vllm_available()
    with pytest.raises(VlevalError, match=r"vleval\[vllm\]"):
        engine.import_vllm()


def test_the_checkpoint_digest_follows_config_and_weights_not_the_folder(tmp_path: Path):
    folder = make_tiny_judge(tmp_path / "a")
    digest = engine.checkpoint_digest(folder)
    assert len(digest) == 64 and engine.checkpoint_digest(folder) == digest
    moved = folder.rename(tmp_path / "b")
    assert engine.checkpoint_digest(moved) == digest  # a folder's name is not its identity
    config = json.loads((moved / "config.json").read_text())
    (moved / "config.json").write_text(json.dumps({**config, "rms_norm_eps": 1e-5}))
    assert engine.checkpoint_digest(moved) != digest
