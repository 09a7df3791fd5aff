"""The InternLM2 tokenizer under the class name the checkpoints ask for, without their code.

InternLM2 checkpoints ship a sentencepiece ``tokenizer.model`` and name ``InternLM2Tokenizer`` (remote
code) in ``tokenizer_config.json``. That code is silently wrong under current transformers (it drops
``\\n`` pieces and decodes with literal ``▁``; docs/vllm-cpu.md). This is the hf backend's
tokenizer (``vleval.models.internvl.tokenizer.InternLM2Tokenizer``, as ``load_tokenizer`` builds it)
with ``load_tokenizer``'s settings as defaults, since ``AutoTokenizer`` passes only what
``tokenizer_config.json`` holds: ``legacy=True`` (each text chunk between special tokens gets
sentencepiece's dummy prefix, as the slow InternLM2 tokenizer does) and BOS prepended
(``add_bos_token=True``, IV ``tokenization_internlm2.py``). Registered under that name, it lets
``AutoTokenizer`` (vLLM, its OpenAI server) tokenize exactly like vleval.
"""

from __future__ import annotations

from typing import Any

from vleval.models.internvl.tokenizer import InternLM2Tokenizer as _VlevalInternLM2Tokenizer


class InternLM2Tokenizer(_VlevalInternLM2Tokenizer):
    def __init__(self, *args: Any, legacy: bool = True, add_bos_token: bool = True, **kwargs: Any) -> None:
        kwargs.setdefault("add_eos_token", False)
        super().__init__(*args, legacy=legacy, add_bos_token=add_bos_token, **kwargs)
