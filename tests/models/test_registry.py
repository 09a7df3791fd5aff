"""All 14 InternVL2.5 checkpoints with the metadata a user plans downloads and GPUs with."""

from __future__ import annotations

import pytest

from vleval.errors import VlevalError
from vleval.models.registry import MODELS, get_model


def test_fourteen_models_plain_and_mpo():
    sizes = ["1B", "2B", "4B", "8B", "26B", "38B", "78B"]
    expected = [f"InternVL2_5-{size}{suffix}" for size in sizes for suffix in ("", "-MPO")]
    assert list(MODELS) == expected
    assert [card.mpo for card in MODELS.values()] == [False, True] * 7


@pytest.mark.parametrize(
    ("size", "family", "params", "gb", "gpus", "layers"),
    [
        ("1B", "qwen2", "0.9B", 1.8, 1, 24),
        ("2B", "internlm2", "2.2B", 4.2, 1, 24),
        ("4B", "qwen2", "4.2B", 7.8, 1, 36),
        ("8B", "internlm2", "8.1B", 16.0, 1, 32),
        ("26B", "internlm2", "25.5B", 48.0, 1, 48),
        ("38B", "qwen2", "40.1B", 75.0, 8, 64),
        ("78B", "qwen2", "76.3B", 143.0, 8, 80),
    ],
)
def test_metadata(size, family, params, gb, gpus, layers):
    for suffix in ("", "-MPO"):
        card = MODELS[f"InternVL2_5-{size}{suffix}"]
        assert card.repo_id == f"OpenGVLab/InternVL2_5-{size}{suffix}"
        assert (card.llm_family, card.params, card.download_gb) == (family, params, gb)
        assert (card.gpus_per_task, card.llm_layers) == (gpus, layers)
        assert card.aliases == (f"InternVL2-5-{size}{suffix}",)


@pytest.mark.parametrize(
    "spelling",
    ["InternVL2_5-8B", "InternVL2-5-8B", "internvl2_5-8b", "OpenGVLab/InternVL2_5-8B", " InternVL2-5-8b"],
)
def test_get_model_accepts_aliases_case_and_repo_id(spelling):
    assert get_model(spelling).name == "InternVL2_5-8B"


def test_get_model_mpo_alias():
    assert get_model("InternVL2-5-78B-MPO").name == "InternVL2_5-78B-MPO"


def test_unknown_model_names_close_matches_and_all_models():
    with pytest.raises(VlevalError) as info:
        get_model("InternVL2_5-8")
    message = str(info.value)
    assert "Did you mean" in message and "InternVL2_5-8B" in message
    assert all(name in message for name in MODELS)
