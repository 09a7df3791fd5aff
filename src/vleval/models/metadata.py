"""The one bounded reader for a checkpoint's metadata files.

Checkpoints are untrusted downloads: a ``config.json`` that is a symlink to ``/dev/zero``, a FIFO or a
multi-gigabyte file would otherwise be read until the kernel kills the process (taking other jobs on
a shared node with it), or block for ever. Every metadata file (config, generation config, weight
index, tokenizer files, chat template, a safetensors file's JSON header) is read here: symlinks are
resolved, the target must be a regular file, and its size is capped. Files that transformers or vLLM
read themselves (tokenizer files) are checked with ``check_checkpoint_metadata`` before the folder is
handed over.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from vleval.errors import DataCorruptError

# The largest real metadata file is Qwen2's tokenizer.json (about 7 MB); InternVL2.5-78B's weight index
# is about 0.2 MB and a shard's safetensors header well under 1 MB. 16 MiB leaves room and stays bounded.
METADATA_MAX_BYTES = 16 * 1024 * 1024

# What transformers (tokenizer, generation config) and vLLM read from a checkpoint folder besides the
# weights; each one present is checked before the folder is handed to them.
METADATA_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer.model",
    "vocab.json",
    "merges.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "chat_template.json",
    "preprocessor_config.json",
)

_REDOWNLOAD = "re-download the checkpoint"


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n} bytes"


def check_regular_file(path: Path) -> os.stat_result:
    """``path``'s stat after resolving symlinks; a DataCorruptError unless it is a regular file (a FIFO,
    a device such as /dev/zero, a folder, a symlink loop). Never opens the file, so a FIFO cannot block."""
    path = Path(path)
    try:
        info = os.stat(path)  # follows symlinks: the target is what would be read
    except FileNotFoundError:
        raise DataCorruptError(f"{path}: missing (a dangling symlink?); {_REDOWNLOAD}") from None
    except OSError as exc:  # ELOOP, ENAMETOOLONG, EACCES: said with the file's name
        raise DataCorruptError(f"{path}: cannot be read ({exc.strerror}); {_REDOWNLOAD}") from None
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a folder" if stat.S_ISDIR(info.st_mode)
            else "a FIFO" if stat.S_ISFIFO(info.st_mode)
            else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
            else "a socket" if stat.S_ISSOCK(info.st_mode)
            else "not a regular file"
        )  # fmt: skip
        target = f" (resolves to {os.path.realpath(path)})" if path.is_symlink() else ""
        raise DataCorruptError(
            f"{path}: is {kind}{target}, not a regular file; vleval reads checkpoint metadata only from "
            f"regular files: {_REDOWNLOAD}"
        )
    return info


def check_metadata_file(path: Path, limit: int = METADATA_MAX_BYTES) -> int:
    """The size of a metadata file that may be read: a regular file of at most ``limit`` bytes."""
    size = check_regular_file(path).st_size
    if size > limit:
        raise DataCorruptError(
            f"{path}: {_size(size)}, more than the {_size(limit)} a checkpoint metadata file may have; "
            f"{_REDOWNLOAD}"
        )
    return size


def read_metadata_bytes(path: Path, limit: int = METADATA_MAX_BYTES) -> bytes:
    """The bytes of a metadata file, checked first and read with a cap (a file that grows while read
    is still cut off at ``limit``)."""
    check_metadata_file(path, limit)
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise DataCorruptError(f"{path}: cannot be read ({exc.strerror}); {_REDOWNLOAD}") from None
    if len(data) > limit:
        raise DataCorruptError(f"{path}: grew past {_size(limit)} while being read; {_REDOWNLOAD}")
    return data


def read_metadata_json(path: Path, limit: int = METADATA_MAX_BYTES) -> Any:
    """A metadata file's JSON value (any type: callers check the shape they need)."""
    data = read_metadata_bytes(path, limit)
    try:
        return json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataCorruptError(f"{path}: not valid JSON ({exc}); {_REDOWNLOAD}") from None


def read_metadata_object(path: Path, limit: int = METADATA_MAX_BYTES) -> dict[str, Any]:
    """A metadata file that must hold a JSON object (config.json, an index, tokenizer_config.json)."""
    value = read_metadata_json(path, limit)
    if not isinstance(value, dict):
        raise DataCorruptError(
            f"{path}: holds a JSON {type(value).__name__}, not an object; {_REDOWNLOAD}"
        )
    return value


def read_safetensors_header(path: Path, limit: int = METADATA_MAX_BYTES) -> bytes:
    """The JSON header of a safetensors file (8-byte little-endian length, then the header), read with
    the metadata cap; the file itself must be regular (weights are memory-mapped, never read whole)."""
    info = check_regular_file(path)
    try:
        with open(path, "rb") as fh:
            length = int.from_bytes(fh.read(8), "little")
            if length > limit or length > max(info.st_size - 8, 0):
                raise DataCorruptError(
                    f"{path}: safetensors header of {_size(length)} in a file of {_size(info.st_size)} "
                    f"(at most {_size(limit)} is read); {_REDOWNLOAD}"
                )
            return fh.read(length)
    except OSError as exc:
        raise DataCorruptError(f"{path}: cannot be read ({exc.strerror}); {_REDOWNLOAD}") from None


def check_checkpoint_metadata(model_dir: Path) -> None:
    """Check every metadata file present in a checkpoint folder, and that each safetensors file is a
    regular file (its header is read, bounded, where it is used), before transformers, sentencepiece or
    vLLM read the folder on their own."""
    model_dir = Path(model_dir)
    for name in METADATA_FILES:
        path = model_dir / name
        if os.path.lexists(path):
            check_metadata_file(path)
    for weights in sorted(model_dir.glob("*.safetensors")):
        check_regular_file(weights)
