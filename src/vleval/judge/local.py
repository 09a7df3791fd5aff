"""A local open-weights judge: ``--judge local:DIR`` loads a chat LLM from a Hugging Face folder and
answers the protocol's judge prompts in place of the API judge.

Asked exactly what the API judge is asked: the same ``JudgeRequest`` objects (prompt, system message,
temperature, max_tokens) that scoring builds; the messages are rendered with the model's own chat
template (its tokenizer config), with string contents, as an OpenAI-compatible server would render
them. Sampling is what the request says and nothing else: greedy at temperature 0, else plain sampling
at that temperature (top_p 1, no top-k, no repetition penalty; a model's ``generation_config``
sampling defaults are not applied, as they are not part of the request). Sampled requests are seeded
from the request itself, so a re-run gives the same answers. Like the API judge, an empty answer is
a failed attempt, retried (only useful when sampling) up to ``retries`` attempts; a request whose
attempts all failed yields ``JUDGE_FAILURE_TEXT`` and is not cached.

Only architectures that transformers implements natively load (``trust_remote_code`` is never set:
no downloaded code runs). With vLLM importable the model runs on vLLM (tensor parallel over the
visible GPUs), else on transformers, batched.

Answers go into the same judge cache as the API judge's (``vleval.judge.cache``), keyed by the
judge's identity ``local:<folder name>@<checkpoint digest>`` (``vleval.models.engine.
checkpoint_digest``: config, index and safetensors headers and sizes), so a re-run or another
benchmark reuses them and a different checkpoint in a folder of the same name does not.
Loaded engines are kept per folder for the process (``vleval run`` scores benchmark after benchmark
with one load); ``release_engines`` frees them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from vleval.errors import DataMissingError, VlevalError
from vleval.judge.cache import JudgeCache, cache_key
from vleval.judge.settings import JudgeSettings
from vleval.models.engine import (
    checkpoint_digest,
    default_device,
    free_accelerator_memory,
    import_vllm,
    tensor_parallel_size,
    visible_gpus,
    vllm_available,
    vllm_on_cpu,
)
from vleval.types import JUDGE_FAILURE_TEXT, JudgeRequest

log = logging.getLogger("vleval.judge")

LOCAL_JUDGE_PREFIX = "local:"
ENGINES = ("auto", "vllm", "transformers")
DEFAULT_BATCH_SIZE = 16


def is_local_judge_spec(spec: str | None) -> bool:
    """``local:DIR`` (case-insensitive prefix)."""
    return spec is not None and spec.strip().lower().startswith(LOCAL_JUDGE_PREFIX)


def local_judge_folder(spec: str) -> Path:
    folder = spec.strip()[len(LOCAL_JUDGE_PREFIX) :].strip()
    if not folder:
        raise VlevalError("--judge local:DIR needs a folder, e.g. --judge local:/models/Qwen2.5-7B-Instruct")
    return Path(folder).expanduser()


def judge_identity(folder: Path) -> str:
    """``local:<folder name>@<first 16 hex of the checkpoint digest>``: the judge's model id in the
    cache and in result files."""
    folder = Path(folder)
    return f"{LOCAL_JUDGE_PREFIX}{folder.resolve().name}@{checkpoint_digest(folder)[:16]}"


def check_judge_folder(folder: Path) -> dict[str, Any]:
    """The folder's ``config.json`` when it holds a chat LLM transformers implements natively;
    else a ``VlevalError`` saying what is wrong."""
    folder = Path(folder)
    config_file = folder / "config.json"
    if not folder.is_dir():
        raise DataMissingError(f"--judge local:{folder}: no such folder.")
    if not config_file.is_file():
        raise DataMissingError(
            f"--judge local:{folder}: no config.json; this is not a Hugging Face model folder."
        )
    from vleval.models.metadata import check_checkpoint_metadata, read_metadata_object

    config = read_metadata_object(config_file)
    check_checkpoint_metadata(folder)  # transformers reads the tokenizer files and chat template unbounded
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    model_type = config.get("model_type")
    if model_type not in CONFIG_MAPPING_NAMES or model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise VlevalError(
            f"--judge local:{folder}: model_type {model_type!r} is not a causal LM that transformers "
            "implements natively; vleval never runs a model's own code (trust_remote_code). Use a model "
            "such as Qwen2.5-7B/72B-Instruct or Llama-3.1-Instruct, or serve it behind an OpenAI-compatible "
            "server and pass --judge MODEL --judge-base-url URL."
        )
    if not _has_chat_template(folder):
        raise VlevalError(
            f"--judge local:{folder}: the tokenizer has no chat template (tokenizer_config.json "
            "'chat_template' or chat_template.jinja); use an instruction-tuned (chat) model."
        )
    if not list(folder.glob("*.safetensors")):
        raise DataMissingError(
            f"--judge local:{folder}: no *.safetensors weights (vleval loads no pickled .bin weights)."
        )
    return config


def _has_chat_template(folder: Path) -> bool:
    if (folder / "chat_template.jinja").is_file() or (folder / "chat_template.json").is_file():
        return True
    from vleval.models.metadata import read_metadata_json

    try:
        config = read_metadata_json(folder / "tokenizer_config.json")
    except VlevalError:
        return False
    return isinstance(config, dict) and bool(config.get("chat_template"))


def local_judge_problem(spec: str | None) -> str | None:
    """What is wrong with ``--judge local:DIR`` (checked before a run starts), or None; None too for
    any other spec."""
    if not is_local_judge_spec(spec):
        return None
    try:
        check_judge_folder(local_judge_folder(spec or ""))
    except VlevalError as exc:
        return str(exc)
    return None


# -------------------------------------------------------------------------------------------------
# Engines: render chats with the model's template and generate, batched
# -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Generation:
    """One chat to complete."""

    messages: list[dict[str, str]]
    temperature: float
    max_tokens: int
    seed: int


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int


class ChatEngine(Protocol):
    name: str

    def complete(self, generations: Sequence[Generation]) -> list[Completion]: ...

    def close(self) -> None: ...


def chat_messages(request: JudgeRequest) -> list[dict[str, str]]:
    """The request as chat messages with string contents (what chat templates expect)."""
    messages = [{"role": "system", "content": request.system}] if request.system is not None else []
    return [*messages, {"role": "user", "content": request.prompt}]


def _load_tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
    if not getattr(tokenizer, "chat_template", None):
        raise VlevalError(
            f"--judge local:{folder}: the tokenizer has no chat template (tokenizer_config.json "
            "'chat_template' or chat_template.jinja); use an instruction-tuned (chat) model."
        )
    return tokenizer


def _render(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def _stop_ids(folder: Path, tokenizer: Any) -> list[int]:
    ids: set[int] = set()
    generation_config = folder / "generation_config.json"
    if os.path.lexists(generation_config):
        from vleval.models.metadata import read_metadata_object

        eos = read_metadata_object(generation_config).get("eos_token_id")
        ids.update(e for e in (eos if isinstance(eos, list) else [eos]) if isinstance(e, int))
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return sorted(ids)


class TransformersEngine:
    """transformers ``generate``: left-padded batches of prompts of similar length."""

    name = "transformers"

    def __init__(
        self,
        folder: Path,
        *,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM

        self.folder = Path(folder)
        self.tokenizer = _load_tokenizer(self.folder)
        self.tokenizer.padding_side = "left"
        self.stop_ids = _stop_ids(self.folder, self.tokenizer)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token_id = self.stop_ids[0] if self.stop_ids else 0
        self.device = default_device(device)
        cuda = self.device.startswith("cuda")
        torch_dtype = getattr(torch, dtype) if dtype else (torch.bfloat16 if cuda else torch.float32)
        kwargs: dict[str, Any] = {"dtype": torch_dtype, "trust_remote_code": False}
        if cuda and device in (None, "cuda") and visible_gpus() > 1:
            kwargs["device_map"] = "auto"  # a large judge spread over the visible GPUs
            self.model = AutoModelForCausalLM.from_pretrained(str(self.folder), **kwargs)
        else:
            self.model = AutoModelForCausalLM.from_pretrained(str(self.folder), **kwargs).to(self.device)
        self.model.eval()
        self.batch_size = max(1, batch_size)

    def complete(self, generations: Sequence[Generation]) -> list[Completion]:
        texts = [_render(self.tokenizer, g.messages) for g in generations]
        encoded = [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
        out: list[Completion | None] = [None] * len(generations)
        # One batch shares temperature and max_tokens; within a group, similar lengths batch together.
        groups: dict[tuple[float, int], list[int]] = {}
        for i, g in enumerate(generations):
            groups.setdefault((g.temperature, g.max_tokens), []).append(i)
        for (temperature, max_tokens), members in groups.items():
            members.sort(key=lambda i: len(encoded[i]))
            # a sampled request is generated alone, under its own seed: the same answer in any company
            size = self.batch_size if temperature == 0 else 1
            for start in range(0, len(members), size):
                batch = members[start : start + size]
                for i, completion in zip(
                    batch,
                    self._generate(
                        [encoded[i] for i in batch], temperature, max_tokens, generations[batch[0]].seed
                    ),
                    strict=True,
                ):
                    out[i] = completion
        return [c for c in out if c is not None]

    def _generate(
        self, prompts: list[list[int]], temperature: float, max_tokens: int, seed: int
    ) -> list[Completion]:
        import torch

        pad = self.tokenizer.pad_token_id
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=self.model.device)
        attention = torch.tensor(
            [[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.model.device
        )
        sampling: dict[str, Any] = {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        if temperature > 0:
            torch.manual_seed(seed)
            sampling = {"do_sample": True, "temperature": temperature, "top_p": 1.0, "top_k": 0}
        with torch.inference_mode():
            output = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                max_new_tokens=max_tokens,
                eos_token_id=self.stop_ids or None,
                pad_token_id=pad,
                repetition_penalty=1.0,
                **sampling,
            )
        completions = []
        for p, row in zip(prompts, output[:, width:].tolist(), strict=True):
            generated = []
            for token in row:
                if token in self.stop_ids:
                    break
                generated.append(token)
            text = self.tokenizer.decode(generated, skip_special_tokens=True)
            completions.append(Completion(text.strip(), len(p), len(generated)))
        return completions

    def close(self) -> None:
        self.model = None


class VLLMEngine:
    """vLLM's offline engine over the visible GPUs (or its CPU build: float32, eager)."""

    name = "vllm"

    def __init__(self, folder: Path, config: dict[str, Any], *, dtype: str | None = None) -> None:
        vllm = import_vllm()
        self.folder = Path(folder)
        self.tokenizer = _load_tokenizer(self.folder)
        on_cpu = vllm_on_cpu()
        heads = int(config.get("num_attention_heads") or 1)
        self.llm = vllm.LLM(
            model=str(self.folder),
            tokenizer=str(self.folder),
            trust_remote_code=False,
            tensor_parallel_size=1 if on_cpu else tensor_parallel_size(heads),
            dtype=dtype or ("float32" if on_cpu else "auto"),
            enforce_eager=on_cpu,
            # on CPU the fraction is of host memory, which the run's other objects share
            gpu_memory_utilization=0.5 if on_cpu else 0.9,
            seed=0,
        )
        self._sampling_params = vllm.SamplingParams

    def complete(self, generations: Sequence[Generation]) -> list[Completion]:
        prompts = []
        params = []
        for g in generations:
            ids = self.tokenizer(_render(self.tokenizer, g.messages), add_special_tokens=False)["input_ids"]
            prompts.append({"prompt_token_ids": ids})
            # the request's sampling and nothing else: greedy at 0, else plain sampling, seeded
            params.append(
                self._sampling_params(
                    temperature=g.temperature,
                    max_tokens=g.max_tokens,
                    seed=g.seed if g.temperature > 0 else None,
                    skip_special_tokens=True,
                )
            )
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        return [
            Completion(o.outputs[0].text.strip(), len(o.prompt_token_ids or []), len(o.outputs[0].token_ids))
            for o in outputs
        ]

    def close(self) -> None:
        self.llm = None


_ENGINES: dict[tuple[str, str], ChatEngine] = {}
_ENGINES_LOCK = threading.Lock()


def load_engine(
    folder: Path, *, engine: str = "auto", device: str | None = None, dtype: str | None = None
) -> ChatEngine:
    """The loaded model of ``folder`` (loaded once per process and engine kind)."""
    if engine not in ENGINES:
        raise VlevalError(f"unknown judge engine {engine!r}; use one of {', '.join(ENGINES)}")
    folder = Path(folder).resolve()
    config = check_judge_folder(folder)
    kind = engine if engine != "auto" else ("vllm" if vllm_available() else "transformers")
    with _ENGINES_LOCK:
        key = (str(folder), kind)
        if key not in _ENGINES:
            log.info("loading the local judge %s with %s", folder, kind)
            _ENGINES[key] = (
                VLLMEngine(folder, config, dtype=dtype)
                if kind == "vllm"
                else TransformersEngine(folder, device=device, dtype=dtype)
            )
        return _ENGINES[key]


def release_engines() -> None:
    """Free every loaded local judge model (and its GPU memory)."""
    with _ENGINES_LOCK:
        engines = list(_ENGINES.values())
        _ENGINES.clear()
    for engine in engines:
        engine.close()
    if engines:  # an API or rule-only judge left nothing to collect; a full collection costs ~0.3 s
        import gc

        gc.collect()
    free_accelerator_memory()


# -------------------------------------------------------------------------------------------------
# The judge
# -------------------------------------------------------------------------------------------------
@dataclass
class LocalJudgeTally:
    generations: int = 0  # chats the model completed (attempts)
    cache_hits: int = 0
    answered: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class LocalJudge:
    """Implements ``vleval.types.Judge`` with a model loaded from a local folder."""

    kind = "local"

    def __init__(
        self,
        folder: Path,
        *,
        cache: JudgeCache | None = None,
        retries: int = 1,
        engine: ChatEngine | None = None,
        engine_kind: str = "auto",
        device: str | None = None,
        dtype: str | None = None,
    ) -> None:
        self.folder = Path(folder)
        check_judge_folder(self.folder)
        self.model = judge_identity(self.folder)
        self.short_name = self.folder.resolve().name
        self.endpoint = str(self.folder.resolve())
        self.cache = cache
        self.retries = max(1, retries)
        self._engine = engine
        self._engine_options = {"engine": engine_kind, "device": device, "dtype": dtype}
        self.tally = LocalJudgeTally()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"LocalJudge(model={self.model!r}, folder={self.endpoint!r}, cache={self.cache!r})"

    @property
    def engine(self) -> ChatEngine:
        """Loaded on first use, so that ``vleval run`` loads it only when scoring asks (after
        inference has released the GPUs), and not at all when every answer is cached."""
        if self._engine is None:
            self._engine = load_engine(self.folder, **self._engine_options)
        return self._engine

    @property
    def stats(self) -> Any:
        """The tally in the API judge's shape (``vleval.judge.client.JudgeStats``); ``calls`` counts
        generations (attempts), as the API judge's counts HTTP attempts."""
        from vleval.judge.client import JudgeStats

        with self._lock:
            tally = self.tally
            return JudgeStats(
                calls=tally.generations,
                cache_hits=tally.cache_hits,
                answered=tally.answered,
                failures=tally.failures,
                prompt_tokens=tally.prompt_tokens,
                completion_tokens=tally.completion_tokens,
            )

    def ask(self, request: JudgeRequest) -> str:
        return self.ask_many([request])[0]

    def ask_many(self, requests: Sequence[JudgeRequest]) -> list[str]:
        """One answer per request, in order; cached answers reused, identical requests asked once,
        the rest generated as batches."""
        from vleval.judge.client import judge_request_body

        bodies = [judge_request_body(r) for r in requests]
        keys = [cache_key(self.model, b) for b in bodies]
        answers: dict[str, str] = self.cache.get_many(list(dict.fromkeys(keys))) if self.cache else {}
        with self._lock:
            self.tally.cache_hits += sum(1 for k in keys if k in answers)
        todo: dict[str, tuple[JudgeRequest, dict[str, Any]]] = {}
        for key, request, body in zip(keys, requests, bodies, strict=True):
            if key not in answers and key not in todo:
                todo[key] = (request, body)
        if todo:
            answers.update(self._generate(todo))
        return [answers[k] for k in keys]

    def _generate(self, todo: dict[str, tuple[JudgeRequest, dict[str, Any]]]) -> dict[str, str]:
        results: dict[str, str] = {}
        pending = list(todo)
        for attempt in range(self.retries):
            if not pending:
                break
            generations = [
                Generation(
                    messages=chat_messages(todo[k][0]),
                    temperature=todo[k][0].temperature,
                    max_tokens=todo[k][0].max_tokens,
                    seed=_seed(k, attempt),
                )
                for k in pending
            ]
            completions = self.engine.complete(generations)
            still = []
            for key, completion in zip(pending, completions, strict=True):
                with self._lock:
                    self.tally.generations += 1
                    self.tally.prompt_tokens += completion.prompt_tokens
                    self.tally.completion_tokens += completion.completion_tokens
                answer = completion.text
                # as the API judge: an empty answer (or the failure text) is a failed attempt
                if not answer or JUDGE_FAILURE_TEXT.strip() in answer:
                    # greedy decoding gives the same answer again: only sampled requests are retried
                    if todo[key][0].temperature > 0:
                        still.append(key)
                    continue
                results[key] = answer
                with self._lock:
                    self.tally.answered += 1
                if self.cache is not None:
                    self.cache.put(key, self.model, todo[key][1], answer)
            pending = still
        for key in todo:
            if key not in results:
                results[key] = JUDGE_FAILURE_TEXT
                with self._lock:
                    self.tally.failures += 1
        return results

    def close(self) -> None:
        """Closes the cache; the loaded model stays for the next benchmark (``release_engines``)."""
        if self.cache is not None:
            self.cache.close()


def _seed(key: str, attempt: int) -> int:
    return int(hashlib.sha256(f"{key}:{attempt}".encode()).hexdigest()[:8], 16)


def local_judge(
    spec: str,
    settings: JudgeSettings | None = None,
    *,
    engine: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
) -> LocalJudge:
    """The judge for ``--judge local:DIR`` (the model itself loads when first asked), with the judge
    settings every judge takes (``vleval.judge.settings``): its cache folder and attempts per request;
    an endpoint, workers and timeouts do not apply to weights loaded in this process.

    ``engine``: 'auto' (vLLM when importable, else transformers), 'vllm' or 'transformers'; None reads
    ``VLEVAL_JUDGE_ENGINE`` (default auto)."""
    settings = settings if settings is not None else JudgeSettings()
    folder = local_judge_folder(spec)
    engine = engine or os.environ.get("VLEVAL_JUDGE_ENGINE") or "auto"
    if engine not in ENGINES:
        raise VlevalError(f"VLEVAL_JUDGE_ENGINE={engine!r}: use one of {', '.join(ENGINES)}")
    cache = JudgeCache(settings.cache_dir if settings.cache_dir is not None else Path(".judge_cache"))
    return LocalJudge(
        folder, cache=cache, retries=settings.attempts, engine_kind=engine, device=device, dtype=dtype
    )
