"""The time bill before a run: prompt tokens, generation budget, FLOPs and an estimated wall time.

Per benchmark, from the benchmark file and the checkpoint's ``config.json`` and tokenizer, without
decoding a pixel:

- prompt tokens exactly as the hf backend feeds them: the templated query (``render_query``) of the
  request ``build_request`` makes, tokenized by the model's tokenizer, with each image's
  ``<IMG_CONTEXT>`` run sized by its tile count. Tile counts come from the image sizes in the file
  headers (``Image.open`` reads the header only) through the reference's grid choice
  (``preprocessing.tile_count``);
- the generation budget: the benchmark's ``max_new_tokens`` per sample, an upper bound (answers stop
  at ``<|im_end|>``, most MCQ answers after a few tokens);
- FLOPs for the model's size (``model_flops``): 2 x parameters x tokens for every matrix product
  plus the attention terms, the vision tower counted once per distinct image (the hf backend's
  vision-feature cache);
- an estimated wall time from the calibration table (``data/throughput_calibration.json``) entry of the
  same device and the nearest model shape: ``samples x seconds_per_sample + generated tokens x
  seconds_per_token + FLOPs / achieved TFLOP/s``. The compute term is what dominates large models on
  GPUs; the per-sample (tiling, templating, launches) and per-token (the decoding loop) terms are what
  dominates small models and CPUs, where a FLOPs-only estimate was 8-10x too high. Entries come from
  ``bench/throughput.py --calibrate`` (the compute rate) and ``bench/calibrate_runs.py`` (all three
  terms, fit to finished runs' run.json: the estimate and the measured seconds stand side by side
  there). Shown as the likely figure (answers as long as in the runs the entry was fit to) within a
  range from prompts only (every answer one token) to the full budget, with the entry's source and
  date (an estimate, not a promise).

Pure functions of their inputs except ``benchmark_bill``/``time_bill``, which read the files.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from vleval.models.internvl.config import InternVLConfig

CALIBRATION_ENV = "VLEVAL_CALIBRATION"
CALIBRATION_FILE = Path(__file__).parent / "data" / "throughput_calibration.json"
PATCHES_PER_TILE = 1024  # (448 / 14) ** 2, plus the class token in the ViT


# --------------------------------------------------------------------------------------------------
# FLOPs of one sample
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelDims:
    """The dimensions that set the compute of an InternVL2.5 model."""

    vit_hidden: int
    vit_intermediate: int
    vit_layers: int
    patch_size: int
    tokens_per_tile: int  # 256
    shuffle_factor: int  # channels multiply by 1 / downsample_ratio ** 2 in the pixel shuffle
    llm_hidden: int
    llm_intermediate: int
    llm_layers: int
    llm_heads: int
    llm_kv_heads: int
    vocab_size: int
    chat_template: str = "internvl2_5"  # the template the prompt is rendered in (its config's ``template``)

    @classmethod
    def from_config(cls, config: InternVLConfig) -> ModelDims:
        from vleval.models.internvl.template import template_named

        llm = config.llm
        heads = int(llm["num_attention_heads"])
        return cls(
            vit_hidden=config.vision.hidden_size,
            vit_intermediate=config.vision.intermediate_size,
            vit_layers=config.vision.num_hidden_layers,
            patch_size=config.vision.patch_size,
            tokens_per_tile=config.num_image_token,
            shuffle_factor=int(round(1 / config.downsample_ratio**2)),
            llm_hidden=int(llm["hidden_size"]),
            llm_intermediate=int(llm["intermediate_size"]),
            llm_layers=int(llm["num_hidden_layers"]),
            llm_heads=heads,
            llm_kv_heads=int(llm.get("num_key_value_heads") or heads),
            vocab_size=int(llm["vocab_size"]),
            chat_template=template_named(config.template).name,
        )

    @property
    def llm_layer_params(self) -> int:
        """Weights of the decoder layers (no embeddings, no head): q, k, v, o and the gated MLP."""
        d, kv = self.llm_hidden, self.llm_hidden // self.llm_heads * self.llm_kv_heads
        return self.llm_layers * (2 * d * d + 2 * d * kv + 3 * d * self.llm_intermediate)

    @property
    def llm_params(self) -> int:
        """Decoder layers plus input embeddings and output head (how model sizes are quoted)."""
        return self.llm_layer_params + 2 * self.vocab_size * self.llm_hidden

    @property
    def vit_params(self) -> int:
        c = self.vit_hidden
        return self.vit_layers * (4 * c * c + 2 * c * self.vit_intermediate)

    def vision_flops_per_tile(self) -> float:
        """ViT over 1025 tokens (patch embedding, layers, full attention) and the projector."""
        c, t = self.vit_hidden, PATCHES_PER_TILE + 1
        patch_embed = 2 * PATCHES_PER_TILE * 3 * self.patch_size**2 * c
        layers = 2 * t * self.vit_params + self.vit_layers * 4 * t * t * c
        shuffled = c * self.shuffle_factor
        d = self.llm_hidden
        projector = 2 * self.tokens_per_tile * (shuffled * d + d * d)
        return float(patch_embed + layers + projector)

    def prefill_flops(self, prompt_tokens: int) -> float:
        """Every prompt token through the decoder layers, causal attention, logits of the last one."""
        n, d = prompt_tokens, self.llm_hidden
        return float(
            2 * n * self.llm_layer_params + 2 * self.llm_layers * n * n * d + 2 * d * self.vocab_size
        )

    def decode_flops(self, prompt_tokens: int, new_tokens: int) -> float:
        """``new_tokens`` generated one by one after the prompt (KV cache: each attends to all before)."""
        g, n, d = new_tokens, prompt_tokens, self.llm_hidden
        if g <= 0:
            return 0.0
        per_token = 2 * self.llm_layer_params + 2 * d * self.vocab_size
        attention = 4 * self.llm_layers * d * (g * n + g * (g - 1) // 2)
        return float(g * per_token + attention)


# --------------------------------------------------------------------------------------------------
# A benchmark's bill
# --------------------------------------------------------------------------------------------------
@dataclass
class BenchmarkBill:
    name: str
    samples: int = 0
    prompt_tokens: int = 0  # text + image tokens, as fed
    image_tokens: int = 0
    tiles: int = 0
    distinct_tiles: int = 0  # tiles of distinct (image, tiling): what the vision tower computes
    generation_budget: int = 0  # sum of max_new_tokens
    vision_flops: float = 0.0
    prefill_flops: float = 0.0
    decode_flops_budget: float = 0.0  # every answer uses its full budget
    decode_flops_one: float = 0.0  # every answer is one token
    problems: list[str] = field(default_factory=list)

    @property
    def text_tokens(self) -> int:
        return self.prompt_tokens - self.image_tokens

    @property
    def flops_low(self) -> float:
        return self.vision_flops + self.prefill_flops + self.decode_flops_one

    @property
    def flops_high(self) -> float:
        return self.vision_flops + self.prefill_flops + self.decode_flops_budget


def header_images(payloads: Sequence[str]) -> list[Image.Image]:
    """The images of base64 payloads opened lazily: ``size`` is read from the header, no pixel is
    decoded (``Image.open`` defers that to ``load``)."""
    return [Image.open(io.BytesIO(base64.b64decode(p))) for p in payloads]


def sample_images_for_bill(sample: Any) -> tuple[list[Image.Image], tuple[str, ...]]:
    """(header-only images, identity of each image) of a Sample; rows with a non-base64 loader fall
    back to decoding."""
    from vleval.datasets.loading import Base64Images

    loader = sample.image_loader
    if isinstance(loader, Base64Images):
        return header_images(loader.payloads), loader.payloads
    images = sample.images
    return images, tuple(str(id(image)) for image in images)


def benchmark_bill(
    card: Any,
    samples: Sequence[Any],
    *,
    model_card: Any,
    protocol: Any,
    cot: bool,
    tokenizer: Any,
    dims: ModelDims,
    max_new_tokens: int | None = None,
) -> BenchmarkBill:
    """The bill of one benchmark: each sample's request as ``build_request`` makes it (with
    header-only images), its query as the hf backend renders it, tokenized."""
    from vleval.models.internvl.preprocessing import tile_count
    from vleval.models.internvl.prompts import build_request
    from vleval.models.internvl.template import render_query, template_named
    from vleval.models.internvl.tokenizer import encode_query

    template = template_named(dims.chat_template)
    bill = BenchmarkBill(card.name)
    seen: set[tuple[Any, ...]] = set()
    for sample in samples:
        try:
            images, identities = sample_images_for_bill(sample)
            request = build_request(sample, card, model_card, protocol, cot, images=images)
            tiles = [
                tile_count(
                    image.width, image.height, request.max_tiles, request.upscale_first_image and k == 0
                )
                for k, image in enumerate(images)
            ]
        except (binascii.Error, UnidentifiedImageError, OSError, ValueError) as exc:
            bill.problems.append(f"row {sample.index}: image header unreadable ({type(exc).__name__})")
            continue
        n_tokens = len(encode_query(tokenizer, render_query(request.text, tiles, template=template)))
        budget = max_new_tokens or request.generation.max_new_tokens
        key = (identities, request.max_tiles, request.upscale_first_image)
        if tiles and key not in seen:
            seen.add(key)
            bill.distinct_tiles += sum(tiles)
        bill.samples += 1
        bill.prompt_tokens += n_tokens
        bill.tiles += sum(tiles)
        bill.image_tokens += sum(tiles) * dims.tokens_per_tile
        bill.generation_budget += budget
        bill.prefill_flops += dims.prefill_flops(n_tokens)
        bill.decode_flops_budget += dims.decode_flops(n_tokens, budget)
        bill.decode_flops_one += dims.decode_flops(n_tokens, 1)
    bill.vision_flops = bill.distinct_tiles * dims.vision_flops_per_tile()
    return bill


# --------------------------------------------------------------------------------------------------
# Calibration: achieved TFLOP/s per device and model shape (written by bench/throughput.py)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Calibration:
    """One device x model shape: what a second buys (see the module doc for the estimate)."""

    device: str
    shape: str
    llm_params: int
    achieved_tflops: float | None  # the compute rate; None: not measured (a placeholder entry)
    date: str | None
    mode: str = ""
    seconds_per_sample: float = 0.0  # fixed cost of one request beyond its FLOPs
    seconds_per_token: float = 0.0  # fixed cost of one generated token beyond its FLOPs
    typical_new_tokens: float | None = None  # mean answer length in the runs it was fit to
    source: str = ""  # what measured it (bench/throughput.py, bench/calibrate_runs.py over N runs)

    @property
    def usable(self) -> bool:
        """A measured entry (placeholders for devices not measured yet give no estimate)."""
        return bool(self.date) and (
            (self.achieved_tflops or 0) > 0 or self.seconds_per_sample > 0 or self.seconds_per_token > 0
        )

    def describe(self) -> str:
        """Which calibration an estimate used, and when it was made."""
        how = self.source or (f"bench/throughput.py ({self.mode})" if self.mode else "bench/throughput.py")
        return f"{self.shape} shape on {self.device}, {how}, calibrated {self.date}"


def calibration_path() -> Path:
    return Path(os.environ.get(CALIBRATION_ENV) or CALIBRATION_FILE)


def load_calibrations(path: Path | None = None) -> list[Calibration]:
    """Entries of the calibration table; a missing or unreadable table gives none (no estimate)."""
    path = path or calibration_path()
    known = {f.name for f in dataclasses.fields(Calibration)}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        # keys this version does not know (a note, a later field) are left aside, not fatal
        return [
            Calibration(**{k: v for k, v in entry.items() if k in known}) for entry in data.get("entries", [])
        ]
    except (OSError, ValueError, TypeError, AttributeError):
        return []


def save_calibration(path: Path, entry: Calibration) -> None:
    """Add or replace the (device, shape, mode) entry of the table (its other entries and note are kept):
    bench/throughput.py's compute rate and bench/calibrate_runs.py's fit of the same shape live side by
    side, and ``pick_calibration`` prefers the fit."""
    path = Path(path)
    table = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"entries": []}
    body = {k: v for k, v in dataclasses.asdict(entry).items() if v not in (None, "", 0.0) or k in _KEPT}
    table["entries"] = [
        e
        for e in table.get("entries", [])
        if (e.get("device"), e.get("shape"), e.get("mode", "")) != (entry.device, entry.shape, entry.mode)
    ] + [body]
    path.write_text(json.dumps(table, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


_KEPT = {"device", "shape", "llm_params", "achieved_tflops", "date"}  # written even when empty


def device_label(device: str | None) -> str:
    """What calibration entries are keyed by: the GPU's name, or 'cpu'."""
    if device and not device.startswith("cuda"):
        return "cpu"
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except Exception:  # a broken CUDA install: no GPU name, fall back to the CPU entries
        pass
    return "cpu"


def pick_calibration(entries: Sequence[Calibration], device: str, llm_params: int) -> Calibration | None:
    """The entry for this device whose model size is nearest (in log scale) to ``llm_params``; of two
    for that size, the one fit to finished runs (it has the per-sample and per-token terms), then the
    newest."""
    mine = [e for e in entries if e.device == device and e.usable]
    if not mine:
        return None
    nearest = min(abs(math.log(max(e.llm_params, 1) / max(llm_params, 1))) for e in mine)
    tied = [e for e in mine if abs(math.log(max(e.llm_params, 1) / max(llm_params, 1))) == nearest]
    return max(tied, key=lambda e: (e.seconds_per_sample > 0 or e.seconds_per_token > 0, e.date or ""))


def estimate_seconds(
    flops: float, calibration: Calibration, *, samples: int = 0, new_tokens: float = 0
) -> float:
    """Wall seconds for ``samples`` requests generating ``new_tokens`` tokens in all, ``flops`` of work."""
    compute = flops / (calibration.achieved_tflops * 1e12) if calibration.achieved_tflops else 0.0
    return compute + samples * calibration.seconds_per_sample + new_tokens * calibration.seconds_per_token


@dataclass(frozen=True)
class Estimate:
    """Seconds for one bill: every answer one token, as long as typical, every answer at its budget."""

    low: float
    likely: float
    high: float


def likely_new_tokens(bill: BenchmarkBill, calibration: Calibration) -> float:
    """Tokens the answers will likely take in all: the entry's typical answer length, within the budget
    (no typical length known: the budget, the safe side)."""
    if calibration.typical_new_tokens is None:
        return float(bill.generation_budget)
    return min(float(bill.generation_budget), calibration.typical_new_tokens * bill.samples)


def bill_estimate(bill: BenchmarkBill, calibration: Calibration) -> Estimate:
    """The bill's wall time under ``calibration``; decode FLOPs of the likely length are interpolated
    between the one-token and full-budget figures (linear in the tokens but for a small attention term)."""
    tokens = likely_new_tokens(bill, calibration)
    spare = bill.generation_budget - bill.samples  # tokens beyond the first, at full budget
    share = (tokens - bill.samples) / spare if spare > 0 else 0.0
    flops_likely = bill.flops_low + max(0.0, share) * (bill.flops_high - bill.flops_low)
    return Estimate(
        low=estimate_seconds(bill.flops_low, calibration, samples=bill.samples, new_tokens=bill.samples),
        likely=estimate_seconds(flops_likely, calibration, samples=bill.samples, new_tokens=tokens),
        high=estimate_seconds(
            bill.flops_high, calibration, samples=bill.samples, new_tokens=bill.generation_budget
        ),
    )


def fit_calibration(cells: Sequence[tuple[int, float, float, float]]) -> tuple[float, float, float]:
    """(seconds_per_sample, seconds_per_token, seconds_per_TFLOP) that best explain finished benchmarks,
    each given as (samples, generated tokens, FLOPs, measured seconds): non-negative least squares of
    the relative error, so a term the runs cannot tell apart from the others comes out 0 rather than
    negative."""
    import numpy as np
    from scipy.optimize import nnls

    if not cells:
        raise ValueError("no finished benchmark to fit")
    seconds = np.array([c[3] for c in cells], dtype=float)
    # relative errors: a 10 s benchmark counts as much as a 20 min one (the goal is a ratio, 0.5x-2x)
    weight = 1 / np.maximum(seconds, 1e-3)
    matrix = np.array([[s, t, f / 1e12] for s, t, f, _ in cells], dtype=float) * weight[:, None]
    seconds = seconds * weight
    # scale the columns so that the fit does not favour the term with the largest numbers
    scale = np.maximum(matrix.max(axis=0), 1e-12)
    solution, _ = nnls(matrix / scale, seconds)
    per_sample, per_token, per_tflop = (solution / scale).tolist()
    return per_sample, per_token, per_tflop


# --------------------------------------------------------------------------------------------------
# Text for --dry-run
# --------------------------------------------------------------------------------------------------
def _si(value: float, unit: str) -> str:
    for factor, prefix in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def bill_lines(
    bills: Sequence[BenchmarkBill], dims: ModelDims, calibration: Calibration | None, device: str
) -> list[str]:
    """The bill as indented lines: one per benchmark, then the total and the estimate's source."""
    lines = [f"  time bill (LLM {_si(dims.llm_params, '')}+ ViT {_si(dims.vit_params, '')}parameters):"]
    for b in bills:
        line = (
            f"    {b.name:<22} {b.prompt_tokens:>11,} prompt tokens ({b.text_tokens:,} text + {b.tiles:,} tiles "
            f"x {dims.tokens_per_tile}), generation budget {b.generation_budget:,} tokens, "
            f"{_si(b.flops_low, 'FLOP')} to {_si(b.flops_high, 'FLOP')}"
        )
        if calibration is not None:
            est = bill_estimate(b, calibration)
            line += f", est. {_duration(est.likely)} ({_duration(est.low)} to {_duration(est.high)})"
        lines.append(line)
        lines.extend(f"      ! {p}" for p in b.problems[:3])
    low = sum(b.flops_low for b in bills)
    high = sum(b.flops_high for b in bills)
    total = f"    total: {_si(low, 'FLOP')} (answers of one token) to {_si(high, 'FLOP')} (full budget)"
    if calibration is not None:
        ests = [bill_estimate(b, calibration) for b in bills]
        total += (
            f"; estimated {_duration(sum(e.likely for e in ests))} on {device} "
            f"({_duration(sum(e.low for e in ests))} if every answer is one token, "
            f"{_duration(sum(e.high for e in ests))} if every answer fills its budget)"
        )
        lines.append(total)
        lines.append(
            f"    (an ESTIMATE from the calibration: {calibration.describe()}; {_terms(calibration)})"
        )
    else:
        lines.append(total)
        lines.append(
            f"    (no wall-time estimate: the calibration table has no measured entry for {device}; run "
            "`python bench/throughput.py --calibrate` (on a GPU: bench/gpu.sh) or bench/calibrate_runs.py "
            "over finished runs on this machine)"
        )
    return lines


def _terms(calibration: Calibration) -> str:
    parts = []
    if calibration.seconds_per_sample:
        parts.append(f"{calibration.seconds_per_sample:.3g} s per sample")
    if calibration.seconds_per_token:
        parts.append(f"{calibration.seconds_per_token:.3g} s per generated token")
    if calibration.achieved_tflops:
        parts.append(f"{calibration.achieved_tflops:g} TFLOP/s")
    if calibration.typical_new_tokens is not None:
        parts.append(f"answers of {calibration.typical_new_tokens:.0f} tokens on average")
    return ", ".join(parts)


def _checkpoint_shape(model_path: Path) -> tuple[ModelDims, Any]:
    """The model dimensions and tokenizer a bill needs, read from the checkpoint folder."""
    from vleval.models.internvl.config import read_config
    from vleval.models.internvl.tokenizer import load_tokenizer

    return ModelDims.from_config(read_config(model_path)), load_tokenizer(model_path)


def benchmark_bills(
    *,
    model_path: Path,
    model_card: Any,
    cards: Sequence[Any],
    protocol: Any,
    data_dir: Path | None,
    cot: bool,
    max_new_tokens: int | None,
    limit: int | None = None,
) -> tuple[ModelDims, list[BenchmarkBill]]:
    """The bills of one model over ``cards``, reading the checkpoint's config and tokenizer and the
    benchmark files. Raises VlevalError when the checkpoint cannot be read."""
    from vleval.datasets.loading import load_samples
    from vleval.errors import VlevalError

    dims, tokenizer = _checkpoint_shape(model_path)
    bills = []
    for card in cards:
        try:
            samples = load_samples(card, protocol, data_dir, verify_md5=False, limit=limit)
        except VlevalError as exc:
            bills.append(BenchmarkBill(card.name, problems=[str(exc)]))
            continue
        bills.append(
            benchmark_bill(
                card,
                samples,
                model_card=model_card,
                protocol=protocol,
                cot=cot,
                tokenizer=tokenizer,
                dims=dims,
                max_new_tokens=max_new_tokens,
            )
        )
    return dims, bills


def cell_estimate(
    card: Any,
    samples: Sequence[Any],
    *,
    model_path: Path,
    model_card: Any,
    protocol: Any,
    cot: bool,
    max_new_tokens: int | None,
    device: str | None,
) -> dict[str, Any]:
    """What ``--dry-run`` would have estimated for one benchmark of a run, as plain data for
    ``run.json`` (beside the measured seconds); the samples are those the run already loaded."""
    dims, tokenizer = _checkpoint_shape(model_path)
    bill = benchmark_bill(card, samples, model_card=model_card, protocol=protocol, cot=cot,
                          tokenizer=tokenizer, dims=dims, max_new_tokens=max_new_tokens)  # fmt: skip
    calibration = pick_calibration(load_calibrations(), device_label(device), dims.llm_params)
    return estimate_record(bill, calibration)


def estimate_record(bill: BenchmarkBill, calibration: Calibration | None) -> dict[str, Any]:
    """A bill as plain data (for run.json beside the measured time)."""
    record: dict[str, Any] = {
        "prompt_tokens": bill.prompt_tokens,
        "tiles": bill.tiles,
        "generation_budget": bill.generation_budget,
        "flops": [bill.flops_low, bill.flops_high],
    }
    record["samples"] = bill.samples
    if calibration is not None:
        est = bill_estimate(bill, calibration)
        record["estimated_s"] = [round(est.low, 1), round(est.high, 1)]
        record["likely_s"] = round(est.likely, 1)
        record["calibration"] = calibration.describe()
    return record


def time_bill(
    *,
    model_path: Path,
    model_card: Any,
    cards: Sequence[Any],
    protocol: Any,
    data_dir: Path | None,
    cot: bool,
    max_new_tokens: int | None,
    device: str | None,
    limit: int | None = None,
) -> list[str]:
    """``--dry-run``'s bill for one model over ``cards`` (the benchmarks whose files are present);
    ``limit``: the first questions of each only (``--limit``)."""
    from vleval.errors import VlevalError

    try:
        dims, bills = benchmark_bills(
            model_path=model_path,
            model_card=model_card,
            cards=cards,
            protocol=protocol,
            data_dir=data_dir,
            cot=cot,
            max_new_tokens=max_new_tokens,
            limit=limit,
        )
    except (VlevalError, OSError, ValueError, KeyError) as exc:
        return [f"  time bill: unavailable until the checkpoint is downloaded ({exc})"]
    label = device_label(device)
    calibration = pick_calibration(load_calibrations(), label, dims.llm_params)
    return bill_lines(bills, dims, calibration, label)
