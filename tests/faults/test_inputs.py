"""The input fault corpus (issue 19): hostile checkpoints, benchmark files, prediction files and paths.

Each case is what a user would type, with its expected outcome: exit code 2 and one error naming the
file, row or setting and what to do, never a traceback; or a correct, marked result. Checkpoints and
benchmark files come from the real writers (``vleval.synthetic``), then are broken the way a bad
download, an edit or a hostile upload breaks them. Cases that would exhaust memory or block for ever
if the guard regressed (``/dev/zero``, FIFOs) run in a child process with a memory cap and a timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from vleval.cli import main
from vleval.datasets.predictions import read_prediction_file, write_prediction_file
from vleval.datasets.registry import get_benchmark
from vleval.synthetic.benchmarks import make_benchmark_tsv
from vleval.synthetic.checkpoints import make_tiny_checkpoint

MODEL = "TinyVL-Qwen2"
INDEX = "model.safetensors.index.json"
N_ROWS = 6


# --------------------------------------------------------------------------------------------------
# shared inputs: one tiny checkpoint, one benchmark file, one scored run (built once per module)
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return make_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / MODEL, "qwen2", seed=0)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("LMUData")
    make_benchmark_tsv("MMStar", root, n=N_ROWS, seed=0)
    return root


@pytest.fixture(scope="module")
def scored_run(checkpoint, data_dir, tmp_path_factory) -> Path:
    """A finished `vleval run` on MMStar: its work dir."""
    work = tmp_path_factory.mktemp("work")
    assert main(["run", *_run_args(checkpoint, data_dir, work)]) == 0
    return work


def _run_args(model: Path, data_dir: Path, work: Path, *extra: str) -> list[str]:
    return [
        "--model", str(model), "--data", "MMStar", "--data-dir", str(data_dir), "--work-dir", str(work),
        "--skip-md5-check", "--max-new-tokens", "4", "--judge", "none", "--device", "cpu", "--no-progress",
        *extra,
    ]  # fmt: skip


def _copy_checkpoint(checkpoint: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(checkpoint, tmp_path / MODEL))


def _copy_data(data_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(data_dir, tmp_path / "LMUData"))


def _edit_json(path: Path, edit: Callable[[dict], object]) -> None:
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def _error(capsys, args: list[str], *needles: str) -> str:
    """Run the CLI in process: exit 2, one `vleval: error:` holding every needle, no traceback."""
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err[-2000:]
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("vleval: error:")]
    assert len(errors) == 1, err[-2000:]
    message = err[err.index("vleval: error:") :]
    for needle in needles:
        assert needle in message, message
    return message


# --------------------------------------------------------------------------------------------------
# item 5: checkpoint metadata files are read bounded, and only from regular files
# --------------------------------------------------------------------------------------------------
# A child process runs every case below through the CLI, one after the other, under an 8 GB address
# space limit and a timeout: a regressed guard fails these tests instead of eating the machine's memory
# (/dev/zero) or hanging (a FIFO). One child for all cases pays the import of torch once.
_CHILD = """
import contextlib, io, json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (8 << 30, 8 << 30))
from vleval.cli import main
results = []
for args in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except BaseException as exc:  # reported: the test fails on it
            code = f"raised {type(exc).__name__}: {exc}"
    results.append({"code": code, "err": err.getvalue()})
print(json.dumps(results))
"""


def _to_dev_zero(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.symlink_to("/dev/zero")


def _to_fifo(path: Path) -> None:
    path.unlink(missing_ok=True)
    os.mkfifo(path)


NOT_REGULAR = [
    ("config.json", _to_dev_zero, "is a device (resolves to /dev/zero), not a regular file"),
    ("config.json", _to_fifo, "is a FIFO, not a regular file"),
    ("tokenizer.json", _to_dev_zero, "is a device"),
    ("generation_config.json", _to_dev_zero, "is a device"),
    ("merges.txt", _to_fifo, "is a FIFO"),
    (INDEX, _to_fifo, "is a FIFO"),
    ("model-00001-of-00002.safetensors", _to_fifo, "is a FIFO"),
]


@pytest.fixture(scope="module")
def not_regular_outcomes(checkpoint, data_dir, tmp_path_factory) -> list[tuple[Path, dict]]:
    """(broken file, {code, err}) per NOT_REGULAR case, all run in one guarded child."""
    root = tmp_path_factory.mktemp("not-regular")
    broken, runs = [], []
    for number, (name, make, _) in enumerate(NOT_REGULAR):
        model = Path(shutil.copytree(checkpoint, root / str(number) / MODEL))
        make(model / name)
        broken.append(model / name)
        runs.append(["run", *_run_args(model, data_dir, root / str(number) / "work", "--mode", "infer")])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(runs)], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return list(zip(broken, json.loads(proc.stdout.splitlines()[-1]), strict=True))


@pytest.mark.parametrize(
    "case", range(len(NOT_REGULAR)), ids=[f"{name}-{make.__name__[4:]}" for name, make, _ in NOT_REGULAR]
)
def test_a_metadata_file_that_is_not_a_regular_file_is_refused_without_reading_it(not_regular_outcomes, case):
    path, outcome = not_regular_outcomes[case]
    assert outcome["code"] == 2, outcome
    assert "Traceback" not in outcome["err"]
    assert f"{path}: {NOT_REGULAR[case][2]}" in outcome["err"]
    assert not list(path.parent.parent.rglob("*.xlsx"))  # nothing was inferred


@pytest.mark.parametrize("name", ["config.json", "tokenizer_config.json", INDEX, "chat_template.jinja"])
def test_a_metadata_file_over_the_size_cap_is_refused_naming_its_size(
    checkpoint, data_dir, tmp_path, capsys, name
):
    model = _copy_checkpoint(checkpoint, tmp_path)
    with open(model / name, "wb") as fh:  # sparse: 20 MiB without writing them
        fh.truncate(20 << 20)
    _error(
        capsys,
        ["run", *_run_args(model, data_dir, tmp_path / "work", "--mode", "infer")],
        f"{model / name}: 20.0 MiB, more than the 16.0 MiB a checkpoint metadata file may have",
    )


# --------------------------------------------------------------------------------------------------
# item 9: malformed checkpoint metadata and --model paths
# --------------------------------------------------------------------------------------------------
def _vision(field: str, value: object) -> Callable[[dict], dict]:
    def edit(config: dict) -> dict:
        config["vision_config"][field] = value
        return config

    return edit


def _top(field: str, value: object) -> Callable[[dict], dict]:
    def edit(config: dict) -> dict:
        config[field] = value
        return config

    return edit


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (lambda config: [], "config.json: holds a JSON list, not an object"),
        (_vision("patch_size", 0), "vision_config.patch_size is 0, expected a positive integer"),
        (_vision("image_size", -448), "vision_config.image_size is -448, expected a positive integer"),
        (_top("downsample_ratio", 0), "downsample_ratio is 0.0, expected a number in (0, 1]"),
        (_top("force_image_size", 0), "force_image_size is 0, expected a positive integer"),
    ],
    ids=["list", "patch_size-0", "image_size-negative", "downsample_ratio-0", "force_image_size-0"],
)
def test_a_malformed_config_is_one_line_naming_the_field(checkpoint, data_dir, tmp_path, capsys, edit, said):
    model = _copy_checkpoint(checkpoint, tmp_path)
    _edit_json(model / "config.json", edit)
    _error(capsys, ["run", *_run_args(model, data_dir, tmp_path / "work", "--mode", "infer")], said)


def test_an_integer_in_the_weight_map_is_one_line_naming_the_index(checkpoint, data_dir, tmp_path, capsys):
    model = _copy_checkpoint(checkpoint, tmp_path)

    def edit(index: dict) -> dict:
        index["weight_map"][next(iter(index["weight_map"]))] = 5
        return index

    _edit_json(model / INDEX, edit)
    _error(
        capsys,
        ["run", *_run_args(model, data_dir, tmp_path / "work", "--mode", "infer")],
        f"{model / INDEX}: weight_map[",
        "is 5, expected the file name of a shard",
    )


def test_model_a_regular_file_or_a_symlink_loop_is_one_line(data_dir, tmp_path, capsys):
    a_file = tmp_path / "weights.bin"
    a_file.write_bytes(b"\0" * 16)
    _error(capsys, ["run", *_run_args(a_file, data_dir, tmp_path / "w")], f"--model {a_file}: is a file")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    _error(capsys, ["run", *_run_args(loop, data_dir, tmp_path / "w")], f"--model {loop}: cannot be resolved")


# --------------------------------------------------------------------------------------------------
# item 10: paths that cannot be used
# --------------------------------------------------------------------------------------------------
def test_work_dir_a_file_is_refused_before_anything_runs(checkpoint, data_dir, tmp_path, capsys):
    work = tmp_path / "work"
    work.write_text("not a folder")
    _error(capsys, ["run", *_run_args(checkpoint, data_dir, work)], f"--work-dir {work} is a file")


def test_a_path_component_over_255_characters_is_one_line(checkpoint, data_dir, tmp_path, capsys):
    work = tmp_path / ("w" * 300)
    _error(capsys, ["run", *_run_args(checkpoint, data_dir, work)], "File name too long", "--work-dir")


def test_a_judge_cache_that_is_a_file_is_refused_before_inference(checkpoint, data_dir, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    (work / ".judge_cache").write_text("")
    _error(
        capsys,
        ["run", *_run_args(checkpoint, data_dir, work)],
        f"the judge cache folder {work / '.judge_cache'} is a file",
    )
    assert not (work / MODEL).exists()


def test_a_lock_file_that_is_a_folder_is_one_line(checkpoint, data_dir, tmp_path, capsys):
    from vleval.runner.lock import LOCK_NAME

    work = tmp_path / "work"
    (work / MODEL / LOCK_NAME).mkdir(parents=True)
    _error(capsys, ["run", *_run_args(checkpoint, data_dir, work)], f"{work / MODEL / LOCK_NAME}", "is a folder")


def test_report_out_a_folder_is_one_line(scored_run, tmp_path, capsys):
    out = tmp_path / "report.html"
    out.mkdir()
    _error(capsys, ["report", "--work-dir", str(scored_run), "--out", str(out)], f"cannot use {out}", "folder")


# --------------------------------------------------------------------------------------------------
# item 11: compare
# --------------------------------------------------------------------------------------------------
def test_compare_names_a_truncated_score_file(scored_run, tmp_path, capsys):
    other = Path(shutil.copytree(scored_run, tmp_path / "other"))
    score = other / MODEL / f"{MODEL}_MMStar_score.json"
    score.write_text(score.read_text()[:40])
    _error(capsys, ["compare", str(scored_run), str(other)], f"{score}: not valid JSON")


def test_compare_json_into_a_missing_folder_creates_it(scored_run, tmp_path, capsys):
    target = tmp_path / "new" / "folder" / "comparison.json"
    assert main(["compare", str(scored_run), str(scored_run), "--json", str(target)]) == 0
    assert json.loads(target.read_text())  # written
    capsys.readouterr()


# --------------------------------------------------------------------------------------------------
# items 8 and 12: benchmark files are diagnosed at load, at the right line
# --------------------------------------------------------------------------------------------------
def _edit_tsv(data_dir: Path, tmp_path: Path, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> Path:
    root = _copy_data(data_dir, tmp_path)
    path = root / "MMStar.tsv"
    edit(pd.read_csv(path, sep="\t")).to_csv(path, sep="\t", index=False)
    return root


def _set(row: int, column: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(table: pd.DataFrame) -> pd.DataFrame:
        table[column] = table[column].astype(object)
        table.loc[row, column] = value
        return table

    return edit


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (_set(2, "answer", "Z"), "(index 2): the 'answer' cell is 'Z', not one of the row's options A, B, C, D"),
        (_set(4, "answer", None), "(index 4): the 'answer' cell is empty"),
        (_set(3, "index", None), "the 'index' cell is empty on line"),
    ],
    ids=["answer-not-an-option", "answer-blank", "index-empty"],
)
def test_a_bad_benchmark_row_is_named_before_inference(checkpoint, data_dir, tmp_path, capsys, edit, said):
    root = _edit_tsv(data_dir, tmp_path, edit)
    message = _error(capsys, ["run", *_run_args(checkpoint, root, tmp_path / "work")], said)
    assert str(root / "MMStar.tsv") in message
    assert not list((tmp_path / "work").rglob("*.xlsx"))


@pytest.mark.parametrize("line", [2, 4], ids=["first-row", "third-row"])
def test_a_row_with_an_extra_field_is_named_by_its_line(checkpoint, data_dir, tmp_path, capsys, line):
    """pandas takes a first row's extra field for an index column and shifts every column (the error
    then blamed the question text as an index); a later row's is a parser error: both name the line."""
    root = _copy_data(data_dir, tmp_path)
    path = root / "MMStar.tsv"
    table = pd.read_csv(path, sep="\t")
    table["question"] = table["question"].str.replace("\n", " ")  # one line per row, to count lines here
    table.to_csv(path, sep="\t", index=False)
    lines = path.read_text().split("\n")
    lines[line - 1] = lines[line - 1].replace("\t", "\tstray\t", 1)  # a field too many
    path.write_text("\n".join(lines))
    _error(
        capsys,
        ["run", *_run_args(checkpoint, root, tmp_path / "work")],
        f"{path}: line {line} has 12 tab-separated fields, the header 11",
    )


# --------------------------------------------------------------------------------------------------
# item 7: the benchmark file's answers are the truth
# --------------------------------------------------------------------------------------------------
def _edited_answers(pred: Path) -> Path:
    """The prediction file of the issue: answer=A and prediction=A on every row."""
    frame = pd.read_excel(pred)
    frame["answer"] = "A"
    frame["prediction"] = "A"
    frame.to_excel(pred, index=False)
    return pred


def test_eval_refuses_a_prediction_file_whose_answers_were_edited(scored_run, data_dir, tmp_path, capsys):
    pred = _edited_answers(Path(shutil.copy(scored_run / MODEL / f"{MODEL}_MMStar.xlsx", tmp_path)))
    truth = pd.read_csv(data_dir / "MMStar.tsv", sep="\t")
    changed = [str(i) for i, a in zip(truth["index"], truth["answer"], strict=True) if a != "A"]
    message = _error(
        capsys,
        ["eval", "--pred", str(pred), "--data", "MMStar", "--data-dir", str(data_dir), "--judge", "none",
         "--skip-md5-check"],
        f"{pred}: its 'answer' column differs from the benchmark file's in {len(changed)} row(s)",
        f"(index {changed[0]})",
    )  # fmt: skip
    assert not list(tmp_path.glob("*_score.json"))  # no score was written from the edited answers
    assert "ground truth" in message


def test_run_mode_eval_refuses_edited_answers_too(checkpoint, scored_run, data_dir, tmp_path, capsys):
    """`run` scores benchmark by benchmark: the refused one is a line of its own and exit 1, as a
    failed benchmark always is; the score from the honest predictions stays as it was."""
    work = Path(shutil.copytree(scored_run, tmp_path / "work"))
    pred = _edited_answers(work / MODEL / f"{MODEL}_MMStar.xlsx")
    score = work / MODEL / f"{MODEL}_MMStar_score.json"
    before = score.read_bytes()
    assert main(["run", *_run_args(checkpoint, data_dir, work, "--mode", "eval")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    said = [line for line in err.splitlines() if f"{pred}: its 'answer' column differs" in line]
    assert len(said) == 1 and "scoring failed" in said[0]
    assert score.read_bytes() == before


def test_an_untouched_prediction_file_rescores_to_the_same_number(scored_run, data_dir, tmp_path, capsys):
    """The guard leaves honest files alone: the run's own prediction file re-scores identically."""
    pred = Path(shutil.copy(scored_run / MODEL / f"{MODEL}_MMStar.xlsx", tmp_path))
    assert main(["eval", "--pred", str(pred), "--data", "MMStar", "--data-dir", str(data_dir), "--judge", "none",
                 "--skip-md5-check"]) == 0  # fmt: skip
    capsys.readouterr()
    again = json.loads((tmp_path / f"{MODEL}_MMStar_score.json").read_text())
    first = json.loads((scored_run / MODEL / f"{MODEL}_MMStar_score.json").read_text())
    assert again["headline"] == first["headline"]


# --------------------------------------------------------------------------------------------------
# item 13: what rows.jsonl says of an empty prediction; prompts beyond the model's context
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", ["2024.12", "2026.08"])
def test_an_empty_prediction_is_stored_as_empty_text(data_dir, tmp_path, capsys, protocol):
    from vleval.datasets.loading import read_table

    table = read_table(data_dir / "MMStar.tsv", get_benchmark("MMStar"))
    predictions = {index: ("" if k == 0 else "A") for k, index in enumerate(table["index"])}
    pred = write_prediction_file(tmp_path / f"{MODEL}_MMStar.xlsx", table, predictions)
    assert read_prediction_file(pred, table)["prediction"].isna()[0]  # what pandas reads: NaN
    assert main(["eval", "--pred", str(pred), "--data", "MMStar", "--data-dir", str(data_dir), "--judge", "none",
                 "--skip-md5-check", "--protocol", protocol]) == 0  # fmt: skip
    capsys.readouterr()
    rows = [json.loads(line) for line in (tmp_path / f"{MODEL}_MMStar_rows.jsonl").read_text().splitlines()]
    first = next(row for row in rows if str(row["index"]) == str(table["index"][0]))
    assert first["prediction"] == ""


def test_prompts_longer_than_the_context_are_said_per_sample_and_counted(
    checkpoint, data_dir, tmp_path, capsys, caplog
):
    """The tiny model's context is cut to 64 tokens: every image prompt (256 image tokens) is over it."""
    model = _copy_checkpoint(checkpoint, tmp_path)

    def shorten(config: dict) -> dict:
        config["llm_config"]["max_position_embeddings"] = 64
        return config

    _edit_json(model / "config.json", shorten)
    work = tmp_path / "work"
    with caplog.at_level("WARNING", logger="vleval.models.backends.hf"):
        assert main(["run", *_run_args(model, data_dir, work, "--mode", "infer")]) == 0
    capsys.readouterr()
    said = [r.getMessage() for r in caplog.records if "more than the model's context length of 64" in r.getMessage()]
    assert len(said) == N_ROWS
    assert all(message.startswith("MMStar index ") for message in said)
    run = json.loads((work / MODEL / "run.json").read_text())
    notes = json.dumps(run)
    assert f"{N_ROWS} prompt(s) longer than the model's context length" in notes
