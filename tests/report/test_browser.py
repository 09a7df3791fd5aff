"""The report in a real headless browser: Debian's chromium driven by Playwright (never `playwright
install`). CI installs chromium with .ci/services.d/chromium.sh."""

from __future__ import annotations

from pathlib import Path

import pytest

from vleval.report.build import write_report

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
MODEL = "InternVL2_5-8B"  # written by conftest.work_dirs


def test_report_in_chromium(browser, work_dirs, tmp_path):
    html = write_report(list(work_dirs), tmp_path / "report.html").html
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "request",
        lambda r: problems.append(f"network: {r.url}") if not r.url.startswith(("file:", "data:")) else None,
    )
    page.goto(html.as_uri())

    # the table shows the right numbers
    def cell(benchmark: str, role: str) -> str:
        return page.locator(
            f'td[data-model="{MODEL}"][data-benchmark="{benchmark}"] [data-role="{role}"]'
        ).inner_text()

    assert (cell("MMStar", "ours"), cell("MMStar", "published"), cell("MMStar", "diff")) == (
        "75.00",
        "62.8",
        "+12.20",
    )
    assert (cell("HallusionBench", "ours"), cell("HallusionBench", "diff")) == ("50.00", "-0.10")
    assert (cell("OCRBench", "ours"), cell("OCRBench", "diff")) == ("0.10", "-82.10")
    assert cell("MMMU_DEV_VAL", "ours") == "100.00"
    # intervals: lopsided ones as [low, high] (3 of 4 right: exact), never a zero width at 2 of 2
    assert cell("MMStar", "interval") == "[19.41, 99.37] (95%)"
    assert "± 0.00" not in page.locator("table").first.inner_text()
    assert page.locator('td.flag[data-benchmark="MMStar"]').count() == 1
    assert page.locator('td.flag[data-benchmark="HallusionBench"]').count() == 0

    # filters change the visible samples
    samples = page.locator("#sample-list .sample")
    assert samples.count() == 11
    page.select_option("#f-verdict", "miss")
    # MMStar 4, HallusionBench VD_figure_x_0_1_1, OCRBench 1 (failed counts as a miss)
    assert samples.count() == 3
    page.select_option("#f-benchmark", "MMStar")
    assert samples.count() == 1 and samples.first.get_attribute("data-index") == "4"
    page.select_option("#f-verdict", "")
    page.fill("#f-search", "circles")
    assert samples.count() == 1 and samples.first.get_attribute("data-index") == "2"
    page.fill("#f-search", "")
    page.select_option("#f-benchmark", "")
    page.check("#f-failed")
    assert samples.count() == 1 and samples.first.get_attribute("data-benchmark") == "OCRBench"
    page.uncheck("#f-failed")
    assert page.locator("#sample-count").inner_text() == "11 of 11 samples"
    # markup in sample text stays text
    fourth = page.locator('.sample[data-index="4"]')
    assert "What is written <b>here</b>?" in fourth.inner_text()
    fourth.locator("details.prompt summary").click()  # the full prompt, shared prefix restored
    prompt = fourth.locator("details.prompt pre").inner_text()
    assert prompt.startswith("<|im_start|>user") and prompt.endswith("What is written <b>here</b>?")

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    page.close()
    assert problems == []


def test_compare_page_in_chromium(browser, work_dirs, tmp_path):
    from vleval.report.build import write_compare

    out = write_compare(work_dirs[0], work_dirs[1], tmp_path / "compare.html")
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(out.as_uri())
    sides = page.locator("#sample-list .sample .side")
    assert sides.count() == 2  # one changed sample, A and B side by side
    assert page.locator('#compare [data-role="delta"]').first.inner_text() == "+50.00"
    page.close()
    assert errors == []


def matrix_report(names: list[str], tmp_path: Path) -> Path:
    """A report of two models on ``names`` (value 40 + the benchmark's position; MMStar rule-only)."""
    from vleval.report.collect import BenchmarkRun, RunSettings
    from vleval.report.html import render_report
    from vleval.report.summary import build_summary
    from vleval.types import EvalSettings, ScoreRecord

    runs = []
    for model in ("InternVL2_5-8B", "InternVL2_5-78B-MPO"):
        for i, name in enumerate(names):
            full = EvalSettings(
                protocol="2024.12", cot=False, rule_only=name == "MMStar", vleval_version="0.1.0"
            )
            record = ScoreRecord(name, "2024.12", "Overall", 40.0 + i, settings=full)
            settings = RunSettings(
                cot=False, judge="gpt-4o-mini", protocol="2024.12", version="0.1.0", full=full
            )
            runs.append(
                BenchmarkRun(model, name, tmp_path, tmp_path / f"{model}_{name}.xlsx", settings, record)
            )
    html = tmp_path / "wide.html"
    html.write_text(render_report(build_summary(runs, order=names)), encoding="utf-8")
    return html


def test_results_matrix_fits_a_laptop_at_eleven_benchmarks(browser, tmp_path):
    """Issue 18 item 7: the models x benchmarks matrix comes first and fits a 1280 px screen with the 11
    benchmarks that have answers; settings are listed once per run under it, and marks show as †."""
    from vleval.datasets.registry import BENCHMARKS

    names = [n for n, c in BENCHMARKS.items() if c.has_answers][:11]
    assert len(names) == 11
    html = matrix_report(names, tmp_path)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(html.as_uri())
    matrix = page.locator("#matrix")
    assert matrix.bounding_box()["width"] <= 1280 - 16
    assert matrix.bounding_box()["y"] < page.locator("#scores").bounding_box()["y"]  # the matrix first
    headers = page.locator("#matrix thead th").all_inner_texts()
    assert [h.replace("\n", "") for h in headers[1:]] == names  # in --data order
    assert page.locator('#matrix td[data-row="InternVL2_5-8B"][data-col="AI2D_TEST"]').inner_text() == (
        f"{40 + names.index('AI2D_TEST'):.2f}"  # its run's value: 40 + its position
    )
    marked = page.locator('#matrix td[data-row="InternVL2_5-8B"][data-col="MMStar"] sup.mark')
    assert "rule-only" in marked.get_attribute("title")
    assert page.locator("#run-settings tr").count() == 2  # the rule-only settings, and the others
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-matrix.png"))
    page.close()


def test_results_matrix_stays_readable_at_twenty_five_benchmarks(browser, tmp_path):
    """At 25 benchmarks the matrix is split into tables of consecutive benchmarks (in --data order),
    each with the model column, none wider than a 1280 px screen (one table was 1368 px): the matrix
    never needs a sideways scroll, and every value is still in its model's row under its benchmark."""
    from vleval.datasets.registry import BENCHMARKS

    names = sorted(BENCHMARKS)[:25]
    assert len(names) == 25
    html = matrix_report(names, tmp_path)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(html.as_uri())
    assert page.locator("#matrix").bounding_box()["width"] <= 1280 - 16
    tables = page.locator("#matrix table.matrix")
    assert tables.count() > 1
    shown: list[str] = []
    for k in range(tables.count()):
        table = tables.nth(k)
        assert table.bounding_box()["width"] <= 1280 - 16
        headers = [h.replace("\n", "") for h in table.locator("thead th").all_inner_texts()]
        assert headers[0] == "model" and table.locator("tbody th").count() == 2  # both models each time
        shown += headers[1:]
    assert shown == names  # each once, in --data order
    for model in ("InternVL2_5-8B", "InternVL2_5-78B-MPO"):
        for i, name in enumerate(names):
            cell = page.locator(f'#matrix td[data-row="{model}"][data-col="{name}"] [data-role="score"]')
            assert cell.inner_text() == f"{40 + i:.2f}"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report-matrix-25.png"), full_page=True)
    page.close()
