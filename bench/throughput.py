"""Throughput of InternVL2.5 inference: one sample at a time (the reference toolkit's way) vs the
batched ``hf`` backend (and ``vllm`` when it is installed and asked for).

    python bench/throughput.py                       # tiny random checkpoint, CPU, < 5 min
    python bench/throughput.py --shape 1B --samples 128 --new-tokens 64    # real shapes, on a GPU
    python bench/throughput.py --shape 8B --samples 128 --new-tokens 64 --dtype bfloat16

Workload: MMStar-like (one image per sample, a multiple-choice question, the reference prompt
format), a fixed number of generated tokens per sample (``<|im_end|>`` is suppressed until then).
Weights are random: ``tiny`` is the synthetic checkpoint of the test suite (written to disk and
loaded through the real loader); ``1B``/``8B`` build InternVL2_5-1B/-8B shapes directly in memory
(third-party dimensions, see docs/model-protocol.md), so no download is needed. The
table reports samples/s, generated tokens/s, peak memory, and how many predictions differ from
the one-at-a-time run. See bench/README.md.
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
from vleval.synthetic.images import COLOURS, draw_shapes
from vleval.types import GenerationSettings, Request

# MMStar images are mostly a few hundred pixels a side: 1 to 7 tiles under max_num 6.
WORKLOAD_SIZES = ((512, 512), (640, 480), (400, 300), (1024, 768), (300, 420), (800, 400))
MCQ_SUFFIX = "Answer with the option's letter from the given choices directly."

# Real InternVL2_5-1B / -8B dimensions (UNVERIFIED third-party copies; docs/model-protocol.md).
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


def workload(n: int, new_tokens: int, seed: int = 0) -> list[Request]:
    rng = random.Random(seed)
    requests = []
    for i in range(n):
        image, drawn = draw_shapes(rng, WORKLOAD_SIZES[i % len(WORKLOAD_SIZES)], count=4)
        colour, shape = drawn[0]
        wrong = [c for c in COLOURS if c != colour][:3]
        options = [colour, *wrong]
        rng.shuffle(options)
        lines = [f"What colour is the {shape} drawn first?"] + [
            f"{'ABCD'[k]}. {o}" for k, o in enumerate(options)
        ]
        text = "<image>\n" + "\n".join(lines) + "\n" + MCQ_SUFFIX
        requests.append(
            Request(
                dataset="MMStar",
                index=i,
                text=text,
                images=[image],
                max_tiles=6,
                generation=GenerationSettings(max_new_tokens=new_tokens),
            )
        )
    return requests


def build_backend(
    shape: str, dtype: str | None, device: str | None, work_dir: Path, **kwargs: Any
) -> HFBackend:
    from vleval.synthetic.checkpoints import make_tiny_checkpoint

    if shape == "tiny":
        path = make_tiny_checkpoint(work_dir / "tiny-qwen2", "qwen2")
        return HFBackend(path, dtype=dtype, device=device, ignore_eos=True, **kwargs)
    from vleval.models.internvl.config import parse_config
    from vleval.models.internvl.loader import resolve_device, resolve_dtype
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
    device = resolve_device(device)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=["tiny", *REAL_SHAPES], default="tiny")
    parser.add_argument("--samples", type=int, default=None, help="default 24 (tiny) / 128")
    parser.add_argument("--new-tokens", type=int, default=None, help="default 16 (tiny) / 64")
    parser.add_argument("--dtype", default=None, help="default bf16 on GPU, fp32 on CPU")
    parser.add_argument("--device", default=None)
    parser.add_argument("--max-batch-size", type=int, default=None, help="default 8 (tiny) / 32")
    parser.add_argument("--max-batch-tiles", type=int, default=None, help="default 64 (tiny) / 256")
    parser.add_argument("--skip-single", action="store_true", help="skip the one-at-a-time baseline")
    parser.add_argument("--vllm", action="store_true", help="also run the vllm backend (tiny shape)")
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
    backend = build_backend(
        args.shape, args.dtype, args.device, work_dir, max_batch_size=batch_size, max_batch_tiles=batch_tiles
    )
    device = backend.device
    requests = workload(samples, new_tokens)
    backend.generate(requests[:2])  # warm-up (kernels, allocator)

    rows, outputs = [], {}
    if not args.skip_single:
        row, outputs["single"] = measure(
            "one-at-a-time", lambda rs: [backend.generate([r])[0] for r in rs], requests, new_tokens, device
        )
        rows.append(row)
    row, outputs["batched"] = measure("hf batched", backend.generate, requests, new_tokens, device)
    rows.append(row)
    if args.vllm:
        try:
            from vleval.models.backends.vllm import throughput_backend

            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache on CPU: plenty here

            # fixed-length generation like the hf modes, so all modes do the same work
            engine = throughput_backend(backend.model_dir, dtype=backend.describe()["dtype"])
            row, outputs["vllm"] = measure("vllm", engine.generate, requests, new_tokens, device)
            rows.append(row)
        except Exception as exc:  # optional: report why it did not run
            rows.append({"mode": "vllm", "skipped": f"{type(exc).__name__}: {exc}"})

    reference = outputs.get("single")
    for row in rows:
        mode_key = {"one-at-a-time": "single", "hf batched": "batched", "vllm": "vllm"}[row["mode"]]
        if reference is not None and mode_key in outputs:
            differ = sum(a.raw != b.raw for a, b in zip(reference, outputs[mode_key], strict=True))
            row["predictions_differ"] = f"{differ}/{len(reference)}"
    if reference is not None and "batched" in outputs:
        single_row = next(r for r in rows if r["mode"] == "one-at-a-time")
        batched_row = next(r for r in rows if r["mode"] == "hf batched")
        batched_row["speedup"] = round(batched_row["samples_per_s"] / single_row["samples_per_s"], 2)

    header = f"{'mode':<15}{'samples/s':>11}{'tokens/s':>11}{'peak GiB':>10}{'speedup':>9}  differ"
    print(
        f"shape={args.shape} device={device} dtype={backend.describe()['dtype']} samples={samples} "
        f"new_tokens={new_tokens} max_batch_size={batch_size} max_batch_tiles={batch_tiles}"
    )
    print(header)
    for row in rows:
        if "skipped" in row:
            print(f"{row['mode']:<15}skipped: {row['skipped']}")
            continue
        print(
            f"{row['mode']:<15}{row['samples_per_s']:>11.3f}{row['tokens_per_s']:>11.1f}"
            f"{row['peak_memory_gb']:>10.2f}{row.get('speedup', ''):>9}  {row.get('predictions_differ', '')}"
        )
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "command": " ".join([sys.executable, *sys.argv]),
        "shape": args.shape,
        "device": device,
        "device_name": torch.cuda.get_device_name() if device.startswith("cuda") else platform.processor(),
        "torch": torch.__version__,
        "dtype": backend.describe()["dtype"],
        "samples": samples,
        "new_tokens": new_tokens,
        "max_batch_size": batch_size,
        "max_batch_tiles": batch_tiles,
        "tiles": sum(sum(p.tiles) for p in outputs["batched"]),
        "rows": rows,
        "peak_memory_note": "CUDA: max allocated per mode; CPU: process max RSS so far (monotonic)",
    }
    out = args.out or Path(__file__).parent / f"results-{args.shape}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
