"""Inference of one (model, benchmark) across all ranks, resumable.

Rank 0 builds every request once to key the samples (progress.sample_key), reads the progress folder
and broadcasts the keys and the pending positions; every rank infers its interleaved share of the
pending samples, appending fsync'd records; after a barrier rank 0 merges in dataset order and writes
the prediction file (and the prompts file when asked).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vleval.errors import VlevalError
from vleval.runner.dist import DistInfo, ProcessGroup, shard
from vleval.runner.progress import (
    ProgressState,
    ProgressWatcher,
    ProgressWriter,
    Record,
    compact,
    image_digest,
    load_progress,
    plain_index,
    sample_key,
)
from vleval.types import BenchmarkCard, ModelCard, Prediction, Request, Sample

FAILURE_PREFIX = "Failed to obtain answer"  # the reference's failure text (VK inference.py, SKIP_ERR)

# (sample, card, model card, protocol, cot) -> Request; vleval.models.internvl.prompts.build_request
RequestBuilder = Callable[[Sample], Request]


@dataclass
class DatasetJob:
    """Everything one (model, benchmark) inference needs; identical on every rank."""

    model: ModelCard
    model_id: str  # name + checkpoint digest: part of every sample key
    card: BenchmarkCard
    protocol_name: str
    cot: bool
    backend_name: str
    progress_dir: Path
    pred_file: Path
    prompts_file: Path | None  # --save-prompts
    max_new_tokens: int | None = None
    batch_size: int = 16
    verbose: bool = False
    progress_bar: bool = True
    wait_timeout_s: float = 12 * 3600  # rank 0 stops watching a rank that wrote nothing for this long


@dataclass
class DatasetOutcome:
    n_samples: int = 0
    n_inferred: int = 0  # this run, all ranks
    n_reused: int = 0
    n_failed: int = 0
    n_retried: int = 0  # failed before, tried again this run
    issues: list[str] = field(default_factory=list)
    seconds: float = 0.0


def failure_text(exc: BaseException) -> str:
    return f"{FAILURE_PREFIX}: {type(exc).__name__} {exc}"


def apply_overrides(request: Request, max_new_tokens: int | None) -> Request:
    if max_new_tokens is None:
        return request
    generation = dataclasses.replace(request.generation, max_new_tokens=max_new_tokens)
    return dataclasses.replace(request, generation=generation)


def request_key(job: DatasetJob, sample: Sample, request: Request | None, error: str | None) -> str:
    if request is None:  # the request cannot be built (undecodable image): key by the row and its error
        text, digests, settings = f"<unbuildable: {error}>", [], {}
    else:
        text = request.text
        digests = [image_digest(image) for image in request.images]
        settings = {
            "generation": dataclasses.asdict(request.generation),
            "max_tiles": request.max_tiles,
            "upscale_first_image": request.upscale_first_image,
            "postprocess": request.postprocess,
        }
    return sample_key(
        dataset=job.card.name,
        index=plain_index(sample.index),
        text=text,
        image_digests=digests,
        request_settings=settings,
        model_id=job.model_id,
        protocol=job.protocol_name,
        cot=job.cot,
        backend=job.backend_name,
    )


def _forget_images(sample: Sample) -> None:
    # Samples cache decoded images; drop them so keying a large benchmark does not hold every image.
    sample._images = None


def build(builder: RequestBuilder, sample: Sample, job: DatasetJob) -> tuple[Request | None, str | None]:
    try:
        return apply_overrides(builder(sample), job.max_new_tokens), None
    except Exception as exc:  # a bad row must not stop the run: it becomes a failed prediction
        return None, failure_text(exc)


def compute_keys(job: DatasetJob, samples: Sequence[Sample], builder: RequestBuilder) -> list[str]:
    keys = []
    for sample in samples:
        request, error = build(builder, sample, job)
        keys.append(request_key(job, sample, request, error))
        _forget_images(sample)
    return keys


def _predict(backend: Any, requests: list[Request]) -> list[Prediction]:
    """Backend call for a batch; an exception for the whole batch is retried one by one so only the
    bad sample fails."""
    try:
        predictions = backend.generate(requests)
        if len(predictions) != len(requests):
            raise VlevalError(f"backend returned {len(predictions)} predictions for {len(requests)} requests")
        return list(predictions)
    except VlevalError:
        raise
    except Exception as exc:
        if len(requests) == 1:
            return [_failed(requests[0], exc)]
    out = []
    for request in requests:
        try:
            out.extend(backend.generate([request]))
        except VlevalError:
            raise
        except Exception as exc:
            out.append(_failed(request, exc))
    return out


def _failed(request: Request, exc: BaseException) -> Prediction:
    return Prediction(request.dataset, request.index, failure_text(exc), error=failure_text(exc))


def _record(key: str, index: Any, prediction: Prediction, keep_prompt: bool) -> Record:
    error = prediction.error
    text = prediction.prediction if prediction.prediction is not None else ""
    if error is not None and FAILURE_PREFIX not in text:
        text = f"{FAILURE_PREFIX}: {error}"
    return Record(
        key=key,
        index=plain_index(index),
        prediction=text,
        raw=prediction.raw,
        error=error,
        seconds=prediction.seconds,
        tiles=[int(t) for t in prediction.tiles],
        prompt=prediction.prompt if keep_prompt else None,
    )


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def infer_dataset(
    job: DatasetJob,
    *,
    info: DistInfo,
    group: ProcessGroup,
    run_id: str,
    load_samples: Callable[[], list[Sample]],
    builder: RequestBuilder,
    get_backend: Callable[[], Any],
    write_predictions: Callable[[list[Sample], dict[Any, str]], None],
    import_existing: Callable[[], dict[Any, str]] | None = None,
) -> DatasetOutcome:
    """Run on every rank; returns the merged outcome on rank 0 (counts for this rank elsewhere)."""
    started = time.monotonic()
    outcome = DatasetOutcome()
    samples: list[Sample] | None = None
    plan = None
    if info.is_main:
        samples = load_samples()
        keys = compute_keys(job, samples, builder)
        state = load_progress(job.progress_dir)
        for issue in state.issues:
            outcome.issues.append(f"progress record not trusted ({issue}); its sample will be inferred again")
            _say(f"vleval: warning: {outcome.issues[-1]}")
        if not state.records and import_existing is not None:
            state = _import_prediction_file(job, samples, keys, import_existing, run_id)
        pending = [pos for pos, key in enumerate(keys) if not state.done(key)]
        outcome.n_retried = sum(1 for pos in pending if keys[pos] in state.records)
        outcome.n_reused = len(keys) - len(pending)
        if state.issues:
            _say(
                f"vleval: {job.model.name} {job.card.name}: {len(pending)} sample(s) to infer after the check."
            )
        plan = (keys, pending)
    keys, pending = group.broadcast(plan)
    outcome.n_samples = len(keys)

    mine = shard(pending, info.rank, info.world_size)
    bar = _progress_bar(job, len(pending)) if info.is_main and pending else None
    watcher = ProgressWatcher(job.progress_dir, run_id)
    if mine:
        if samples is None:
            samples = load_samples()
        backend = get_backend()
        with ProgressWriter(job.progress_dir, run_id, info.rank) as writer:
            for start in range(0, len(mine), job.batch_size):
                positions = mine[start : start + job.batch_size]
                records = _infer_batch(job, samples, keys, positions, builder, backend)
                writer.append(records)
                if job.verbose:
                    for record in records:
                        who = f"[rank {info.rank}] " if info.distributed else ""
                        print(
                            f"{who}{job.model.name} {job.card.name} {record.index}: {record.prediction}",
                            flush=True,
                        )
                if bar is not None:
                    bar.update(watcher.count() - bar.n)
    if bar is not None:  # wait for the other ranks, showing their progress
        last_change, seen = time.monotonic(), watcher.count()
        while seen < len(pending) and time.monotonic() - last_change < job.wait_timeout_s:
            time.sleep(0.5)
            now = watcher.count()
            if now != seen:
                last_change, seen = time.monotonic(), now
                bar.update(now - bar.n)
        bar.update(watcher.count() - bar.n)
        bar.close()
    group.barrier()
    outcome.n_inferred = len(pending)
    if info.is_main:
        assert samples is not None
        _merge(job, samples, keys, outcome, write_predictions, changed=bool(pending))
    outcome.seconds = time.monotonic() - started
    return outcome


def _infer_batch(
    job: DatasetJob,
    samples: Sequence[Sample],
    keys: Sequence[str],
    positions: Sequence[int],
    builder: RequestBuilder,
    backend: Any,
) -> list[Record]:
    records: dict[int, Record] = {}
    requests: list[Request] = []
    request_positions: list[int] = []
    for pos in positions:
        sample = samples[pos]
        request, error = build(builder, sample, job)
        if request is None:
            failed = Prediction(job.card.name, sample.index, error or FAILURE_PREFIX, error=error)
            records[pos] = _record(keys[pos], sample.index, failed, job.prompts_file is not None)
            continue
        requests.append(request)
        request_positions.append(pos)
    if requests:
        for pos, prediction in zip(request_positions, _predict(backend, requests), strict=True):
            records[pos] = _record(keys[pos], samples[pos].index, prediction, job.prompts_file is not None)
    for pos in positions:
        _forget_images(samples[pos])
    return [records[pos] for pos in positions]


def _merge(
    job: DatasetJob,
    samples: Sequence[Sample],
    keys: Sequence[str],
    outcome: DatasetOutcome,
    write_predictions: Callable[[list[Sample], dict[Any, str]], None],
    changed: bool,
) -> None:
    state = load_progress(job.progress_dir)
    missing = [samples[pos].index for pos, key in enumerate(keys) if key not in state.records]
    if missing:
        raise VlevalError(
            f"{job.model.name} {job.card.name}: no prediction for {len(missing)} sample(s) after all ranks "
            f"finished (index {', '.join(map(str, missing[:5]))}); a rank stopped early. Run the same "
            "command again to infer them."
        )
    chosen = [state.records[key] for key in keys]
    outcome.n_failed = sum(1 for record in chosen if not record.ok)
    if changed or not job.pred_file.exists():
        predictions = {
            sample.index: record.prediction for sample, record in zip(samples, chosen, strict=True)
        }
        write_predictions(list(samples), predictions)
    if job.prompts_file is not None and (changed or not job.prompts_file.exists()):
        without = sum(1 for record in chosen if record.prompt is None)
        if without:
            outcome.issues.append(
                f"{without} sample(s) were inferred without --save-prompts: their prompt is null in "
                f"{job.prompts_file.name}"
            )
        _write_prompts(job.prompts_file, samples, chosen)
    if changed or len(state.files) > 1:
        compact(job.progress_dir, state)  # keeps every valid record, also those of other settings


def _write_prompts(path: Path, samples: Sequence[Sample], records: Sequence[Record]) -> None:
    lines = []
    for sample, record in zip(samples, records, strict=True):
        row = {"index": plain_index(sample.index), "prompt": record.prompt, "tiles": record.tiles}
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    tmp = path.with_name(f".{path.name}.tmp")  # hidden: a kill mid-write leaves no visible stray file
    tmp.write_text("".join(lines), encoding="utf-8")
    os.replace(tmp, path)


def _import_prediction_file(
    job: DatasetJob,
    samples: Sequence[Sample],
    keys: Sequence[str],
    import_existing: Callable[[], dict[Any, str]],
    run_id: str,
) -> ProgressState:
    """No progress records but a prediction file exists (made elsewhere, or the progress folder was
    deleted): reuse its predictions as the reference does, except failed ones."""
    existing = import_existing()
    if not existing:
        return load_progress(job.progress_dir)
    by_index = {str(k): v for k, v in existing.items()}
    records = []
    for sample, key in zip(samples, keys, strict=True):
        text = by_index.get(str(sample.index))
        if text is not None and FAILURE_PREFIX not in text:
            records.append(Record(key=key, index=plain_index(sample.index), prediction=text))
    if records:
        with ProgressWriter(job.progress_dir, f"{run_id}-imported", 0) as writer:
            writer.append(records)
        _say(
            f"vleval: {job.model.name} {job.card.name}: reusing {len(records)} prediction(s) from {job.pred_file}"
        )
    return load_progress(job.progress_dir)


def _progress_bar(job: DatasetJob, total: int) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=f"{job.model.name} {job.card.name}",
        unit="sample",
        disable=not job.progress_bar,
        file=sys.stderr,
        dynamic_ncols=True,
    )
