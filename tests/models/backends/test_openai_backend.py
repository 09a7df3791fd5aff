"""The openai backend against a local fake OpenAI-compatible server (vleval.synthetic.judge_server):
what it sends, in which order it answers, how many requests it keeps in flight, and how it retries.
(Equality with the hf backend against vLLM's real server: test_vllm_backend.py, in the vLLM venv.)"""

from __future__ import annotations

import base64
import io
import time

import pytest
from PIL import Image, ImageChops

from vleval.errors import VlevalError
from vleval.models.backends.base import load_backend
from vleval.models.backends.openai_api import OpenAIBackend
from vleval.models.internvl.template import SYSTEM_MESSAGE
from vleval.synthetic.judge_server import JudgeServer
from vleval.types import GenerationSettings, Request


def _text_part(messages: list[dict]) -> str:
    return next(p["text"] for p in messages[-1]["content"] if p["type"] == "text")


def echo_answer(model: str, messages: list[dict], temperature: float) -> str:
    """Answers with the last line of the user's text, then junk after the end token."""
    return f"  echo: {_text_part(messages).splitlines()[-1]}<|im_end|>ignored"


@pytest.fixture
def server():
    with JudgeServer(echo_answer) as running:
        yield running


def _decode(url: str) -> Image.Image:
    prefix = "data:image/png;base64,"
    assert url.startswith(prefix)
    return Image.open(io.BytesIO(base64.b64decode(url[len(prefix) :])))


def _request(index: int, text: str, images: list[Image.Image], **kw) -> Request:
    return Request("Synthetic", index, text, images, kw.pop("max_tiles", 6), **kw)


def test_request_body_carries_prompt_images_and_greedy_settings(server, workload):
    backend = OpenAIBackend(server.base_url, workers=1)
    (prediction,) = backend.generate([workload[0]])
    (body,) = server.requests
    assert body["model"] == "local-judge"  # the single model the server lists
    assert body["temperature"] == 0
    assert body["max_tokens"] == workload[0].generation.max_new_tokens
    system, user = body["messages"]
    assert system == {"role": "system", "content": SYSTEM_MESSAGE}
    assert [part["type"] for part in user["content"]] == ["image_url", "text"]
    assert user["content"][1]["text"] == workload[0].text  # <image> placeholder kept for vLLM
    sent = _decode(user["content"][0]["image_url"]["url"])
    assert (
        sent.mode == "RGB"
        and ImageChops.difference(sent, workload[0].images[0].convert("RGB")).getbbox() is None
    )
    assert body["mm_processor_kwargs"]["max_dynamic_patch"] == 6
    assert body["add_special_tokens"] is True
    # Answer cut at <|im_end|> and stripped, like the hf backend's decoding.
    assert prediction.prediction == "echo: " + workload[0].text.splitlines()[-1]
    assert prediction.error is None and prediction.tiles == (1,)


def test_images_go_out_as_the_tiler_must_see_them(server):
    wide = Image.new("RGB", (500, 400), (10, 200, 30))
    rgba = Image.new("RGBA", (64, 32), (250, 0, 0, 0))  # fully transparent red
    backend = OpenAIBackend(server.base_url, workers=1)
    mmmu = _request(
        0, "Image-1: <image>\nImage-2: <image>\nWhich?", [wide, rgba], max_tiles=12, upscale_first_image=True
    )
    (prediction,) = backend.generate([mmmu])
    parts = server.requests[0]["messages"][1]["content"]
    first, second = (_decode(p["image_url"]["url"]) for p in parts[:2])
    assert first.size == (1000, 800)  # MMMU: first image upscaled 2x before tiling
    assert second.size == (64, 32) and second.mode == "RGB"
    assert second.getpixel((0, 0)) == (250, 0, 0)  # alpha dropped as convert('RGB'), not blended on white
    assert prediction.tiles == (13, 3)  # 1000x800 at cap 12: 4x3 + thumbnail; 64x32: 2x1 + thumbnail
    assert server.requests[0]["mm_processor_kwargs"]["max_dynamic_patch"] == 12


def test_mpo_requests_are_post_processed(server):
    backend = OpenAIBackend(server.base_url, workers=1)
    (prediction,) = backend.generate([_request(0, "Think.\nFinal answer: B", [], postprocess="mpo")])
    assert prediction.raw.startswith("  echo: Final answer: B")
    assert prediction.prediction == "B"


def test_placeholders_for_other_servers(server, workload):
    OpenAIBackend(server.base_url, image_placeholder=None, vllm_extras=False).generate([workload[0]])
    OpenAIBackend(server.base_url, image_placeholder="<IMAGE_TOKEN>").generate([workload[0]])
    plain, lmdeploy = server.requests
    assert _text_part(plain["messages"]) == workload[0].text.removeprefix("<image>\n")
    assert not {"mm_processor_kwargs", "add_special_tokens", "stop_token_ids"} & set(plain)
    assert _text_part(lmdeploy["messages"]).startswith("<IMAGE_TOKEN>\n")


def test_requests_run_concurrently_and_answers_keep_their_order(server):
    server.delay_s = 0.3
    backend = OpenAIBackend(server.base_url, workers=4)
    requests = [_request(i, f"question {i}", []) for i in range(8)]
    started = time.perf_counter()
    predictions = backend.generate(requests)
    elapsed = time.perf_counter() - started
    assert [p.prediction for p in predictions] == [f"echo: question {i}" for i in range(8)]
    assert [p.index for p in predictions] == list(range(8))
    assert server.peak_concurrency == 4
    assert elapsed < 8 * 0.3  # not one at a time


def test_transient_failures_are_retried(server):
    backend = OpenAIBackend(server.base_url, workers=1, retries=3, backoff_s=0.01)
    server.fail_next(2, 503)
    (prediction,) = backend.generate([_request(0, "hello", [])])
    assert prediction.error is None and prediction.prediction == "echo: hello"
    assert server.request_count == 3


def test_a_sample_that_keeps_failing_gets_an_error_and_the_others_go_on(server):
    backend = OpenAIBackend(server.base_url, workers=1, retries=2, backoff_s=0.01)
    server.fail_next(2, 500)
    first, second = backend.generate([_request(0, "a", []), _request(1, "b", [])])
    assert first.error and "HTTP 500" in first.error and first.prediction == ""
    assert second.error is None and second.prediction == "echo: b"


def test_client_errors_are_not_retried(server):
    backend = OpenAIBackend(server.base_url, workers=1, retries=5, backoff_s=0.01)
    server.fail_next(1, 400)
    (prediction,) = backend.generate([_request(0, "too long", [])])
    assert "HTTP 400" in prediction.error
    assert server.request_count == 1


def test_unreachable_server_is_a_clear_error():
    with JudgeServer() as running:
        dead = running.base_url  # the port is free again once the server has stopped
    with pytest.raises(VlevalError, match="is the server running"):
        OpenAIBackend(dead, retries=1, timeout_s=2)


def test_load_backend_dispatches_to_the_openai_backend(server, tmp_path):
    backend = load_backend(
        "openai",
        tmp_path / "InternVL2_5-8B",
        api_base=server.base_url,
        workers=2,
        dtype=None,
        device="cuda:0",
    )
    assert isinstance(backend, OpenAIBackend)
    assert backend.describe()["model_dir"].endswith("InternVL2_5-8B")
    with pytest.raises(VlevalError, match="--api-base"):
        load_backend("openai", tmp_path)


def test_with_the_checkpoint_here_it_asks_for_token_ids_and_falls_back_to_text(server, tiny_checkpoints):
    backend = load_backend("openai", tiny_checkpoints["qwen2"], api_base=server.base_url)
    assert backend.describe()["decodes_locally"]
    (prediction,) = backend.generate([_request(0, "hi", [])])
    assert server.requests[0]["return_token_ids"] is True
    assert prediction.prediction == "echo: hi"  # this server sends no token ids: its text is used


def test_an_undecodable_image_fails_only_its_sample(server):
    class Broken(Image.Image):
        def convert(self, *args, **kwargs):
            raise OSError("image file is truncated")

    backend = OpenAIBackend(server.base_url, workers=2)
    bad, good = backend.generate([_request(0, "<image>\nbad", [Broken()]), _request(1, "fine", [])])
    assert "truncated" in bad.error and bad.prediction == ""
    assert good.error is None and server.request_count == 1


def test_generation_settings_reach_the_server(server):
    request = _request(0, "short", [], generation=GenerationSettings(max_new_tokens=7))
    OpenAIBackend(server.base_url).generate([request])
    assert server.requests[0]["max_tokens"] == 7


# --------------------------------------------------------------------------------------------------
# Faults (issue 10): secrets stay out of errors, a refused key or a dead server fails fast
# --------------------------------------------------------------------------------------------------
SECRET = "sk-backend-SECRET-1122334455"


def test_a_key_echoed_by_the_server_is_not_in_the_prediction_error(server, caplog):
    caplog.set_level("DEBUG")
    backend = OpenAIBackend(
        server.base_url, "m", api_key=SECRET, retries=2, backoff_s=0.01, vllm_extras=False
    )
    server.inject("echo_key")
    (prediction,) = backend.generate([_request(0, "hi", [])])
    assert "HTTP 500" in prediction.error and "Authorization" in prediction.error
    assert SECRET in str(server.auth_headers)
    for text in (prediction.error, caplog.text, repr(vars(backend)), str(backend.describe())):
        assert SECRET not in text


def test_a_refused_key_fails_every_sample_after_one_call(server):
    backend = OpenAIBackend(server.base_url, "m", api_key=SECRET, workers=1, retries=3, vllm_extras=False)
    server.fail_next(1, 401)
    predictions = backend.generate([_request(i, "hi", []) for i in range(5)])
    assert server.request_count == 1
    assert all("refused the API key" in p.error and p.prediction == "" for p in predictions)


def test_a_server_that_stops_answering_fails_the_rest_fast(server):
    backend = OpenAIBackend(server.base_url, "m", workers=1, retries=2, timeout_s=0.2, vllm_extras=False)
    backend.endpoint.max_consecutive_timeouts = 3
    server.inject("hang")
    predictions = backend.generate([_request(i, "hi", []) for i in range(6)])
    assert server.request_count == 3
    assert all(p.error for p in predictions) and "unreachable" in predictions[-1].error


@pytest.mark.parametrize(
    ("shape", "expected"),
    [("content_parts", "echo: hi"), ("message_string", "echo: hi"), ("content_null", None)],
)
def test_odd_reply_shapes(server, shape, expected):
    backend = OpenAIBackend(server.base_url, "m", retries=1, vllm_extras=False)
    server.inject(shape)
    (prediction,) = backend.generate([_request(0, "hi", [])])
    assert prediction.prediction == (expected or "")
    assert (prediction.error is None) == (expected is not None)


def test_credentials_in_the_api_base_are_not_recorded(server):
    url = server.base_url.replace("http://", "http://bob:hunter2@") + "?key=" + SECRET
    backend = OpenAIBackend(url, "m", vllm_extras=False)
    (prediction,) = backend.generate([_request(0, "hi", [])])
    assert prediction.prediction == "echo: hi"
    assert backend.describe()["api_base"] == server.base_url.replace("http://", "http://***@") + "?key=***"
