"""``vleval.workdir``: the typed run record (``run.json``) and the one lister/reader of work dirs."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

import vleval
from vleval.errors import DataCorruptError
from vleval.settings import settings_of
from vleval.types import MANIFEST_SCHEMA, ManifestBenchmark, ManifestModel, ManifestProtocol, RunManifest
from vleval.workdir import manifest_from_json, read_manifest, recorded_runs, write_manifest

# run.json exactly as `vleval run` of the release before the record was typed and versioned wrote it
# (a tiny synthetic checkpoint, 4 MMStar rows, --judge none on CPU): no "schema" key.
BEFORE_SCHEMA = Path(__file__).parent / "data" / "run_json_before_schema.json"


def test_a_run_json_written_before_the_record_was_versioned_reads_and_keeps_its_layout(tmp_path: Path):
    old = json.loads(BEFORE_SCHEMA.read_text(encoding="utf-8"))
    assert "schema" not in old
    model_dir = tmp_path / "TinyVL-Qwen2"
    model_dir.mkdir()
    (model_dir / "run.json").write_text(BEFORE_SCHEMA.read_text(encoding="utf-8"), encoding="utf-8")
    run = read_manifest(model_dir)
    assert run is not None and run.schema == MANIFEST_SCHEMA
    assert run.model is not None and run.model.name == "TinyVL-Qwen2"
    assert run.protocol == ManifestProtocol(name="2024.12", reference_commit="b13a37db")
    entry = run.benchmark("MMStar")
    assert entry is not None and entry.samples == 4 and entry.prediction_file == "TinyVL-Qwen2_MMStar.xlsx"
    assert run.options_for("MMStar")["max_new_tokens"] == 8
    # what an older score record without settings takes from it
    settings = settings_of(None, run, "MMStar")
    assert (settings.protocol, settings.cot, settings.max_new_tokens) == ("2024.12", False, 8)
    assert settings.synthetic_checkpoint and settings.checkpoint == "unregistered"
    assert settings.vleval_version == old["versions"]["vleval"]
    # written again, it is the same file with its schema added: readers of the old layout still read it
    write_manifest(tmp_path / "again", run)
    again = json.loads((tmp_path / "again" / "run.json").read_text(encoding="utf-8"))
    assert again == {**old, "schema": MANIFEST_SCHEMA}
    assert list(again)[:-1] == list(old)


def test_a_run_record_round_trips_and_a_later_schema_is_refused_in_one_line(tmp_path: Path):
    run = RunManifest(
        command=["vleval", "run"],
        protocol=ManifestProtocol("2026.08", "e8e78f05"),
        model=ManifestModel(name="M", mpo=True, checkpoint={"status": "unverified", "problems": ["layers"]}),
        datasets={"MMStar": ManifestBenchmark(samples=3, judge={"calls": 2}, settings={"cot": True})},
        settings={"cot": False},
    )
    write_manifest(tmp_path, run)
    assert read_manifest(tmp_path) == run
    assert run.options_for("MMStar") == {"cot": True} and run.options_for("AI2D_TEST") == {"cot": False}
    data = json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))
    (tmp_path / "run.json").write_text(json.dumps({**data, "schema": 99}), encoding="utf-8")
    with pytest.raises(DataCorruptError, match=r"run\.json: run record schema 99, .*upgrade vleval") as caught:
        read_manifest(tmp_path)
    assert "\n" not in str(caught.value)
    (tmp_path / "run.json").write_text('{"command": [', encoding="utf-8")
    with pytest.raises(DataCorruptError, match=r"run\.json: not valid JSON"):
        read_manifest(tmp_path)
    assert read_manifest(tmp_path / "nothing here") is None


def test_recorded_runs_are_the_model_folders_with_a_run_record(tmp_path: Path):
    for name in ("B", "A", "scored-by-eval"):
        (tmp_path / name).mkdir()
    for name in ("B", "A"):
        write_manifest(tmp_path / name, RunManifest(model=ManifestModel(name=name)))
    found = recorded_runs(tmp_path)
    assert [(d.name, run.model.name if run.model else None) for d, run in found] == [("A", "A"), ("B", "B")]


def test_sections_of_the_wrong_type_read_as_absent():
    """An older or hand-edited run.json: what the readers of the untyped layout took as missing."""
    run = manifest_from_json({"protocol": "2024.12", "model": "M", "datasets": {"MMStar": 3}, "settings": []})
    assert run.protocol == ManifestProtocol(name="2024.12")
    assert run.model is None and run.datasets == {} and run.settings == {}


# Modules that list folders which are not work dirs: checkpoint folders (their shards and configs),
# the run's own progress folder, temp files of one folder, the reference's result files beside one
# prediction stem, and the judge-calibration folders beside one prediction file.
NOT_WORK_DIR_WALKERS = {
    "atomic.py",
    "synthetic/checkpoints.py",
    "synthetic/judge_checkpoint.py",
    "runner/targets.py",
    "models/engine.py",  # the checkpoint digest lists a checkpoint folder
    "runner/run.py",
    "runner/progress.py",
    "models/verify.py",
    "models/metadata.py",
    "models/download.py",
    "judge/local.py",
    "workflows/judge_calibrate.py",
    "families/base.py",
    "families/mcq.py",
}


def test_no_module_but_the_work_dir_reader_opens_run_json_or_walks_a_folder():
    """One reader of work dirs: a second one (a `"run.json"` path, an iterdir/glob/rglob outside the
    modules listed above) would read runs differently from the report, compare and judge-audit."""
    root = Path(vleval.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root).as_posix()
        if name == "workdir.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value == "run.json":
                offenders.append(f"{name}:{node.lineno} names run.json")
            walks = isinstance(node, ast.Attribute) and node.attr in ("iterdir", "glob", "rglob", "listdir", "scandir", "walk")
            if walks and name not in NOT_WORK_DIR_WALKERS:
                offenders.append(f"{name}:{node.lineno} calls {node.attr}()")
    assert not offenders, offenders
