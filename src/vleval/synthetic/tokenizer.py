"""Tiny tokenizers trained on the fly, written in the file layout of the real InternVL2.5 repos.

- Qwen2 family (1B/4B/38B/78B): byte-level BPE shipped as ``vocab.json`` + ``merges.txt`` +
  ``tokenizer.json`` + ``tokenizer_config.json`` (Qwen2.5 layout, ``Qwen2Tokenizer``).
- InternLM2 family (2B/8B/26B): a sentencepiece BPE ``tokenizer.model`` (byte fallback, ids
  0/1/2 = ``<unk>``/``<s>``/``</s>``) + ``tokenizer_config.json`` naming ``InternLM2Tokenizer``.

- GPT-OSS (InternVL3.5-GPT-OSS): a byte-level BPE with o200k's pre-tokenizer, shipped as one
  ``tokenizer.json`` + ``tokenizer_config.json`` naming ``PreTrainedTokenizerFast`` (gpt-oss layout),
  with harmony's special tokens.

All carry the chat tokens (``<|im_start|>``, ``<|im_end|>``) and the InternVL image tokens
(``<img>``, ``</img>``, ``<IMG_CONTEXT>`` and the grounding tokens) as added special tokens, in the
order the real repos add them. Same corpus and settings -> byte-identical files.
"""

from __future__ import annotations

import json
from pathlib import Path

# Added by InternVL on top of the LLM's tokenizer, in this order (IV internvl_chat/internvl/train/constants.py).
INTERNVL_TOKENS = (
    "<img>",
    "</img>",
    "<IMG_CONTEXT>",
    "<quad>",
    "</quad>",
    "<ref>",
    "</ref>",
    "<box>",
    "</box>",
)
QWEN2_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
# InternLM2 ships these inside tokenizer.model (user-defined pieces).
INTERNLM2_CHAT_PIECES = (
    "<|plugin|>",
    "<|interpreter|>",
    "<|action_end|>",
    "<|action_start|>",
    "<|im_end|>",
    "<|im_start|>",
)

_CORPUS_LINES = (
    "Question: What is the main object in the image?",
    "Options: A. cat B. dog C. car D. tree",
    "Answer with the option's letter from the given choices directly.",
    "Answer the question using a single word or phrase.",
    "Please answer yes or no.",
    "Hint: Please answer the question and provide the correct option letter.",
    "The image shows blue squares and green circles on a white background.",
    "There are three red triangles, two yellow stars and one black line.",
    "Which color is the largest shape? How many circles are there?",
    "Final answer: B. The answer is 42 because the chart shows an increase.",
    "system user assistant image picture photo diagram chart table graph",
    "left right top bottom above below near far small large big tiny",
    "one two three four five six seven eight nine ten 0 1 2 3 4 5 6 7 8 9",
    "你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。",
    "请直接回答选项字母。请直接回答问题。",
    "Let's think step by step. First, look at the image. Then count the objects.",
    "It looks like a photo of a street with cars, people and buildings.",
)


def corpus() -> list[str]:
    """The fixed training text (repeated so merges have stable counts)."""
    return [line for _ in range(3) for line in _CORPUS_LINES]


def _dump_json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")


def _added_token_entry(content: str, special: bool = True) -> dict:
    return {
        "content": content,
        "lstrip": False,
        "normalized": False,
        "rstrip": False,
        "single_word": False,
        "special": special,
    }


def _trained_byte_level_bpe(split_pattern: str, vocab_size: int, texts: list[str], *, nfc: bool):
    """A byte-level BPE (``tokenizers``) with ``split_pattern`` as its pre-tokenizer's split, trained on
    ``texts``: the tiny tokenizers of every LLM family (``nfc``: Qwen2's NFC normalizer)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    if nfc:
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(split_pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def write_qwen2_tokenizer(out_dir: Path, *, vocab_size: int = 600) -> int:
    """Train a byte-level BPE with the Qwen2 pre-tokenizer; write the Qwen2.5 file set.

    Returns the number of tokens including the added ones (the LLM's vocab must be at least this).
    """
    # Qwen2's pre-tokenizer (transformers' Qwen2Tokenizer builds the same one).
    split_pattern = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
    tok = _trained_byte_level_bpe(split_pattern, vocab_size, corpus(), nfc=True)
    model = json.loads(tok.to_str())["model"]
    vocab: dict[str, int] = model["vocab"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]

    out_dir.mkdir(parents=True, exist_ok=True)
    _dump_json(out_dir / "vocab.json", dict(sorted(vocab.items(), key=lambda kv: kv[1])))
    (out_dir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")

    added = {}
    next_id = len(vocab)
    for content in QWEN2_SPECIALS + INTERNVL_TOKENS:
        added[content] = next_id
        next_id += 1
    tok.add_special_tokens(list(added))
    tok.save(str(out_dir / "tokenizer.json"))
    # Make the saved JSON independent of the tokenizers version's key order.
    _dump_json(out_dir / "tokenizer.json", json.loads((out_dir / "tokenizer.json").read_text("utf-8")))
    _dump_json(out_dir / "added_tokens.json", added)
    _dump_json(
        out_dir / "special_tokens_map.json",
        {
            "additional_special_tokens": ["<|im_start|>", "<|im_end|>", *INTERNVL_TOKENS],
            "eos_token": _added_token_entry("<|im_end|>"),
            "pad_token": _added_token_entry("<|endoftext|>"),
        },
    )
    _dump_json(
        out_dir / "tokenizer_config.json",
        {
            "add_prefix_space": False,
            "added_tokens_decoder": {str(i): _added_token_entry(c) for c, i in added.items()},
            "additional_special_tokens": ["<|im_start|>", "<|im_end|>", *INTERNVL_TOKENS],
            "bos_token": None,
            "chat_template": CHAT_TEMPLATE,
            "clean_up_tokenization_spaces": False,
            "eos_token": "<|im_end|>",
            "errors": "replace",
            "model_max_length": 8192,
            "pad_token": "<|endoftext|>",
            "split_special_tokens": False,
            "tokenizer_class": "Qwen2Tokenizer",
            "unk_token": None,
        },
    )
    return next_id


# o200k_harmony's special tokens that the harmony format uses, in id order (openai/gpt-oss-20b's
# tokenizer.json: <|startoftext|> 199998, <|endoftext|> 199999, <|return|> 200002, <|constrain|> 200003,
# <|channel|> 200005, <|start|> 200006, <|end|> 200007, <|message|> 200008, <|call|> 200012).
GPT_OSS_SPECIALS = (
    "<|startoftext|>",
    "<|endoftext|>",
    "<|return|>",
    "<|constrain|>",
    "<|channel|>",
    "<|start|>",
    "<|end|>",
    "<|message|>",
    "<|call|>",
)
# o200k's split pattern (tiktoken's o200k_base, which o200k_harmony extends).
_O200K_SPLIT = (
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def write_gpt_oss_tokenizer(out_dir: Path, *, vocab_size: int = 600) -> int:
    """Train a byte-level BPE with o200k's pre-tokenizer; write GPT-OSS's file set (``tokenizer.json``,
    ``tokenizer_config.json``, ``special_tokens_map.json``) with the harmony and InternVL tokens added.

    Returns the number of tokens including the added ones.
    """
    tok = _trained_byte_level_bpe(_O200K_SPLIT, vocab_size, corpus() + list(_GPT_OSS_CORPUS), nfc=False)
    base = tok.get_vocab_size()
    added = {content: base + i for i, content in enumerate(GPT_OSS_SPECIALS + INTERNVL_TOKENS)}
    tok.add_special_tokens(list(added))
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.save(str(out_dir / "tokenizer.json"))
    _dump_json(out_dir / "tokenizer.json", json.loads((out_dir / "tokenizer.json").read_text("utf-8")))
    _dump_json(
        out_dir / "special_tokens_map.json",
        {
            "bos_token": _added_token_entry("<|startoftext|>"),
            "eos_token": _added_token_entry("<|return|>"),
            "pad_token": _added_token_entry("<|endoftext|>"),
        },
    )
    _dump_json(
        out_dir / "tokenizer_config.json",
        {
            "added_tokens_decoder": {str(i): _added_token_entry(c) for c, i in added.items()},
            "bos_token": "<|startoftext|>",
            "clean_up_tokenization_spaces": False,
            "eos_token": "<|return|>",
            "model_input_names": ["input_ids", "attention_mask"],
            "model_max_length": 8192,
            "pad_token": "<|endoftext|>",
            "tokenizer_class": "PreTrainedTokenizerFast",
        },
    )
    return base + len(added)


# Words of the GPT-OSS system message and harmony headers, so the tiny vocabulary covers them.
_GPT_OSS_CORPUS = (
    "You are InternVL, a large language model trained by Shanghai AI Laboratory.",
    "Knowledge cutoff: 2024-06 Current date: 2025-08-06 Reasoning: low",
    "# Valid channels: final. Channel must be included for every message.",
    "system user assistant final analysis commentary",
)


def write_internlm2_tokenizer(out_dir: Path, *, vocab_size: int = 600) -> int:
    """Train a sentencepiece BPE model like InternLM2's; write ``tokenizer.model`` + configs.

    Returns the number of tokens including the added InternVL ones.
    """
    import io

    import sentencepiece as spm

    model_buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()),
        model_writer=model_buf,
        model_type="bpe",
        vocab_size=vocab_size,
        character_coverage=1.0,
        byte_fallback=True,
        split_digits=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        user_defined_symbols=list(INTERNLM2_CHAT_PIECES),
        num_threads=1,
        shuffle_input_sentence=False,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "tokenizer.model").write_bytes(model_buf.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=model_buf.getvalue())
    base = sp.get_piece_size()

    added = {content: base + i for i, content in enumerate(INTERNVL_TOKENS)}
    decoder = {
        "0": _added_token_entry("<unk>"),
        "1": _added_token_entry("<s>"),
        "2": _added_token_entry("</s>"),
    }
    for piece in INTERNLM2_CHAT_PIECES:
        decoder[str(sp.piece_to_id(piece))] = _added_token_entry(piece)
    decoder.update({str(i): _added_token_entry(c) for c, i in added.items()})
    _dump_json(out_dir / "added_tokens.json", added)
    _dump_json(
        out_dir / "special_tokens_map.json",
        {
            "additional_special_tokens": ["<|im_start|>", "<|im_end|>", *INTERNVL_TOKENS],
            "bos_token": _added_token_entry("<s>"),
            "eos_token": _added_token_entry("</s>"),
            "pad_token": _added_token_entry("</s>"),
            "unk_token": _added_token_entry("<unk>"),
        },
    )
    _dump_json(
        out_dir / "tokenizer_config.json",
        {
            "add_bos_token": True,
            "add_eos_token": False,
            "added_tokens_decoder": decoder,
            "additional_special_tokens": ["<|im_start|>", "<|im_end|>", *INTERNVL_TOKENS],
            "auto_map": {"AutoTokenizer": ["tokenization_internlm2.InternLM2Tokenizer", None]},
            "bos_token": "<s>",
            "chat_template": CHAT_TEMPLATE,
            "clean_up_tokenization_spaces": False,
            "eos_token": "</s>",
            "model_max_length": 8192,
            "pad_token": "</s>",
            "tokenizer_class": "InternLM2Tokenizer",
            "unk_token": "<unk>",
        },
    )
    return base + len(INTERNVL_TOKENS)


# The internvl2_5 conversation template as a Jinja chat template (for OpenAI-style servers; vleval's
# own backends render the prompt in vleval.models.internvl.template instead).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\n你是书生·万象，英文名是InternVL，是由上海人工智能实验室、清华大学及多家合作单位联合开发的多模态大语言模型。<|im_end|>\\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}"
    "{% if item['type'] == 'image' %}{{ '<image>\\n' }}{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
