"""Broken checkpoint metadata gives one clear line naming the file and the field (issue 10, item 13):
config.json, model.safetensors.index.json, tokenizer.json / tokenizer.model, tokenizer_config.json."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from vleval.errors import DataCorruptError
from vleval.models.internvl.loader import load_internvl
from vleval.models.internvl.tokenizer import load_tokenizer
from vleval.synthetic.checkpoints import make_tiny_checkpoint

INDEX = "model.safetensors.index.json"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("metadata")
    return {family: make_tiny_checkpoint(root / family, family) for family in ("qwen2", "internlm2")}


def _copy(checkpoints: dict[str, Path], family: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(checkpoints[family], tmp_path / family))


def _edit_json(path: Path, edit: Callable[[object], object]) -> None:
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def _one_line_error(call: Callable[[], object], pattern: str) -> str:
    with pytest.raises(DataCorruptError) as raised:
        call()
    message = str(raised.value)
    assert "\n" not in message
    assert re.search(pattern, message), message
    return message


def _first_to(value: object) -> Callable[[dict], dict]:
    def edit(index: dict) -> dict:
        first = next(iter(index["weight_map"]))
        index["weight_map"][first] = value
        return index

    return edit


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (_first_to(5), r"index\.json: weight_map\['[^']+'\] is 5, expected the file name of a shard"),
        (_first_to(["a"]), r"index\.json: weight_map\['[^']+'\] is \['a'\]"),
        (_first_to("../../etc/passwd"), r"weight_map\['[^']+'\] is '\.\./\.\./etc/passwd'"),
        (lambda index: [index], r"index\.json: 'weight_map' is missing or not an object"),
        (lambda index: {"weight_map": "model.safetensors"}, r"'weight_map' is missing or not an object"),
    ],
)
def test_a_broken_weight_index(edit, pattern: str, checkpoints, tmp_path: Path) -> None:
    path = _copy(checkpoints, "qwen2", tmp_path)
    _edit_json(path / INDEX, edit)
    _one_line_error(lambda: load_internvl(path), pattern)


def test_an_index_that_is_not_json(checkpoints, tmp_path: Path) -> None:
    path = _copy(checkpoints, "qwen2", tmp_path)
    (path / INDEX).write_bytes(b"\xff\xfe garbage")
    _one_line_error(lambda: load_internvl(path), r"index\.json: not valid JSON")


@pytest.mark.parametrize(
    ("edit", "pattern"),
    [
        (lambda config: [config], r"config\.json: holds a JSON list, not an object"),
        (lambda config: "text", r"config\.json: holds a JSON str, not an object"),
        (
            lambda config: {**config, "llm_config": {k: v for k, v in config["llm_config"].items() if k != "hidden_size"}},
            r"config\.json: llm_config\.hidden_size is missing",
        ),
        (
            lambda config: {**config, "llm_config": {**config["llm_config"], "num_hidden_layers": "two"}},
            r"config\.json: llm_config\.num_hidden_layers is 'two', expected an integer",
        ),
        (
            lambda config: {**config, "llm_config": {**config["llm_config"], "architectures": "Qwen2ForCausalLM"}},
            None,  # a bare string instead of a list is read as the one architecture
        ),
        (
            lambda config: {**config, "llm_config": {**config["llm_config"], "rope_scaling": "dynamic"}},
            r"config\.json: llm_config\.rope_scaling is 'dynamic', expected an object or null",
        ),
        (
            lambda config: {**config, "vision_config": {**config["vision_config"], "image_size": [448]}},
            r"config\.json: vision_config\.image_size is \[448\], expected an integer",
        ),
        (
            lambda config: {**config, "downsample_ratio": "half"},
            r"config\.json: downsample_ratio is 'half', expected a number",
        ),
    ],
)  # fmt: skip
def test_a_broken_config(edit, pattern: str | None, checkpoints, tmp_path: Path) -> None:
    path = _copy(checkpoints, "qwen2", tmp_path)
    _edit_json(path / "config.json", edit)
    if pattern is None:
        assert load_internvl(path) is not None
    else:
        _one_line_error(lambda: load_internvl(path), pattern)


def test_a_corrupt_tokenizer_json(checkpoints, tmp_path: Path) -> None:
    path = _copy(checkpoints, "qwen2", tmp_path)
    tokenizer_json = path / "tokenizer.json"
    original = tokenizer_json.read_text()
    tokenizer_json.write_text(original[: len(original) // 2])
    _one_line_error(lambda: load_tokenizer(path), r"tokenizer\.json: not valid JSON")
    tokenizer_json.write_text(json.dumps([1, 2, 3]))
    _one_line_error(lambda: load_tokenizer(path), r"tokenizer\.json: field 'model' is missing")
    _edit_json(tokenizer_json, lambda _: {**json.loads(original), "model": {"type": "BPE", "vocab": 7}})
    _one_line_error(lambda: load_tokenizer(path), r"tokenizer\.json: cannot be loaded as the qwen2 tokenizer")


def test_a_corrupt_sentencepiece_model(checkpoints, tmp_path: Path) -> None:
    path = _copy(checkpoints, "internlm2", tmp_path)
    (path / "tokenizer.model").write_bytes(b"not a sentencepiece model" * 10)
    _one_line_error(
        lambda: load_tokenizer(path), r"tokenizer\.model: cannot be loaded as the internlm2 tokenizer"
    )


def test_a_tokenizer_config_that_is_not_an_object(checkpoints, tmp_path: Path) -> None:
    path = _copy(checkpoints, "internlm2", tmp_path)
    (path / "tokenizer_config.json").write_text("[]")
    _one_line_error(lambda: load_tokenizer(path), r"tokenizer_config\.json: holds a JSON list")
