"""The LLM an InternVL checkpoint was built on (e.g. Qwen2.5-7B-Instruct, InternLM2.5-7B-chat), for
MMStar's multi-modal leakage (``vleval run --mmstar-gain --llm-base DIR``): text-only requests,
answered with the model's own chat template, greedy, as the MMStar paper evaluates LLMs.

Loaded natively by transformers: ``trust_remote_code=False`` everywhere, local files only, so an
architecture transformers does not ship (a folder that needs its own ``modeling_*.py``) is refused
with a clear error rather than run. The backend contract is ``vleval.models.backends.base``'s.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from vleval.errors import VlevalError
from vleval.models.engine import default_device
from vleval.types import Prediction, Request


class BaseLLMBackend:
    """Text-only generation with a causal LM loaded natively from ``folder``."""

    def __init__(self, folder: Path, *, dtype: str | None = None, device: str | None = None) -> None:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

        self.folder = Path(folder)
        if not (self.folder / "config.json").is_file():
            raise VlevalError(
                f"--llm-base {self.folder}: no config.json there; pass the LLM's checkpoint folder."
            )
        try:
            config = AutoConfig.from_pretrained(self.folder, trust_remote_code=False, local_files_only=True)
        except (ValueError, OSError, KeyError) as exc:
            raise VlevalError(
                f"--llm-base {self.folder}: transformers cannot load this architecture natively ({exc}); "
                "vleval runs no checkpoint code. Use the chat model the checkpoint was built on "
                "(Qwen2/Qwen2.5, InternLM2 converted to Llama, ...)."
            ) from None
        self.dtype = getattr(torch, dtype or "bfloat16")
        self.device = default_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(
            self.folder, trust_remote_code=False, local_files_only=True
        )
        if not getattr(self.tokenizer, "chat_template", None):
            raise VlevalError(
                f"--llm-base {self.folder}: the tokenizer has no chat template; use the chat model."
            )
        self.model = AutoModelForCausalLM.from_pretrained(
            self.folder, config=config, dtype=self.dtype, trust_remote_code=False, local_files_only=True
        ).to(self.device)
        self.model.eval()
        self.name = getattr(config, "_name_or_path", None) or self.folder.name

    def generate(self, requests: list[Request]) -> list[Prediction]:
        return [self._one(r) for r in requests]

    def _one(self, request: Request) -> Prediction:
        import torch

        started = time.monotonic()
        if request.images:
            return Prediction(request.dataset, request.index, "", error="the LLM base takes text only")
        try:
            messages = [{"role": "user", "content": request.text}]
            prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            ids = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
            with torch.no_grad():
                out = self.model.generate(
                    **ids, max_new_tokens=request.generation.max_new_tokens, do_sample=False, num_beams=1,
                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                )  # fmt: skip
            new = out[0, ids["input_ids"].shape[1] :]
            text = self.tokenizer.decode(new, skip_special_tokens=True).strip()
            cut = len(new) >= request.generation.max_new_tokens
        except Exception as exc:  # one bad request fails alone (the backend contract)
            return Prediction(request.dataset, request.index, "", error=f"{type(exc).__name__} {exc}")
        return Prediction(
            request.dataset, request.index, text, raw=text, seconds=time.monotonic() - started, prompt=prompt,
            hit_token_limit=cut,
        )  # fmt: skip

    def describe(self) -> dict[str, Any]:
        return {
            "name": "llm-base",
            "model_dir": str(self.folder),
            "dtype": str(self.dtype),
            "device": self.device,
        }

    def close(self) -> None:
        self.model = None
