"""Benchmark files on disk: where they live, whether they are intact, and how to fetch them.

Layout and rules follow the reference toolkit (VK ``vlmeval/smp/file.py::LMUDataRoot``, ``md5``,
``download_file``; ``vlmeval/dataset/image_base.py::prepare_tsv``; docs/benchmark-protocol.md):
``$LMUData/<NAME>.tsv``, md5 of the file bytes, a legacy file named after the URL is adopted when its
md5 matches, and huggingface.co downloads are retried once on hf-mirror.com.

Unlike the reference, a file whose md5 does not match is never used silently: ``require_tsv`` raises.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from vleval.errors import DataCorruptError, DataMissingError
from vleval.protocol import PROTOCOLS, Protocol
from vleval.types import BenchmarkCard

MD5_CACHE_NAME = ".vleval_md5_cache.json"
_CHUNK = 1 << 20
_HF_HOST = "huggingface.co"
_HF_MIRROR_HOST = "hf-mirror.com"

State = Literal["present", "missing", "md5_mismatch"]

# said by `vleval run` and `vleval eval` when md5 checks are off
MD5_OFF_WARNING = (
    "vleval: WARNING: md5 checks are OFF (--skip-md5-check, or the demo's synthetic files): benchmark files "
    "are used as they are; scores from modified or partial files are not comparable to published numbers."
)


@dataclass(frozen=True)
class FileState:
    name: str
    path: Path  # where the file is (or is expected)
    state: State
    size: int | None  # bytes, None when missing
    md5: str | None  # actual md5, None when missing
    expected_md5: str


def data_root() -> Path:
    """``$LMUData`` if set and an existing directory, else ``~/LMUData`` (created), as the reference."""
    env = os.environ.get("LMUData")
    if env and Path(env).is_dir():
        return Path(env)
    root = Path.home() / "LMUData"
    root.mkdir(parents=True, exist_ok=True)
    return root


def _root(root: Path | str | None) -> Path:
    return Path(root) if root is not None else data_root()


def tsv_path(card: BenchmarkCard, root: Path | str | None = None) -> Path:
    return _root(root) / card.file_name


def legacy_tsv_path(card: BenchmarkCard, root: Path | str | None = None) -> Path:
    """The pre-VK-#1055 name: the URL's basename (equal to the new name for every registered card)."""
    return _root(root) / card.url.rsplit("/", 1)[-1]


# --------------------------------------------------------------------------------------------------
# md5, cached by (path, size, mtime) so that listing many GB of benchmarks stays fast
# --------------------------------------------------------------------------------------------------
def md5_of_file(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_cache(cache_file: Path) -> dict:
    try:
        return json.loads(cache_file.read_text())
    except (OSError, ValueError):
        return {}


def _write_cache(cache_file: Path, cache: dict) -> None:
    # best effort: a read-only data directory only costs speed
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=cache_file.parent, prefix=".md5cache.", suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            json.dump(cache, handle, indent=1, sort_keys=True)
        os.replace(tmp, cache_file)
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def cached_md5(path: Path) -> str:
    """md5 of ``path``, remembered in ``.vleval_md5_cache.json`` beside it while size and mtime hold."""
    stat = path.stat()
    cache_file = path.parent / MD5_CACHE_NAME
    cache = _read_cache(cache_file)
    key = path.name
    entry = cache.get(key)
    if (
        isinstance(entry, dict)
        and entry.get("size") == stat.st_size
        and entry.get("mtime_ns") == stat.st_mtime_ns
    ):
        return str(entry["md5"])
    value = md5_of_file(path)
    cache[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "md5": value}
    _write_cache(cache_file, cache)
    return value


# --------------------------------------------------------------------------------------------------
# state and the guard every loader goes through
# --------------------------------------------------------------------------------------------------
def _adopt_legacy(card: BenchmarkCard, expected: str, root: Path) -> None:
    """Move a legacy-named file to the new name when its md5 matches (reference prepare_tsv)."""
    new, legacy = tsv_path(card, root), legacy_tsv_path(card, root)
    if new.exists() or legacy == new or not legacy.is_file():
        return
    if cached_md5(legacy) == expected:
        shutil.move(legacy, new)


def file_state(card: BenchmarkCard, protocol: Protocol, root: Path | str | None = None) -> FileState:
    root = _root(root)
    expected = protocol.md5_for(card)
    _adopt_legacy(card, expected, root)
    path = tsv_path(card, root)
    if not path.is_file():
        return FileState(card.name, path, "missing", None, None, expected)
    actual = cached_md5(path)
    state: State = "present" if actual == expected else "md5_mismatch"
    return FileState(card.name, path, state, path.stat().st_size, actual, expected)


def missing_message(card: BenchmarkCard, path: Path, reason: str = "") -> str:
    why = f" ({reason})" if reason else ""
    return (
        f"benchmark file for {card.name} not found at {path}{why}. Download it with "
        f"`vleval data download {card.name}` (from {card.url}), or place the file there yourself; "
        f"set $LMUData or pass --data-dir to use another data directory."
    )


def require_tsv(
    card: BenchmarkCard, protocol: Protocol, root: Path | str | None = None, verify_md5: bool = True
) -> Path:
    """The path of an intact benchmark file, or a DataMissingError / DataCorruptError saying how to fix it."""
    root = _root(root)
    if not verify_md5:
        path = tsv_path(card, root)
        if not path.is_file() and legacy_tsv_path(card, root).is_file():
            path = legacy_tsv_path(card, root)
        if not path.is_file():
            raise DataMissingError(missing_message(card, tsv_path(card, root)))
        return path
    state = file_state(card, protocol, root)
    if state.state == "missing":
        raise DataMissingError(missing_message(card, state.path))
    if state.state == "md5_mismatch":
        pinned_by = protocols_pinning(card, state.md5 or "")
        if pinned_by:
            raise DataCorruptError(
                f"{state.path} is the {card.name} file that protocol {' and '.join(pinned_by)} pins "
                f"(md5 {state.md5}), but protocol {protocol.name} expects {state.expected_md5}, an older "
                f"upload that {card.url} may no longer serve. Use --protocol {pinned_by[0]}, place the "
                f"{protocol.name} file there, or accept this file knowingly (vleval run --skip-md5-check)."
            )
        raise DataCorruptError(
            f"{state.path} has md5 {state.md5}, but protocol {protocol.name} expects {state.expected_md5} "
            f"for {card.name}: the file is incomplete, modified or another version (md5 mismatch). Run "
            f"`vleval data download {card.name} --protocol {protocol.name}` to replace it "
            f"(from {card.url}), or pass --skip-md5-check to use it as it is (scores then not comparable "
            f"to published numbers)."
        )
    return state.path


def protocols_pinning(card: BenchmarkCard, md5: str) -> list[str]:
    """Names of the pinned protocols whose md5 for ``card`` is ``md5`` (the reference re-uploaded
    some files, so a file can be right for one protocol and wrong for another)."""
    return [name for name, protocol in PROTOCOLS.items() if protocol.md5_for(card) == md5]


# --------------------------------------------------------------------------------------------------
# download: stream to <name>.tsv.part, resume with Range, verify, rename
# --------------------------------------------------------------------------------------------------
def mirror_url(url: str) -> str | None:
    """The hf-mirror.com twin of a huggingface.co URL (the reference's one fallback), else None."""
    return url.replace(_HF_HOST, _HF_MIRROR_HOST) if _HF_HOST in url else None


# A download must bring this much every ``timeout`` seconds (or end): a server that drips a byte at a
# time would otherwise hold it forever, since socket timeouts apply to each read alone. 256 KiB a
# minute (the default timeout) is 4 KiB/s, far below any working connection.
MIN_PROGRESS_BYTES = 256 << 10


def _fetch(url: str, part: Path, desc: str, progress: bool, timeout: float) -> None:
    """Append ``url``'s bytes to ``part`` (resuming with Range). Wall-clock limits: the answer's
    headers within ``timeout`` seconds, then ``MIN_PROGRESS_BYTES`` per ``timeout`` seconds. The
    request carries no credentials, so redirects (huggingface.co sends files from its CDN) are
    followed."""
    from tqdm import tqdm

    from vleval.transport import Deadline, open_url

    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "vleval"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    with Deadline(timeout) as deadline:
        try:
            response = open_url(request, deadline, follow_redirects=True)
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have:  # nothing left to fetch: the part file is complete
                return
            raise
        except (OSError, http.client.HTTPException) as exc:
            if deadline.expired:
                raise TimeoutError(f"no answer within {timeout:g}s") from exc
            raise
        window_bytes = 0
        with response:
            resumed = have and response.status == 206
            if not resumed:
                have = 0
            length = response.headers.get("Content-Length")
            total = have + int(length) if length and length.isdigit() else None
            deadline.extend(timeout)
            with (
                open(part, "ab" if resumed else "wb") as out,
                tqdm(
                    total=total, initial=have, unit="B", unit_scale=True, desc=desc, disable=not progress
                ) as bar,
            ):
                received = have
                while True:
                    try:
                        chunk = response.read1(_CHUNK)
                    except (OSError, http.client.HTTPException):
                        if deadline.expired:
                            chunk = b""
                        else:
                            raise
                    if not chunk:
                        break
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                    window_bytes += len(chunk)
                    if window_bytes >= MIN_PROGRESS_BYTES:
                        window_bytes = 0
                        deadline.extend(timeout)
    if deadline.expired:  # the .part file keeps what arrived; the next try resumes from there
        raise TimeoutError(
            f"less than {MIN_PROGRESS_BYTES >> 10} KiB arrived in {timeout:g}s after {received} bytes "
            "(a stalled or too slow server)"
        )
    # read1 ends quietly when the connection drops early; the .part file keeps what arrived
    if total is not None and received < total:
        raise OSError(f"connection closed after {received} of {total} bytes")


def download(
    card: BenchmarkCard,
    protocol: Protocol,
    root: Path | str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Make ``$LMUData/<NAME>.tsv`` present with the protocol's md5; a no-op when it already is.

    An interrupted download leaves ``<NAME>.tsv.part``; the next call resumes it with an HTTP Range
    request. The final file appears only after its md5 checked out (atomic rename).
    """
    root = _root(root)
    root.mkdir(parents=True, exist_ok=True)
    state = file_state(card, protocol, root)
    if state.state == "present":
        return state.path
    target = state.path
    part = target.with_name(target.name + ".part")
    urls = [card.url] + [u for u in [mirror_url(card.url)] if u]
    errors: list[str] = []
    for url in urls:
        try:
            _fetch(url, part, card.name, progress, timeout)
            break
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            errors.append(f"{url}: {reason}")
    else:
        raise DataMissingError(
            f"could not download {card.name} ({'; '.join(errors)}). The file is expected at {target}. "
            f"Check the network and run `vleval data download {card.name}` again (a partial download "
            f"resumes), or fetch {card.url} yourself and place it at {target}."
        )
    expected = protocol.md5_for(card)
    actual = md5_of_file(part)
    pinned_by = protocols_pinning(card, actual)
    if actual != expected and pinned_by:
        # a genuine upload, pinned by another protocol: keep it, but say it does not fit this one
        os.replace(part, target)
        cached_md5(target)
        raise DataCorruptError(
            f"{card.url} now serves the {card.name} file pinned by protocol {' and '.join(pinned_by)} "
            f"(md5 {actual}), saved at {target}; protocol {protocol.name} expects {expected}, which this "
            f"URL no longer serves. Use --protocol {pinned_by[0]}, place the {protocol.name} file at "
            f"{target} yourself, or accept this file knowingly (vleval run --skip-md5-check)."
        )
    if actual != expected:
        part.unlink()
        raise DataCorruptError(
            f"downloaded {card.name} from {card.url} has md5 {actual}, expected {expected} "
            f"(protocol {protocol.name}); the download was discarded. Run "
            f"`vleval data download {card.name}` again; if it persists the server holds another "
            f"version of the file."
        )
    os.replace(part, target)
    cached_md5(target)  # prime the cache so `data list` need not hash it again
    return target
