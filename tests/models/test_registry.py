"""All 14 InternVL2.5 checkpoints with the metadata a user plans downloads and GPUs with."""

from __future__ import annotations

import pytest

from vleval.errors import VlevalError
from vleval.models.registry import MODELS, check_supported, get_model


def test_fourteen_models_plain_and_mpo():
    sizes = ["1B", "2B", "4B", "8B", "26B", "38B", "78B"]
    expected = [f"InternVL2_5-{size}{suffix}" for size in sizes for suffix in ("", "-MPO")]
    assert list(MODELS)[:14] == expected
    assert [card.mpo for card in list(MODELS.values())[:14]] == [False, True] * 7
    assert {card.generation for card in list(MODELS.values())[:14]} == {"2.5"}


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


def test_internvl3_and_3_5_every_released_checkpoint():
    """InternVL's README and model cards: 7 InternVL3 sizes (-Instruct, -Pretrained, -hf but for 9B) and
    9 InternVL3.5 sizes (-Instruct, -MPO, -Pretrained, -HF; the GPT-OSS preview only with -HF)."""
    v3 = [c.name for c in MODELS.values() if c.generation == "3"]
    v35 = [c.name for c in MODELS.values() if c.generation == "3.5"]
    assert len(v3) == 7 * 4 - 1 and "InternVL3-9B-hf" not in v3
    assert len(v35) == 8 * 5 + 2 + 9  # and one -Thinking entry per size, as VLMEvalKit registers them
    assert {"InternVL3-9B-Instruct", "InternVL3-78B-Pretrained", "InternVL3-8B-hf"} <= set(v3)
    assert {
        "InternVL3_5-30B-A3B-MPO",
        "InternVL3_5-241B-A28B-HF",
        "InternVL3_5-GPT-OSS-20B-A4B-Preview",
    } <= set(v35)
    assert all(not c.mpo for c in MODELS.values() if c.generation != "2.5")  # VK sets no use_mpo_prompt


@pytest.mark.parametrize(
    ("name", "family", "base_llm", "layers", "gpus"),
    [
        ("InternVL3-1B", "qwen2", "Qwen2.5-0.5B", 24, 1),
        ("InternVL3-9B", "internlm3", "internlm3-8b-instruct", 48, 1),
        ("InternVL3-78B", "qwen2", "Qwen2.5-72B", 80, 8),
        ("InternVL3_5-8B", "qwen3", "Qwen3-8B", 36, 1),
        ("InternVL3_5-30B-A3B", "qwen3_moe", "Qwen3-30B-A3B", 48, 8),
        ("InternVL3_5-241B-A28B", "qwen3_moe", "Qwen3-235B-A22B", 94, 8),
        ("InternVL3_5-GPT-OSS-20B-A4B-Preview", "gpt_oss", "gpt-oss-20b", 24, 1),
    ],
)
def test_internvl3_cards_name_their_llm(name, family, base_llm, layers, gpus):
    card = get_model(name)
    assert card.repo_id == f"OpenGVLab/{name}"
    assert (card.llm_family, card.base_llm, card.llm_layers, card.gpus_per_task) == (
        family,
        base_llm,
        layers,
        gpus,
    )
    assert card.source


@pytest.mark.parametrize(
    ("name", "params", "gb"),
    [("InternVL3-1B", "0.9B", 1.8), ("InternVL3-9B", "9.1B", 18.3), ("InternVL3-78B", "78.4B", 152.0)],
)
def test_internvl3_sizes_from_its_evaluation_guide(name, params, gb):
    card = get_model(name)
    assert (card.params, card.download_gb) == (params, gb)


def test_readme_spelling_is_an_alias():
    assert get_model("InternVL3.5-8B").name == "InternVL3_5-8B"
    assert get_model("internvl3.5-20b-a4b").name == "InternVL3_5-GPT-OSS-20B-A4B-Preview"


@pytest.mark.parametrize(
    ("name", "words"),
    [("InternVL3-9B", "InternLM3")],  # GPT-OSS loads since issue 23 (test_loadable_cards_pass)
)
def test_unloadable_cards_are_refused_in_one_line(name, words):
    with pytest.raises(VlevalError) as info:
        check_supported(get_model(name))
    assert words in str(info.value) and "\n" not in str(info.value)


def test_loadable_cards_pass():
    for name in (
        "InternVL2_5-8B",
        "InternVL3-8B",
        "InternVL3_5-8B",
        "InternVL3_5-30B-A3B",
        "InternVL3-8B-hf",  # the -HF layout: transformers' InternVLForConditionalGeneration
        "InternVL3_5-8B-HF",
        "InternVL3_5-GPT-OSS-20B-A4B-Preview",  # transformers' GptOssForCausalLM (issue 23)
        "InternVL3_5-GPT-OSS-20B-A4B-Preview-HF",
        "InternVL3_5-8B-Thinking",
    ):
        check_supported(get_model(name))


def test_the_reference_budget_of_the_241b_entry():
    """VLMEvalKit e8e78f05 registers InternVL3_5-241B-A28B with max_new_tokens=16384; every other
    InternVL3/3.5 entry keeps the wrapper's default (4096, the benchmark card's budget)."""
    assert get_model("InternVL3_5-241B-A28B").max_new_tokens == 16384
    # -HF cards are no VLMEvalKit entries: each takes its twin's budget (the test below)
    others = [
        c for c in MODELS.values() if c.max_new_tokens is not None and not c.thinking and not c.hf_format
    ]
    assert [c.name for c in others] == ["InternVL3_5-241B-A28B"]


def test_an_hf_card_takes_the_budget_of_its_original_twin():
    """The -HF repo holds the twin's weights and the reference never loads that layout, so vleval
    evaluates it with the twin's VLMEvalKit entry: InternVL3_5-241B-A28B-HF generates up to 16384 tokens
    as InternVL3_5-241B-A28B does (e8e78f05 config.py), every other -HF card the benchmark's budget. The
    released stages (-Instruct, -MPO, -Pretrained) are other weights without an entry: no budget."""
    hf_cards = [c for c in MODELS.values() if c.hf_format]
    assert len(hf_cards) == 15
    for card in hf_cards:
        twin = get_model(card.name.removesuffix("-HF").removesuffix("-hf"))
        assert (card.max_new_tokens, card.repo_id) == (twin.max_new_tokens, twin.repo_id + card.name[-3:])
    assert get_model("InternVL3_5-241B-A28B-HF").max_new_tokens == 16384
    assert get_model("InternVL3_5-241B-A28B-MPO").max_new_tokens is None


def test_thinking_entries_are_the_same_checkpoint_with_the_long_budget():
    """VLMEvalKit e8e78f05: InternVL3_5-<size>-Thinking = model_path OpenGVLab/InternVL3_5-<size>,
    max_new_tokens=2**16."""
    card = get_model("InternVL3.5-8B-Thinking")
    assert (card.name, card.repo_id, card.thinking) == (
        "InternVL3_5-8B-Thinking",
        "OpenGVLab/InternVL3_5-8B",
        True,
    )
    assert card.max_new_tokens == 65536 and card.llm_family == "qwen3"
    thinking = [c.name for c in MODELS.values() if c.thinking]
    assert len(thinking) == 9 and "InternVL3_5-GPT-OSS-20B-A4B-Preview-Thinking" in thinking
