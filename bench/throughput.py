"""Throughput of InternVL2.5 inference: one sample at a time (the reference toolkit's way) vs the
batched ``hf`` backend, with SDPA and with the vision-feature cache (and ``vllm`` when it is installed
and asked for), on an MMStar-like and an MMBench-like workload.

    python bench/throughput.py                       # tiny random checkpoint, CPU, a few minutes
    python bench/throughput.py --shape 1B --samples 128 --new-tokens 64    # real shapes, on a GPU
    python bench/throughput.py --shape 8B --samples 128 --new-tokens 64 --calibrate

Workloads: ``mmstar`` (one distinct image per sample, a multiple-choice question, the reference prompt
format) and ``mmbench`` (every question, then its option rotations on the same image, in the order
MMBench's file has them: each image is asked about four times). A fixed number of generated tokens
per sample (``<|im_end|>`` is suppressed until then). Weights are random: ``tiny`` is the synthetic
checkpoint of the test suite (written to disk and loaded through the real loader); ``1B``/``8B`` build
InternVL2_5-1B/-8B shapes directly in memory (third-party dimensions, see docs/model-protocol.md),
so no download is needed. The table reports samples/s, generated tokens/s, peak memory, how many
predictions differ from the one-at-a-time run (and with which kernels: oneDNN's bf16 matmul, its ISA
cap, torch's CPU capability; ``vleval.models.kernels``), the useful FLOPs (``vleval.cost``: the vision tower
once per distinct image) per second achieved, and the compute floor (FLOPs / the device's peak).
``--calibrate`` stores the achieved TFLOP/s of the default mode in the table ``--dry-run`` estimates
wall times from (``src/vleval/data/throughput_calibration.json``). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from vleval.models.backends.hf import HFBackend
from vleval.models.kernels import describe_kernels, kernel_report
from vleval.synthetic.images import COLOURS, draw_shapes
from vleval.types import GenerationSettings, Request

# MMStar images are mostly a few hundred pixels a side: 1 to 7 tiles under max_num 6.
WORKLOAD_SIZES = ((512, 512), (640, 480), (400, 300), (1024, 768), (300, 420), (800, 400))
MCQ_SUFFIX = "Answer with the option's letter from the given choices directly."

# InternVL2_5-1B / -8B dimensions (UNVERIFIED third-party copies of the published config.json files;
# docs/model-protocol.md).
VIT_300M = {
    "hidden_size": 1024,
    "num_attention_heads": 16,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "image_size": 448,
    "patch_size": 14,
    "norm_type": "layer_norm",
    "qkv_bias": True,
    "qk_normalization": False,
    "layer_norm_eps": 1e-6,
    "hidden_act": "gelu",
}
REAL_SHAPES: dict[str, dict[str, Any]] = {
    "1B": {
        "family": "qwen2",
        "llm": {
            "architectures": ["Qwen2ForCausalLM"],
            "hidden_size": 896,
            "intermediate_size": 4864,
            "num_hidden_layers": 24,
            "num_attention_heads": 14,
            "num_key_value_heads": 2,
            "vocab_size": 151674,
            "rms_norm_eps": 1e-6,
            "rope_theta": 1000000.0,
            "max_position_embeddings": 32768,
            "hidden_act": "silu",
        },
    },
    "8B": {
        "family": "internlm2",
        "llm": {
            "architectures": ["InternLM2ForCausalLM"],
            "hidden_size": 4096,
            "intermediate_size": 14336,
            "num_hidden_layers": 32,
            "num_attention_heads": 32,
            "num_key_value_heads": 8,
            "vocab_size": 92553,
            "rms_norm_eps": 1e-5,
            "rope_theta": 1000000.0,
            "rope_scaling": {"type": "dynamic", "factor": 2.0},
            "max_position_embeddings": 32768,
            "bias": False,
            "hidden_act": "silu",
        },
    },
}


def _mcq(rng: random.Random, shape: str, colour: str, rotation: int = 0) -> str:
    wrong = [c for c in COLOURS if c != colour][:3]
    options = [colour, *wrong]
    rng.shuffle(options)
    options = options[rotation:] + options[:rotation]
    lines = [f"What colour is the {shape} drawn first?"] + [
        f"{'ABCD'[k]}. {o}" for k, o in enumerate(options)
    ]
    return "<image>\n" + "\n".join(lines) + "\n" + MCQ_SUFFIX


def workload(n: int, new_tokens: int, seed: int = 0, kind: str = "mmstar") -> list[Request]:
    """``n`` requests. mmstar: a new image each; mmbench: n // 4 images, each question asked in its
    four option rotations, all questions first and then each rotation set (MMBench's file order)."""
    rng = random.Random(seed)
    settings = GenerationSettings(max_new_tokens=new_tokens)
    if kind == "mmstar":
        requests = []
        for i in range(n):
            image, drawn = draw_shapes(rng, WORKLOAD_SIZES[i % len(WORKLOAD_SIZES)], count=4)
            colour, shape = drawn[0]
            text = _mcq(rng, shape, colour)
            requests.append(Request("MMStar", i, text, [image], 6, generation=settings))
        return requests
    questions = []
    for i in range(max(1, n // 4)):
        image, drawn = draw_shapes(rng, WORKLOAD_SIZES[i % len(WORKLOAD_SIZES)], count=4)
        questions.append((image, *drawn[0], rng.random()))
    requests = []
    for rotation in range(4):
        for i, (image, colour, shape, order_seed) in enumerate(questions):
            text = _mcq(random.Random(order_seed), shape, colour, rotation)
            index = i + rotation * 1_000_000
            requests.append(Request("MMBench_DEV_EN_V11", index, text, [image], 6, generation=settings))
    return requests[:n]


def build_backend(
    shape: str, dtype: str | None, device: str | None, work_dir: Path, **kwargs: Any
) -> HFBackend:
    from vleval.synthetic.checkpoints import make_tiny_checkpoint

    if shape == "tiny":
        path = make_tiny_checkpoint(work_dir / "tiny-qwen2", "qwen2")
        return HFBackend(path, dtype=dtype, device=device, ignore_eos=True, **kwargs)
    from vleval.models.engine import default_device
    from vleval.models.internvl.config import parse_config
    from vleval.models.internvl.loader import resolve_dtype
    from vleval.models.internvl.modeling import InternVLModel
    from vleval.models.internvl.tokenizer import load_tokenizer
    from vleval.synthetic.tokenizer import write_internlm2_tokenizer, write_qwen2_tokenizer

    spec = REAL_SHAPES[shape]
    tok_dir = work_dir / f"tok-{spec['family']}"
    (write_qwen2_tokenizer if spec["family"] == "qwen2" else write_internlm2_tokenizer)(tok_dir)
    tokenizer = load_tokenizer(tok_dir)
    config = parse_config(
        {
            "model_type": "internvl_chat",
            "vision_config": VIT_300M,
            "llm_config": spec["llm"],
            "downsample_ratio": 0.5,
            "ps_version": "v2",
            "select_layer": -1,
            "force_image_size": 448,
        }
    )
    device = default_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    torch.manual_seed(0)
    with torch.device(device):
        model = InternVLModel(config).to(torch_dtype).eval()
    model.img_context_token_id = tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>")
    return HFBackend(tok_dir, device=device, model=model, tokenizer=tokenizer, ignore_eos=True, **kwargs)


def _peak_memory_gb(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB, process-wide


def _reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def measure(name: str, run, requests: list[Request], new_tokens: int, device: str) -> tuple[dict, list]:
    _reset_peak(device)
    start = time.perf_counter()
    predictions = run(requests)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    errors = [p.error for p in predictions if p.error]
    return {
        "mode": name,
        "samples": len(requests),
        "seconds": round(seconds, 3),
        "samples_per_s": round(len(requests) / seconds, 3),
        "tokens_per_s": round(len(requests) * new_tokens / seconds, 1),
        "peak_memory_gb": round(_peak_memory_gb(device), 3),
        "errors": len(errors),
    }, predictions


# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) from the vendors' data sheets, by name fragment.
PEAK_TFLOPS = (("H200", 989.0), ("H100 PCIe", 756.0), ("H100", 989.0), ("A100", 312.0), ("L40S", 362.0))


def device_peak_tflops(device_name: str) -> float | None:
    for fragment, peak in PEAK_TFLOPS:
        if fragment in device_name:
            return peak
    return None


def workload_flops(backend: HFBackend, predictions: list, new_tokens: int) -> float:
    """Useful FLOPs of a workload as ``vleval.cost`` counts them for the bill: prompts as fed, the
    vision tower once per distinct image, ``new_tokens`` decoded per sample."""
    from vleval.cost import ModelDims

    dims = ModelDims.from_config(backend.model.config)
    total, images = 0.0, set()
    for request, prediction in predictions:
        n = len(backend.tokenizer(prediction.prompt).input_ids)
        total += dims.prefill_flops(n) + dims.decode_flops(n, new_tokens)
        from vleval.models.backends.hf import image_key

        if request.images and image_key(request) not in images:
            images.add(image_key(request))
            total += sum(prediction.tiles) * dims.vision_flops_per_tile()
    return total


MODES = {  # name -> (batch size or None for --max-batch-size, attention, vision cache)
    "one-at-a-time": (1, "reference", False),
    "hf batched": (None, "reference", False),
    "hf batched sdpa": (None, "sdpa", False),
    "hf batched sdpa+cache": (None, "sdpa", True),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=["tiny", *REAL_SHAPES], default="tiny")
    parser.add_argument("--workload", choices=["mmstar", "mmbench", "both"], default="both")
    parser.add_argument("--samples", type=int, default=None, help="per workload; default 24 (tiny) / 128")
    parser.add_argument("--new-tokens", type=int, default=None, help="default 16 (tiny) / 64")
    parser.add_argument("--dtype", default=None, help="default bf16 (as the reference)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--max-batch-size", type=int, default=None, help="default 8 (tiny) / 32")
    parser.add_argument("--max-batch-tiles", type=int, default=None, help="default 64 (tiny) / 256")
    parser.add_argument(
        "--modes", nargs="+", choices=list(MODES), default=list(MODES), help="default: all four"
    )
    parser.add_argument("--vllm", action="store_true", help="also run the vllm backend (tiny shape)")
    parser.add_argument("--peak-tflops", type=float, default=None, help="device peak (default: known GPUs)")
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="store the achieved TFLOP/s of the default configuration ('hf batched sdpa+cache' on CUDA, "
        "'cpu default' on CPU) in src/vleval/data/throughput_calibration.json",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="JSON file (default bench/results-<shape>.json)"
    )
    args = parser.parse_args(argv)

    tiny = args.shape == "tiny"
    samples = args.samples or (24 if tiny else 128)
    new_tokens = args.new_tokens or (16 if tiny else 64)
    batch_size = args.max_batch_size or (8 if tiny else 32)
    batch_tiles = args.max_batch_tiles or (64 if tiny else 256)
    work_dir = Path(tempfile.mkdtemp(prefix="vleval-bench-"))
    base = build_backend(args.shape, args.dtype, args.device, work_dir, vision_cache_gb=0)
    device = base.device
    device_name = torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"
    peak = args.peak_tflops or device_peak_tflops(device_name)
    modes = dict(MODES)
    if args.calibrate and not device.startswith("cuda"):  # the CPU default: reference kernels, cache on
        modes["cpu default"] = (1, "reference", True)

    def backend_for(mode: str) -> HFBackend:
        size, attention, cache = modes[mode]
        return HFBackend(
            base.model_dir, model=base.model, tokenizer=base.tokenizer, ignore_eos=True,
            max_batch_size=size or batch_size, max_batch_tiles=batch_tiles, attention=attention,
            vision_cache_gb=4.0 if cache else 0,
        )  # fmt: skip

    kinds = ["mmstar", "mmbench"] if args.workload == "both" else [args.workload]
    run_modes = [m for m in modes if m in args.modes or m == "cpu default"]
    base.generate(workload(2, new_tokens, seed=99))  # warm-up (kernels, allocator)
    results = []
    # Which kernels computed the predictions: "differ" counts depend on them (bf16 rounding follows
    # the kernel and the shapes it sees: AMX, AVX-512, AVX2 and GPUs each flip other near-ties).
    kernels = kernel_report(device)
    print(
        f"shape={args.shape} device={device} ({device_name}) dtype={base.describe()['dtype']} "
        f"samples={samples}/workload new_tokens={new_tokens} max_batch_size={batch_size} "
        f"max_batch_tiles={batch_tiles} peak={peak or 'unknown'} TFLOP/s"
    )
    for kind in kinds:
        requests = workload(samples, new_tokens, kind=kind)
        rows, outputs = [], {}
        for mode in run_modes:
            backend = backend_for(mode)
            if modes[mode][0] == 1:
                run = lambda rs, b=backend: [b.generate([r])[0] for r in rs]  # noqa: E731
            else:
                run = backend.generate
            row, outputs[mode] = measure(mode, run, requests, new_tokens, device)
            rows.append(row)
        if args.vllm:
            try:
                from vleval.models.backends.vllm import throughput_backend

                os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache on CPU: plenty here
                engine = throughput_backend(base.model_dir, dtype=base.describe()["dtype"])
                row, outputs["vllm"] = measure("vllm", engine.generate, requests, new_tokens, device)
                rows.append(row)
            except Exception as exc:  # optional: report why it did not run
                rows.append({"mode": "vllm", "skipped": f"{type(exc).__name__}: {exc}"})
        any_output = next(iter(outputs.values()))
        flops = workload_flops(base, list(zip(requests, any_output, strict=True)), new_tokens)
        reference = outputs.get("one-at-a-time")
        single_row = next((r for r in rows if r["mode"] == "one-at-a-time"), None)
        for row in rows:
            if "skipped" in row:
                continue
            predictions = outputs[row["mode"]]
            if reference is not None:
                differ = sum(a.raw != b.raw for a, b in zip(reference, predictions, strict=True))
                row["predictions_differ"] = f"{differ}/{len(reference)}"
                row["predictions_differ_kernels"] = describe_kernels(kernels)
            if single_row is not None:
                row["speedup"] = round(row["samples_per_s"] / single_row["samples_per_s"], 2)
            row["achieved_tflops"] = round(flops / row["seconds"] / 1e12, 4)
            if peak:
                row["floor_ratio"] = round(row["seconds"] / (flops / (peak * 1e12)), 1)
        print(f"\nworkload {kind}: {len(requests)} samples, {flops / 1e12:.3g} TFLOP useful work")
        print(
            f"{'mode':<23}{'samples/s':>10}{'tokens/s':>10}{'peak GiB':>9}{'speedup':>8}{'TFLOP/s':>9}"
            f"{'x floor':>8}  differ"
        )
        for row in rows:
            if "skipped" in row:
                print(f"{row['mode']:<23}skipped: {row['skipped']}")
                continue
            print(
                f"{row['mode']:<23}{row['samples_per_s']:>10.3f}{row['tokens_per_s']:>10.1f}"
                f"{row['peak_memory_gb']:>9.2f}{row.get('speedup', ''):>8}{row['achieved_tflops']:>9.4g}"
                f"{row.get('floor_ratio', ''):>8}  {row.get('predictions_differ', '')}"
            )
        if reference is not None:
            print(f"differ: predictions unlike one-at-a-time's, with kernels {describe_kernels(kernels)}")
        per_sample = flops / len(requests)
        best = max((r for r in rows if "achieved_tflops" in r), key=lambda r: r["achieved_tflops"])
        projected = 1500 * per_sample / (best["achieved_tflops"] * 1e12) / 60
        floor = f", compute floor {1500 * per_sample / (peak * 1e12) / 60:.2f} min" if peak else ""
        print(
            f"projected MMStar-size run (1,500 samples like these) at '{best['mode']}': {projected:.1f} min{floor}"
        )
        results.append({"workload": kind, "samples": len(requests), "flops": flops, "rows": rows,
                        "projected_1500_min": round(projected, 2)})  # fmt: skip

    from vleval.cost import CALIBRATION_FILE, Calibration, ModelDims, save_calibration

    calibration_mode = "hf batched sdpa+cache" if device.startswith("cuda") else "cpu default"
    rates = [r["achieved_tflops"] for res in results for r in res["rows"] if r["mode"] == calibration_mode]
    if args.calibrate and not rates:
        print(f"not calibrated: mode {calibration_mode!r} did not run (--modes)")
    elif args.calibrate:
        # the compute rate only: on a GPU at real shapes FLOPs dominate; small models and CPUs are
        # calibrated from finished runs (bench/calibrate_runs.py), which fits the per-sample and
        # per-token terms too; pick_calibration prefers that entry to this one
        entry = Calibration(
            device=device_name,
            shape=args.shape,
            llm_params=ModelDims.from_config(base.model.config).llm_params,
            achieved_tflops=round(sum(rates) / len(rates), 4),
            date=time.strftime("%Y-%m-%d"),
            mode=calibration_mode,
            source=f"bench/throughput.py ({calibration_mode}, {new_tokens} new tokens per sample)",
        )
        save_calibration(CALIBRATION_FILE, entry)
        print(f"calibration: {entry} -> {CALIBRATION_FILE}")
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": " ".join([sys.executable, *sys.argv]),
        "shape": args.shape,
        "device": device,
        "device_name": device_name if device.startswith("cuda") else platform.processor(),
        "peak_tflops": peak,
        "torch": torch.__version__,
        "dtype": base.describe()["dtype"],
        "kernels": kernels,
        "samples": samples,
        "new_tokens": new_tokens,
        "max_batch_size": batch_size,
        "max_batch_tiles": batch_tiles,
        "workloads": results,
        "peak_memory_note": "CUDA: max allocated per mode; CPU: process max RSS so far (monotonic)",
    }
    out = args.out or Path(__file__).parent / f"results-{args.shape}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
