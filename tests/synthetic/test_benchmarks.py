import ast

import pandas as pd
import pytest

from vleval.datasets.loading import load_samples
from vleval.datasets.registry import BENCHMARKS
from vleval.errors import VlevalError
from vleval.families.mcq import CIRCULAR_OFFSET
from vleval.families.ocrbench import CATEGORIES as OCRBENCH_CATEGORIES
from vleval.protocol import get_protocol
from vleval.synthetic.benchmarks import make_benchmark_tsv, protocol_accepting


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    return {name: make_benchmark_tsv(name, root, n=10) for name in BENCHMARKS}


def raw(files, name):
    return pd.read_csv(files[name], sep="\t")


def test_byte_identical_for_the_same_seed(files, tmp_path):
    for name in ("MMBench_DEV_EN_V11", "MMMU_DEV_VAL", "OCRBench"):
        again = make_benchmark_tsv(name, tmp_path / "again", n=10)
        assert again.read_bytes() == files[name].read_bytes()
    other = make_benchmark_tsv("MMStar", tmp_path / "other", n=10, seed=1)
    assert other.read_bytes() != files["MMStar"].read_bytes()


def test_every_file_has_the_columns_its_card_requires(files):
    for name, card in BENCHMARKS.items():
        assert set(card.required_columns) <= set(raw(files, name).columns), name


def test_mmbench_has_rotated_circular_copies(files):
    dev, test = raw(files, "MMBench_DEV_EN_V11"), raw(files, "MMBench_TEST_EN_V11")
    assert "answer" in dev.columns and "answer" not in test.columns
    rows = dev.set_index("index")
    assert len(dev) > 10 and (dev["index"] >= CIRCULAR_OFFSET).any()
    for index in dev["index"][dev["index"] >= CIRCULAR_OFFSET]:
        main = rows.loc[index % CIRCULAR_OFFSET]
        copy = rows.loc[index]
        assert copy["image"] == str(index % CIRCULAR_OFFSET)  # image shared by reference
        letters = [c for c in "ABCD" if isinstance(main[c], str)]
        assert main[main["answer"]] == copy[copy["answer"]]  # same right text, other letter
        assert sorted(main[c] for c in letters) == sorted(copy[c] for c in letters)
    assert {"category", "l2-category", "split", "hint"} <= set(dev.columns)


def test_mmmu_multi_image_and_open_questions(files):
    mmmu = raw(files, "MMMU_DEV_VAL")
    lists = [ast.literal_eval(x) for x in mmmu["image"] if x.startswith("[")]
    assert lists and all(len(x) >= 2 for x in lists)
    assert mmmu["A"].isna().any() and set(mmmu["split"]) == {"dev", "validation"}
    assert all("<image 1>" in q for q in mmmu["question"])


def test_mathvista_columns(files):
    mv = raw(files, "MathVista_MINI")
    assert set(mv["question_type"]) == {"multi_choice", "free_form"}
    assert set(mv["answer_type"]) == {"text", "integer", "float", "list"}
    mc = mv[mv["question_type"] == "multi_choice"]
    assert all(isinstance(ast.literal_eval(c), list) for c in mc["choices"])
    assert set(mc["answer_option"]) <= set("ABCD")
    assert all(isinstance(ast.literal_eval(s), list) for s in mv["skills"])
    assert {"precision", "task"} <= set(mv.columns)


def test_hallusionbench_index_and_answers(files):
    hb = raw(files, "HallusionBench")
    assert all(len(i.split("_")) == 6 for i in hb["index"])
    assert set(hb["answer"]) == {"Yes", "No"}
    assert hb["image"].isna().sum() == 1  # a question without a figure, dropped on load


def test_ocrbench_mmvet_llavabench_crpe(files):
    ocr = raw(files, "OCRBench")
    assert set(ocr["category"]) == set(OCRBENCH_CATEGORIES)
    assert all(isinstance(ast.literal_eval(a), list) for a in ocr["answer"])
    mmvet = raw(files, "MMVet")
    assert mmvet["answer"].str.contains("<AND>").any() and mmvet["answer"].str.contains("<OR>").any()
    assert mmvet["category"].str.contains(",").any()
    llava = raw(files, "LLaVABench")
    assert set(llava["category"]) == {"conv", "detail", "complex"}
    assert {"caption", "gpt4_ans"} <= set(llava.columns)
    for name, categories in (
        ("CRPE_EXIST", {"exist"}),
        ("CRPE_RELATION", {"subject", "predicate", "object"}),
    ):
        crpe = raw(files, name)
        assert len(crpe) == 40 and set(crpe["category"]) == categories
        for start in range(0, 40, 4):
            block = crpe.iloc[start : start + 4]
            assert block["category"].nunique() == 1 and set(block["answer"]) <= set("ABCD")
            right = {
                q.split(f"\n{a}. ")[1].split("\n")[0]
                for q, a in zip(block["question"], block["answer"], strict=True)
            }
            assert len(right) == 1  # the same option is right in every rotation


def test_images_vary_in_size_and_some_rows_share_by_index(files):
    protocol = protocol_accepting(get_protocol(), files)
    sizes = set()
    for name in ("MMStar", "AI2D_TEST", "OCRBench"):
        for sample in load_samples(BENCHMARKS[name], protocol, files[name].parent):
            sizes.update(image.size for image in sample.images)
        assert (raw(files, name)["image"].str.len() <= 64).any()
    widths = {w / h for w, h in sizes}
    assert max(widths) > 3 and min(widths) < 0.5  # wide and tall
    assert min(w * h for w, h in sizes) < 1000  # tiny


def test_unknown_benchmark(tmp_path):
    with pytest.raises(VlevalError, match="MMStar"):
        make_benchmark_tsv("NotABenchmark", tmp_path)
