"""Weights where people already have them: a registry name or a Hub repo id found in the Hugging Face
cache (the layout huggingface_hub writes), used in place, offline, without a second download."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from huggingface_hub import scan_cache_dir

from vleval.cli import main
from vleval.models.download import HF_CACHE_WHERE, local_status, locate_checkpoint
from vleval.models.registry import get_model
from vleval.runner.targets import resolve_model
from vleval.synthetic.benchmarks import make_benchmark_tsv
from vleval.synthetic.checkpoints import make_tiny_checkpoint

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def put_in_hub_cache(checkpoint: Path, cache: Path, repo_id: str) -> Path:
    """Lay ``checkpoint`` out as huggingface_hub's cache does: content-addressed ``blobs/``, the
    ``main`` ref, and a ``snapshots/<commit>/`` of relative links to the blobs."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    for file in sorted(p for p in checkpoint.rglob("*") if p.is_file()):
        data = file.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        link = snapshot / file.relative_to(checkpoint)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    return snapshot


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hf")
    tiny = make_tiny_checkpoint(root / "tiny", "qwen2", seed=0, shards=2)
    cache = root / "home" / "hub"
    put_in_hub_cache(tiny, cache, "OpenGVLab/InternVL2_5-1B")
    put_in_hub_cache(tiny, cache, "someone/my-finetune")
    shutil.rmtree(tiny)
    return cache


@pytest.fixture
def offline_cache(hub_cache, monkeypatch):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(hub_cache.parent))  # HF_HOME/hub, as huggingface_hub reads it
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return hub_cache


def test_the_layout_is_the_one_huggingface_hub_reads(hub_cache):
    repos = {r.repo_id: r for r in scan_cache_dir(hub_cache).repos}
    assert set(repos) == {"OpenGVLab/InternVL2_5-1B", "someone/my-finetune"}
    assert "config.json" in {
        f.file_name for f in next(iter(repos["OpenGVLab/InternVL2_5-1B"].revisions)).files
    }


def test_a_registry_name_missing_from_the_model_dir_is_found_in_the_cache(offline_cache, tmp_path):
    card = get_model("InternVL2_5-1B")
    path, where = locate_checkpoint(card, tmp_path / "pretrained")
    assert (
        where == HF_CACHE_WHERE
        and path == offline_cache / "models--OpenGVLab--InternVL2_5-1B" / "snapshots" / COMMIT
    )
    status = local_status(card, tmp_path / "pretrained")
    assert status.state == "ready" and status.size_bytes > 0
    # the model dir, when it holds the model, comes first
    (tmp_path / "pretrained" / "InternVL2_5-1B").mkdir(parents=True)
    assert locate_checkpoint(card, tmp_path / "pretrained")[1] == "model dir"


def test_a_hub_repo_id_resolves_to_the_cached_snapshot(offline_cache, tmp_path):
    registered = resolve_model("OpenGVLab/InternVL2_5-1B", tmp_path / "pretrained")
    assert registered.name == "InternVL2_5-1B" and registered.path.parent.name == "snapshots"
    other = resolve_model("someone/my-finetune", tmp_path / "pretrained")
    assert other.name == "my-finetune" and other.from_path and (other.path / "config.json").is_file()


def test_models_list_says_where_each_model_was_found(offline_cache, tmp_path, capsys):
    assert main(["models", "list", "--model-dir", str(tmp_path / "pretrained")]) == 0
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if x.startswith("InternVL2_5-1B ")]
    assert "ready" in line and f"{HF_CACHE_WHERE}: {offline_cache}" in line
    (missing,) = [x for x in out.splitlines() if x.startswith("InternVL2_5-8B ")]
    assert "missing" in missing


def test_run_uses_the_cached_weights_offline_without_downloading(offline_cache, tmp_path, capsys):
    make_benchmark_tsv("OCRBench", tmp_path / "data", n=2)
    model_dir = tmp_path / "pretrained"
    for model in ("InternVL2_5-1B", "OpenGVLab/InternVL2_5-1B"):
        code = main(["run", "--model", model, "--data", "OCRBench", "--data-dir", str(tmp_path / "data"),
                     "--skip-md5-check", "--model-dir", str(model_dir), "--work-dir", str(tmp_path / "w"),
                     "--dry-run"])  # fmt: skip
        out = capsys.readouterr().out
        assert code == 0, out
        assert f"InternVL2_5-1B ({offline_cache}" in out and "everything needed is present" in out
    assert main(["models", "download", "InternVL2_5-1B", "--model-dir", str(model_dir)]) == 0
    assert "already in the Hugging Face cache" in capsys.readouterr().out
    assert not model_dir.exists()  # no second copy


def test_a_repo_id_that_is_not_cached_says_how_to_get_it(offline_cache, tmp_path, capsys):
    code = main(
        ["run", "--model", "nobody/absent-model", "--data", "OCRBench", "--work-dir", str(tmp_path / "w")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "hf download nobody/absent-model" in err and "Traceback" not in err
