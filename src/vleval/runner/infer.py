"""Inference of one (model, benchmark) across all ranks, resumable.

A ``BenchmarkCell`` is one (model, benchmark) of a run: it reads the benchmark table once (inference,
the prediction file and scoring all use that one table), keys every sample by its content (the image
bytes in the benchmark file, the question as asked, the settings; no image is decoded for that), and
builds each sample's request once, when it is inferred (the images are decoded and tiled then, once).

Rank 0 keys the samples, reads the progress folder and broadcasts the keys and the pending positions;
every rank infers its interleaved share of the pending samples, appending fsync'd records; after a
barrier rank 0 merges in dataset order and writes the prediction file (and the prompts file when
asked).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from vleval.atomic import atomic_write, clean_stale_temps
from vleval.console import bar
from vleval.errors import VlevalError
from vleval.protocol import Protocol
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
from vleval.types import FAILURE_PREFIX, BenchmarkCard, ModelCard, Prediction, Request, Sample, Subset


def failure_text(exc: BaseException | str) -> str:
    if isinstance(exc, str):
        return f"{FAILURE_PREFIX}: {exc}"
    return f"{FAILURE_PREFIX}: {type(exc).__name__} {exc}"


@dataclass
class BenchmarkCell:
    """One (model, benchmark) of a run: what its inference and its scoring need; identical on every
    rank. The table and the samples are read once, on first use."""

    model: ModelCard
    model_id: str  # name + checkpoint digest: part of every sample key
    card: BenchmarkCard
    protocol: Protocol
    tsv: Path
    cot: bool
    backend_name: str
    progress_dir: Path
    pred_file: Path
    prompts_file: Path | None  # --save-prompts
    max_new_tokens: int | None = None
    max_image_pixels: int | None = None
    batch_size: int = 16
    verbose: bool = False
    progress_bar: bool = True
    wait_timeout_s: float = 12 * 3600  # rank 0 stops watching a rank that wrote nothing for this long
    hit_token_limit: list[int | str] | None = None  # indices cut at max_new_tokens (set by the merge)
    limit: int | None = None  # --limit: the first N questions only (vleval.datasets.subset)
    subset: Subset | None = None  # what --limit kept (set when the table is read; None: every row)
    sampling_seed: int | None = None  # sampled decoding (a thinking entry): the seed of this pass

    @cached_property
    def table(self) -> Any:
        """The benchmark as the reference reads it (a pandas DataFrame), parsed once; with ``limit``, its
        first questions (inference, the prediction file and scoring all see this one table)."""
        from vleval.datasets.loading import read_table
        from vleval.datasets.subset import limit_table

        table, self.subset = limit_table(
            read_table(self.tsv, self.card), self.card, self.protocol, self.limit
        )
        return table

    @cached_property
    def samples(self) -> list[Sample]:
        from vleval.datasets.loading import table_to_samples

        samples = table_to_samples(self.table, self.card, self.tsv)
        if self.max_image_pixels is not None:
            for sample in samples:
                loader = sample.image_loader
                if loader is not None and hasattr(loader, "max_pixels"):
                    sample.image_loader = dataclasses.replace(loader, max_pixels=self.max_image_pixels)
        return samples

    def release(self) -> None:
        """Drop the table and samples (the next cell reads its own)."""
        self.__dict__.pop("table", None)
        self.__dict__.pop("samples", None)

    # ---------------------------------------------------------------------------------------------
    def key(self, sample: Sample) -> str:
        """The identity of this sample's inference, from the row's content: same key, same
        prediction. Reads the image bytes as stored, decodes nothing."""
        from vleval.models.internvl.prompts import dump_file_names, max_tiles_per_image, question_text

        images = image_content_digests(sample)
        try:
            text = question_text(sample, self.card, self.model, self.cot)
            names = dump_file_names(sample, len(images), self.protocol)  # .jpg names mean a JPEG trip
        except Exception as exc:  # the request cannot be built: keyed by the row and its error
            text, names = f"<unbuildable: {failure_text(exc)}>", []
        settings = {
            # the budget generation runs with: an override, else the model's own (a -Thinking entry's
            # 2**16), else the benchmark's
            "max_new_tokens": self.max_new_tokens or self.model.max_new_tokens or self.card.max_new_tokens,
            "max_tiles": max_tiles_per_image(self.card, len(images)),
            "image_names": names,
        }
        if self.model.thinking:  # sampled: another seed is another prediction (greedy keys stay as they were)
            settings["sampling_seed"] = self.sampling_seed or 0
        return sample_key(
            dataset=self.card.name,
            index=plain_index(sample.index),
            text=text,
            image_digests=images,
            request_settings=settings,
            model_id=self.model_id,
            protocol=self.protocol.name,
            cot=self.cot,
            backend=self.backend_name,
        )

    def keys(self) -> list[str]:
        return [self.key(sample) for sample in self.samples]

    def token_limit_hits(self) -> list[int | str]:
        """Indices whose generation stopped at max_new_tokens, as the progress store records them
        (for scoring; known from the merge when this run inferred, else read back)."""
        if self.hit_token_limit is None:
            state = load_progress(self.progress_dir)
            records = [state.records.get(key) for key in self.keys()]
            self.hit_token_limit = [r.index for r in records if r is not None and r.hit_token_limit]
        return self.hit_token_limit

    def request(self, sample: Sample) -> Request:
        """The sample's request (its images decoded here, once); raises when it cannot be built."""
        from vleval.models.internvl.prompts import build_request

        request = build_request(sample, self.card, self.model, self.protocol, self.cot)
        if self.max_new_tokens is None and not request.generation.do_sample:
            return request
        generation = dataclasses.replace(
            request.generation,
            max_new_tokens=self.max_new_tokens or request.generation.max_new_tokens,
            seed=self.sampling_seed or 0 if request.generation.do_sample else None,
        )
        return dataclasses.replace(request, generation=generation)

    def write_predictions(
        self,
        predictions: dict[Any, str],
        hit_token_limit: Sequence[Any] = (),
        thinking: ThinkingOutput | None = None,
    ) -> None:
        """The prediction file (exactly the reference's columns; a thinking entry's adds the reference's
        ``thinking`` column) and, beside it, the rows whose generation stopped at the token limit and
        the thinking replies with no answer."""
        from vleval.datasets.predictions import (
            write_censored_marks,
            write_prediction_file,
            write_token_limit_hits,
        )

        # the marks first: a prediction file on disk always has its marks beside it (a resumed run
        # does not rewrite a prediction file that exists)
        self.pred_file.parent.mkdir(parents=True, exist_ok=True)  # a further seed's own folder (--seeds)
        write_token_limit_hits(self.pred_file, hit_token_limit)
        write_censored_marks(self.pred_file, thinking.censored if thinking is not None else {})
        extra = {THINKING_COLUMN: thinking.reasoning} if thinking is not None else None
        write_prediction_file(self.pred_file, self.table, predictions, extra_columns=extra)

    def existing_predictions(self) -> tuple[dict[Any, str], set[str]]:
        """The prediction file's cells as written ('' stays ''), by index, and the indices recorded as
        cut at the token limit; ({}, set()) without a file."""
        from vleval.datasets.predictions import (
            RAW_PREDICTIONS_ATTR,
            read_prediction_file,
            read_token_limit_hits,
        )

        if not self.pred_file.is_file():
            return {}, set()
        frame = read_prediction_file(self.pred_file)
        raw = frame.attrs.get(RAW_PREDICTIONS_ATTR) or [str(v) for v in frame["prediction"]]
        return dict(zip(frame["index"], raw, strict=True)), read_token_limit_hits(self.pred_file)

    @property
    def name(self) -> str:
        return f"{self.model.name} {self.card.name}"


def image_content_digests(sample: Sample) -> list[str]:
    """sha256 of each image as the benchmark file stores it (its base64 text); images that come from
    elsewhere (programmatic samples) are digested by their decoded pixels."""
    payloads = getattr(sample.image_loader, "payloads", None)
    if payloads is not None:
        return [hashlib.sha256(p.encode("utf-8")).hexdigest() for p in payloads]
    digests = [image_digest(image) for image in sample.images]
    sample._images = None
    return digests


@dataclass
class DatasetOutcome:
    n_samples: int = 0
    n_inferred: int = 0  # this run, all ranks
    n_reused: int = 0
    n_failed: int = 0
    n_retried: int = 0  # failed before, tried again this run
    hit_token_limit: list[int | str] = field(default_factory=list)  # indices cut at max_new_tokens
    over_context: list[int | str] = field(default_factory=list)  # prompts longer than the model's context
    censored: dict[str, str] = field(default_factory=dict)  # thinking replies with no answer: index -> why
    issues: list[str] = field(default_factory=list)
    seconds: float = 0.0


def predict(backend: Any, requests: list[Request]) -> list[Prediction]:
    """The backend call for a batch. Backends answer every request, a failing one with a Prediction
    whose ``error`` is set (``vleval.models.backends.base``: they retry a failed batch one request at a
    time); a backend that raises anyway fails the whole batch here, to be retried by the next run."""
    try:
        predictions = backend.generate(requests)
    except VlevalError:
        raise
    except Exception as exc:
        return [_failed(request, exc) for request in requests]
    if len(predictions) != len(requests):
        raise VlevalError(f"backend returned {len(predictions)} predictions for {len(requests)} requests")
    return list(predictions)


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
        hit_token_limit=bool(prediction.hit_token_limit),
        over_context=bool(getattr(prediction, "over_context", False)),
    )


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def infer_dataset(
    cell: BenchmarkCell,
    *,
    info: DistInfo,
    group: ProcessGroup,
    run_id: str,
    get_backend: Callable[[], Any],
) -> DatasetOutcome:
    """Run on every rank; returns the merged outcome on rank 0 (counts for this rank elsewhere)."""
    started = time.monotonic()
    outcome = DatasetOutcome()
    plan = None
    if info.is_main:
        if cell.progress_dir.is_dir():
            clean_stale_temps(cell.progress_dir)
        keys = cell.keys()
        state = load_progress(cell.progress_dir)
        for issue in state.issues:
            outcome.issues.append(f"progress record not trusted ({issue}); its sample will be inferred again")
            _say(f"vleval: warning: {outcome.issues[-1]}")
        if not state.records:
            state = _import_prediction_file(cell, keys, run_id)
        pending = [pos for pos, key in enumerate(keys) if not state.done(key)]
        outcome.n_retried = sum(1 for pos in pending if keys[pos] in state.records)
        outcome.n_reused = len(keys) - len(pending)
        if state.issues:
            _say(f"vleval: {cell.name}: {len(pending)} sample(s) to infer after the check.")
        plan = (keys, pending)
    keys, pending = group.broadcast(plan)
    outcome.n_samples = len(keys)

    mine = shard(pending, info.rank, info.world_size)
    bar = _progress_bar(cell, len(pending)) if info.is_main and pending else None
    watcher = ProgressWatcher(cell.progress_dir, run_id)
    if mine:
        backend = get_backend()
        with ProgressWriter(cell.progress_dir, run_id, info.rank) as writer:
            for start in range(0, len(mine), cell.batch_size):
                positions = mine[start : start + cell.batch_size]
                records = _infer_batch(cell, keys, positions, backend)
                writer.append(records)
                if cell.verbose:
                    for record in records:
                        who = f"[rank {info.rank}] " if info.distributed else ""
                        print(f"{who}{cell.name} {record.index}: {record.prediction}", flush=True)
                if bar is not None:
                    bar.update(watcher.count() - bar.n)
    if bar is not None:  # wait for the other ranks, showing their progress
        last_change, seen = time.monotonic(), watcher.count()
        while seen < len(pending) and time.monotonic() - last_change < cell.wait_timeout_s:
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
        _merge(cell, keys, outcome, changed=bool(pending))
    outcome.seconds = time.monotonic() - started
    return outcome


def _infer_batch(
    cell: BenchmarkCell, keys: Sequence[str], positions: Sequence[int], backend: Any
) -> list[Record]:
    samples = cell.samples
    keep_prompt = cell.prompts_file is not None
    records: dict[int, Record] = {}
    requests: list[Request] = []
    request_positions: list[int] = []
    for pos in positions:
        sample = samples[pos]
        try:
            request = cell.request(sample)
        except Exception as exc:  # a bad row (undecodable image) must not stop the run: it fails alone
            error = failure_text(exc)
            records[pos] = _record(
                keys[pos],
                sample.index,
                Prediction(cell.card.name, sample.index, error, error=error),
                keep_prompt,
            )
            continue
        requests.append(request)
        request_positions.append(pos)
    if requests:
        for pos, prediction in zip(request_positions, predict(backend, requests), strict=True):
            records[pos] = _record(keys[pos], samples[pos].index, prediction, keep_prompt)
    for pos in positions:
        samples[pos]._images = None  # decoded images are not kept once inferred
    return [records[pos] for pos in positions]


def _merge(cell: BenchmarkCell, keys: Sequence[str], outcome: DatasetOutcome, changed: bool) -> None:
    samples = cell.samples
    state = load_progress(cell.progress_dir)
    missing = [samples[pos].index for pos, key in enumerate(keys) if key not in state.records]
    if missing:
        raise VlevalError(
            f"{cell.name}: no prediction for {len(missing)} sample(s) after all ranks finished (index "
            f"{', '.join(map(str, missing[:5]))}); a rank stopped early. Run the same command again to infer "
            "them."
        )
    chosen = [state.records[key] for key in keys]
    outcome.n_failed = sum(1 for record in chosen if not record.ok)
    outcome.hit_token_limit = [record.index for record in chosen if record.hit_token_limit]
    outcome.over_context = [record.index for record in chosen if record.over_context]
    cell.hit_token_limit = outcome.hit_token_limit
    thinking = thinking_output(chosen) if cell.model.thinking else None
    if thinking is not None:
        outcome.censored = thinking.censored
    if changed or not cell.pred_file.exists():
        cell.write_predictions(
            {sample.index: record.prediction for sample, record in zip(samples, chosen, strict=True)},
            outcome.hit_token_limit,
            thinking,
        )
    if cell.prompts_file is not None and (changed or not cell.prompts_file.exists()):
        without = sum(1 for record in chosen if record.prompt is None)
        if without:
            outcome.issues.append(
                f"{without} sample(s) were inferred without --save-prompts: their prompt is null in "
                f"{cell.prompts_file.name}"
            )
        _write_prompts(cell.prompts_file, samples, chosen)
    if changed or len(state.files) > 1:
        compact(cell.progress_dir, state)  # keeps every valid record, also those of other settings


THINKING_COLUMN = "thinking"  # the reference's column for the reasoning (VK inference.py, SPLIT_THINK)


@dataclass
class ThinkingOutput:
    """A thinking entry's replies as the reference splits them: the reasoning per index, and the
    indices whose reply has no answer to score as such (``models.internvl.thinking``)."""

    reasoning: dict[str, str]
    censored: dict[str, str]


def thinking_output(records: Sequence[Record]) -> ThinkingOutput:
    """Read from each record's whole reply (``raw``). A prediction reused from a file has no reply left
    to read (it is the answer already): its reasoning cell stays empty and it is not marked."""
    from vleval.models.internvl.thinking import split_thinking

    reasoning, censored = {}, {}
    for record in records:
        if not record.ok or record.raw is None:
            continue
        reply = split_thinking(record.raw, record.hit_token_limit)
        reasoning[str(record.index)] = reply.reasoning
        if reply.censored is not None:
            censored[str(record.index)] = reply.censored
    return ThinkingOutput(reasoning, censored)


def _write_prompts(path: Path, samples: Sequence[Sample], records: Sequence[Record]) -> None:
    lines = []
    for sample, record in zip(samples, records, strict=True):
        row = {"index": plain_index(sample.index), "prompt": record.prompt, "tiles": record.tiles}
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    atomic_write(path, "".join(lines))


def _import_prediction_file(cell: BenchmarkCell, keys: Sequence[str], run_id: str) -> ProgressState:
    """No progress records but a prediction file exists (made elsewhere, or the progress folder was
    deleted): reuse its predictions as the reference does, except failed ones."""
    existing, hits = cell.existing_predictions()
    if not existing:
        return load_progress(cell.progress_dir)
    by_index = {str(k): v for k, v in existing.items()}
    records = []
    for sample, key in zip(cell.samples, keys, strict=True):
        text = by_index.get(str(sample.index))
        if text is not None and FAILURE_PREFIX not in text:
            index = plain_index(sample.index)
            records.append(Record(key=key, index=index, prediction=text, hit_token_limit=str(index) in hits))
    if records:
        with ProgressWriter(cell.progress_dir, f"{run_id}-imported", 0) as writer:
            writer.append(records)
        _say(f"vleval: {cell.name}: reusing {len(records)} prediction(s) from {cell.pred_file}")
    return load_progress(cell.progress_dir)


def _progress_bar(cell: BenchmarkCell, total: int) -> Any:
    return bar(total=total, desc=cell.name, unit="sample", enabled=cell.progress_bar)
