"""Small JPEG thumbnails (data: URIs) of benchmark images for the report's sample browser.

The prediction file has no image column (the reference drops it), so images come from the benchmark
TSV itself. Thumbnails are capped in size and number so the HTML stays a few MB at most.
"""

from __future__ import annotations

import ast
import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image

MAX_SIDE = 160
JPEG_QUALITY = 70


def thumbnail_uri(b64: str, max_side: int = MAX_SIDE) -> str:
    """A data: URI of a small JPEG of the base64 image; '' when it cannot be decoded."""
    try:
        image = Image.open(io.BytesIO(base64.b64decode(b64)))
        image.thumbnail((max_side, max_side))
        if image.mode != "RGB":
            image = image.convert("RGB")
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
    except Exception:  # an undecodable image only loses its thumbnail
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _first_image(cell: str) -> str:
    if cell.startswith("["):  # multi-image rows hold a list literal of base64 strings
        try:
            values = ast.literal_eval(cell)
        except (ValueError, SyntaxError):
            return ""
        return str(values[0]) if values else ""
    return cell


def read_thumbnails(tsv: Path, limit: int, max_side: int = MAX_SIDE) -> dict[str, str]:
    """index -> thumbnail for the first ``limit`` rows of a benchmark TSV."""
    try:
        table = pd.read_csv(tsv, sep="\t", usecols=["index", "image"], dtype=str, keep_default_na=False)
    except (OSError, ValueError):
        return {}
    by_index = dict(zip(table["index"], table["image"], strict=True))
    thumbs: dict[str, str] = {}
    for index, cell in list(by_index.items())[:limit]:
        if len(cell) <= 64 and cell in by_index:  # the reference's "same image as row <cell>"
            cell = by_index[cell]
        uri = thumbnail_uri(_first_image(cell), max_side)
        if uri:
            thumbs[index] = uri
    return thumbs


def thumbnail_loader(data_dir: Path | None, limit: int) -> Callable[[str, dict[str, Any]], dict[str, str]]:
    """A loader for ``collect_runs``: finds the TSV the run recorded in run.json (or
    ``<data_dir>/<benchmark>.tsv``) and returns index -> thumbnail; cached per TSV."""
    cache: dict[Path, dict[str, str]] = {}

    def load(benchmark: str, run_json: dict[str, Any]) -> dict[str, str]:
        if limit <= 0:
            return {}
        candidates = []
        datasets = run_json.get("datasets")
        entry = datasets.get(benchmark) if isinstance(datasets, dict) else None
        if isinstance(entry, dict) and entry.get("tsv"):  # the file the run read (runner's run.json)
            candidates.append(Path(entry["tsv"]))
        if data_dir:
            candidates.append(Path(data_dir) / f"{benchmark}.tsv")
        for tsv in candidates:
            if tsv.is_file():
                if tsv not in cache:
                    cache[tsv] = read_thumbnails(tsv, limit)
                return cache[tsv]
        return {}

    return load
