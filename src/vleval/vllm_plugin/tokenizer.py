"""The InternLM2 tokenizer under the class name the checkpoints ask for, without their code.

InternLM2 checkpoints ship a sentencepiece ``tokenizer.model`` and name ``InternLM2Tokenizer`` (remote
code) in ``tokenizer_config.json``. That code is silently wrong under current transformers (it drops
``\\n`` pieces and decodes with literal ``▁``; shared/notes/vllm-cpu.md §4). This class is what
``vleval.models.internvl.tokenizer.load_tokenizer`` uses for the hf backend: transformers'
``LlamaTokenizer`` over the same ``tokenizer.model`` with ``legacy=True`` (each text chunk between
special tokens gets sentencepiece's dummy prefix, as the slow InternLM2 tokenizer does) and BOS
prepended by default (``add_bos_token=True``, IV ``tokenization_internlm2.py``). Registering it
under that name lets ``AutoTokenizer`` (vLLM, its OpenAI server) tokenize exactly like vleval.
"""

from __future__ import annotations

from typing import Any

from transformers import LlamaTokenizer


class InternLM2Tokenizer(LlamaTokenizer):
    def __init__(self, *args: Any, legacy: bool = True, add_bos_token: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("add_eos_token", False)
        super().__init__(*args, legacy=legacy, add_bos_token=add_bos_token, **kwargs)
