"""Benchmark TSV -> table (as the reference reads it) -> typed Samples with lazily decoded images.

The table reproduces VK ``vlmeval/dataset/image_base.py::ImageBaseDataset.__init__``
(docs/benchmark-protocol.md): ``pandas.read_csv(sep='\\t')`` with its default type inference,
rows without an image dropped, an ``image`` cell of <= 64 characters replaced by the image of the row
it names, list literals in ``image``/``image_path`` parsed, and ``index`` turned into ints when every
index reads as one. Images stay base64 until a Sample's ``images`` is first read.
"""

from __future__ import annotations

import ast
import base64
import binascii
import csv
import io
import re
import string
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from PIL import Image, UnidentifiedImageError

from vleval.datasets.cells import isna
from vleval.datasets.files import require_tsv
from vleval.errors import DataCorruptError
from vleval.families.base import family_of
from vleval.protocol import Protocol, Quirk
from vleval.types import BenchmarkCard, Sample

# A benchmark image that decodes to more pixels fails its sample instead of exhausting memory (a small
# PNG can decode to 13000 x 13000). The reference's benchmarks hold nothing near it: their largest
# real images are a few tens of megapixels at most. `vleval run --max-image-pixels` changes it.
DEFAULT_MAX_IMAGE_PIXELS = 64_000_000
IMAGE_REFERENCE_MAX_LEN = 64  # VK: an image cell this short names another row's index
OPTION_LETTERS = tuple(string.ascii_uppercase)
_SAMPLE_FIELDS = {
    "index",
    "question",
    "hint",
    "answer",
    "category",
    "l2-category",
    "split",
    "image",
    "image_path",
}
_INT_LIKE = re.compile(r"^[+-]?\d+$")


# --------------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------------
def _as_str_list(value: Any, where: str) -> list[str]:
    """VK ``toliststr``: a '[...]' string is a list literal; a plain string is a one-item list."""
    if isinstance(value, list):
        return [str(x) for x in value]
    text = str(value)
    if len(text) > 1 and text[0] == "[" and text[-1] == "]":
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise DataCorruptError(f"{where}: not a valid list literal ({text[:60]}...)") from None
        if isinstance(parsed, (list, tuple)):
            return [str(x) for x in parsed]
    return [text]


def _reads_as_int(text: str) -> bool:
    """VK ``istype(x, int)`` evaluates the string; literal_eval is the safe equivalent here."""
    if _INT_LIKE.match(text):
        return True
    try:
        return isinstance(ast.literal_eval(text), int)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def image_payloads(images: list[str], indices: list[str], path: Path) -> list[list[str]]:
    """THE rule of a TSV's ``image`` cells (the loader's and the report thumbnails'), per row its base64
    payloads: a cell of at most 64 characters names the row whose image it shares (VK
    ``ImageBaseDataset.__init__``), a '[...]' cell is a list literal of several images (VK
    ``toliststr``). A reference to no image or a broken list raises ``DataCorruptError`` naming the row."""
    by_index = dict(zip(indices, images, strict=True))
    out = []
    for index, image in zip(indices, images, strict=True):
        if len(image) <= IMAGE_REFERENCE_MAX_LEN:
            target = by_index.get(image)
            if target is None or len(target) <= IMAGE_REFERENCE_MAX_LEN:
                raise DataCorruptError(
                    f"{path}: row index {index}, column 'image': {image!r} is neither base64 image data "
                    f"nor the index of a row that holds an image. Re-download the file."
                )
            image = target
        out.append(_as_str_list(image, f"{path}: row index {index}, column 'image'"))
    return out


def _reject_duplicate_indices(data: pd.DataFrame, path: Path) -> None:
    """One prediction per index: a repeated index would let one row's prediction overwrite another's."""
    first_line: dict[str, int] = {}
    for line, index in enumerate(data["index"], start=2):  # line 1 is the header
        key = str(index)
        if key in first_line:
            raise DataCorruptError(
                f"{path}: index {key} appears twice (rows {first_line[key]} and {line}, the header being row "
                f"1); every row needs its own index. Re-download the file."
            )
        first_line[key] = line


def _record_lines(path: Path) -> list[tuple[int, int]]:
    """(first line, number of fields) of every record after the header, as a TSV reader splits the
    file (a quoted cell may span lines). Only read to say where a problem is, after pandas found one."""
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))  # base64 images are long cells
    records = []
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t")
        line = 1
        for number, fields in enumerate(reader):
            if number:
                records.append((line, len(fields)))
            line = reader.line_num + 1
    return records


def _ragged_line(path: Path) -> str | None:
    """'line N has K fields, the header H' for the first record with more fields than the header."""
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as fh:
            header = len(next(csv.reader(fh, delimiter="\t"), []))
        for line, fields in _record_lines(path):
            if fields > header:
                return f"line {line} has {fields} tab-separated fields, the header {header}"
    except (OSError, csv.Error):
        return None
    return None


def _read_tsv(path: Path) -> pd.DataFrame:
    """``pandas.read_csv(sep='\t')`` as the reference calls it, but a row with more fields than the
    header is an error naming its line: pandas would otherwise take the first row's extra field as an
    index column and shift every column by one (``index_col=False`` reads a well-formed file the same
    and warns instead)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            data = pd.read_csv(path, sep="\t", index_col=False)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            where = _ragged_line(path) if isinstance(exc, pd.errors.ParserError) else None
            if where:
                raise DataCorruptError(
                    f"{path}: {where} (a tab inside a cell?); every row needs one field per column. "
                    "Re-download the file."
                ) from None
            raise DataCorruptError(f"{path}: cannot be read as a TSV file ({exc}). Re-download it.") from None
    if any(issubclass(w.category, pd.errors.ParserWarning) for w in caught):
        where = _ragged_line(path) or "a row has more fields than the header"
        raise DataCorruptError(
            f"{path}: {where} (a tab inside a cell?); every row needs one field per column. Re-download the file."
        )
    return data


def _line_of(path: Path, position: int) -> str:
    """'line N' of the record at ``position`` (0 = first after the header), for error messages."""
    try:
        return f"line {_record_lines(path)[position][0]}"
    except (OSError, csv.Error, IndexError):
        return f"row {position + 2}"


def _reject_empty_indices(data: pd.DataFrame, path: Path) -> None:
    """An empty index cell turns every index into a float (and NaN), so later errors would blame
    another row: named here first."""
    empty = [i for i, value in enumerate(data["index"]) if isna(value) or str(value).strip() == ""]
    if empty:
        raise DataCorruptError(
            f"{path}: the 'index' cell is empty on {_line_of(path, empty[0])}"
            f"{f' (and {len(empty) - 1} more row(s))' if len(empty) > 1 else ''}; every row needs its own "
            "index. Re-download the file."
        )


def _check_answers(data: pd.DataFrame, card: BenchmarkCard, path: Path) -> None:
    """Every row of a benchmark with answers has one, and a multiple-choice row's answer is one of its
    options: the reference counts an unmatched prediction as 'Z', so an answer 'Z' would score it right.
    ``data`` still carries the file's row positions as its index. Open questions of a card with
    ``open_questions`` (MMMU: no options, or an answer that is not a letter) follow the reference's own
    rule and are left alone."""
    if not card.has_answers or "answer" not in data.columns:
        return
    answer_is_option = family_of(card).answer_is_option
    option_columns = [letter for letter in OPTION_LETTERS if letter in data.columns]
    rows = data[["index", "answer", *option_columns]].to_dict("records")  # not the image column
    for position, row in zip(data.index, rows, strict=True):
        answer = row["answer"]
        problem = None
        if isna(answer) or str(answer).strip() == "":
            problem = "is empty"
        elif answer_is_option:
            options = [letter for letter in option_columns if not isna(row[letter])]
            text = str(answer)
            if options and text not in options and (not card.open_questions or text in OPTION_LETTERS):
                problem = f"is {text!r}, not one of the row's options {', '.join(options)}"
        if problem:
            raise DataCorruptError(
                f"{path}: {_line_of(path, int(position))} (index {row['index']}): the 'answer' cell {problem}; "
                f"every {card.name} row needs its correct answer. Re-download the file."
            )


def read_table(path: Path, card: BenchmarkCard) -> pd.DataFrame:
    """Read a benchmark TSV exactly as the reference prepares it (see module docstring)."""
    data = _read_tsv(path)
    missing = [column for column in card.required_columns if column not in data.columns]
    if missing:
        raise DataCorruptError(
            f"{path}: header lacks required column(s) {', '.join(map(repr, missing))} for {card.name} "
            f"(has {', '.join(map(str, data.columns))}). Is this the right file? Re-download it."
        )
    if data.empty:
        raise DataCorruptError(f"{path}: has a header but no rows. Re-download it.")
    _reject_empty_indices(data, path)
    _reject_duplicate_indices(data, path)
    if "image" in data.columns:
        data = data[~pd.isna(data["image"])]
        if data.empty:
            raise DataCorruptError(
                f"{path}: no row has an image (the 'image' column is empty). Re-download it."
            )
    _check_answers(data, card, path)
    data = data.reset_index(drop=True)
    indices = [str(x) for x in data["index"]]
    if "image" in data.columns:
        parsed = image_payloads([str(x) for x in data["image"]], indices, path)
        data["image"] = pd.Series([x[0] if len(x) == 1 else x for x in parsed], dtype=object)
    if "image_path" in data.columns:
        paths = [
            _as_str_list(value, f"{path}: row index {index}, column 'image_path'")
            for value, index in zip(data["image_path"], indices, strict=True)
        ]
        data["image_path"] = pd.Series([x[0] if len(x) == 1 else x for x in paths], dtype=object)
    if indices and all(_reads_as_int(x) for x in indices):
        data["index"] = [int(x) for x in indices]
    else:
        data["index"] = indices
    return data


def load_table(
    card: BenchmarkCard,
    protocol: Protocol,
    root: Path | str | None = None,
    verify_md5: bool = True,
    *,
    limit: int | None = None,
) -> pd.DataFrame:
    """The benchmark as the reference holds it in memory (``ImageBaseDataset.data``); ``limit``: its
    first questions only (``vleval.datasets.subset``)."""
    from vleval.datasets.subset import limit_table

    table = read_table(require_tsv(card, protocol, root, verify_md5=verify_md5), card)
    return limit_table(table, card, protocol, limit)[0]


# --------------------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------------------
class ImageTooLargeError(ValueError):
    """An image whose header announces more pixels than allowed (checked before decoding)."""


def decode_image(payload: str, max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS) -> Image.Image:
    """VK ``decode_base64_to_image``: RGBA, P and LA become RGB (alpha dropped); other modes stay.
    An image larger than ``max_pixels`` (None: no limit) is refused before its pixels are decoded."""
    try:
        image = Image.open(io.BytesIO(base64.b64decode(payload)))
    except Image.DecompressionBombError as exc:  # beyond PIL's own limit (2 x 89 MP)
        raise ImageTooLargeError(f"{exc}; the limit is {max_pixels} pixels") from None
    width, height = image.size
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            f"the image is {width} x {height} = {width * height} pixels, above the limit of {max_pixels} "
            "(vleval run --max-image-pixels)"
        )
    image.load()
    if image.mode in ("RGBA", "P", "LA"):
        image = image.convert("RGB")
    return image


@dataclass(frozen=True)
class Base64Images:
    """A Sample's ``image_loader``: decodes the row's base64 payloads on call (picklable)."""

    path: str
    index: int | str
    payloads: tuple[str, ...]
    max_pixels: int | None = DEFAULT_MAX_IMAGE_PIXELS

    def __call__(self) -> list[Image.Image]:
        images = []
        for number, payload in enumerate(self.payloads, start=1):
            try:
                images.append(decode_image(payload, self.max_pixels))
            except ImageTooLargeError as exc:
                which = f" (image {number} of {len(self.payloads)})" if len(self.payloads) > 1 else ""
                raise DataCorruptError(
                    f"{self.path}: row index {self.index}, column 'image'{which} is too large: {exc}."
                ) from None
            except (binascii.Error, UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
                which = f" (image {number} of {len(self.payloads)})" if len(self.payloads) > 1 else ""
                raise DataCorruptError(
                    f"{self.path}: row index {self.index}, column 'image'{which} cannot be decoded as an "
                    f"image ({type(exc).__name__}: {exc}). Re-download the file."
                ) from None
        return images


# --------------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------------
def _text_or_none(value: Any) -> str | None:
    return None if isna(value) else str(value)


def _plain(value: Any) -> Any:
    """NaN -> None and numpy scalars -> Python values, so ``extra`` is easy to serialise."""
    if isna(value):
        return None
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


def _row_to_sample(row: dict[str, Any], card: BenchmarkCard, path: Path, option_columns: list[str]) -> Sample:
    index = _plain(row["index"])
    question = row.get("question")
    if isna(question):
        raise DataCorruptError(
            f"{path}: row index {index}, column 'question' is empty. Re-download the file."
        )
    options = {letter: str(row[letter]) for letter in option_columns if not isna(row[letter])}
    image = row.get("image")
    payloads = () if isna(image) else tuple(image) if isinstance(image, list) else (str(image),)
    image_path = row.get("image_path")
    image_paths = () if isna(image_path) else tuple(_as_str_list(image_path, f"{path}: row {index}"))
    extra = {
        key: _plain(value)
        for key, value in row.items()
        if key not in _SAMPLE_FIELDS and key not in option_columns
    }
    return Sample(
        dataset=card.name,
        index=index,
        question=str(question),
        options=options,
        hint=_text_or_none(row.get("hint")),
        answer=_text_or_none(row.get("answer")),
        category=_text_or_none(row.get("category")),
        l2_category=_text_or_none(row.get("l2-category")),
        split=_text_or_none(row.get("split")),
        extra=extra,
        image_paths=image_paths,
        image_loader=Base64Images(str(path), index, payloads) if payloads else None,
    )


def table_to_samples(table: pd.DataFrame, card: BenchmarkCard, path: Path | str = "<table>") -> list[Sample]:
    """Typed samples in table order; options = the non-empty single-letter columns A..Z."""
    option_columns = [letter for letter in OPTION_LETTERS if letter in table.columns]
    return [_row_to_sample(row, card, Path(path), option_columns) for row in table.to_dict("records")]


def load_samples(
    card: BenchmarkCard,
    protocol: Protocol,
    root: Path | str | None = None,
    verify_md5: bool = True,
    *,
    limit: int | None = None,
) -> list[Sample]:
    """The benchmark's rows as Samples, in file order; images decode on first use. ``limit``: the
    first questions only (``vleval.datasets.subset``)."""
    from vleval.datasets.subset import limit_table

    path = require_tsv(card, protocol, root, verify_md5=verify_md5)
    return table_to_samples(limit_table(read_table(path, card), card, protocol, limit)[0], card, path)


# --------------------------------------------------------------------------------------------------
# writing images to disk, only when asked (reference layout)
# --------------------------------------------------------------------------------------------------
def image_file_names(sample: Sample, protocol: Protocol | None = None) -> list[str]:
    """File names the reference gives a row's images under ``images/<benchmark folder>/``
    (VK ``ImageBaseDataset.dump_image``): listed ``image_path`` names, else ``<index>_<i>.png`` for
    several images, ``<index>.png`` for one; under Quirk.JPEG_REENCODE_SINGLE_IMAGE (VK b13a37db) a
    single image is always ``<index>.jpg``."""
    count = (
        len(sample.image_loader.payloads)
        if isinstance(sample.image_loader, Base64Images)
        else len(sample.images)
    )
    if count == 0:
        return []
    if count > 1:
        if sample.image_paths and len(sample.image_paths) >= count:
            return list(sample.image_paths[:count])
        return [f"{sample.index}_{i}.png" for i in range(count)]
    if protocol is not None and protocol.has(Quirk.JPEG_REENCODE_SINGLE_IMAGE):
        return [f"{sample.index}.jpg"]
    if sample.image_paths:
        return [sample.image_paths[0]]
    return [f"{sample.index}.png"]


def _readable(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.verify()
        return True
    except (OSError, SyntaxError, ValueError):
        return False


def save_images(
    samples: Iterable[Sample], folder: Path | str, protocol: Protocol | None = None
) -> dict[int | str, list[Path]]:
    """Write each sample's images under ``folder`` (normally ``$LMUData/images/<benchmark folder>``) as the
    reference names them; an existing readable file is kept, as the reference keeps it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[int | str, list[Path]] = {}
    for sample in samples:
        paths = [folder / name for name in image_file_names(sample, protocol)]
        pending = [p for p in paths if not _readable(p)]
        if pending:
            for image, target in zip(sample.images, paths, strict=False):
                if target in pending:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    image.save(target)
        written[sample.index] = paths
    return written
