import re

import pytest

from vleval.datasets.registry import BENCHMARKS, benchmark_names, get_benchmark
from vleval.errors import VlevalError
from vleval.protocol import PINNED_PROTOCOLS, Quirk, get_protocol

EXPECTED = {
    "MMBench_TEST_EN_V11",
    "MMBench_DEV_EN_V11",
    "MMStar",
    "MMMU_DEV_VAL",
    "MathVista_MINI",
    "HallusionBench",
    "AI2D_TEST",
    "OCRBench",
    "MMVet",
    "LLaVABench",
    "CRPE_EXIST",
    "CRPE_RELATION",
    # issue 21: the open VQA family
    "ChartQA_TEST",
    "TextVQA_VAL",
    "DocVQA_VAL",
    "InfoVQA_VAL",
    # issue 21: multiple choice and yes/no
    "MMBench_TEST_CN_V11",
    "MMBench_DEV_CN_V11",
    "RealWorldQA",
    "ScienceQA_TEST",
    "SEEDBench_IMG",
    "SEEDBench2_Plus",
    "MMT-Bench_VAL",
    "BLINK",
    "MME",
    "POPE",
}


def test_all_twelve_benchmarks_registered_with_file_names():
    assert set(BENCHMARKS) == EXPECTED
    assert benchmark_names()[0] == "MMBench_TEST_EN_V11"
    for name, card in BENCHMARKS.items():
        assert card.file_name == f"{name}.tsv"
        assert card.url.endswith(f"/{name}.tsv")  # legacy name (URL basename) = new name
        assert len(card.md5) == 32 and int(card.md5, 16) >= 0
        assert {"index", "question"} <= set(card.required_columns)


def test_reference_facts():
    assert get_benchmark("MMBench_DEV_EN_V11").md5 == "30c05be8f2f347a50be25aa067248184"
    assert get_benchmark("MMBench_TEST_EN_V11").has_answers is False
    assert get_benchmark("MMBench_DEV_EN_V11").has_answers is True
    assert get_benchmark("OCRBench").max_tiles == 24
    assert get_benchmark("MMMU_DEV_VAL").max_tiles == 12
    assert get_benchmark("MMStar").max_tiles == 6
    assert get_benchmark("HallusionBench").task_type == "Y/N"
    assert {c.family for c in BENCHMARKS.values()} == {
        "mcq",
        "yorn",
        "mathvista",
        "ocrbench",
        "mmvet",
        "llavabench",
        "crpe",
        "vqa",
    }
    assert get_benchmark("CRPE_EXIST").url.startswith("https://huggingface.co/")
    # VK image_vqa.py::ImageVQADataset.DATASET_MD5, the same at b13a37db and e8e78f05
    assert get_benchmark("ChartQA_TEST").md5 == "c902e0aa9be5582a7aad6dcf52734b42"
    assert get_benchmark("TextVQA_VAL").md5 == "b233b31f551bbf4056f2f955da3a92cd"
    assert get_benchmark("DocVQA_VAL").md5 == "d5ee77e1926ff10690d469c56b73eabf"
    assert get_benchmark("InfoVQA_VAL").md5 == "2342e9c225222f0ef4dec545ebb126fe"


def test_protocol_md5_differs_where_the_reference_changed():
    old, new = get_protocol("2024.12"), get_protocol("2026.08")
    mmmu, test = get_benchmark("MMMU_DEV_VAL"), get_benchmark("MMBench_TEST_EN_V11")
    assert old.md5_for(mmmu) == "521afc0f3bf341e6654327792781644d"
    assert new.md5_for(mmmu) == "585e8ad75e73f75dcad265dfd0417d64"
    assert old.md5_for(test) == "26f0f15381a21720255091d3e0316ce6"
    assert new.md5_for(test) == "8d1a704e791df6f5d9fb3ef782b65365"
    # image_mcq.py DATASET_MD5 at b13a37db and e8e78f05: re-uploaded files
    changed = {
        "MMBench_TEST_CN_V11": ("74bbe4556dac745613c7cbe5ad787050", "156e6569f9547afb16603eca16e85373"),
        "RealWorldQA": ("92321028d2bc29040284b6674721e48f", "4de008f55dc4fd008ca9e15321dc44b7"),
        "BLINK": ("3b6649b6a662184ea046908e5506260e", "d5e8af148b10ac69f535ff7b23f3f989"),
    }
    for name, (then, now) in changed.items():
        assert (old.md5_for(get_benchmark(name)), new.md5_for(get_benchmark(name))) == (then, now)
    for card in BENCHMARKS.values():
        if card.name not in ("MMMU_DEV_VAL", "MMBench_TEST_EN_V11", *changed):
            assert old.md5_for(card) == new.md5_for(card) == card.md5


def test_md5_pins_name_pinned_protocols_and_derived_protocols_keep_them():
    """An older md5 on a card is pinned by a pinned protocol and differs from the newest; a protocol
    derived from a pinned one under another name (a rule or the judges of another protocol, vleval-1)
    checks its parent's files."""
    for card in BENCHMARKS.values():
        for protocol_name, md5 in card.md5_by_protocol:
            assert protocol_name in PINNED_PROTOCOLS, card.name
            assert re.fullmatch("[0-9a-f]{32}", md5) and md5 != card.md5, card.name
    old, ours = get_protocol("2024.12"), get_protocol("vleval-1")
    mmmu = get_benchmark("MMMU_DEV_VAL")
    assert old.with_rule_of(ours, Quirk.MCQ_ANSWER_IS_REGEX).md5_for(mmmu) == old.md5_for(mmmu)
    assert old.with_judges_of(ours).md5_for(mmmu) == "521afc0f3bf341e6654327792781644d"
    assert ours.md5_for(mmmu) == get_protocol("2026.08").md5_for(mmmu) == mmmu.md5


def test_unknown_name_suggests_close_match_and_lists_all():
    with pytest.raises(VlevalError) as info:
        get_benchmark("MMStr")
    message = str(info.value)
    assert "Did you mean MMStar" in message
    assert "CRPE_RELATION" in message


def test_name_lookup_ignores_case():
    assert get_benchmark("mmstar").name == "MMStar"
