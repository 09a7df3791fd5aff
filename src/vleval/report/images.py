"""Small JPEG thumbnails (data: URIs) of benchmark images for the report's sample browser.

The prediction file has no image column (the reference drops it), so images come from the benchmark
TSV itself. Thumbnails are capped in size and number so the HTML stays a few MB at most.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from PIL import Image

from vleval.errors import VlevalError
from vleval.types import RunManifest

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


def read_thumbnails(tsv: Path, limit: int, max_side: int = MAX_SIDE) -> dict[str, str]:
    """index -> thumbnail (of the row's first image) for the first ``limit`` rows of a benchmark TSV;
    none when the file cannot be read as the loader reads it (a thumbnail is only a convenience)."""
    from vleval.datasets.loading import image_payloads

    try:
        table = pd.read_csv(tsv, sep="\t", usecols=["index", "image"], dtype=str, keep_default_na=False)
        table = table[table["image"] != ""]  # rows without an image (the loader drops them too)
        payloads = image_payloads(list(table["image"]), list(table["index"]), tsv)
    except (OSError, ValueError, VlevalError):
        return {}
    thumbs: dict[str, str] = {}
    for index, images in list(zip(table["index"], payloads, strict=True))[:limit]:
        uri = thumbnail_uri(images[0], max_side) if images else ""
        if uri:
            thumbs[index] = uri
    return thumbs


def thumbnail_loader(data_dir: Path | None, limit: int) -> Callable[[str, RunManifest | None], dict[str, str]]:
    """A loader for ``collect_runs``: finds the TSV the run recorded in run.json (or
    ``<data_dir>/<benchmark>.tsv``) and returns index -> thumbnail; cached per TSV."""
    cache: dict[Path, dict[str, str]] = {}

    def load(benchmark: str, run: RunManifest | None) -> dict[str, str]:
        if limit <= 0:
            return {}
        candidates = []
        entry = run.benchmark(benchmark) if run is not None else None
        if entry is not None and entry.tsv:  # the file the run read (its run.json)
            candidates.append(Path(entry.tsv))
        if data_dir:
            candidates.append(Path(data_dir) / f"{benchmark}.tsv")
        for tsv in candidates:
            if tsv.is_file():
                if tsv not in cache:
                    cache[tsv] = read_thumbnails(tsv, limit)
                return cache[tsv]
        return {}

    return load
