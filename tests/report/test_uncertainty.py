"""Intervals, censoring and the reproduction verdict in the report (work dirs of conftest.work_dirs)."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

from vleval.report.build import write_report

MODEL = "InternVL2_5-8B"  # written by conftest.work_dirs


def _cell(html: str, benchmark: str) -> str:
    return re.search(
        rf'<td class="\w+" data-model="{MODEL}" data-benchmark="{benchmark}".*?</td>', html, re.S
    ).group(0)


def _role(cell: str, role: str) -> tuple[str, str]:
    """(title, text) of the element with data-role ``role``."""
    match = re.search(rf'<div class="[^"]*" data-role="{role}"(?: title="([^"]*)")?>(.*?)</div>', cell, re.S)
    return unescape(match.group(1) or ""), unescape(re.sub(r"<[^>]+>", "", match.group(2)))


def test_cells_show_interval_verdict_and_checklist(work_dirs, tmp_path):
    files = write_report(list(work_dirs), tmp_path / "report.html")
    html = files.html.read_text()
    mmstar = _cell(html, "MMStar")
    title, text = _role(mmstar, "interval")
    assert text == "[19.41, 99.37] (95%)" and "95% interval" in title
    assert "exact binomial (Clopper-Pearson), 3 of 4 scoring units right" in title
    # 3 of 4 right: 62.8 lies inside the exact interval although it is 12 points away
    title, text = _role(mmstar, "verdict")
    assert text == "consistent with published"
    assert "CoT: ours off · published unstated · unknown" in title
    assert (
        "protocol: ours 2024.12 · published the reference's rules when the figures were published · same"
        in title
    )
    ocr_title, ocr_text = _role(_cell(html, "OCRBench"), "verdict")
    assert ocr_text.startswith("differs by -82.10 (outside the 95% interval)")
    # HallusionBench left as a VLMEvalKit run leaves it: no rows, so no interval to judge by
    assert _role(_cell(html, "HallusionBench"), "verdict")[1] == "differs by -0.10 (no interval)"

    rows = {r["benchmark"]: r for r in csv.DictReader(io.StringIO(files.summary_csv.read_text()))}
    assert rows["MMStar"]["verdict"] == "consistent with published"
    assert "Clopper-Pearson" in rows["MMStar"]["interval_method"]
    assert float(rows["MMStar"]["interval_low"]) <= 75.0 <= float(rows["MMStar"]["interval_high"])
    assert "75.00 [19.41, 99.37]" in files.summary_md.read_text()


def test_category_bars_hover_their_interval(work_dirs, tmp_path):
    html = write_report(list(work_dirs), tmp_path / "report.html").html.read_text()
    chart = re.search(r'<figure class="chart" data-benchmark="MMStar">.*?</figure>', html, re.S).group(0)
    titles = {
        unescape(t).split(": ", 1)[0]: unescape(t).split(": ", 1)[1]
        for t in re.findall(r"<rect [^>]*><title>(.*?)</title></rect>", chart, re.S)
    }
    # l2-category 'perception': 3 of the 4 rows right; the exact interval of its own 4 rows
    perception = titles[f"{MODEL} · perception"]
    assert perception.startswith("75.00 [19.41, 99.37] (95% interval; ")
    assert "exact binomial (Clopper-Pearson), 3 of 4 scoring units right, category 'perception'" in perception
    # both 'coarse perception' rows right: not shown as exact (never "100.00 ± 0.00")
    assert titles[f"{MODEL} · coarse perception"].startswith("100.00 [15.81, 100.00] (95% interval; exact")
