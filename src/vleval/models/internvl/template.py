"""The InternVL chat templates and image-token expansion: the exact string that gets tokenized.

Facts from ``docs/model-protocol.md``: the ``internvl2_5`` conversation template
(OpenGVLab/InternVL 2410d1db, ``internvl_chat/internvl/conversation.py``, MPT separator style) and
``InternVLChatModel.chat`` (``internvl_chat/internvl/model/internvl_chat/modeling_internvl_chat.py``),
which expands each ``<image>`` placeholder into ``<img>`` + 256 context tokens per tile + ``</img>``.
Every Qwen2, InternLM2, Qwen3 and Qwen3-MoE checkpoint uses this template. InternVL3.5-GPT-OSS names
``internvl3_5_gpt_oss`` in its config (``GPT_OSS``, below): OpenAI's harmony format, rendered by the
same single-turn rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True)
class ChatTemplate:
    """One conversation template of the reference, as data: what ``chat`` renders and where it stops.

    A single-turn query is ``system_template(system_message) + separator``, then the user role, the text
    and the separator, then the bare assistant role (MPT and MPT_TWO render one turn alike: MPT_TWO's
    ``sep2`` only closes a finished assistant message). ``stop_token``: the reference's ``eos_token_id``
    (``sep.strip()``, or ``sep2.strip()`` when the template has one); the answer is the decoded text up to
    it, stripped. ``keeps_special_tokens``: ``chat`` decodes with ``skip_special_tokens=False``."""

    name: str
    system_template: str
    system_message: str
    user_role: str
    assistant_role: str
    separator: str
    stop_token: str
    keeps_special_tokens: bool = False
    # the chat tokens the tokenizer must know (besides the image tokens)
    chat_tokens: tuple[str, ...] = ()


INTERNVL2_5 = ChatTemplate(
    name="internvl2_5",
    system_template=SYSTEM_TEMPLATE,
    system_message=SYSTEM_MESSAGE,
    user_role=USER_ROLE,
    assistant_role=ASSISTANT_ROLE,
    separator=SEPARATOR,
    stop_token=EOS_TOKEN,
    chat_tokens=("<|im_start|>", "<|im_end|>"),
)

# InternVL3.5-GPT-OSS (OpenGVLab/InternVL 2410d1db, internvl_chat_gpt_oss/internvl/model/internvl_chat/
# conversation.py, ``internvl3_5_gpt_oss``, MPT_TWO: sep ``<|end|>``, sep2 ``<|return|>``); its ``chat``
# (modeling_internvl_chat.py there) stops on ``sep2.strip()`` and decodes with ``skip_special_tokens=False``,
# so the answer keeps the harmony channel header the model writes (``<|channel|>final<|message|>``).
GPT_OSS = ChatTemplate(
    name="internvl3_5_gpt_oss",
    system_template="<|start|>system<|message|>{system_message}",
    system_message=(
        "You are InternVL, a large language model trained by Shanghai AI Laboratory.\n"
        "Knowledge cutoff: 2024-06\nCurrent date: 2025-08-06\n\nReasoning: low\n\n"
        "# Valid channels: final. Channel must be included for every message."
    ),
    user_role="<|start|>user<|message|>",
    assistant_role="<|start|>assistant",
    separator="<|end|>",
    stop_token="<|return|>",
    keeps_special_tokens=True,
    chat_tokens=("<|start|>", "<|message|>", "<|end|>", "<|return|>"),
)

TEMPLATES = {t.name: t for t in (INTERNVL2_5, GPT_OSS)}


def template_named(name: str | None) -> ChatTemplate:
    """The template a checkpoint's ``config.json`` names; ``internvl2_5`` for any other name (every
    released checkpoint but the GPT-OSS one, whatever its config says, renders this one in vleval)."""
    return TEMPLATES.get(name or "", INTERNVL2_5)


def render_conversation(
    text: str, system_message: str | None = None, template: ChatTemplate = INTERNVL2_5
) -> str:
    """The single-turn query before image expansion (system + sep, user turn + sep, then the bare
    assistant role). An empty user turn renders as its role alone, as the reference's ``if message:``
    test does."""
    system = template.system_template.format(
        system_message=template.system_message if system_message is None else system_message
    )
    user = template.user_role + text + template.separator if text else template.user_role
    return system + template.separator + user + template.assistant_role


def answer_text(decoded: str, template: ChatTemplate = INTERNVL2_5) -> str:
    """The reference's answer from the decoded new tokens: the text before the stop token, stripped."""
    return decoded.split(template.stop_token)[0].strip()


def image_token_block(n_tiles: int) -> str:
    """What one image's ``<image>`` placeholder becomes: its tiles (thumbnail included) x 256 tokens."""
    return IMG_START + IMG_CONTEXT * (NUM_IMAGE_TOKENS * n_tiles) + IMG_END


def render_query(
    text: str,
    tiles_per_image: Sequence[int],
    system_message: str | None = None,
    template: ChatTemplate = INTERNVL2_5,
) -> str:
    """The full templated string the tokenizer sees.

    ``text`` is the user turn with one ``<image>`` per image. If there are images but no placeholder,
    ``<image>\\n`` is prepended, as ``InternVLChatModel.chat`` does. Each image, in order, replaces the
    first remaining ``<image>`` of the whole query; a text with fewer placeholders than images keeps
    the extra images' tokens out of the string (the model then fails the token-count check), exactly
    like the reference.
    """
    if tiles_per_image and IMAGE_PLACEHOLDER not in text:
        text = IMAGE_PLACEHOLDER + "\n" + text
    query = render_conversation(text, system_message, template)
    for n_tiles in tiles_per_image:
        query = query.replace(IMAGE_PLACEHOLDER, image_token_block(n_tiles), 1)
    return query


def readable_query(query: str) -> str:
    """``query`` with each image-token block shortened to ``<image>`` (as the reference prints it), for
    logs and saved prompts that a person reads."""
    return query.replace(IMG_CONTEXT, "").replace(IMG_START + IMG_END, IMAGE_PLACEHOLDER)
