"""The time bill (vleval.cost): token counts equal what the hf backend feeds, tile counts from image
headers equal the tiler's, FLOPs follow the model's size, the estimate names its calibration."""

import base64
import io
import json
import random

import pytest
from PIL import Image

from vleval.cli import main
from vleval.cost import (
    BenchmarkBill,
    Calibration,
    ModelDims,
    benchmark_bill,
    bill_estimate,
    bill_lines,
    estimate_seconds,
    fit_calibration,
    header_images,
    load_calibrations,
    pick_calibration,
    save_calibration,
)
from vleval.datasets.loading import load_samples
from vleval.datasets.registry import benchmark_names, get_benchmark
from vleval.models.backends.hf import HFBackend
from vleval.models.internvl.config import read_config
from vleval.models.internvl.preprocessing import load_tiles, tile_count
from vleval.models.internvl.prompts import build_request
from vleval.protocol import get_protocol
from vleval.runner.targets import card_from_checkpoint
from vleval.synthetic.benchmarks import make_benchmark_tsvs
from vleval.synthetic.checkpoints import make_tiny_checkpoint
from vleval.synthetic.images import draw_shapes
from vleval.types import GenerationSettings

FAMILIES = ("qwen2", "internlm2")


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    root = tmp_path_factory.mktemp("cost")
    make_benchmark_tsvs(benchmark_names(), root / "LMUData", n=2, seed=11)
    return root / "LMUData", {f: make_tiny_checkpoint(root / f"tiny-{f}", f) for f in FAMILIES}


@pytest.mark.parametrize(("family", "protocol_name"), [("qwen2", "2024.12"), ("internlm2", "2026.08")])
def test_bill_tokens_equal_the_tokens_the_hf_backend_feeds(family, protocol_name, suite):
    """Every benchmark of the synthetic suite: the bill (image headers only) against the requests
    built from decoded images and run through the backend (one new token each)."""
    data_dir, checkpoints = suite
    path = checkpoints[family]
    protocol = get_protocol(protocol_name)
    model_card = card_from_checkpoint(path)
    backend = HFBackend(path)
    dims = ModelDims.from_config(read_config(path))
    for name in benchmark_names():
        card = get_benchmark(name)
        samples = load_samples(card, protocol, data_dir, verify_md5=False)
        bill = benchmark_bill(
            card, samples, model_card=model_card, protocol=protocol, cot=False,
            tokenizer=backend.tokenizer, dims=dims,
        )  # fmt: skip
        requests = [build_request(s, card, model_card, protocol, False) for s in samples]
        for request in requests:
            request.generation = GenerationSettings(max_new_tokens=1)
        fed = backend.generate(requests)
        assert all(p.error is None for p in fed), name
        assert bill.samples == len(samples) and not bill.problems
        assert bill.prompt_tokens == sum(len(backend.tokenizer(p.prompt).input_ids) for p in fed), name
        assert bill.tiles == sum(sum(p.tiles) for p in fed), name
        assert bill.image_tokens == bill.tiles * 256
        assert bill.generation_budget == len(samples) * card.max_new_tokens
        if name.startswith(("MMBench", "CRPE")):  # rows share images: the tower runs once per image
            assert bill.distinct_tiles < bill.tiles
        assert 0 < bill.flops_low < bill.flops_high


def test_tile_counts_from_sizes_equal_the_tiler():
    rng = random.Random(2)
    sizes = [(24, 18), (320, 240), (896, 160), (150, 640), (448, 448), (1000, 800), (2000, 300), (500, 470)]
    for width, height in sizes:
        image = draw_shapes(rng, (width, height))[0]
        for max_tiles in (1, 6, 12, 24):
            for upscale in (False, True):
                expected = len(load_tiles(image, max_tiles, upscale=upscale))
                assert tile_count(width, height, max_tiles, upscale) == expected, (width, height, max_tiles)


def test_header_images_read_sizes_without_decoding_pixels():
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 20, 30)).save(buffer, format="PNG")
    truncated = base64.b64encode(buffer.getvalue()[:100]).decode()  # header intact, pixels cut off
    (image,) = header_images([truncated])
    assert image.size == (640, 480)
    with pytest.raises(OSError):
        image.load()


def test_flops_follow_the_model_size(suite):
    _, checkpoints = suite
    dims = ModelDims.from_config(read_config(checkpoints["qwen2"]))
    assert dims.tokens_per_tile == 256
    # decoding: 2 x weights per token, plus attention over the context
    one = dims.decode_flops(1000, 1)
    assert one == 2 * dims.llm_layer_params + 2 * dims.llm_hidden * dims.vocab_size + 4 * 2 * 128 * 1000
    assert dims.prefill_flops(2000) > 2 * dims.prefill_flops(1000)  # attention grows quadratically
    assert dims.decode_flops(10, 0) == 0


def test_calibration_nearest_shape_on_the_same_device():
    entries = [
        Calibration("NVIDIA H200", "1B", 630_000_000, 200.0, "2026-11-30"),
        Calibration("NVIDIA H200", "8B", 7_700_000_000, 500.0, "2026-11-30"),
        Calibration("cpu", "tiny", 455_000, 0.05, "2026-11-30"),
    ]
    assert pick_calibration(entries, "NVIDIA H200", 3_000_000_000).shape == "8B"
    assert pick_calibration(entries, "NVIDIA H200", 900_000_000).shape == "1B"
    assert pick_calibration(entries, "NVIDIA A100", 900_000_000) is None
    assert estimate_seconds(1e15, entries[1]) == 2.0


def test_dry_run_prints_the_bill_with_a_dated_estimate(suite, tmp_path, monkeypatch, capsys):
    data_dir, checkpoints = suite
    table = tmp_path / "calibration.json"
    entry = {"device": "cpu", "shape": "tiny", "llm_params": 455_000, "achieved_tflops": 0.01,
             "date": "2026-11-30", "mode": "hf batched + vision cache"}  # fmt: skip
    table.write_text(json.dumps({"entries": [entry]}))
    monkeypatch.setenv("VLEVAL_CALIBRATION", str(table))
    args = ["run", "--model", str(checkpoints["qwen2"]), "--data", "MMStar", "CRPE_EXIST", "--data-dir",
            str(data_dir), "--skip-md5-check", "--judge", "none", "--device", "cpu", "--dry-run",
            "--work-dir", str(tmp_path / "work")]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "time bill" in out and "prompt tokens" in out and "generation budget" in out
    assert "ESTIMATE" in out and "calibrated 2026-11-30" in out
    monkeypatch.setenv("VLEVAL_CALIBRATION", str(tmp_path / "absent.json"))
    assert main(args) == 0
    assert "no wall-time estimate" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# the estimate: per-sample, per-token and compute terms, fit to finished runs
# --------------------------------------------------------------------------------------------------
FITTED = Calibration("cpu", "tiny", 455_000, None, "2026-12-07", seconds_per_sample=0.2,
                     seconds_per_token=0.01, typical_new_tokens=30.0, source="bench/calibrate_runs.py over 5")  # fmt: skip


def _bill(samples=100, budget_per_sample=4096, low=1e12, high=5e12):
    return BenchmarkBill("MMStar", samples=samples, generation_budget=samples * budget_per_sample,
                         vision_flops=low, decode_flops_budget=high - low)  # fmt: skip


def test_small_models_pay_per_sample_and_per_token_not_per_flop():
    est = bill_estimate(_bill(), FITTED)
    assert est.low == pytest.approx(100 * 0.2 + 100 * 0.01)  # every answer one token
    assert est.likely == pytest.approx(100 * 0.2 + 100 * 30 * 0.01)  # answers as long as in the runs
    assert est.high == pytest.approx(100 * 0.2 + 100 * 4096 * 0.01)  # every answer at its budget
    # a budget below the typical length caps the likely figure
    assert bill_estimate(_bill(budget_per_sample=16), FITTED).likely == pytest.approx(100 * 0.2 + 1600 * 0.01)


def test_compute_rate_only_entry_and_unknown_answer_length_estimate_on_the_safe_side():
    rate_only = Calibration("NVIDIA H200", "8B", 7_700_000_000, 0.5, "2026-11-30")
    est = bill_estimate(_bill(), rate_only)
    assert est.low == pytest.approx(2.0) and est.high == pytest.approx(10.0)
    assert est.likely == est.high  # no typical answer length known: the full budget
    assert estimate_seconds(1e12, FITTED, samples=3, new_tokens=10) == pytest.approx(0.7)


def test_fit_recovers_the_costs_that_made_the_seconds():
    rng = random.Random(0)
    cells = []
    for _ in range(6):
        samples, tokens, flops = rng.randint(8, 1500), rng.randint(10, 40_000), rng.uniform(1e11, 1e13)
        cells.append((samples, tokens, flops, samples * 0.15 + tokens * 0.004 + flops / 1e12 * 2.0))
    per_sample, per_token, per_tflop = fit_calibration(cells)
    assert per_sample == pytest.approx(0.15, rel=1e-3)
    assert per_token == pytest.approx(0.004, rel=1e-3)
    assert per_tflop == pytest.approx(2.0, rel=1e-3)
    with pytest.raises(ValueError):
        fit_calibration([])


def test_placeholders_give_no_estimate_and_the_table_survives_unknown_keys(tmp_path):
    table = tmp_path / "calibration.json"
    placeholder = {"device": "NVIDIA H200", "shape": "8B", "llm_params": 7_737_516_032, "achieved_tflops": None,
                   "date": None, "mode": "hf batched sdpa+cache", "source": "placeholder: filled by bench/gpu.sh",
                   "later_field": 1}  # fmt: skip
    table.write_text(json.dumps({"entries": [placeholder], "note": "kept"}))
    entries = load_calibrations(table)
    assert len(entries) == 1 and pick_calibration(entries, "NVIDIA H200", 7_000_000_000) is None
    # the first GPU run replaces the placeholder of its (device, shape) and keeps the rest of the table
    save_calibration(table, Calibration("NVIDIA H200", "8B", 7_737_516_032, 420.0, "2026-12-08",
                                        mode="hf batched sdpa+cache"))  # fmt: skip
    save_calibration(table, FITTED)
    # a later compute-rate measurement of the same CPU shape sits beside the fit and does not replace it
    save_calibration(table, Calibration("cpu", "tiny", 455_000, 0.003, "2026-12-09", mode="cpu default"))
    written = json.loads(table.read_text())
    assert written["note"] == "kept" and len(written["entries"]) == 3
    assert pick_calibration(load_calibrations(table), "NVIDIA H200", 7_000_000_000).achieved_tflops == 420.0
    assert pick_calibration(load_calibrations(table), "cpu", 455_000) == FITTED


def test_the_bill_names_the_calibration_it_used_and_its_date():
    dims = ModelDims(vit_hidden=64, vit_intermediate=128, vit_layers=2, patch_size=14, tokens_per_tile=256,
                     shuffle_factor=4, llm_hidden=64, llm_intermediate=128, llm_layers=2, llm_heads=4,
                     llm_kv_heads=2, vocab_size=1000)  # fmt: skip
    text = "\n".join(bill_lines([_bill()], dims, FITTED, "cpu"))
    assert "bench/calibrate_runs.py over 5" in text and "calibrated 2026-12-07" in text
    assert "0.2 s per sample" in text and "answers of 30 tokens on average" in text
    assert "no wall-time estimate" in "\n".join(bill_lines([_bill()], dims, None, "NVIDIA H200"))
