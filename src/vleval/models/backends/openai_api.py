"""The ``openai`` backend: any OpenAI-compatible multimodal server the user already runs.

``vllm serve`` / ``python -m vllm.entrypoints.openai.api_server``, LMDeploy's ``api_server`` or SGLang
serve the model; vleval sends each request as one chat completion:

- a system message: the InternVL2.5 template's (``template.SYSTEM_MESSAGE``, as the hf backend), or
  ``system_message``;
- one user message whose content is the request's images as base64 PNG ``image_url`` parts, in order,
  then one text part: the request text with its ``<image>`` placeholders kept where they are (vLLM
  expands each into the image's tokens; a single image's ``<image>\\n`` prefix is what vLLM would put
  there anyway). Servers with another placeholder get it through ``image_placeholder``; ``None``
  removes them and lets the server place the images itself;
- ``temperature=0`` (greedy; a thinking entry's request: its sampling, ``vleval.models.sampling``) and
  ``max_tokens`` = the request's ``max_new_tokens``; the request's system message when it has one;
- for vLLM servers (``vllm_extras``, on by default), vLLM's extra request fields that make it generate
  exactly what the hf backend does: the reference's tile limit as ``mm_processor_kwargs``
  (``max_dynamic_patch`` = ``request.max_tiles``; the server would otherwise tile up to the
  checkpoint's config value, 12), ``add_special_tokens`` (the reference tokenizes the templated prompt
  with BOS, which InternLM2 adds and Qwen2 does not; the InternVL2.5 chat template has no BOS of its
  own), and a stop on ``<|im_end|>`` alone (``ignore_eos`` + ``stop_token_ids``, its id asked from the
  server's ``/tokenize``), as the reference's ``chat()`` stops. Other servers: ``vllm_extras=False``.

vLLM renders the checkpoint's chat template in "string" content format (the InternVL2.5 template
concatenates ``message['content']``; UNVERIFIED against the official tokenizer_config.json) and puts
the images at the ``<image>`` placeholders the text carries. A template that loops over content parts
would add its own placeholders: serve it with ``--chat-template-content-format string``. A vLLM
server for vleval needs two more flags: ``--trust-request-mm-kwargs`` (vLLM refuses per-request tile
caps otherwise) and ``--mm-processor-kwargs '{"max_dynamic_patch": 24}'`` (it sizes its encoder cache
from the checkpoint's 12 tiles and refuses OCRBench's 24 otherwise).

Known limit: vLLM's server tokenizes the templated text before it expands ``<image>``. For Qwen2 that
is the reference's token sequence; for InternLM2 (2B/8B/26B) with several images (MMMU's
``Image-1: <image>\nImage-2: <image>\n...``) the reference's sentencepiece pieces around each image
block (the ``▁`` before it and the dummy prefix after ``</img>``) are lost, so those prompts differ
slightly. The ``vllm`` backend hands vLLM token ids and has no such difference.

Images go out as the tiler should see them: RGB (alpha dropped, as the reference's ``convert('RGB')``;
vLLM would composite it on white) and, for MMMU, the first image already upscaled 2x (BILINEAR).
The answer (the server's text, or, when the checkpoint's tokenizer is here, our decoding of the
token ids vLLM returns) is cut at ``<|im_end|>``, stripped and post-processed like the hf backend's.
HTTP goes through ``vleval.transport`` (the judge's client too): requests run on ``workers`` threads;
transient failures (connection, timeout, 408/409/425/429/5xx, a reply without a choice) are retried
up to ``retries`` attempts with exponential backoff; a request that still fails becomes a Prediction
with ``error`` set (scrubbed of the key), and the others go on. A server that refuses the key
(401/403) or stops answering fails the remaining samples at once, without further requests.
"""

from __future__ import annotations

import base64
import io
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from vleval.errors import EndpointUnavailableError, VlevalError
from vleval.models.internvl.preprocessing import find_grid
from vleval.models.internvl.template import EOS_TOKEN, IMAGE_PLACEHOLDER, SYSTEM_MESSAGE
from vleval.models.sampling import decoding_params
from vleval.transport import (
    BadReply,
    OpenAIEndpoint,
    describe_shape,
    first_choice,
    reply_text,
    run_concurrently,
)
from vleval.types import Prediction, Request

log = logging.getLogger("vleval.backends.openai")


# --------------------------------------------------------------------------------------------------
# What a server that tiles images itself must receive (shared with the vllm backend)
# --------------------------------------------------------------------------------------------------
def server_images(request: Request) -> list[Image.Image]:
    """The request's images as the tiler must see them: RGB, and the first one upscaled 2x with
    BILINEAR when ``request.upscale_first_image`` (MMMU), exactly the steps of the hf backend's
    ``preprocessing.load_tiles`` before tiling."""
    images = []
    for position, image in enumerate(request.images):
        image = image.convert("RGB")
        if request.upscale_first_image and position == 0:
            image = image.resize((image.width * 2, image.height * 2), Image.Resampling.BILINEAR)
        images.append(image)
    return images


def tiles_for(image: Image.Image, max_tiles: int) -> int:
    """Tiles the reference cuts ``image`` into, thumbnail included (no pixels are touched)."""
    columns, rows = find_grid(image.width, image.height, max_tiles)
    return columns * rows + (1 if columns * rows > 1 else 0)


def finish_text(raw: str, postprocess_kind: str) -> str:
    """The hf backend's decoding tail: cut at ``<|im_end|>``, strip, then the request's post-processing."""
    from vleval.models.internvl.postprocess import postprocess

    return postprocess(postprocess_kind, raw.split(EOS_TOKEN)[0].strip())


def png_data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


# --------------------------------------------------------------------------------------------------
class OpenAIBackend:
    """Greedy generation through an OpenAI-compatible chat completions server."""

    def __init__(
        self,
        api_base: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        workers: int = 8,
        retries: int = 3,
        timeout_s: float = 600.0,
        retry_budget_s: float | None = None,
        backoff_s: float = 1.0,
        system_message: str | None = None,
        image_placeholder: str | None = IMAGE_PLACEHOLDER,
        vllm_extras: bool = True,
        extra_body: dict[str, Any] | None = None,
        tokenizer: Any = None,
    ) -> None:
        """``tokenizer``: the checkpoint's tokenizer (``load_tokenizer``), when the checkpoint is also
        on this machine. With it and a vLLM server, the answer is decoded here from the server's
        token ids, exactly as the hf backend decodes (vLLM's streaming detokenizer skips the
        InternLM2 tokenizer's clean-up of " ." / " ,"); without it, the server's text is used.
        ``api_base``: ``http://host:port``, ``.../v1`` or a full ``.../v1/chat/completions`` URL.
        ``retry_budget_s``: one request's attempts and waits together (default: no limit beyond
        ``retries`` x ``timeout_s``: generations can be long)."""
        if workers < 1 or retries < 1:
            raise VlevalError(f"openai backend: workers ({workers}) and retries ({retries}) must be >= 1")
        self.endpoint = OpenAIEndpoint(
            api_base,
            api_key,
            what="openai backend",
            ensure_v1=True,
            attempts=retries,
            timeout_s=timeout_s,
            retry_budget_s=retry_budget_s or timeout_s * retries + 60.0 * retries,
            backoff_base_s=backoff_s,
        )
        self.api_base = self.endpoint.base_url  # credentials removed: safe to record and print
        self.workers = workers
        self.retries = retries
        self.system_message = SYSTEM_MESSAGE if system_message is None else system_message
        self.image_placeholder = image_placeholder
        self.vllm_extras = vllm_extras
        self.extra_body = dict(extra_body or {})
        self.tokenizer = tokenizer
        self.prompt_mismatches = 0
        self.model = model or self._served_model()
        self._log_lock = threading.Lock()
        self.stop_token_ids = self._im_end_ids() if vllm_extras else None
        self.model_dir: Path | None = None

    # -- public -------------------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            "name": "openai",
            "api_base": self.api_base,
            "model": self.model,
            "model_dir": None if self.model_dir is None else str(self.model_dir),
            "workers": self.workers,
            "retries": self.retries,
            "vllm_extras": self.vllm_extras,
            "decodes_locally": self.tokenizer is not None,
            "prompt_mismatches": self.prompt_mismatches,
            "stop_token_ids": self.stop_token_ids,
        }

    def generate(self, requests: Sequence[Request]) -> list[Prediction]:
        return run_concurrently(self._generate_one, list(requests), self.workers, name="openai-backend")

    def close(self) -> None:
        """Nothing is held open between requests (one connection per request)."""

    # -- one request --------------------------------------------------------------------------------
    def chat_body(self, request: Request, images: list[Image.Image] | None = None) -> dict[str, Any]:
        """The JSON body of the chat completion for ``request`` (without ``model``); ``images``:
        ``server_images(request)`` if already computed."""
        images = server_images(request) if images is None else images
        text = request.text
        if self.image_placeholder is None:
            text = text.replace(IMAGE_PLACEHOLDER + "\n", "").replace(IMAGE_PLACEHOLDER, "")
        elif self.image_placeholder != IMAGE_PLACEHOLDER:
            text = text.replace(IMAGE_PLACEHOLDER, self.image_placeholder)
        content: list[dict[str, Any]] = [
            {"type": "image_url", "image_url": {"url": png_data_url(image)}} for image in images
        ]
        content.append({"type": "text", "text": text})
        body: dict[str, Any] = {
            "messages": [
                # a thinking entry's R1 prompt replaces the template's own
                {"role": "system", "content": request.system_message or self.system_message},
                {"role": "user", "content": content},
            ],
            **decoding_params(request),
            "max_tokens": request.generation.max_new_tokens,
        }
        extra: dict[str, Any] = {}
        if self.vllm_extras:
            extra["add_special_tokens"] = True
            extra["skip_special_tokens"] = True
            if self.tokenizer is not None:
                extra["return_token_ids"] = True
            if self.stop_token_ids:
                extra["ignore_eos"] = True
                extra["stop_token_ids"] = list(self.stop_token_ids)
            if images:
                extra["mm_processor_kwargs"] = {
                    "max_dynamic_patch": request.max_tiles,
                    "min_dynamic_patch": 1,
                    "dynamic_image_size": True,
                    "use_thumbnail": True,
                }
        extra.update(self.extra_body)
        body.update(extra)  # the server's own request fields sit beside the standard ones
        return body

    def _generate_one(self, request: Request) -> Prediction:
        started = time.perf_counter()
        tiles: tuple[int, ...] = ()
        try:
            images = server_images(request)
            tiles = tuple(tiles_for(image, request.max_tiles) for image in images)
            body = self.chat_body(request, images)
        except Exception as exc:  # an undecodable image fails this sample only
            return self._failed(
                request, f"could not prepare the images: {type(exc).__name__}: {exc}", started, tiles
            )
        try:
            outcome = self.endpoint.chat({"model": self.model, **body}, self._read_reply)
        except EndpointUnavailableError as exc:  # every request fails alike: no call made
            return self._failed(request, str(exc), started, tiles)
        if outcome.value is None:
            return self._failed(request, outcome.error or "no answer", started, tiles)
        raw, response = outcome.value
        raw = self.endpoint.remove_secrets(raw)  # a server echoing the key gets it into no file
        return Prediction(
            dataset=request.dataset,
            index=request.index,
            prediction=finish_text(raw, request.postprocess),
            raw=raw,
            seconds=time.perf_counter() - started,
            prompt=self._check_prompt(request, tiles, response),
            tiles=tiles,
        )

    def _check_prompt(self, request: Request, tiles: tuple[int, ...], response: Any) -> str | None:
        """With a local tokenizer and a vLLM server: the hf backend's query for ``request``, compared
        with the token ids the server fed its model. A difference is logged and counted
        (``describe()['prompt_mismatches']``), not failed: the answer is still the server's best."""
        server_ids = response.get("prompt_token_ids")
        if self.tokenizer is None or server_ids is None:
            return None
        from vleval.models.internvl.template import render_query

        query = render_query(request.text, list(tiles), self.system_message)
        if list(server_ids) != list(self.tokenizer(query).input_ids):
            with self._log_lock:
                self.prompt_mismatches += 1
                if self.prompt_mismatches <= 3:
                    log.warning(
                        "openai backend: the server's prompt for %s/%s differs from the hf backend's "
                        "(%d vs %d tokens)%s",
                        request.dataset,
                        request.index,
                        len(server_ids),
                        len(self.tokenizer(query).input_ids),
                        "; further differences are only counted" if self.prompt_mismatches == 3 else "",
                    )
        return query

    def _read_reply(self, response: Any) -> tuple[str, dict[str, Any]]:
        """(answer, reply body): our decoding of the server's token ids (``return_token_ids``) if we
        can, else the server's text. A reply without either is a failed attempt (``BadReply``)."""
        choice = first_choice(response)
        token_ids = (
            choice.get("token_ids") if isinstance(choice, dict) and self.tokenizer is not None else None
        )
        if isinstance(token_ids, list) and all(isinstance(i, int) for i in token_ids):
            return self.tokenizer.decode(token_ids, skip_special_tokens=True), response
        text = reply_text(response)
        if text is None:
            raise BadReply(f"no answer text ({describe_shape(response)})")
        return text, response

    def _failed(self, request: Request, error: str, started: float, tiles: tuple[int, ...]) -> Prediction:
        return Prediction(
            dataset=request.dataset,
            index=request.index,
            prediction="",
            error=f"openai backend ({self.api_base}): {error}",
            seconds=time.perf_counter() - started,
            tiles=tiles,
        )

    def _im_end_ids(self) -> list[int] | None:
        """``<|im_end|>``'s id from vLLM's ``/tokenize`` (None, with a warning, where there is none)."""
        outcome = self.endpoint.request(
            "POST",
            "/tokenize",  # at the server's root, beside /v1
            {"model": self.model, "prompt": EOS_TOKEN, "add_special_tokens": False},
            _token_list,
            attempts=1,
        )
        if outcome.value is None:
            log.warning(
                "openai backend: %s has no vLLM /tokenize (%s); generation stops where the server's own "
                "end-of-sequence rule says",
                self.api_base,
                outcome.error,
            )
            return None
        ids = outcome.value
        if len(ids) != 1:
            log.warning("openai backend: %s is %s tokens on this server, not one", EOS_TOKEN, ids)
            return None
        return ids

    def _served_model(self) -> str:
        """The only model the server serves, when the user named none."""
        try:
            outcome = self.endpoint.get("models", _model_ids, attempts=1)
        except EndpointUnavailableError as exc:
            refused = "refused the API key" in str(exc)
            raise VlevalError(
                f"{exc}" + (": pass the server's key in VLEVAL_API_KEY" if refused else "")
            ) from None
        if outcome.value is None:
            raise VlevalError(
                f"openai backend: cannot list the models of {self.api_base} ({outcome.error}); "
                "is the server running? Pass --api-base of a running OpenAI-compatible server"
            )
        served = outcome.value
        if len(served) != 1:
            raise VlevalError(
                f"openai backend: {self.api_base} serves {len(served)} models ({', '.join(served) or 'none'}); "
                "name the one to use with --api-model"
            )
        return served[0]


def _model_ids(response: Any) -> list[str]:
    data = response.get("data") if isinstance(response, dict) else None
    if not isinstance(data, list):
        raise BadReply(f"no model list ({describe_shape(response)})")
    return [str(m["id"]) for m in data if isinstance(m, dict) and "id" in m]


def _token_list(response: Any) -> list[int]:
    tokens = response.get("tokens") if isinstance(response, dict) else None
    if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
        raise BadReply("no token list")
    return tokens


def openai_backend_for(
    model_dir: Path | None = None, *, api_base: str | None = None, **kwargs: Any
) -> OpenAIBackend:
    """``load_backend('openai', model_dir, api_base=..., ...)``: the server serves the model, so the
    local checkpoint directory is only recorded (it need not exist here)."""
    if not api_base:
        raise VlevalError(
            "the openai backend needs the address of a running OpenAI-compatible server: --api-base "
            "http://HOST:PORT/v1 (e.g. one started with `python -m vllm.entrypoints.openai.api_server "
            "--model pretrained/InternVL2_5-8B`)"
        )
    # the runner's settings for local backends
    for local_only in ("dtype", "device", "device_map", "attention"):
        kwargs.pop(local_only, None)
    if model_dir is not None and "tokenizer" not in kwargs:
        kwargs["tokenizer"] = _local_tokenizer(Path(model_dir))
    backend = OpenAIBackend(api_base, **kwargs)
    backend.model_dir = None if model_dir is None else Path(model_dir)
    return backend


def _local_tokenizer(model_dir: Path) -> Any:
    """The checkpoint's tokenizer if its files are here (None otherwise: the server's text is used)."""
    from vleval.models.internvl.tokenizer import load_tokenizer

    try:
        return load_tokenizer(model_dir)
    except (VlevalError, OSError, ValueError):
        return None
