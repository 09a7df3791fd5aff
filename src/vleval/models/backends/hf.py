"""Batched greedy generation with our native InternVL2.5 module (backend ``hf``).

Per request, as the reference's ``chat``: tiles (``prepare_pixels``), the templated query with
``<IMG_CONTEXT>`` blocks (``render_query``), tokenizer, greedy decoding with ``eos = <|im_end|>``,
``decode(skip_special_tokens=True).split('<|im_end|>')[0].strip()``, then the request's
post-processing. Differences from the reference are throughput only:

- several requests share one forward (left padding, positions from the attention mask so each row
  sees 0..n-1 as when alone); a batch holds at most ``max_batch_size`` requests and
  ``max_batch_tiles`` tiles, so memory follows the image load;
- images are tiled in a thread pool ahead of the model, so the model never waits for PIL;
- a request that fails (undecodable image, out of memory) gets a Prediction with ``error`` and the
  rest continue; a failed batch is retried one request at a time.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vleval.models.backends.base import each_alone_on_failure
from vleval.models.internvl.loader import load_internvl, resolve_device
from vleval.models.internvl.tokenizer import load_tokenizer
from vleval.types import Prediction, Request

logger = logging.getLogger(__name__)


def _is_out_of_memory(exc: Exception) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


@dataclass
class _Prepared:
    position: int
    request: Request
    query: str | None = None
    pixels: torch.Tensor | None = None
    tiles: tuple[int, ...] = ()
    error: str | None = None

    @property
    def n_tiles(self) -> int:
        return sum(self.tiles)


def _prepare(position: int, request: Request) -> _Prepared:
    """Tiling and templating for one request (runs in a worker thread)."""
    from vleval.models.internvl.preprocessing import prepare_pixels
    from vleval.models.internvl.template import render_query

    try:
        pixels, tiles = prepare_pixels(request.images, request.max_tiles, request.upscale_first_image)
        query = render_query(request.text, tiles)
    except Exception as exc:  # one bad image must not stop the run; the error is kept per sample
        return _Prepared(position, request, error=f"image preprocessing failed: {type(exc).__name__}: {exc}")
    return _Prepared(position, request, query=query, pixels=pixels, tiles=tuple(tiles))


class HFBackend:
    name = "hf"

    def __init__(
        self,
        model_dir: Path,
        *,
        dtype: str | None = None,
        device: str | None = None,
        max_batch_tiles: int = 64,
        max_batch_size: int = 16,
        device_map: dict | None = None,
        workers: int = 4,
        model: Any = None,
        tokenizer: Any = None,
        ignore_eos: bool = False,
    ):
        """``model``/``tokenizer`` may be passed in (already loaded) to share them between backends.
        ``ignore_eos`` forbids ``<|im_end|>`` until ``max_new_tokens`` are generated (throughput
        benchmarks only: a fixed amount of work per sample)."""
        from vleval.models.internvl.template import EOS_TOKEN

        self.model_dir = Path(model_dir)
        self.device = resolve_device(device)
        self.model = (
            model
            if model is not None
            else load_internvl(self.model_dir, dtype=dtype, device=self.device, device_map=device_map)
        )
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(self.model_dir)
        self.max_batch_tiles = max(1, max_batch_tiles)
        self.max_batch_size = max(1, max_batch_size)
        self.workers = max(1, workers)
        self.ignore_eos = ignore_eos
        self._executor: ThreadPoolExecutor | None = None
        self.eos_token_id = self.tokenizer.convert_tokens_to_ids(EOS_TOKEN)
        pad = self.tokenizer.pad_token_id
        self.pad_token_id = pad if pad is not None else self.eos_token_id
        self.dtype = next(self.model.parameters()).dtype

    def _pool(self) -> ThreadPoolExecutor:
        """One tiling pool for the backend's life (idle threads cost nothing; calls do not pay a start)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="vleval-tiles")
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": self.device,
            "model_dir": str(self.model_dir),
            "max_batch_tiles": self.max_batch_tiles,
            "max_batch_size": self.max_batch_size,
        }

    # ------------------------------------------------------------------------------------------
    def generate(self, requests: list[Request]) -> list[Prediction]:
        results: list[Prediction | None] = [None] * len(requests)
        for batch in self._batches(requests):
            for item in [b for b in batch if b.error]:
                results[item.position] = self._failed(item, item.error)
            ready = [b for b in batch if not b.error]
            if ready:
                for item, prediction in zip(ready, self._run_batch(ready), strict=True):
                    results[item.position] = prediction
        return [r for r in results if r is not None]

    def _batches(self, requests: list[Request]) -> Iterator[list[_Prepared]]:
        """Prepared requests in order, grouped under the size and tile limits; preprocessing runs
        a bounded window ahead of the consumer."""
        window = 2 * self.max_batch_size + self.workers
        pool = self._pool()
        pending: deque[Future[_Prepared]] = deque()
        upcoming = iter(enumerate(requests))

        def refill() -> None:
            while len(pending) < window:
                nxt = next(upcoming, None)
                if nxt is None:
                    return
                pending.append(pool.submit(_prepare, *nxt))

        refill()
        while pending:
            # Take a window of prepared requests and batch them by tile count, so rows of a batch
            # have similar lengths and little padding; results are put back in order by position.
            group = []
            while pending and len(group) < window:
                group.append(pending.popleft().result())
                refill()
            group.sort(key=lambda item: (item.n_tiles, item.position))
            batch: list[_Prepared] = []
            tiles = 0
            for item in group:
                too_many = len(batch) >= self.max_batch_size or tiles + item.n_tiles > self.max_batch_tiles
                if batch and too_many:
                    yield batch
                    batch, tiles = [], 0
                batch.append(item)
                tiles += item.n_tiles
            if batch:
                yield batch

    def _run_batch(self, batch: list[_Prepared]) -> list[Prediction]:
        return each_alone_on_failure(
            self._predict_batch,
            batch,
            lambda item, exc: self._failed(item, f"generation failed: {type(exc).__name__}: {exc}"),
            on_batch_failure=self._after_batch_failure,
        )

    def _predict_batch(self, batch: list[_Prepared]) -> list[Prediction]:
        start = time.perf_counter()
        texts = self._generate_texts(batch)
        seconds = (time.perf_counter() - start) / len(batch)
        return [
            self._prediction(item, raw, seconds, cut) for item, (raw, cut) in zip(batch, texts, strict=True)
        ]

    def _after_batch_failure(self, batch: list[_Prepared], exc: Exception) -> None:
        """OOM or a bad sample: the batch is retried one request at a time; after an out-of-memory,
        later batches are at most half the size that did not fit."""
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if _is_out_of_memory(exc):
            self.max_batch_tiles = max(1, sum(item.n_tiles for item in batch) // 2)
            self.max_batch_size = max(1, len(batch) // 2)
            logger.warning(
                "out of memory on a batch of %d requests; retrying them one by one, next batches at "
                "most %d requests / %d tiles",
                len(batch),
                self.max_batch_size,
                self.max_batch_tiles,
            )

    def _generate_texts(self, batch: list[_Prepared]) -> list[tuple[str, bool]]:
        """Each request's text, and whether generation stopped at its max_new_tokens (no end token)."""
        encoded = [self.tokenizer(item.query).input_ids for item in batch]
        width = max(len(ids) for ids in encoded)
        input_ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ids in enumerate(encoded):  # left padding
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, width - len(ids) :] = 1
        pixel_parts = [item.pixels for item in batch if item.pixels is not None]
        pixels = torch.cat(pixel_parts).to(self.dtype) if pixel_parts else None
        max_new = max(item.request.generation.max_new_tokens for item in batch)
        new_tokens = self.model.generate(
            input_ids,
            attention_mask,
            pixels,
            max_new_tokens=max_new,
            eos_token_id=self.eos_token_id,
            min_new_tokens=max_new if self.ignore_eos else 0,
            pad_token_id=self.pad_token_id,
        ).cpu()
        texts = []
        for row, item in enumerate(batch):
            tokens = new_tokens[row, : item.request.generation.max_new_tokens].tolist()
            ended = self.eos_token_id in tokens
            if ended:  # what a lone run returns: up to and including eos
                tokens = tokens[: tokens.index(self.eos_token_id) + 1]
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            cut = not ended and len(tokens) >= item.request.generation.max_new_tokens
            texts.append((text.split("<|im_end|>")[0].strip(), cut))
        return texts

    def _prediction(self, item: _Prepared, raw: str, seconds: float, hit_token_limit: bool) -> Prediction:
        from vleval.models.internvl.postprocess import postprocess

        request = item.request
        return Prediction(
            dataset=request.dataset,
            index=request.index,
            prediction=postprocess(request.postprocess, raw),
            raw=raw,
            seconds=seconds,
            prompt=item.query,
            tiles=item.tiles,
            hit_token_limit=hit_token_limit,
        )

    def _failed(self, item: _Prepared, error: str) -> Prediction:
        return Prediction(
            dataset=item.request.dataset,
            index=item.request.index,
            prediction="",
            raw=None,
            error=error,
            prompt=item.query,
            tiles=item.tiles,
        )
