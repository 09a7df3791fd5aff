"""The comparison page (`vleval report --compare`) in headless Debian chromium: the paired statistics
and the flips list, filterable by benchmark and text."""

from __future__ import annotations

import pytest
from compare_support import FLIP_MMSTAR

from vleval.report.build import write_compare

pytestmark = pytest.mark.browser


def test_compare_page_shows_paired_statistics_and_filterable_flips(browser, runs, tmp_path):
    html = write_compare(runs["a"], runs["c"], tmp_path / "compare.html")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(html.as_uri())

    paired = page.locator('table[data-role="paired"] tbody tr')
    assert paired.count() == 3
    mmstar = page.locator('table[data-role="paired"] tr[data-benchmark="MMStar"]')
    assert mmstar.locator('[data-role="paired-verdict"]').inner_text() == "inconclusive"
    assert "bootstrap" in mmstar.locator('[data-role="paired-interval"]').get_attribute("title")
    assert (
        "B better on 0, worse on 0, inconclusive on 3"
        in page.locator('[data-role="suite-line"]').inner_text()
    )
    # C records CoT on: the page says so before the numbers
    assert "CoT: A off, B on" in page.locator('[data-role="setting-differences"]').inner_text()

    flips = page.locator("#flips tbody tr")
    visible = page.locator("#flips tbody tr:visible")
    assert flips.count() == len(FLIP_MMSTAR) + 1 and visible.count() == flips.count()
    page.select_option("#flip-benchmark", "MMStar")
    assert visible.count() == len(FLIP_MMSTAR)
    assert page.locator("#flip-count").inner_text() == str(len(FLIP_MMSTAR))
    page.select_option("#flip-benchmark", "")
    page.fill("#flip-text", "purple shape")  # the HallusionBench question
    assert visible.count() == 1 and visible.first.get_attribute("data-benchmark") == "HallusionBench"
    assert problems == []


def test_report_cell_shows_interval_hover_and_censoring(browser, runs, tmp_path):
    from vleval.report.build import write_report

    html = write_report([runs["b"]], tmp_path / "report.html", data_dir=runs["data"]).html
    page = browser.new_page()
    page.goto(html.as_uri())
    cell = page.locator('td[data-benchmark="MMStar"]')
    interval = cell.locator('[data-role="interval"]')
    assert interval.inner_text().startswith("± ")
    assert "95% interval" in interval.get_attribute("title") and "Clopper-Pearson" in interval.get_attribute("title")
    # the tiny model's unreadable answers were decided by the protocol's fallback: counted, with bounds
    assert "decided by the fallback" in cell.locator('[data-role="censoring"]').inner_text()
    page.close()
