"""The checkpoint's tokenizer, offline, with transformers classes only (no remote code).

- Qwen2 family: ``Qwen2Tokenizer`` over ``tokenizer.json`` (or ``vocab.json`` + ``merges.txt``); no BOS.
- InternLM2 family: the repo ships a sentencepiece ``tokenizer.model`` and names the remote
  ``InternLM2Tokenizer``. We load it with our ``InternLM2Tokenizer``, a ``LlamaTokenizer`` with
  ``legacy=True``: text between special tokens is encoded chunk by chunk with sentencepiece's dummy
  prefix, as the slow InternLM2 tokenizer does; BOS ``<s>`` is prepended when ``add_bos_token``
  (default True; §4.7); decoding applies the remote tokenizer's unconditional clean-up. Running the checkpoint's
  own tokenizer code under current transformers is wrong anyway (shared/notes/vllm-cpu.md §4).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from transformers import LlamaTokenizer, PreTrainedTokenizerBase, Qwen2Tokenizer

from vleval.errors import DataCorruptError, DataMissingError

REQUIRED_TOKENS = ("<img>", "</img>", "<IMG_CONTEXT>", "<|im_start|>", "<|im_end|>")


class InternLM2Tokenizer(LlamaTokenizer):
    """InternLM2's sentencepiece tokenizer on transformers' maintained Llama tokenizer.

    Decoding reproduces the remote slow tokenizer (IV internvl_chat/internvl/model/internlm2/
    tokenization_internlm2.py::convert_tokens_to_string): it always runs ``clean_up_tokenization``
    (" ." -> ".", " ," -> ",", " 's" -> "'s", ...) whatever ``clean_up_tokenization_spaces`` says, and
    its prefix-space handling cancels out, so the text is ``clean_up(sentencepiece.decode(ids))``.
    """

    def _decode(
        self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces=None, **kwargs
    ):
        text = super()._decode(
            token_ids, skip_special_tokens=skip_special_tokens, clean_up_tokenization_spaces=False, **kwargs
        )
        return self.clean_up_tokenization(text)


def _tokenizer_config(model_dir: Path) -> dict:
    path = model_dir / "tokenizer_config.json"
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataCorruptError(f"{path}: not valid JSON ({exc})") from None


def tokenizer_family(model_dir: Path) -> str:
    """'internlm2' for a sentencepiece tokenizer.model without a tokenizer.json, else 'qwen2'."""
    model_dir = Path(model_dir)
    if (model_dir / "tokenizer.json").is_file() or (model_dir / "vocab.json").is_file():
        return "qwen2"
    if (model_dir / "tokenizer.model").is_file():
        return "internlm2"
    raise DataMissingError(
        f"no tokenizer files in {model_dir} (expected tokenizer.json / vocab.json+merges.txt for Qwen2 "
        "or tokenizer.model for InternLM2); re-download the checkpoint"
    )


def load_tokenizer(model_dir: Path) -> PreTrainedTokenizerBase:
    model_dir = Path(model_dir)
    family = tokenizer_family(model_dir)
    # transformers warns that the config names a class we do not use (InternLM2Tokenizer): expected.
    tf_logger = logging.getLogger("transformers.tokenization_utils_base")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    try:
        if family == "qwen2":
            tokenizer = Qwen2Tokenizer.from_pretrained(str(model_dir), local_files_only=True)
        else:
            config = _tokenizer_config(model_dir)
            tokenizer = InternLM2Tokenizer.from_pretrained(
                str(model_dir),
                local_files_only=True,
                legacy=True,
                add_bos_token=bool(config.get("add_bos_token", True)),
                add_eos_token=bool(config.get("add_eos_token", False)),
            )
    finally:
        tf_logger.setLevel(level)
    vocab = tokenizer.get_vocab()
    absent = [t for t in REQUIRED_TOKENS if t not in vocab]
    if absent:
        raise DataCorruptError(
            f"{model_dir}: tokenizer lacks the InternVL special tokens {', '.join(absent)}; "
            "is this an InternVL2.5 checkpoint?"
        )
    return tokenizer
