from vleval.report.published import canonical_model_name, load_published, published_for


def test_every_published_figure_has_a_source_and_a_0_100_value():
    table = load_published()
    assert len(table) > 100
    for entry in table.values():
        assert entry.source, entry
        assert 0 < entry.score <= 100, entry


def test_ocrbench_out_of_1000_is_put_on_the_0_100_scale():
    entry = load_published()[("InternVL2_5-8B", "OCRBench")]
    assert entry.as_printed == "822"
    assert entry.score == 82.2


def test_mmmu_is_marked_best_of_direct_and_cot():
    table = load_published()
    assert table[("InternVL2_5-78B", "MMMU_DEV_VAL")].best_of_direct_and_cot
    assert not table[("InternVL2_5-78B", "MMStar")].best_of_direct_and_cot


def test_the_internvl25_report_is_preferred_and_other_sources_kept():
    entry = load_published()[("InternVL2_5-8B", "MMStar")]
    assert entry.score == 62.8 and "2412.05271" in entry.source
    assert "63.2" in entry.alternatives  # the OpenCompass leaderboard figure


def test_model_aliases_find_the_published_figure():
    table = load_published()
    assert canonical_model_name("InternVL2-5-8B") == "InternVL2_5-8B"
    assert canonical_model_name("internvl2_5-1b-mpo") == "InternVL2_5-1B-MPO"
    assert published_for(table, "InternVL2-5-8B", "MMStar").score == 62.8
    assert published_for(table, "tiny-demo-model", "MMStar") is None


def test_internvl3_report_figures_with_their_cot_recipe():
    """arXiv 2504.10479 Tables 2, 3 and 5 for all seven InternVL3 sizes; the plain rows, not best-of-8;
    the evaluation guide's USE_COT=1 recorded so the verdict can check it."""
    table = load_published()
    assert table[("InternVL3-8B", "MMMU_DEV_VAL")].score == 62.7
    assert table[("InternVL3-78B", "MathVista_MINI")].score == 79.0
    ocr = table[("InternVL3-78B", "OCRBench")]
    assert (ocr.as_printed, ocr.score) == ("906", 90.6)
    assert "2504.10479" in table[("InternVL3-1B", "AI2D_TEST")].source
    assert "USE_COT=1" in table[("InternVL3-14B", "AI2D_TEST")].cot
    sizes = ("1B", "2B", "8B", "9B", "14B", "38B", "78B")
    benchmarks = ("AI2D_TEST", "AI2D_TEST_NO_MASK", "MMMU_DEV_VAL", "MathVista_MINI", "OCRBench")
    benchmarks += ("MMBench_TEST_EN_V11", "MMStar", "HallusionBench", "MMVet", "CRPE_RELATION")
    assert (
        table[("InternVL3-38B", "MMVet")].score == 83.9
        and "Turbo" in table[("InternVL3-38B", "MMVet")].metric
    )
    assert all((f"InternVL3-{s}", b) in table for s in sizes for b in benchmarks)


INTERNVL35_SIZES = ("1B", "2B", "4B", "8B", "14B", "GPT-OSS-20B-A4B-Preview", "30B-A3B", "38B", "241B-A28B")


def test_internvl35_report_figures_for_every_size():
    """arXiv 2508.18265 Tables 3-6 for all nine InternVL3.5 sizes (the report's InternVL3.5-20B-A4B is the
    card InternVL3_5-GPT-OSS-20B-A4B-Preview); the plain rows, not 'w/ Parallel Thinking'."""
    table = load_published()
    assert table[("InternVL3_5-8B", "MMMU_DEV_VAL")].score == 73.4
    assert table[("InternVL3_5-241B-A28B", "MathVista_MINI")].score == 82.7
    assert table[("InternVL3_5-241B-A28B", "MMStar")].score == 77.9
    ocr = table[("InternVL3_5-241B-A28B", "OCRBench")]
    assert (ocr.as_printed, ocr.score) == ("907", 90.7)
    mme = table[("InternVL3_5-38B", "MME")]
    assert (mme.as_printed, mme.score) == ("2492.4", round(2492.4 / 28, 4))
    assert "Turbo" in table[("InternVL3_5-30B-A3B", "MMVet")].metric
    benchmarks = ("MMMU_DEV_VAL", "MathVista_MINI", "AI2D_TEST", "AI2D_TEST_NO_MASK", "ChartQA_TEST")
    benchmarks += ("TextVQA_VAL", "OCRBench", "SEEDBench2_Plus", "BLINK", "MMT-Bench_VAL", "RealWorldQA")
    benchmarks += ("MME", "MMBench_TEST_EN_V11", "MMVet", "MMStar", "HallusionBench", "CRPE_RELATION", "POPE")
    for size in INTERNVL35_SIZES:
        for benchmark in benchmarks:
            assert "2508.18265" in table[(f"InternVL3_5-{size}", benchmark)].source, (size, benchmark)


def test_internvl35_reasoning_figures_are_marked_thinking_and_found_for_the_thinking_entry():
    """The reasoning table's figures (MMMU, MathVista) were produced in thinking mode, by the maintainers'
    word; the -Thinking card finds them, while a benchmark the sources do not tie to thinking mode has no
    figure for it."""
    table = load_published()
    mmmu = table[("InternVL3_5-8B", "MMMU_DEV_VAL")]
    assert mmmu.thinking_mode and "VLMEvalKit#1210" in mmmu.cot
    assert not table[("InternVL3_5-8B", "MMStar")].thinking_mode
    assert published_for(table, "InternVL3_5-8B-Thinking", "MMMU_DEV_VAL") is mmmu
    assert published_for(table, "InternVL3.5-8B-Thinking", "MathVista_MINI").score == 78.4
    assert published_for(table, "InternVL3_5-8B-Thinking", "MMStar") is None
    assert published_for(table, "InternVL3.5-8B", "MMStar").score == 69.3  # the README's spelling


def test_internvl35_training_stages_have_the_reports_reasoning_figures():
    """arXiv 2508.18265 Table 15: MMMU and MathVista after SFT (-Instruct) and after MPO (-MPO), the
    figures OpenGVLab/InternVL#1185 tried to reproduce for 4B; no stage has a -Thinking entry."""
    table = load_published()
    assert table[("InternVL3_5-4B-Instruct", "MMMU_DEV_VAL")].score == 64.3
    assert table[("InternVL3_5-4B-MPO", "MathVista_MINI")].score == 71.7
    assert "Table 15" in table[("InternVL3_5-241B-A28B-MPO", "MMMU_DEV_VAL")].source
    assert table[("InternVL3_5-8B-Instruct", "MMMU_DEV_VAL")].thinking_mode
    assert ("InternVL3_5-8B-Instruct", "MMStar") not in table
    assert "83.2" in table[("InternVL3_5-8B", "OCRBench")].alternatives  # Table 17 prints 83.2, Table 4 840
