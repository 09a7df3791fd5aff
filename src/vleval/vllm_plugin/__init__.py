"""vLLM general plugin: makes vLLM load original-layout InternVL2.5 checkpoints without remote code.

Installed with vleval (entry point ``vllm.general_plugins`` -> ``vleval.vllm_plugin:register`` in
pyproject.toml); vLLM calls ``register()`` in its API server, engine-core and worker processes. It
registers vleval's ``internvl_chat`` / ``intern_vit_6b`` / ``internlm2`` config classes and the
InternLM2 tokenizer with transformers' Auto classes, so ``AutoConfig`` and ``AutoTokenizer`` resolve
the checkpoint with ``trust_remote_code=False``. An explicitly registered class also wins over a
checkpoint's ``auto_map`` when a user passes ``trust_remote_code=True``.

This module imports only transformers (it runs in every vLLM process); nothing from a checkpoint runs.
"""

from __future__ import annotations


def register() -> None:
    """Register the config and tokenizer classes. Safe to call many times, in any process."""
    from transformers import AutoConfig, AutoTokenizer

    from vleval.vllm_plugin.configs import InternLM2Config, InternVisionConfig, InternVLChatConfig
    from vleval.vllm_plugin.tokenizer import InternLM2Tokenizer

    for config_class in (InternVLChatConfig, InternVisionConfig, InternLM2Config):
        AutoConfig.register(config_class.model_type, config_class, exist_ok=True)
    AutoTokenizer.register(InternLM2Config, tokenizer_class=InternLM2Tokenizer, exist_ok=True)
