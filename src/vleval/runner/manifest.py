"""``<work-dir>/<model>/run.json``: what ran, so a result can be traced and repeated.

Holds the command (each argument through ``vleval.transport.redact_command``: URLs keep their address
without credentials, known secrets are removed), versions (vleval, torch, transformers, Python),
protocol, model identity (checkpoint folder and digest of its config/index), each benchmark file's md5,
settings and timings. ``vleval run`` writes it (``write_run_json``); ``vleval eval`` adds what it
scored (``write_eval_manifest``), keeping what a run recorded.
Never the judge API key.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vleval.errors import DataCorruptError
from vleval.runner.config import CellResult, RunConfig, RunPlan, recorded_settings
from vleval.runner.targets import ModelTarget
from vleval.transport import redact_command
from vleval.types import (
    BenchmarkCard,
    EvalSettings,
    ManifestBenchmark,
    ManifestModel,
    ManifestProtocol,
    ManifestScoring,
    ModelCard,
    RunManifest,
    ScoreRecord,
)
from vleval.workdir import read_manifest, write_manifest

if TYPE_CHECKING:
    from vleval.models.verify import CheckpointCheck
    from vleval.protocol import Protocol


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for package in ("vleval", "torch", "transformers", "tokenizers", "pandas", "xlsxwriter"):
        try:
            out[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            out[package] = "not installed"
    return out


def eval_settings(
    config: RunConfig,
    plan: RunPlan,
    target: ModelTarget,
    card: BenchmarkCard,
    checkpoint_digest: str,
    check: CheckpointCheck | None,
) -> EvalSettings:
    """The settings record of one (model, benchmark) of a run, before scoring completes it with the
    judge it used (``vleval.settings.scored_settings``). Inference settings are this run's options:
    finished samples are reused only under the same generation settings, model, protocol, CoT and
    backend (``runner.progress`` keys them so)."""
    from vleval.datasets.files import cached_md5

    found = versions()
    tsv = plan.tsv.get(card.name)
    md5 = cached_md5(tsv) if tsv is not None and tsv.is_file() else None
    return EvalSettings(
        protocol=plan.protocol.name,
        cot=config.cot,
        prompt_style="mpo" if target.card.mpo else "default",
        max_new_tokens=config.max_new_tokens,
        stand_in_judge=config.stand_in_judge,
        verify_md5=config.verify_md5,
        data_md5=md5,
        data_md5_matches=None if md5 is None else md5 == plan.protocol.md5_for(card),
        dtype=config.dtype or ("float32" if config.device == "cpu" else None),
        attention=config.attention,
        backend=config.backend,
        batch_size=config.batch_size,
        seed=config.seed,
        vleval_version=found["vleval"],
        transformers_version=found["transformers"],
        torch_version=found["torch"],
        checkpoint_digest=checkpoint_digest or None,
        checkpoint=check.status if check is not None else None,
        checkpoint_problems=check.problems if check is not None else (),
        synthetic_checkpoint=bool(check is not None and check.synthetic),
        **sampling_settings(target.card, config.seeds),
    )


def sampling_settings(card: ModelCard, seeds: int) -> dict[str, Any]:
    """The thinking-mode and sampled-decoding fields of the settings record (none for a greedy model,
    whose records then read as every record written before thinking mode could run)."""
    if not card.thinking:
        return {}
    from vleval.models.internvl.thinking import reference_thinking_settings
    from vleval.runner.seeds import seed_list

    thinking = reference_thinking_settings()
    return {
        "thinking": True,
        "temperature": thinking.temperature,
        "top_p": thinking.top_p,
        "sampling_seeds": seed_list(seeds),
    }


def write_run_json(
    model_dir: Path,
    *,
    config: RunConfig,
    plan: RunPlan,
    target: ModelTarget,
    checkpoint_digest: str,
    cells: list[CellResult],
    world_size: int,
    started: float,
    backend: dict[str, Any] | None = None,
    check: CheckpointCheck | None = None,
) -> Path:
    """``<model_dir>/run.json`` (a ``RunManifest``, through ``vleval.workdir.write_manifest``).
    ``backend``: the backend's own ``describe()`` (None when no model was loaded this run)."""
    from vleval.datasets.files import cached_md5

    datasets = {}
    for card in plan.datasets:
        tsv = plan.tsv.get(card.name)
        cell = next((c for c in cells if c.dataset == card.name), None)
        datasets[card.name] = ManifestBenchmark(
            tsv=str(tsv) if tsv else None,
            tsv_md5=cached_md5(tsv) if tsv and tsv.is_file() else None,
            expected_md5=plan.protocol.md5_for(card),
            samples=cell.n_samples if cell else None,
            inferred_this_run=cell.n_inferred if cell else None,
            reused=cell.n_reused if cell else None,
            failed=cell.n_failed if cell else None,
            headline=cell.headline if cell else None,
            headline_name=cell.headline_name if cell else None,
            prediction_file=cell.pred_file.name if cell and cell.pred_file else None,
            result_files=[f.name for f in cell.files] if cell else [],
            notes=cell.notes if cell else [],
            error=cell.error if cell else None,
            incomplete=cell.incomplete if cell else None,
            judge=cell.judge if cell else None,  # calls made, cache hits, failures, tokens
            seconds={"infer": round(cell.infer_s, 3), "eval": round(cell.eval_s, 3)} if cell else None,
            estimate=cell.estimate if cell else None,  # what --dry-run estimated, beside "seconds"
            # the options this benchmark ran with: benchmarks of one work dir may run with different ones
            # (a suite file's CoT for MMMU only; a later run of another benchmark)
            settings=recorded_settings(config),
            predictions_by="run" if cell and cell.pred_file else None,
            scored_by="run" if cell and cell.record is not None else None,
            **_prediction_identity(cell.pred_file if cell else None),
        )
    manifest = RunManifest(
        command=redact_command(
            config.command if config.command is not None else sys.argv, [config.api_key, config.judge_api_key]
        ),
        cwd=os.getcwd(),
        versions=versions(),
        protocol=ManifestProtocol(name=plan.protocol.name, reference_commit=plan.protocol.reference_commit),
        model=ManifestModel(
            name=target.name,
            repo_id=target.card.repo_id,
            path=str(target.path),
            checkpoint_digest=checkpoint_digest,
            llm_family=target.card.llm_family,
            mpo=target.card.mpo,
            # a -Thinking entry's decoding (vleval.settings.legacy_settings reads it for `vleval eval`)
            sampling=sampling_settings(target.card, config.seeds) if target.card.thinking else None,
            # vleval.models.verify: what the checkpoint is, against the registry
            checkpoint=None
            if check is None
            else {
                "status": check.status,
                "problems": list(check.problems),
                "synthetic": check.synthetic,
                "checked": list(check.checked),
            },
        ),
        datasets=_kept_datasets(model_dir) | datasets,
        settings=recorded_settings(config),
        stand_in_judge=config.stand_in_judge,  # the judge endpoint was a deterministic stand-in
        backend=backend,
        world_size=world_size,
        started=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        seconds=round(time.time() - started, 3),
    )
    return write_manifest(model_dir, manifest)


def _prediction_identity(pred_file: Path | None) -> dict[str, Any]:
    """md5 and size of a prediction file as it was scored: a later ``vleval eval`` of the same folder
    says so when the file changed in between."""
    from vleval.datasets.files import md5_of_file

    if pred_file is None or not Path(pred_file).is_file():
        return {}
    pred_file = Path(pred_file)
    return {"prediction_md5": md5_of_file(pred_file), "prediction_bytes": pred_file.stat().st_size}


def eval_scoring(
    command: list[str],
    secrets: list[str | None],
    record: ScoreRecord,
    judge_requested: str | None,
    judge_options: dict[str, Any],
    options: dict[str, Any],
) -> ManifestScoring:
    """What ``vleval eval`` records of how it scored one benchmark (``ManifestBenchmark.scoring``): the
    command through ``redact_command`` as ``vleval run`` records its own, never a key."""
    return ManifestScoring(
        command=redact_command(command, secrets),
        judge_model=record.judge.model if record.judge is not None else None,
        judge_requested=judge_requested,
        judge_options=judge_options,
        options=options,
        versions=versions(),
        finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )


def write_eval_manifest(
    model_dir: Path,
    *,
    card: BenchmarkCard,
    protocol: Protocol,
    pred_file: Path,
    tsv: Path | None,
    record: ScoreRecord,
    files: list[Path],
    judge_tally: dict[str, Any] | None,
    scoring: ManifestScoring,
    started: float,
) -> Path:
    """Record in ``<model_dir>/run.json`` that ``vleval eval`` scored ``card``'s predictions.

    A record ``vleval run`` wrote keeps everything it says; the benchmark's entry keeps its inference
    part (samples, options, inference seconds) when the file scored is the run's own prediction file, and
    takes the eval's scoring part (headline, result files, notes, judge tally, ``scoring``, ``scored_by``
    "eval"). A prediction file no vleval run of this folder made (VLMEvalKit's) gets an entry saying the
    predictions were made elsewhere (``settings`` ``{}``: nothing is known of how), and a folder without
    a record gets one ``written_by`` "eval". Raises ``DataCorruptError`` for an earlier record that
    cannot be read (it is left as it is)."""
    from vleval.datasets.files import cached_md5

    earlier = read_manifest(model_dir)
    model_dir = Path(model_dir).resolve()
    pred_file = Path(pred_file).resolve()
    try:
        pred_name = str(pred_file.relative_to(model_dir))  # the name, or T<date>/name in a VLMEvalKit folder
    except ValueError:
        pred_name = str(pred_file)
    identity = _prediction_identity(pred_file)
    prior = earlier.datasets.get(card.name) if earlier is not None else None
    # the run's own prediction file (edited or not since: said in a note), not another tool's
    the_runs = (
        prior is not None and prior.predictions_by != "elsewhere" and prior.prediction_file == pred_name
    )
    notes = list(record.notes)
    if the_runs and prior.prediction_md5 and prior.prediction_md5 != identity.get("prediction_md5"):
        notes.append(
            f"{pred_file.name} changed after `vleval run` scored it (md5 {prior.prediction_md5} then, "
            f"{identity.get('prediction_md5')} now)"
        )
    eval_s = round(time.time() - started, 3)
    scored = {
        "headline": record.headline,
        "headline_name": record.headline_name,
        "result_files": [Path(f).name for f in files],
        "notes": notes,
        "error": None,
        "incomplete": not record.complete,
        "judge": judge_tally,
        "scored_by": "eval",
        "scoring": scoring,
        **identity,
    }
    if the_runs:
        entry = dataclasses.replace(prior, seconds={**(prior.seconds or {}), "eval": eval_s}, **scored)
    else:
        entry = ManifestBenchmark(
            tsv=str(tsv) if tsv is not None else None,
            tsv_md5=cached_md5(tsv) if tsv is not None and tsv.is_file() else None,
            expected_md5=protocol.md5_for(card),
            samples=record.counts.total,
            prediction_file=pred_name,
            seconds={"eval": eval_s},
            settings={},
            predictions_by="elsewhere",
            **scored,
        )
    if earlier is not None:
        manifest = dataclasses.replace(earlier, datasets={**earlier.datasets, card.name: entry})
    else:
        manifest = RunManifest(
            command=scoring.command,
            cwd=os.getcwd(),
            versions=scoring.versions,
            protocol=ManifestProtocol(name=protocol.name, reference_commit=protocol.reference_commit),
            model=ManifestModel(name=model_dir.name),
            datasets={card.name: entry},
            started=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
            finished=scoring.finished,
            seconds=eval_s,
            written_by="eval",
        )
    return write_manifest(model_dir, manifest)


def _kept_datasets(model_dir: Path) -> dict[str, ManifestBenchmark]:
    """The entries of an earlier ``run.json`` in ``model_dir`` for benchmarks this run did not touch,
    when they record their own settings (older entries without them would take this run's: left out).
    An unreadable earlier record is replaced."""
    try:
        earlier = read_manifest(model_dir)
    except DataCorruptError:
        return {}
    if earlier is None:
        return {}
    return {name: entry for name, entry in earlier.datasets.items() if entry.settings is not None}
