"""The checkpoint's tokenizer, offline, with transformers classes only (no remote code).

- Qwen2 family: ``Qwen2Tokenizer`` over ``tokenizer.json`` (or ``vocab.json`` + ``merges.txt``); no BOS.
- InternLM2 family: the repo ships a sentencepiece ``tokenizer.model`` and names the remote
  ``InternLM2Tokenizer``. We load it with our ``InternLM2Tokenizer``, a ``LlamaTokenizer`` with
  ``legacy=True``: text between special tokens is encoded chunk by chunk with sentencepiece's dummy
  prefix, as the slow InternLM2 tokenizer does; BOS ``<s>`` is prepended when ``add_bos_token``
  (default True; §4.7); decoding applies the remote tokenizer's unconditional clean-up. Running the checkpoint's
  own tokenizer code under current transformers is wrong anyway (docs/vllm-cpu.md).
- GPT-OSS (InternVL3.5-GPT-OSS): OpenAI's o200k_harmony ``tokenizer.json``, which its
  ``tokenizer_config.json`` names ``PreTrainedTokenizerFast``: loaded as is with that class (the file's
  own pre-tokenizer; ``Qwen2Tokenizer`` would impose Qwen2's); no BOS.
"""

from __future__ import annotations

import logging
import os
import re
import weakref
from pathlib import Path
from typing import Any

from transformers import LlamaTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast, Qwen2Tokenizer

from vleval.errors import DataCorruptError, DataMissingError, VlevalError
from vleval.models.internvl.template import IMG_CONTEXT
from vleval.models.metadata import check_checkpoint_metadata, read_metadata_json, read_metadata_object

IMAGE_TOKENS = ("<img>", "</img>", "<IMG_CONTEXT>")
REQUIRED_TOKENS = (*IMAGE_TOKENS, "<|im_start|>", "<|im_end|>")  # an internvl2_5 checkpoint's
# tokenizer_config.json's tokenizer_class of a tokenizer.json loaded as the file says (GPT-OSS's)
GENERIC_FAST_CLASS = "PreTrainedTokenizerFast"


class InternLM2Tokenizer(LlamaTokenizer):
    """InternLM2's sentencepiece tokenizer on transformers' maintained Llama tokenizer.

    Decoding reproduces the remote slow tokenizer (IV internvl_chat/internvl/model/internlm2/
    tokenization_internlm2.py::convert_tokens_to_string): it always runs ``clean_up_tokenization``
    (" ." -> ".", " ," -> ",", " 's" -> "'s", ...) whatever ``clean_up_tokenization_spaces`` says, and
    its prefix-space handling cancels out, so the text is ``clean_up(sentencepiece.decode(ids))``.

    Added tokens that are not special tokens (InternLM2's ``<|plugin|>``, ``<|interpreter|>``,
    ``<|action_start|>``, ``<|action_end|>``: flagged special in ``added_tokens_decoder`` but absent from
    ``additional_special_tokens``) survive ``skip_special_tokens=True`` and are joined to the text around
    them with single spaces, as the slow tokenizer's ``_decode`` of transformers 4.x does
    (``legacy_added_tokens``, ``spaces_between_special_tokens=True``); found by bench/parity_reference.py.
    """

    # An explicit __init__ keeps the Llama sentencepiece conversion (dummy prefix after special
    # tokens): transformers 5.19 (vLLM's pin) builds a subclass without one as a plain sentencepiece
    # tokenizer, so '<|im_start|>system' would encode 'system' without its leading '▁'.
    def __init__(self, *args, legacy: bool = True, add_bos_token: bool = True, **kwargs):
        super().__init__(*args, legacy=legacy, add_bos_token=add_bos_token, **kwargs)

    def _decode(
        self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces=None, **kwargs
    ):
        if not skip_special_tokens:
            return self._decode_run(token_ids, **kwargs)
        ids = [token_ids] if isinstance(token_ids, int) else list(token_ids)
        skipped = set(self.all_special_ids)
        kept_as_text = {i: t.content for i, t in self.added_tokens_decoder.items() if i not in skipped}
        pieces: list[str] = []
        run: list[int] = []
        for token_id in ids:
            if token_id in skipped:
                continue
            if token_id not in kept_as_text:
                run.append(token_id)
                continue
            if run:
                text = self._decode_run(run, **kwargs)
                if text:  # the reference drops an empty run before an added token, not at the end
                    pieces.append(text)
                run = []
            pieces.append(kept_as_text[token_id])
        if run:
            pieces.append(self._decode_run(run, **kwargs))
        return " ".join(pieces)

    def _decode_run(self, token_ids, **kwargs) -> str:
        ids = [token_ids] if isinstance(token_ids, int) else list(token_ids)
        sp = self._sentencepiece()
        if (
            sp is not None
            and all(0 <= i < sp.get_piece_size() for i in ids)
            and not set(ids) & set(self.all_special_ids)
        ):
            # sentencepiece itself, as the remote tokenizer: invalid byte-fallback sequences (a character cut
            # by max_new_tokens) decode as sentencepiece replaces them, not as the tokenizers library does
            text = sp.decode(ids)
        else:
            text = super()._decode(
                ids, skip_special_tokens=False, clean_up_tokenization_spaces=False, **kwargs
            )
        return self.clean_up_tokenization(text)

    def _sentencepiece(self):
        if "_vleval_sp_model" not in self.__dict__:
            vocab_file = getattr(self, "vocab_file", None)
            sp = None
            if vocab_file and Path(vocab_file).is_file():
                import sentencepiece

                sp = sentencepiece.SentencePieceProcessor(model_file=str(vocab_file))
            self.__dict__["_vleval_sp_model"] = sp
        return self.__dict__["_vleval_sp_model"]


def _tokenizer_config(model_dir: Path) -> dict:
    path = model_dir / "tokenizer_config.json"
    if not os.path.lexists(path):
        return {}
    return read_metadata_object(path)


def _check_tokenizer_json(path: Path) -> None:
    """A clear error for a ``tokenizer.json`` that is not a JSON object with a ``model``, before
    the tokenizers library reports it in its own words."""
    if not os.path.lexists(path):
        return
    raw = read_metadata_json(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("model"), dict):
        raise DataCorruptError(
            f"{path}: field 'model' is missing or not an object; re-download the checkpoint"
        )


def tokenizer_family(model_dir: Path) -> str:
    """'internlm2' for a sentencepiece tokenizer.model without a tokenizer.json; 'gpt_oss' for a
    tokenizer.json that tokenizer_config.json names ``PreTrainedTokenizerFast``; else 'qwen2'."""
    model_dir = Path(model_dir)
    if (model_dir / "tokenizer.json").is_file() and (
        _tokenizer_config(model_dir).get("tokenizer_class") == GENERIC_FAST_CLASS
    ):
        return "gpt_oss"
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
    check_checkpoint_metadata(model_dir)  # transformers and sentencepiece read the files unbounded
    family = tokenizer_family(model_dir)
    # transformers warns that the config names a class we do not use (InternLM2Tokenizer): expected.
    tf_logger = logging.getLogger("transformers.tokenization_utils_base")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    config = _tokenizer_config(model_dir)
    main_file = model_dir / ("tokenizer.model" if family == "internlm2" else "tokenizer.json")
    if family != "internlm2":
        _check_tokenizer_json(main_file)
    try:
        if family == "qwen2":
            tokenizer = Qwen2Tokenizer.from_pretrained(str(model_dir), local_files_only=True)
        elif family == "gpt_oss":
            tokenizer = PreTrainedTokenizerFast.from_pretrained(str(model_dir), local_files_only=True)
        else:
            tokenizer = InternLM2Tokenizer.from_pretrained(
                str(model_dir),
                local_files_only=True,
                legacy=True,
                add_bos_token=bool(config.get("add_bos_token", True)),
                add_eos_token=bool(config.get("add_eos_token", False)),
            )
    except VlevalError:
        raise
    except Exception as exc:  # the tokenizer libraries' own errors for files they cannot read
        files = main_file if main_file.is_file() else model_dir
        raise DataCorruptError(
            f"{files}: cannot be loaded as the {family} tokenizer ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); re-download the checkpoint"
        ) from None
    finally:
        tf_logger.setLevel(level)
    vocab = tokenizer.get_vocab()
    absent = [t for t in _required_tokens(family) if t not in vocab]
    if absent:
        raise DataCorruptError(
            f"{model_dir}: tokenizer lacks the InternVL special tokens {', '.join(absent)}; "
            "is this an InternVL2.5 checkpoint?"
        )
    return tokenizer


def _required_tokens(family: str) -> tuple[str, ...]:
    """The image tokens and the chat tokens of the template the tokenizer's checkpoint renders."""
    if family == "gpt_oss":
        from vleval.models.internvl.template import GPT_OSS

        return (*IMAGE_TOKENS, *GPT_OSS.chat_tokens)
    return REQUIRED_TOKENS


# A rendered query is mostly image context tokens (256 per tile: 1,536 of a 6-tile image's ~1,600
# tokens), which the tokenizer matches one by one in the string. Each run of them is tokenized as one
# and repeated instead; whether that gives a tokenizer's own ids is checked once per tokenizer.
_IMAGE_CONTEXT_RUN = re.compile(f"(?:{re.escape(IMG_CONTEXT)})+")
_RUNS_ENCODE_EXACTLY: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


def _encode_collapsed(tokenizer: PreTrainedTokenizerBase, query: str) -> list[int] | None:
    """The query's ids with each run of image context tokens tokenized once and expanded to its length;
    None when the tokenizer does not give one context id per run (then the caller tokenizes in full)."""
    runs = [len(match.group()) // len(IMG_CONTEXT) for match in _IMAGE_CONTEXT_RUN.finditer(query)]
    ids = tokenizer(_IMAGE_CONTEXT_RUN.sub(IMG_CONTEXT, query)).input_ids
    context_id = tokenizer.convert_tokens_to_ids(IMG_CONTEXT)
    if sum(1 for token in ids if token == context_id) != len(runs):
        return None
    expanded: list[int] = []
    lengths = iter(runs)
    for token in ids:
        if token == context_id:
            expanded.extend([context_id] * next(lengths))
        else:
            expanded.append(token)
    return expanded


def encode_query(tokenizer: PreTrainedTokenizerBase, query: str) -> list[int]:
    """``tokenizer(query).input_ids`` of a rendered query (``template.render_query``), the same ids
    faster: the first query with images a tokenizer sees is also tokenized in full and compared, and a
    tokenizer whose ids differ (none known) is always used in full."""
    if IMG_CONTEXT not in query:
        return tokenizer(query).input_ids
    exact = _RUNS_ENCODE_EXACTLY.get(tokenizer)
    if exact is False:
        return tokenizer(query).input_ids
    collapsed = _encode_collapsed(tokenizer, query)
    if exact is None:
        full = tokenizer(query).input_ids
        _RUNS_ENCODE_EXACTLY[tokenizer] = collapsed == full
        return full
    return collapsed if collapsed is not None else tokenizer(query).input_ids
