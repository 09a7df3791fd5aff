"""The InternVL2.5 chat template and image-token expansion: the exact string that gets tokenized.

Facts from ``docs/model-protocol.md``: the ``internvl2_5`` conversation template
(OpenGVLab/InternVL 2410d1db, ``internvl_chat/internvl/conversation.py``, MPT separator style) and
``InternVLChatModel.chat`` (``internvl_chat/internvl/model/internvl_chat/modeling_internvl_chat.py``),
which expands each ``<image>`` placeholder into ``<img>`` + 256 context tokens per tile + ``</img>``.
Both LLM families (Qwen2 and InternLM2) use this same template.
"""

from __future__ import annotations

from collections.abc import Sequence

# The template's default system message; InternVL2.5 configs carry none of their own, and VLMEvalKit
# never overrides it for these models (internvl25.md §4.7).
SYSTEM_MESSAGE = "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。"

IMAGE_PLACEHOLDER = "<image>"
IMG_START = "<img>"
IMG_END = "</img>"
IMG_CONTEXT = "<IMG_CONTEXT>"
# (448 // 14) ** 2 * 0.5 ** 2: one 448x448 tile -> 32x32 patches -> pixel shuffle 0.5 -> 16x16 tokens.
NUM_IMAGE_TOKENS = 256

SYSTEM_TEMPLATE = "<|im_start|>system\n{system_message}"
USER_ROLE = "<|im_start|>user\n"
ASSISTANT_ROLE = "<|im_start|>assistant\n"
SEPARATOR = "<|im_end|>\n"
# The model stops on the separator without its newline (``chat`` converts ``sep.strip()`` to an id).
EOS_TOKEN = "<|im_end|>"


def render_conversation(text: str, system_message: str | None = None) -> str:
    """The single-turn query before image expansion (MPT style: system + sep, user turn + sep,
    then the bare assistant role). An empty user turn renders as its role alone, as the reference's
    ``if message:`` test does."""
    system = SYSTEM_TEMPLATE.format(
        system_message=SYSTEM_MESSAGE if system_message is None else system_message
    )
    user = USER_ROLE + text + SEPARATOR if text else USER_ROLE
    return system + SEPARATOR + user + ASSISTANT_ROLE


def image_token_block(n_tiles: int) -> str:
    """What one image's ``<image>`` placeholder becomes: its tiles (thumbnail included) x 256 tokens."""
    return IMG_START + IMG_CONTEXT * (NUM_IMAGE_TOKENS * n_tiles) + IMG_END


def render_query(text: str, tiles_per_image: Sequence[int], system_message: str | None = None) -> str:
    """The full templated string the tokenizer sees.

    ``text`` is the user turn with one ``<image>`` per image. If there are images but no placeholder,
    ``<image>\\n`` is prepended, as ``InternVLChatModel.chat`` does. Each image, in order, replaces the
    first remaining ``<image>`` of the whole query; a text with fewer placeholders than images keeps
    the extra images' tokens out of the string (the model then fails the token-count check), exactly
    like the reference.
    """
    if tiles_per_image and IMAGE_PLACEHOLDER not in text:
        text = IMAGE_PLACEHOLDER + "\n" + text
    query = render_conversation(text, system_message)
    for n_tiles in tiles_per_image:
        query = query.replace(IMAGE_PLACEHOLDER, image_token_block(n_tiles), 1)
    return query


def readable_query(query: str) -> str:
    """``query`` with each image-token block shortened to ``<image>`` (as the reference prints it), for
    logs and saved prompts that a person reads."""
    return query.replace(IMG_CONTEXT, "").replace(IMG_START + IMG_END, IMAGE_PLACEHOLDER)
