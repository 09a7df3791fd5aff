"""A checkpoint is what its name says, or its results say they are not (issue 18 item 4)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from vleval.models.registry import get_model
from vleval.models.verify import SYNTHETIC_MARKER, parameter_count, verify_checkpoint
from vleval.runner.targets import resolve_model
from vleval.synthetic.checkpoints import make_tiny_checkpoint


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("verify") / "tiny", "qwen2")


def _header_only_shard(path: Path, n_params: int) -> None:
    """A safetensors file whose header declares ``n_params`` parameters (no data: only headers are read)."""
    header = json.dumps(
        {"w": {"dtype": "BF16", "shape": [n_params], "data_offsets": [0, 2 * n_params]}}
    ).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header)


def test_a_random_checkpoint_copied_under_a_registered_name_is_unverified(tiny, tmp_path):
    copy = shutil.copytree(tiny, tmp_path / "pretrained" / "InternVL2_5-1B")
    target = resolve_model("InternVL2_5-1B", tmp_path / "pretrained")
    assert target.path == copy
    check = verify_checkpoint(copy, target.card)
    assert check.status == "unverified" and check.synthetic
    problems = "; ".join(check.problems)
    assert "LLM hidden size 128 (the registry's InternVL2_5-1B: 896)" in problems
    assert "parameters (the registry's InternVL2_5-1B: 0.9B)" in problems
    assert "UNVERIFIED checkpoint" in check.line("InternVL2_5-1B")
    (copy / SYNTHETIC_MARKER).unlink()  # without vleval's marker the structure still gives it away
    assert verify_checkpoint(copy, target.card).status == "unverified"


def test_a_checkpoint_with_the_registered_structure_is_structure_verified(tiny, tmp_path):
    folder = tmp_path / "InternVL2_5-1B"
    folder.mkdir()
    config = json.loads((tiny / "config.json").read_text())
    config["llm_config"].update(num_hidden_layers=24, hidden_size=896, num_attention_heads=14,
                                num_key_value_heads=2, vocab_size=151674)  # fmt: skip
    config["vision_config"].update(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16)
    (folder / "config.json").write_text(json.dumps(config))
    _header_only_shard(folder / "model.safetensors", 938_000_000)
    assert parameter_count(folder) == 938_000_000
    check = verify_checkpoint(folder, get_model("InternVL2_5-1B"))
    assert check.status == "structure verified" and not check.problems and not check.synthetic
    assert "parameter count" in check.checked and "vocabulary size" in check.checked


def test_an_unreadable_header_is_unverified_with_a_reason_and_bounded(tiny, tmp_path):
    folder = shutil.copytree(tiny, tmp_path / "InternVL2_5-1B")
    shard = next(folder.glob("*.safetensors"))
    shard.write_bytes((1 << 62).to_bytes(8, "little") + b"{}")  # a header size no file has
    check = verify_checkpoint(folder, get_model("InternVL2_5-1B"))
    assert check.status == "unverified" and "cannot be checked" in check.problems[0]


def test_a_folder_under_its_own_name_is_unregistered(tiny):
    check = verify_checkpoint(tiny, resolve_model(str(tiny), None).card)
    assert check.status == "unregistered" and check.synthetic
