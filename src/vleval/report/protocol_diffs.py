"""The report's protocol-diff section: what `vleval diff-protocols --work-dir` left in a work dir
(``protocol_diff_<A>_vs_<B>.json``, ``vleval.workflows.protocol_diff.diff_as_json``), shown as the
headline under each protocol, the net change, and the rows that flip grouped by the rule that flips
them. Every number is labelled with its protocol."""

from __future__ import annotations

import json
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

from vleval.workdir import protocol_diff_files
from vleval.workflows.protocol_diff import DIFF_SCHEMA


def find_protocol_diffs(work_dirs: Iterable[Path]) -> list[dict[str, Any]]:
    """The diffs found in the work dirs, oldest first; unreadable or foreign files are skipped."""
    found = []
    for work_dir in work_dirs:
        for path in protocol_diff_files(work_dir):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and data.get("schema") == DIFF_SCHEMA:
                found.append(data | {"file": str(path)})
    return found


def _points(value: Any, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _benchmark_rows(diff: dict[str, Any]) -> str:
    a, b = escape(diff["protocol_a"]), escape(diff["protocol_b"])
    out = []
    for bench in diff["benchmarks"]:
        if bench.get("skipped"):
            causes = f'<span class="muted">not compared: {escape(bench["skipped"])}</span>'
        else:
            items = []
            for cause in bench["causes"]:
                rows = "".join(
                    f"<li>row {escape(str(r['index']))}: {escape(r['direction'])} "
                    f"({_points(r['before'])} under {a} → {_points(r['after'])} under {b})</li>"
                    for r in cause["rows"]
                )
                detail = f"<details><summary>{escape(cause['summary'])}</summary><ul>{rows}</ul></details>"
                items.append(detail if rows else f"<div>{escape(cause['summary'])}</div>")
            extra = []
            if bench.get("not_compared"):
                extra.append(
                    f"{bench['not_compared']} row(s) not compared (judge call failed, or not decided by rule)"
                )
            if bench.get("judge_cache_misses"):
                extra.append(f"{bench['judge_cache_misses']} judge request(s) not in the cache")
            causes = "".join(items) or '<span class="muted">no row changed</span>'
            causes += "".join(f'<div class="muted">{escape(e)}</div>' for e in extra)
        out.append(
            f"<tr><td>{escape(bench['dataset'])}</td>"
            f"<td>{_points(bench['headline_a'])} <span class='muted'>({a})</span></td>"
            f"<td>{_points(bench['headline_b'])} <span class='muted'>({b})</span></td>"
            f"<td>{_points(bench['net'], signed=True)}</td><td>{causes}</td></tr>"
        )
    return "".join(out)


def protocol_diff_section(diffs: list[dict[str, Any]]) -> str:
    """HTML for the diffs ('' when there are none)."""
    if not diffs:
        return ""
    parts = ["<h2>Protocol differences</h2>"]
    for diff in diffs:
        a, b = escape(diff["protocol_a"]), escape(diff["protocol_b"])
        parts.append(
            f"<h3>Protocol {a} → {b}</h3>"
            f'<p class="muted">The same predictions scored under both protocols (headlines 0-100); each '
            f"changed row is attributed to the one rule that changes it when switched alone "
            f"(<code>vleval diff-protocols</code>, {escape(Path(diff['file']).name)}).</p>"
            f"<table><thead><tr><th>benchmark</th><th>headline ({a})</th><th>headline ({b})</th>"
            f"<th>net</th><th>rows that flip, by cause (points)</th></tr></thead>"
            f"<tbody>{_benchmark_rows(diff)}</tbody></table>"
        )
    return "".join(parts)
