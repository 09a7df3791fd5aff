"""Image features computed once per distinct image (issue 14), and SDPA as a switch: predictions
are the same with and without each, on both checkpoint families."""

import random

import pytest
import torch

from vleval.models.backends.hf import HFBackend, VisionFeatureCache, image_key
from vleval.models.internvl.loader import load_internvl
from vleval.models.internvl.modeling import resolve_attention
from vleval.models.internvl.preprocessing import prepare_pixels
from vleval.models.internvl.tokenizer import load_tokenizer
from vleval.models.internvl.vision import InternAttention
from vleval.synthetic.checkpoints import make_tiny_checkpoint
from vleval.synthetic.images import draw_shapes
from vleval.types import GenerationSettings, Request

FAMILIES = ("qwen2", "internlm2")
SIZES = [(320, 240), (896, 160), (500, 470)]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("vcache")
    return {f: make_tiny_checkpoint(root / f, f) for f in FAMILIES}


@pytest.fixture(scope="module")
def models(checkpoints):
    """family -> (bf16 model: the CPU default, tokenizer)."""
    return {f: (load_internvl(path), load_tokenizer(path)) for f, path in checkpoints.items()}


def _rotations(n_images: int = 3, max_new_tokens: int = 8) -> list[Request]:
    """MMBench-like: every question, then its option rotations on the same image (a second pass over
    the file, as MMBench's TSV orders them); plus a CRPE-like run of 3 rows on one image."""
    rng = random.Random(3)
    drawn = [draw_shapes(rng, SIZES[i % len(SIZES)]) for i in range(n_images)]
    out = []
    for rotation in range(2):
        for i, (image, shapes) in enumerate(drawn):
            colour, shape = shapes[0]
            options = [colour, "grey", "teal", "olive"]
            options = options[rotation:] + options[:rotation]
            lines = [f"{'ABCD'[k]}. {o}" for k, o in enumerate(options)]
            text = f"<image>\nWhat colour is the {shape}?\n" + "\n".join(lines)
            out.append(
                Request("MMBench_DEV_EN_V11", i + rotation * 1_000_000, text, [image.copy()], 6,
                        generation=GenerationSettings(max_new_tokens))
            )  # fmt: skip
    image = draw_shapes(rng, (640, 480))[0]
    for k in range(3):
        text = f"<image>\nIs there a {('circle', 'square', 'triangle')[k]}? Answer yes or no."
        out.append(Request("CRPE_EXIST", k, text, [image], 6, generation=GenerationSettings(max_new_tokens)))
    return out


def _vit_calls(model) -> list[int]:
    calls: list[int] = []
    model.vision_model.register_forward_hook(lambda _m, args, _out: calls.append(args[0].shape[0]))
    return calls


def _in_calls(backend: HFBackend, requests: list[Request]) -> list:
    """The same ``generate`` calls for both paths (two, so the cache spans calls): the calls and the
    requests' order decide the LLM batches, and a batch of other rows or another padded width is
    another GEMM shape (bf16 on AMX, GPUs: other rounding, a near-tie may flip)."""
    return backend.generate(requests[:4]) + backend.generate(requests[4:])


@pytest.mark.numerics
@pytest.mark.parametrize("family", FAMILIES)
def test_predictions_identical_with_and_without_the_vision_cache(family, models):
    """bf16, the CPU default: bit-identical whatever the kernels (AMX, AVX-512, AVX2), because every
    kernel sees the same shapes either way: each request's tiles go through the tower as one tensor
    of that request's tiles, and the LLM batches are formed from tile counts and positions only."""
    model, tokenizer = models[family]
    calls = _vit_calls(model)
    requests = _rotations()
    cached = HFBackend(".", model=model, tokenizer=tokenizer, max_batch_size=4)
    uncached = HFBackend(".", model=model, tokenizer=tokenizer, max_batch_size=4, vision_cache_gb=0)
    assert cached.dtype == torch.bfloat16  # the CPU default, as the reference
    without = _in_calls(uncached, requests)
    tower_without = list(calls)
    with_cache = _in_calls(cached, requests)
    tower_with = calls[len(tower_without) :]
    key = lambda p: (p.index, p.prediction, p.raw, p.tiles, p.prompt)  # noqa: E731
    assert [key(p) for p in with_cache] == [key(p) for p in without]
    assert all(p.error is None for p in with_cache)
    # 9 requests on 4 distinct images: the tower runs once per image (and per request without), each
    # time on exactly one request's tiles: the tensor shapes the uncached path gives it
    assert sorted(tower_without) == sorted(sum(p.tiles) for p in without)
    assert len(tower_with) == 4 and set(tower_with) <= set(tower_without)
    assert cached.describe()["vision_cache"]["hits"] == 5
    # the LLM batches do not depend on the cache: same rows together, so the same padded shapes
    batches = lambda b: [[i.position for i in batch] for batch in b._batches(requests)]  # noqa: E731
    assert batches(cached) == batches(uncached)
    # batching never reaches the features: a cached entry is the tower's output for that request's
    # tiles alone, bit for bit (the same tensor shape through the same kernels)
    request = requests[-1]  # CRPE's: storing it dropped MMBench's entries (another benchmark)
    pixels, _ = prepare_pixels(request.images, request.max_tiles, request.upscale_first_image)
    with torch.inference_mode():
        alone = model.extract_feature(pixels.to(torch.bfloat16))
    assert torch.equal(cached.vision_cache.get(image_key(request)), alone)


def test_image_key_follows_content_and_tiling():
    rng = random.Random(0)
    image = draw_shapes(rng, (300, 200))[0]
    base = Request("X", 0, "<image>\nq", [image], 6)
    assert image_key(base) == image_key(Request("X", 1, "other text", [image.copy()], 6))
    assert image_key(base) != image_key(Request("X", 0, "<image>\nq", [image], 12))
    assert image_key(base) != image_key(Request("X", 0, "<image>\nq", [image], 6, upscale_first_image=True))
    other = image.copy()
    other.putpixel((0, 0), (1, 2, 3))
    assert image_key(base) != image_key(Request("X", 0, "<image>\nq", [other], 6))


def test_cache_keeps_images_for_a_second_pass_and_drops_used_ones_first():
    one = torch.zeros(1, 256, 4)  # 4 KiB
    size = one.numel() * one.element_size()
    cache = VisionFeatureCache(3 * size)
    for key in "abc":
        cache.put("MMBench", key, (1,), one)
    cache.put("MMBench", "d", (1,), one)  # full, nothing used yet: not stored (a, b, c kept)
    assert [cache.tiles(k) for k in "abcd"] == [(1,), (1,), (1,), None]
    assert cache.get("a") is one and cache.get("d") is None
    cache.put("MMBench", "e", (1,), one)  # 'a' was used again: it makes room
    assert cache.tiles("a") is None and cache.tiles("e") == (1,)
    cache.put("CRPE", "f", (1,), one)  # another benchmark: the old entries go
    assert cache.tiles("b") is None and cache.tiles("f") == (1,)
    assert cache.stats()["hits"] == 1 and cache.stats()["misses"] == 1


def test_attention_switch_resolves_by_device():
    assert resolve_attention(None, "cpu") == "reference"
    assert resolve_attention("auto", "cuda:0") == "sdpa"
    assert resolve_attention("reference", "cuda") == "reference"
    assert resolve_attention("sdpa", "cpu") == "sdpa"


@pytest.mark.numerics
@pytest.mark.parametrize("family", FAMILIES)
def test_sdpa_forced_on_cpu_agrees_with_the_reference_kernels(family, checkpoints):
    """The CUDA default (SDPA for the ViT and the LLM), forced on CPU: same maths as the reference
    order. In float32 the features agree to rounding and the greedy answers are the same."""
    path = checkpoints[family]
    model, tokenizer = load_internvl(path, dtype="float32"), load_tokenizer(path)
    requests = _rotations()
    reference = HFBackend(path, model=model, tokenizer=tokenizer, attention="reference")
    sdpa = HFBackend(path, model=model, tokenizer=tokenizer, attention="sdpa")
    expected = reference.generate(requests)
    pixels = torch.randn(2, 3, 448, 448, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref_features = model.extract_feature(pixels)
        got = sdpa.generate(requests)
        assert model.language_model.config._attn_implementation == "sdpa"
        assert all(m.use_sdpa for m in model.vision_model.modules() if isinstance(m, InternAttention))
        torch.testing.assert_close(model.extract_feature(pixels), ref_features, rtol=1e-4, atol=1e-4)
    assert [p.raw for p in got] == [p.raw for p in expected]
    assert sdpa.describe()["attention"] == "sdpa" and reference.describe()["attention"] == "reference"


def test_attention_option_reaches_the_backend():
    import argparse

    from vleval.runner.config import add_options, backend_options, config_from_args

    parser = argparse.ArgumentParser()
    add_options(parser, for_slurm=False)
    base = ["--model", "m", "--data", "MMStar"]
    config = config_from_args(parser.parse_args([*base, "--attention", "reference"]), environ={})
    assert backend_options(config)["attention"] == "reference"
    assert "attention" not in backend_options(config_from_args(parser.parse_args(base), environ={}))
    with pytest.raises(SystemExit):  # argparse refuses other values
        parser.parse_args([*base, "--attention", "flash"])
