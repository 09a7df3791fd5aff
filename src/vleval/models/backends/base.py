"""What every inference backend offers. Backends know models, never benchmarks: they take
``Request`` objects (already-built prompt text + images) and return ``Prediction`` objects.

The contract: ``generate`` answers every request, in order; a request that fails yields a Prediction
with ``error`` set and the others still run. A backend whose batched call fails retries that batch
one request at a time through ``each_alone_on_failure`` (the one place of that policy), so one bad
request (an oversized image, an out-of-memory) cannot sink the others.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

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

    def close(self) -> None:
        """Free what the backend holds (threads, engine); the runner calls it when the model is done."""
        ...


Item = TypeVar("Item")
Result = TypeVar("Result")


def each_alone_on_failure(
    run: Callable[[list[Item]], list[Result]],
    batch: list[Item],
    failed: Callable[[Item, Exception], Result],
    *,
    on_batch_failure: Callable[[list[Item], Exception], None] | None = None,
) -> list[Result]:
    """``run(batch)``; when it raises, each item is run alone, and an item that fails alone becomes
    ``failed(item, exc)``. ``on_batch_failure`` sees the failed batch first (e.g. to shrink later
    batches after an out-of-memory)."""
    try:
        return run(batch)
    except Exception as exc:
        if len(batch) == 1:
            return [failed(batch[0], exc)]
        if on_batch_failure is not None:
            on_batch_failure(batch, exc)
    return [result for item in batch for result in each_alone_on_failure(run, [item], failed)]


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
