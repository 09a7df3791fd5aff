"""``vleval run --data MMStar --mmstar-gain [--llm-base DIR]``: the passes behind MMStar's multi-modal
gain and leakage (``vleval.stats.gain``).

After the checkpoint's ordinary MMStar pass, the same checkpoint answers every MMStar question again
with no image (the request is the ordinary one, built without images: the same prompt text, no
``<image>`` placeholder), and, with ``--llm-base DIR``, the LLM the checkpoint was built on answers it
too (``vleval.models.base_llm``, its own chat template). Each pass writes a prediction file in the
reference's format under ``<model>/mmstar_gain/`` and is scored with the same protocol and judge as
the ordinary pass; the record of the ordinary pass gets ``multimodal_gain``. A pass whose prediction
file exists is not run again (delete the file to redo it).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from vleval.errors import VlevalError
from vleval.types import BenchmarkCard

GAIN_DIR = "mmstar_gain"
TEXT_ONLY = "text-only"
LLM_BASE = "llm-base"


def pass_file(pred_file: Path, kind: str) -> Path:
    """The prediction file of one extra pass (``TEXT_ONLY`` or ``LLM_BASE``)."""
    return Path(pred_file).parent / GAIN_DIR / f"{Path(pred_file).stem}_{kind}.xlsx"


def gain_benchmarks() -> list[str]:
    """The benchmarks whose cards define multi-modal gain (``BenchmarkCard.multimodal_gain``)."""
    from vleval.datasets.registry import BENCHMARKS

    return [card.name for card in BENCHMARKS.values() if card.multimodal_gain]


def check_gain_options(config: Any, cards: list[BenchmarkCard], world_size: int) -> None:
    """Refuse what --mmstar-gain / --llm-base cannot do, before anything runs."""
    if config.llm_base is not None and not config.mmstar_gain:
        raise VlevalError("--llm-base is used by --mmstar-gain (multi-modal leakage); add --mmstar-gain.")
    if not config.mmstar_gain:
        return
    if not any(card.multimodal_gain for card in cards):
        raise VlevalError(f"--mmstar-gain needs --data {' '.join(gain_benchmarks())}.")
    if world_size > 1:
        raise VlevalError("--mmstar-gain runs its extra passes in one process; run it without torchrun.")
    if config.llm_base is not None and not (Path(config.llm_base) / "config.json").is_file():
        raise VlevalError(
            f"--llm-base {config.llm_base}: no config.json there; pass the LLM's checkpoint folder."
        )


def text_only_request(bench: Any, sample: Any) -> Any:
    """The sample's ordinary request without its images (the prompt text as the model would get it)."""
    from vleval.models.internvl.prompts import build_request

    request = build_request(sample, bench.card, bench.model, bench.protocol, bench.cot, images=[])
    if bench.max_new_tokens is not None:
        generation = dataclasses.replace(request.generation, max_new_tokens=bench.max_new_tokens)
        request = dataclasses.replace(request, generation=generation)
    return request


def run_pass(bench: Any, backend: Any, kind: str, batch_size: int) -> Path:
    """Answer every sample of ``bench`` text-only with ``backend``; the prediction file."""
    from vleval.datasets.predictions import write_prediction_file
    from vleval.runner.infer import failure_text

    path = pass_file(bench.pred_file, kind)
    if path.is_file():
        return path
    requests = [text_only_request(bench, s) for s in bench.samples]
    predictions: dict[Any, str] = {}
    for start in range(0, len(requests), max(1, batch_size)):
        for p in backend.generate(requests[start : start + batch_size]):
            predictions[p.index] = failure_text(p.error) if p.error else p.prediction
    path.parent.mkdir(parents=True, exist_ok=True)
    write_prediction_file(path, bench.table, predictions)
    return path


def run_gain_passes(config: Any, bench: Any, backend: Any) -> list[str]:
    """The text-only pass with the checkpoint's backend and, with --llm-base, the LLM base's; notes."""
    if not config.mmstar_gain or not bench.card.multimodal_gain:
        return []
    run_pass(bench, backend, TEXT_ONLY, config.batch_size)
    notes = [f"{bench.card.name}: text-only pass written to {pass_file(bench.pred_file, TEXT_ONLY)}"]
    if config.llm_base is not None and not pass_file(bench.pred_file, LLM_BASE).is_file():
        from vleval.models.base_llm import BaseLLMBackend

        base = BaseLLMBackend(Path(config.llm_base), dtype=config.dtype, device=config.device)
        try:
            run_pass(bench, base, LLM_BASE, config.batch_size)
        finally:
            base.close()
        notes.append(f"{bench.card.name}: LLM base pass written to {pass_file(bench.pred_file, LLM_BASE)}")
    return notes


def score_gain(config: Any, bench: Any, judge: Any, result: Any) -> None:
    """Score the extra passes like the ordinary one and put MG/ML on its record (rewritten)."""
    from vleval.datasets.results import score_record_path, write_score
    from vleval.datasets.scoring import evaluate
    from vleval.families.base import HEADLINE, family_of
    from vleval.stats.gain import multimodal_gain

    if not config.mmstar_gain or not bench.card.multimodal_gain:
        return
    text_file = pass_file(bench.pred_file, TEXT_ONLY)
    if not text_file.is_file():
        result.record.notes.append("--mmstar-gain: no text-only pass to score (run with --mode all first)")
        return

    def score(path: Path) -> Any:
        return evaluate(
            bench.card, bench.protocol, path, judge, table=bench.table, seed=config.seed, out_dir=path.parent
        )

    family = family_of(bench.card)

    def statistic(rows: Any) -> float | None:
        value = family.aggregate(list(rows)).get(HEADLINE)
        return None if value is None else float(value)

    text_rows = score(text_file).rows
    base_file = pass_file(bench.pred_file, LLM_BASE)
    base_rows = score(base_file).rows if config.llm_base is not None and base_file.is_file() else None
    result.record.multimodal_gain = multimodal_gain(
        result.rows, text_rows, base_rows, statistic, seed=config.seed,
        llm_base_name=None if config.llm_base is None else Path(config.llm_base).name,
    )  # fmt: skip
    path = score_record_path(Path(result.files[0]).parent / bench.pred_file.stem) if result.files else None
    if path is not None:
        write_score(path, result.record)
