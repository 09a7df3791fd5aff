import io
import random
from pathlib import Path

import pytest
from PIL import Image

from vleval.errors import VlevalError
from vleval.models.backends import BACKENDS, Backend, load_backend
from vleval.models.backends.hf import HFBackend
from vleval.models.internvl.postprocess import postprocess
from vleval.models.internvl.template import render_query
from vleval.synthetic.checkpoints import make_tiny_checkpoint
from vleval.synthetic.images import draw_shapes
from vleval.types import GenerationSettings, Request

FAMILIES = ("qwen2", "internlm2", "qwen3", "qwen3_moe")
SIZES = [(320, 240), (896, 160), (150, 640), (500, 470), (24, 18), (1000, 800)]


@pytest.fixture(scope="module")
def backends(tmp_path_factory) -> dict[str, HFBackend]:
    """float32: a batch (left padding, other rows: other GEMM shapes) changes the logits by float32
    rounding only, so a greedy answer flips only at a near-tie that fine; these inputs have none under
    any oneDNN ISA we run (marker ``numerics``). In bf16 the same change is about 1e-2 and flips
    near-ties; the CPU default is bf16 at one request per forward, as the reference."""
    root = tmp_path_factory.mktemp("hf")
    return {
        f: HFBackend(make_tiny_checkpoint(root / f, f), dtype="float32", max_batch_size=4, max_batch_tiles=16)
        for f in FAMILIES
    }


def _requests(n: int = 7, max_new_tokens: int = 10) -> list[Request]:
    rng = random.Random(0)
    out = []
    for i in range(n):
        image, drawn = draw_shapes(rng, SIZES[i % len(SIZES)])
        colour, shape = drawn[0]
        images = [image] if i != 3 else []  # one text-only request in the middle of a batch
        text = f"<image>\nWhat colour is the {shape}? A. {colour} B. grey" if images else f"Say {colour}."
        out.append(
            Request(
                dataset="MMStar",
                index=i,
                text=text,
                images=images,
                max_tiles=6,
                generation=GenerationSettings(max_new_tokens=max_new_tokens - (i % 3)),
            )
        )
    return out


@pytest.mark.numerics
@pytest.mark.parametrize("family", FAMILIES)
def test_batched_equals_one_at_a_time(family, backends):
    backend = backends[family]
    requests = _requests()
    alone = [backend.generate([r])[0] for r in requests]
    batched = backend.generate(requests)  # 4 per batch at most, at most 16 tiles
    assert [p.index for p in batched] == list(range(len(requests)))
    assert [(p.prediction, p.raw, p.tiles, p.prompt) for p in batched] == [
        (p.prediction, p.raw, p.tiles, p.prompt) for p in alone
    ]
    assert all(p.error is None for p in batched)
    assert len({p.prediction for p in batched}) >= 3  # the tiny model answers differently per sample
    first = batched[0]
    assert first.tiles == (7,)  # 320x240 under max 6 tiles: 3x2 grid + thumbnail
    assert first.prompt == render_query(requests[0].text, [7])
    assert batched[3].tiles == () and "<img>" not in batched[3].prompt
    assert all(p.seconds is not None and p.seconds >= 0 for p in batched)


def test_batch_respects_size_and_tile_limits(backends):
    backend = backends["qwen2"]
    requests = _requests()
    batches = [[item.position for item in batch] for batch in backend._batches(requests)]
    assert sorted(sum(batches, [])) == list(range(len(requests)))  # each request once
    tiles = {item.position: item.n_tiles for batch in backend._batches(requests) for item in batch}
    for batch in batches:
        assert len(batch) <= backend.max_batch_size
        assert len(batch) == 1 or sum(tiles[i] for i in batch) <= backend.max_batch_tiles


def test_an_undecodable_image_fails_only_its_own_sample(backends):
    backend = backends["qwen2"]
    buffer = io.BytesIO()
    draw_shapes(random.Random(1), (300, 300))[0].save(buffer, format="PNG")
    broken = Image.open(io.BytesIO(buffer.getvalue()[:200]))  # truncated: fails when decoded
    requests = _requests(4)
    requests[1] = Request("MMStar", 1, "<image>\nWhat?", [broken], 6, generation=GenerationSettings(10))
    predictions = backend.generate(requests)
    assert [p.index for p in predictions] == [0, 1, 2, 3]
    assert predictions[1].error and "image preprocessing failed" in predictions[1].error
    assert [p.error for i, p in enumerate(predictions) if i != 1] == [None, None, None]
    assert predictions[0].prediction == backend.generate([requests[0]])[0].prediction


def test_a_failing_batch_is_retried_one_by_one(backends, monkeypatch):
    backend = backends["internlm2"]
    requests = _requests(4)
    expected = [backend.generate([r])[0].prediction for r in requests]
    real = backend.model.generate
    poisoned = requests[2].text

    def flaky(input_ids, *args, **kwargs):
        if input_ids.shape[0] > 1:
            raise RuntimeError("CUDA out of memory (simulated)")
        if backend.tokenizer.decode(input_ids[0]).find(poisoned.split("\n")[-1]) >= 0:
            raise RuntimeError("bad sample")
        return real(input_ids, *args, **kwargs)

    monkeypatch.setattr(backend.model, "generate", flaky)
    monkeypatch.setattr(backend, "max_batch_size", 4)
    monkeypatch.setattr(backend, "max_batch_tiles", 16)
    predictions = backend.generate(requests)
    assert [p.prediction for i, p in enumerate(predictions) if i != 2] == expected[:2] + expected[3:]
    assert "bad sample" in predictions[2].error
    assert backend.max_batch_size < 4  # out of memory: later batches are smaller


def test_mpo_post_processing_is_applied(backends):
    backend = backends["qwen2"]
    request = _requests(1)[0]
    request.postprocess = "mpo"
    prediction = backend.generate([request])[0]
    assert prediction.prediction == postprocess("mpo", prediction.raw)


def test_load_backend_and_describe(backends, monkeypatch):
    backend = backends["qwen2"]
    assert isinstance(backend, Backend)
    info = backend.describe()
    assert info["name"] == "hf" and info["dtype"] == "float32" and info["device"] == "cpu"
    assert info["kernels"]["torch_cpu_capability"]  # run.json says which kernels computed the run
    assert Path(info["model_dir"]) == backend.model_dir
    again = load_backend("hf", backend.model_dir, model=backend.model, tokenizer=backend.tokenizer)
    assert isinstance(again, HFBackend)
    with pytest.raises(VlevalError, match="unknown backend 'nope'"):
        load_backend("nope", backend.model_dir)
    monkeypatch.setitem(BACKENDS, "fancy", ("vleval.models.backends.not_installed", "X", "fancy"))
    with pytest.raises(VlevalError, match=r"pip install 'vleval\[fancy\]'"):
        load_backend("fancy", backend.model_dir)


def test_several_images_fill_their_blocks_in_order(backends):
    """MMMU-style request: two images, the first upscaled 2x before tiling; each image's tiles fill
    its own <img> block in order, batched or not."""
    backend = backends["internlm2"]
    rng = random.Random(5)
    images = [draw_shapes(rng, (200, 150))[0], draw_shapes(rng, (896, 160))[0]]
    text = "Image-1: <image>\nImage-2: <image>\nWhich image has more circles?"
    multi = Request(
        "MMMU_DEV_VAL", 0, text, images, 12, upscale_first_image=True, generation=GenerationSettings(8)
    )
    single = _requests(2)
    alone = backend.generate([multi])[0]
    assert alone.error is None
    # 400x300 after the 2x upscale: ratio 4:3 -> 4x3 grid + thumbnail; 896x160 (5.6:1) -> 6x1 + thumbnail
    assert alone.tiles == (13, 7)
    assert alone.prompt == render_query(text, [13, 7])
    batched = backend.generate([single[0], multi, single[1]])
    assert batched[1].prediction == alone.prediction and batched[1].tiles == alone.tiles


def test_hit_token_limit_says_whether_generation_stopped_at_max_new_tokens(backends):
    backend = backends["qwen2"]
    cut = backend.generate(_requests(3, max_new_tokens=3))  # budgets 3, 2, 1: too short to end
    long = backend.generate(_requests(3, max_new_tokens=60))
    for short, full in zip(cut, long, strict=True):
        assert short.hit_token_limit == (short.raw != full.raw)  # cut short exactly when the text differs
    assert any(p.hit_token_limit for p in cut)


def test_a_gpt_oss_checkpoint_answers_as_its_reference_chat(tmp_path):
    """InternVL3.5-GPT-OSS (issue 23): the harmony prompt, generation stopping at ``<|return|>``, and the
    answer decoded as the checkpoint's ``chat`` decodes it: special tokens kept, cut at ``<|return|>``,
    stripped; batched on CPU as one at a time."""
    import torch

    from vleval.models.internvl.template import GPT_OSS

    backend = HFBackend(
        make_tiny_checkpoint(tmp_path / "gpt_oss", "gpt_oss"), dtype="float32", max_batch_size=4
    )
    assert backend.template is GPT_OSS
    assert backend.eos_token_id == backend.tokenizer.convert_tokens_to_ids("<|return|>")
    requests = _requests(4, max_new_tokens=24)
    predictions = backend.generate(requests)
    assert all(p.error is None for p in predictions)
    assert predictions[0].prompt == render_query(requests[0].text, [7], template=GPT_OSS)
    assert any(not p.hit_token_limit for p in predictions)  # the tiny model says <|return|> at times
    for request, prediction in zip(requests, predictions, strict=True):
        ids = torch.tensor([backend.tokenizer(prediction.prompt).input_ids])
        pixels = None
        if request.images:
            from vleval.models.internvl.preprocessing import prepare_pixels

            pixels, _ = prepare_pixels(request.images, request.max_tiles, request.upscale_first_image)
        new = backend.model.generate(
            ids,
            torch.ones_like(ids),
            pixels,
            max_new_tokens=request.generation.max_new_tokens,
            eos_token_id=backend.eos_token_id,
            pad_token_id=backend.pad_token_id,
        )
        text = backend.tokenizer.batch_decode(new, skip_special_tokens=False)[0]
        assert prediction.raw == text.split("<|return|>")[0].strip()
