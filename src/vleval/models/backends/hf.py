"""Batched greedy generation with our native InternVL2.5 module (backend ``hf``).

Per request, as the reference's ``chat``: tiles (``prepare_pixels``), the templated query with
``<IMG_CONTEXT>`` blocks (``render_query``), tokenizer, greedy decoding with ``eos = <|im_end|>``,
``decode(skip_special_tokens=True).split('<|im_end|>')[0].strip()``, then the request's
post-processing. The template is the one the checkpoint's config names: InternVL3.5-GPT-OSS renders
harmony, stops on ``<|return|>`` and keeps special tokens in the answer (``template.GPT_OSS``). An
``-HF`` checkpoint is the same path: the loader returns transformers'
``InternVLForConditionalGeneration`` behind the same interface (``internvl/hf_native.py``). Differences
from the reference are throughput only:

- on GPUs several requests share one forward (left padding, positions from the attention mask so
  each row sees 0..n-1 as when alone); a batch holds at most ``max_batch_size`` requests (16 on
  CUDA, 1 on CPU: see ``HFBackend``) and ``max_batch_tiles`` tiles, so memory follows the image load;
- images are tiled in a thread pool ahead of the model, so the model never waits for PIL;
- a request that fails (undecodable image, out of memory) gets a Prediction with ``error`` and the
  rest continue; a failed batch is retried one request at a time;
- image features (ViT + pixel shuffle + ``mlp1``) are computed per request over that request's tiles,
  exactly the reference's ``extract_feature`` call, and kept in a ``VisionFeatureCache`` keyed by the
  images' content and tiling: MMBench's circular rotations, CRPE's four rows per image,
  HallusionBench's questions per figure go through the vision tower once. A cached request is not
  even tiled again. Every kernel sees the same shapes with and without the cache (the tower one
  request's tiles at a time; the LLM batches formed from tile counts and positions only, which the
  cache does not change), so predictions are bit-identical with and without it, in bf16 too and on
  any kernel (AMX, GPUs: bf16 rounding follows the shapes a kernel is given; docs/numerics.md);
- attention: ``reference`` kernels on CPU, PyTorch SDPA on CUDA (``attention``; see
  ``vleval.models.internvl.modeling.ATTENTION_MODES``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vleval.models.backends.base import each_alone_on_failure
from vleval.models.engine import default_device, free_accelerator_memory
from vleval.models.internvl.loader import load_internvl
from vleval.models.internvl.modeling import resolve_attention
from vleval.models.internvl.template import INTERNVL2_5, ChatTemplate, answer_text, template_named
from vleval.models.internvl.tokenizer import encode_query, load_tokenizer
from vleval.models.kernels import kernel_report
from vleval.models.sampling import request_seed
from vleval.types import Prediction, Request

logger = logging.getLogger(__name__)


def _is_out_of_memory(exc: Exception) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def image_key(request: Request) -> str:
    """What a request's image features depend on: each image's pixels (mode, size, bytes) and how it
    is tiled (tile cap, 2x upscale of the first image). Equal keys -> equal tiles -> equal features."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{request.max_tiles}|{int(request.upscale_first_image)}|{len(request.images)}".encode())
    for image in request.images:
        digest.update(f"|{image.mode}|{image.width}x{image.height}|".encode())
        digest.update(image.tobytes())
    return digest.hexdigest()


@dataclass
class _CachedFeatures:
    tiles: tuple[int, ...]
    features: torch.Tensor  # [sum(tiles), 256, D_llm], on the projector's device
    hits: int = 0


class VisionFeatureCache:
    """Image features per ``image_key`` within a run, at most ``max_bytes`` of them.

    Policy, for the two ways benchmarks repeat images: consecutive rows (CRPE's four rows, the
    HallusionBench figure questions) and a second pass over the file (MMBench writes every question,
    then each rotation set). When full, entries already used again are dropped first, oldest first;
    if none is, new features are not stored (an LRU would evict each image just before its second
    pass comes). Entries from another benchmark are dropped when a request of a new one is stored:
    benchmarks do not share images. Lookups come from the tiling threads, writes from the model's.
    """

    def __init__(self, max_bytes: int):
        self.max_bytes = max(0, int(max_bytes))
        self._entries: OrderedDict[str, _CachedFeatures] = OrderedDict()
        self._lock = threading.Lock()
        self._dataset: str | None = None
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def tiles(self, key: str) -> tuple[int, ...] | None:
        """Tile counts of cached features (None if not cached): a cached request needs no tiling."""
        with self._lock:
            entry = self._entries.get(key)
            return entry.tiles if entry is not None else None

    def get(self, key: str) -> torch.Tensor | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                self.misses += 1
                return None
            entry.hits += 1
            self.hits += 1
            return entry.features

    def put(self, dataset: str, key: str, tiles: tuple[int, ...], features: torch.Tensor) -> None:
        size = features.numel() * features.element_size()
        with self._lock:
            if dataset != self._dataset:
                self._entries.clear()
                self.bytes = 0
                self._dataset = dataset
            if key in self._entries or size > self.max_bytes:
                return
            if self.bytes + size > self.max_bytes:
                for old_key in [k for k, e in self._entries.items() if e.hits > 0]:
                    self.bytes -= self._drop(old_key)
                    if self.bytes + size <= self.max_bytes:
                        break
            if self.bytes + size <= self.max_bytes:
                self._entries[key] = _CachedFeatures(tiles, features)
                self.bytes += size

    def _drop(self, key: str) -> int:
        entry = self._entries.pop(key)
        return entry.features.numel() * entry.features.element_size()

    def stats(self) -> dict[str, Any]:
        return {
            "max_gb": round(self.max_bytes / 2**30, 3),
            "hits": self.hits,
            "misses": self.misses,
            "entries": len(self._entries),
        }


@dataclass
class _Prepared:
    position: int
    request: Request
    query: str | None = None
    pixels: torch.Tensor | None = None  # None for text-only requests and cached image features
    tiles: tuple[int, ...] = ()
    error: str | None = None
    key: str | None = None  # image_key, when the vision cache is on and the request has images
    prompt_tokens: int = 0  # set when the prompt is tokenized

    @property
    def n_tiles(self) -> int:
        return sum(self.tiles)


def _prepare(
    position: int,
    request: Request,
    cache: VisionFeatureCache | None = None,
    template: ChatTemplate = INTERNVL2_5,
) -> _Prepared:
    """Tiling and templating for one request (runs in a worker thread); skips the tiling when the
    request's features are cached."""
    from vleval.models.internvl.preprocessing import prepare_pixels
    from vleval.models.internvl.template import render_query

    try:
        key = image_key(request) if cache is not None and cache.enabled and request.images else None
        tiles = cache.tiles(key) if key is not None else None
        pixels = None
        if tiles is None:
            pixels, tile_list = prepare_pixels(request.images, request.max_tiles, request.upscale_first_image)
            tiles = tuple(tile_list)
        query = render_query(request.text, list(tiles), request.system_message, template)
    except Exception as exc:  # one bad image must not stop the run; the error is kept per sample
        return _Prepared(position, request, error=f"image preprocessing failed: {type(exc).__name__}: {exc}")
    return _Prepared(position, request, query=query, pixels=pixels, tiles=tiles, key=key)


class HFBackend:
    name = "hf"

    def __init__(
        self,
        model_dir: Path,
        *,
        dtype: str | None = None,
        device: str | None = None,
        max_batch_tiles: int = 64,
        max_batch_size: int | None = None,
        device_map: dict | None = None,
        workers: int = 4,
        model: Any = None,
        tokenizer: Any = None,
        ignore_eos: bool = False,
        attention: str | None = None,
        vision_cache_gb: float = 4.0,
    ):
        """``model``/``tokenizer`` may be passed in (already loaded) to share them between backends.
        ``ignore_eos`` forbids ``<|im_end|>`` until ``max_new_tokens`` are generated (throughput
        benchmarks only: a fixed amount of work per sample). ``attention``: 'reference', 'sdpa' or
        'auto'/None (sdpa on CUDA, reference elsewhere). ``vision_cache_gb``: memory for cached image
        features, on the model's device (0 turns the cache off). ``max_batch_size``: default 16 on
        CUDA and 1 on CPU: there a batch buys no parallelism (one request's matrices already fill the
        cores), and left padding needs an explicit attention mask, which takes SDPA off its causal
        kernel (about twice the attention time at 2,000-token prompts); one at a time is also the
        reference's exact computation, so bf16 predictions are bit-identical to it."""
        self.model_dir = Path(model_dir)
        self.device = default_device(device)
        self.model = (
            model
            if model is not None
            else load_internvl(self.model_dir, dtype=dtype, device=self.device, device_map=device_map)
        )
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(self.model_dir)
        self.max_batch_tiles = max(1, max_batch_tiles)
        on_cuda = str(self.device).startswith("cuda")
        self.max_batch_size = max(1, max_batch_size if max_batch_size is not None else 16 if on_cuda else 1)
        self.workers = max(1, workers)
        self.ignore_eos = ignore_eos
        self._executor: ThreadPoolExecutor | None = None
        # the chat template the checkpoint's config names (a model passed in without a config: InternVL2.5's)
        self.template = template_named(getattr(getattr(self.model, "config", None), "template", None))
        self.eos_token_id = self.tokenizer.convert_tokens_to_ids(self.template.stop_token)
        pad = self.tokenizer.pad_token_id
        self.pad_token_id = pad if pad is not None else self.eos_token_id
        self.dtype = next(self.model.parameters()).dtype
        self.attention = resolve_attention(attention, self.device)
        self.model.set_attention(self.attention)
        self.vision_cache = VisionFeatureCache(int(vision_cache_gb * 2**30))
        llm = getattr(getattr(self.model, "config", None), "llm", None) or {}
        self.context_length = int(llm.get("max_position_embeddings") or 0) or None

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
            "attention": self.attention,
            "vision_cache": self.vision_cache.stats(),
            # bf16 predictions depend on the kernels (docs/numerics.md); no probe process here
            "kernels": kernel_report(self.device, probe=False),
        }

    # ------------------------------------------------------------------------------------------
    def generate(self, requests: list[Request]) -> list[Prediction]:
        if self.model.attention != self.attention:  # a model shared with another backend
            self.model.set_attention(self.attention)
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
                pending.append(pool.submit(_prepare, *nxt, self.vision_cache, self.template))

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
        free_accelerator_memory()
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
        encoded = [encode_query(self.tokenizer, item.query) for item in batch]
        for item, ids in zip(batch, encoded, strict=True):
            item.prompt_tokens = len(ids)
        width = max(len(ids) for ids in encoded)
        input_ids = torch.full((len(batch), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, ids in enumerate(encoded):  # left padding
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention_mask[row, width - len(ids) :] = 1
        features = [self._image_features(item) for item in batch if item.tiles]
        max_new = max(item.request.generation.max_new_tokens for item in batch)
        generation = batch[0].request.generation  # a cell's requests share their decoding
        seed = request_seed(batch[0].request)
        if seed is not None:  # sampled decoding: reproducible per row (vleval.models.sampling)
            torch.manual_seed(seed)
        new_tokens = self.model.generate(
            input_ids,
            attention_mask,
            None,
            max_new_tokens=max_new,
            eos_token_id=self.eos_token_id,
            min_new_tokens=max_new if self.ignore_eos else 0,
            pad_token_id=self.pad_token_id,
            image_embeds=torch.cat(features) if features else None,
            do_sample=generation.do_sample,
            temperature=generation.temperature,
            top_p=generation.top_p,
        ).cpu()
        texts = []
        for row, item in enumerate(batch):
            tokens = new_tokens[row, : item.request.generation.max_new_tokens].tolist()
            ended = self.eos_token_id in tokens
            if ended:  # what a lone run returns: up to and including eos
                tokens = tokens[: tokens.index(self.eos_token_id) + 1]
            text = self.tokenizer.decode(tokens, skip_special_tokens=not self.template.keeps_special_tokens)
            cut = not ended and len(tokens) >= item.request.generation.max_new_tokens
            texts.append((answer_text(text, self.template), cut))
        return texts

    @torch.inference_mode()
    def _image_features(self, item: _Prepared) -> torch.Tensor:
        """``[tiles, 256, D_llm]`` for one request: from the cache, or the vision tower over this
        request's tiles alone (the reference's ``extract_feature`` call, so batching never changes
        them)."""
        if item.key is not None:
            cached = self.vision_cache.get(item.key)
            if cached is not None:
                return cached
        pixels = item.pixels
        if pixels is None:  # the features were cached when it was prepared, and dropped since
            from vleval.models.internvl.preprocessing import prepare_pixels

            request = item.request
            pixels, _ = prepare_pixels(request.images, request.max_tiles, request.upscale_first_image)
        features = self.model.extract_feature(pixels.to(self.dtype))
        if item.key is not None:
            self.vision_cache.put(item.request.dataset, item.key, item.tiles, features)
        return features

    def _prediction(self, item: _Prepared, raw: str, seconds: float, hit_token_limit: bool) -> Prediction:
        from vleval.models.internvl.postprocess import postprocess

        request = item.request
        over_context = self.context_length is not None and item.prompt_tokens > self.context_length
        if over_context:  # transformers' own warning names neither the sample nor the model's limit
            logger.warning(
                "%s index %s: the prompt has %d tokens, more than the model's context length of %d "
                "(max_position_embeddings); its prediction is unreliable and is counted in run.json",
                request.dataset,
                request.index,
                item.prompt_tokens,
                self.context_length,
            )
        return Prediction(
            dataset=request.dataset,
            index=request.index,
            prediction=postprocess(request.postprocess, raw),
            raw=raw,
            seconds=seconds,
            prompt=item.query,
            tiles=item.tiles,
            hit_token_limit=hit_token_limit,
            over_context=over_context,
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
