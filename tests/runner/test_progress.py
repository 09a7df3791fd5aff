"""Progress store: durable, sample-keyed, never trusts a damaged line."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from vleval.runner.progress import (
    COMPACT_NAME,
    ProgressWatcher,
    ProgressWriter,
    Record,
    compact,
    image_digest,
    load_progress,
    plain_index,
    sample_key,
)


def _key(**changes):
    base = dict(
        dataset="MMStar",
        index=3,
        text="Question?",
        image_digests=["abc"],
        request_settings={"max_new_tokens": 8},
        model_id="m:1",
        protocol="2024.12",
        cot=False,
        backend="hf",
    )
    base.update(changes)
    return sample_key(**base)


def test_key_changes_with_everything_that_changes_the_prediction_but_not_with_rank():
    reference = _key()
    assert reference == _key()
    for change in (
        {"index": 4},
        {"text": "Question!"},
        {"image_digests": ["abd"]},
        {"request_settings": {"max_new_tokens": 9}},
        {"model_id": "m:2"},
        {"protocol": "2026.08"},
        {"cot": True},
        {"backend": "vllm"},
    ):
        assert _key(**change) != reference, change


def test_image_digest_sees_pixels():
    a = Image.new("RGB", (8, 8), (1, 2, 3))
    b = Image.new("RGB", (8, 8), (1, 2, 4))
    assert image_digest(a) == image_digest(a.copy())
    assert image_digest(a) != image_digest(b)


def test_plain_index_round_trips_numpy_and_strings():
    import numpy as np

    assert plain_index(np.int64(7)) == 7 and isinstance(plain_index(np.int64(7)), int)
    assert plain_index("0_1_2") == "0_1_2"


def test_records_written_by_several_ranks_are_read_back(tmp_path: Path):
    with ProgressWriter(tmp_path, "run1", 0) as w0, ProgressWriter(tmp_path, "run1", 1) as w1:
        w0.append([Record("k0", 0, "A"), Record("k2", 2, "B")])
        w1.append([Record("k1", 1, "", error="Failed to obtain answer: OOM")])
    state = load_progress(tmp_path)
    assert not state.issues
    assert state.done("k0") and state.done("k2")
    assert not state.done("k1") and "k1" in state.records  # recorded failure: retried, not lost
    assert not state.done("k3")


def test_success_beats_an_earlier_failure(tmp_path: Path):
    with ProgressWriter(tmp_path, "a", 0) as w:
        w.append([Record("k", 0, "Failed", error="boom")])
    with ProgressWriter(tmp_path, "b", 0) as w:
        w.append([Record("k", 0, "C")])
    assert load_progress(tmp_path).records["k"].prediction == "C"


def test_truncated_and_corrupt_lines_are_reported_and_not_trusted(tmp_path: Path):
    with ProgressWriter(tmp_path, "run", 0) as w:
        w.append([Record("good", 0, "A"), Record("altered", 1, "B"), Record("cut", 2, "C")])
    path = tmp_path / "run.rank0.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = lines[1].replace('"B"', '"D"')  # edited by hand: checksum no longer matches
    lines[2] = lines[2][: len(lines[2]) // 2]  # killed mid-write
    path.write_text("".join(lines) + "")
    state = load_progress(tmp_path)
    assert state.done("good")
    assert not state.done("altered") and not state.done("cut")
    problems = sorted(i.problem for i in state.issues)
    assert any("checksum" in p for p in problems)
    assert any("truncated" in p for p in problems)
    assert {i.line for i in state.issues} == {2, 3}
    assert str(path) in str(state.issues[0])


def test_garbage_lines_are_issues(tmp_path: Path):
    (tmp_path / "x.rank0.jsonl").write_text('not json\n[1, 2]\n{"v": 99}\n')
    state = load_progress(tmp_path)
    assert len(state.issues) == 3 and not state.records


def test_compact_keeps_every_valid_record_in_one_file(tmp_path: Path):
    with ProgressWriter(tmp_path, "a", 0) as w:
        w.append([Record("k0", 0, "A")])
    with ProgressWriter(tmp_path, "a", 1) as w:
        w.append([Record("k1", 1, "B", error="x")])
    compact(tmp_path, load_progress(tmp_path))
    assert [p.name for p in tmp_path.iterdir()] == [COMPACT_NAME]
    state = load_progress(tmp_path)
    assert state.done("k0") and "k1" in state.records and not state.issues


def test_watcher_counts_only_complete_lines_of_this_run(tmp_path: Path):
    watcher = ProgressWatcher(tmp_path, "run")
    assert watcher.count() == 0
    with ProgressWriter(tmp_path, "run", 0) as w0, ProgressWriter(tmp_path, "old", 0) as old:
        old.append([Record("x", 9, "Z")])
        w0.append([Record("a", 0, "A")])
        assert watcher.count() == 1
        with (tmp_path / "run.rank1.jsonl").open("a") as fh:
            fh.write(Record("b", 1, "B").to_line() + '{"partial')
        assert watcher.count() == 2
        w0.append([Record("c", 2, "C")])
        assert watcher.count() == 3
