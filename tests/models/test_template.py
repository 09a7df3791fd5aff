"""The templated query is what the tokenizer sees: it must match the reference character for character
(internvl25.md §4.7)."""

from __future__ import annotations

from vleval.models.internvl.template import (
    EOS_TOKEN,
    NUM_IMAGE_TOKENS,
    SYSTEM_MESSAGE,
    readable_query,
    render_query,
)

SYSTEM = "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。"
HEAD = "<|im_start|>system\n" + SYSTEM + "<|im_end|>\n<|im_start|>user\n"
TAIL = "<|im_end|>\n<|im_start|>assistant\n"


def block(n_tiles: int) -> str:
    return "<img>" + "<IMG_CONTEXT>" * (256 * n_tiles) + "</img>"


def test_constants():
    assert SYSTEM_MESSAGE == SYSTEM
    assert NUM_IMAGE_TOKENS == 256
    assert EOS_TOKEN == "<|im_end|>"


def test_single_image_query():
    query = render_query("<image>\nWhat is shown?", [7])
    assert query == HEAD + block(7) + "\nWhat is shown?" + TAIL
    assert query.count("<IMG_CONTEXT>") == 7 * 256


def test_multi_image_placeholders_filled_in_order():
    text = "Image-1: <image>\nImage-2: <image>\nCompare <image 1> and <image 2>."
    query = render_query(text, [5, 1])
    expected = (
        HEAD + "Image-1: " + block(5) + "\nImage-2: " + block(1) + "\nCompare <image 1> and <image 2>." + TAIL
    )
    assert query == expected


def test_text_only_query():
    assert render_query("Hello", []) == HEAD + "Hello" + TAIL


def test_missing_placeholder_is_prepended_like_the_model_chat():
    assert render_query("Describe.", [1]) == HEAD + block(1) + "\nDescribe." + TAIL


def test_custom_system_message():
    assert render_query("Hi", [], system_message="Be brief.") == (
        "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi" + TAIL
    )


def test_readable_query_collapses_image_tokens():
    assert readable_query(render_query("<image>\nQ", [3])) == HEAD + "<image>\nQ" + TAIL


# InternVL3.5-GPT-OSS: ``internvl3_5_gpt_oss`` (IV 2410d1db internvl_chat_gpt_oss/internvl/model/internvl_chat/
# conversation.py), written out here character for character.
GPT_OSS_SYSTEM = (
    "You are InternVL, a large language model trained by Shanghai AI Laboratory.\n"
    "Knowledge cutoff: 2024-06\n"
    "Current date: 2025-08-06\n"
    "\n"
    "Reasoning: low\n"
    "\n"
    "# Valid channels: final. Channel must be included for every message."
)


def test_the_gpt_oss_template_renders_harmony():
    from vleval.models.internvl.template import GPT_OSS, answer_text, template_named

    head = "<|start|>system<|message|>" + GPT_OSS_SYSTEM + "<|end|><|start|>user<|message|>"
    assert render_query("Describe.", [2], template=GPT_OSS) == (
        head + block(2) + "\nDescribe.<|end|><|start|>assistant"
    )
    assert render_query("Hi", [], system_message="Be brief.", template=GPT_OSS) == (
        "<|start|>system<|message|>Be brief.<|end|><|start|>user<|message|>Hi<|end|><|start|>assistant"
    )
    # the reference's chat: eos = sep2.strip(), skip_special_tokens=False, split on it, strip
    assert GPT_OSS.stop_token == "<|return|>" and GPT_OSS.keeps_special_tokens
    assert answer_text("<|channel|>final<|message|> B <|return|>", GPT_OSS) == "<|channel|>final<|message|> B"
    assert template_named("internvl3_5_gpt_oss") is GPT_OSS
    assert template_named("internvl2_5").stop_token == EOS_TOKEN
    assert template_named(None) is template_named("Hermes-2") is template_named("internvl2_5")
    # InternVL2.5's template is unchanged by the second one
    assert render_query("Hello", []) == HEAD + "Hello" + TAIL
