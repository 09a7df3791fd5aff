"""--limit N: the first N questions of a benchmark, whole (vleval.datasets.subset)."""

from __future__ import annotations

import pytest

from vleval.datasets.loading import load_samples, load_table
from vleval.datasets.registry import get_benchmark
from vleval.datasets.subset import limit_table
from vleval.protocol import get_protocol
from vleval.synthetic.benchmarks import make_benchmark_tsv

PROTOCOL = get_protocol("2024.12")


def _table(name: str, root, n: int):
    make_benchmark_tsv(name, root, n=n, seed=0)
    return load_table(get_benchmark(name), PROTOCOL, root, verify_md5=False)


def test_a_circular_question_keeps_every_rotation_even_those_at_the_end_of_the_file(tmp_path):
    table = _table("MMBench_DEV_EN_V11", tmp_path, n=6)
    limited, subset = limit_table(table, get_benchmark("MMBench_DEV_EN_V11"), PROTOCOL, 2)
    groups = {int(i) % 1_000_000 for i in limited["index"]}
    assert groups == {0, 1}
    # every rotation of questions 0 and 1 (4 and 2 options in the synthetic file), none of the others
    assert sorted(int(i) for i in limited["index"]) == sorted(
        int(i) for i in table["index"] if int(i) % 1_000_000 in groups
    )
    assert subset is not None and (subset.questions, subset.of_questions) == (2, 6)
    assert (subset.rows, subset.of_rows) == (len(limited), len(table))
    # the copies' images (named by the main row's index in the file) are resolved before the cut
    assert all(len(str(image)) > 64 for image in limited["image"])


def test_hallusionbench_keeps_a_question_set_whole(tmp_path):
    table = _table("HallusionBench", tmp_path, n=12)
    limited, subset = limit_table(table, get_benchmark("HallusionBench"), PROTOCOL, 1)
    # a set is 2 figures x 2 questions: qAcc and fAcc need all four
    assert len(limited) == 4 and len({str(i).split("_")[3] for i in limited["index"]}) == 1
    assert subset is not None and subset.of_questions == 3


@pytest.mark.parametrize("protocol", ["2024.12", "2026.08"])
def test_crpe_keeps_blocks_of_rotations_whole(tmp_path, protocol):
    table = _table("CRPE_EXIST", tmp_path, n=3)
    limited, subset = limit_table(table, get_benchmark("CRPE_EXIST"), get_protocol(protocol), 2)
    assert len(limited) == 8 and list(limited["index"]) == list(table["index"][:8])
    assert subset is not None and subset.of_questions == 3


def test_a_limit_covering_the_benchmark_is_a_full_run(tmp_path):
    table = _table("MMStar", tmp_path, n=5)
    limited, subset = limit_table(table, get_benchmark("MMStar"), PROTOCOL, 5)
    assert subset is None and limited is table
    assert len(load_samples(get_benchmark("MMStar"), PROTOCOL, tmp_path, verify_md5=False, limit=3)) == 3


@pytest.mark.parametrize("text", ["0", "-2", "ten"])
def test_limit_must_be_a_positive_whole_number(text, capsys):
    from vleval.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["run", "--model", "InternVL2_5-1B", "--data", "MMStar", "--limit", text])
    assert exc.value.code == 2
    assert "--limit" in capsys.readouterr().err
