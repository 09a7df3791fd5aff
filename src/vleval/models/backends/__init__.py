"""Inference backends: ``hf`` (batched transformers, native loading), ``vllm``, ``openai``."""

from vleval.models.backends.base import BACKENDS, Backend, load_backend

__all__ = ["BACKENDS", "Backend", "load_backend"]
