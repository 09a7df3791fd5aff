"""What every inference backend offers. Backends know models, never benchmarks: they take
``Request`` objects (already-built prompt text + images) and return ``Prediction`` objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from vleval.errors import VlevalError
from vleval.types import Prediction, Request


@runtime_checkable
class Backend(Protocol):
    def generate(self, requests: list[Request]) -> list[Prediction]:
        """One prediction per request, in order. A request that fails yields a Prediction with
        ``error`` set; the others still run."""
        ...

    def describe(self) -> dict[str, Any]:
        """name, dtype, device, model_dir (and backend-specific details) for run.json."""
        ...


# backend name -> (module, class, pip extra that provides it). Import lazily: vllm is optional.
BACKENDS: dict[str, tuple[str, str, str | None]] = {
    "hf": ("vleval.models.backends.hf", "HFBackend", None),
    "vllm": ("vleval.models.backends.vllm", "VLLMBackend", "vllm"),
    # openai: a factory taking (model_dir, api_base=..., ...); the checkpoint dir is optional there.
    "openai": ("vleval.models.backends.openai_api", "openai_backend_for", None),
}


def load_backend(name: str, model_dir: Path, **kwargs: Any) -> Backend:
    """Instantiate backend ``name`` for the checkpoint in ``model_dir``."""
    import importlib

    if name not in BACKENDS:
        raise VlevalError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    module_name, class_name, extra = BACKENDS[name]
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
    except (ImportError, AttributeError) as exc:
        hint = f"install it with: pip install 'vleval[{extra}]'" if extra else "this vleval install lacks it"
        raise VlevalError(f"backend {name!r} is not available ({exc}); {hint}") from None
    return cls(Path(model_dir), **kwargs)
