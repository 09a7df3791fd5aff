import dataclasses
import hashlib
import http.server
import os
import socket
import threading
import urllib.error
from pathlib import Path

import pytest

from vleval.datasets import files
from vleval.datasets.files import (
    MD5_CACHE_NAME,
    data_root,
    download,
    file_state,
    mirror_url,
    require_tsv,
    tsv_path,
)
from vleval.datasets.registry import get_benchmark
from vleval.errors import DataCorruptError, DataMissingError
from vleval.protocol import get_protocol
from vleval.synthetic.benchmarks import make_benchmark_tsv, protocol_accepting


class _Server:
    """A real HTTP server on 127.0.0.1 serving bytes, honouring Range, recording requests, and able
    to cut a response short (to simulate an interrupted download)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[dict] = []
        self.cut_after: int | None = None  # send only this many body bytes, then close
        self.honour_range = True
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append({"path": self.path, "range": self.headers.get("Range")})
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start, status = 0, 200
                ranged = self.headers.get("Range")
                if ranged and server.honour_range:
                    start = int(ranged.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    status = 206
                payload = body[start:]
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                if server.cut_after is not None:
                    self.wfile.write(payload[: server.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def synthetic_mmstar(tmp_path_factory):
    source = make_benchmark_tsv("MMStar", tmp_path_factory.mktemp("src"), n=6)
    return source.read_bytes(), get_protocol_accepting(source)


def get_protocol_accepting(source: Path):
    return protocol_accepting(get_protocol("2024.12"), {"MMStar": source})


@pytest.fixture()
def server():
    srv = _Server()
    yield srv
    srv.close()


@pytest.fixture()
def served_card(server, synthetic_mmstar):
    body, protocol = synthetic_mmstar
    server.files["/MMStar.tsv"] = body
    card = dataclasses.replace(get_benchmark("MMStar"), url=server.url("/MMStar.tsv"))
    return card, protocol, body


def test_data_root_prefers_existing_lmudata(tmp_path, monkeypatch):
    monkeypatch.setenv("LMUData", str(tmp_path))
    assert data_root() == tmp_path
    monkeypatch.setenv("LMUData", str(tmp_path / "nope"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_root() == tmp_path / "home" / "LMUData"
    assert (tmp_path / "home" / "LMUData").is_dir()


def test_download_streams_verifies_and_skips_when_present(tmp_path, served_card, server):
    card, protocol, body = served_card
    path = download(card, protocol, tmp_path, progress=False)
    assert path == tsv_path(card, tmp_path) and path.read_bytes() == body
    assert not list(tmp_path.glob("*.part"))
    assert file_state(card, protocol, tmp_path).state == "present"
    download(card, protocol, tmp_path, progress=False)
    assert len(server.requests) == 1  # second call found the file intact


def test_interrupted_download_resumes_with_range(tmp_path, served_card, server):
    card, protocol, body = served_card
    server.cut_after = len(body) // 3
    with pytest.raises(DataMissingError, match="resumes"):
        download(card, protocol, tmp_path, progress=False)
    part = tmp_path / "MMStar.tsv.part"
    assert part.stat().st_size == len(body) // 3
    assert not tsv_path(card, tmp_path).exists()  # nothing half-written under the real name
    server.cut_after = None
    path = download(card, protocol, tmp_path, progress=False)
    assert server.requests[-1]["range"] == f"bytes={len(body) // 3}-"
    assert path.read_bytes() == body and not part.exists()


def test_server_ignoring_range_restarts_cleanly(tmp_path, served_card, server):
    card, protocol, body = served_card
    server.honour_range = False
    (tmp_path / "MMStar.tsv.part").write_bytes(body[:100])
    assert download(card, protocol, tmp_path, progress=False).read_bytes() == body


def test_md5_mismatch_download_is_discarded(tmp_path, served_card, server):
    card, protocol, body = served_card
    server.files["/MMStar.tsv"] = body + b"tampered"
    with pytest.raises(DataCorruptError) as info:
        download(card, protocol, tmp_path, progress=False)
    assert protocol.md5_for(card) in str(info.value)
    assert not tsv_path(card, tmp_path).exists() and not (tmp_path / "MMStar.tsv.part").exists()


def test_offline_error_names_path_url_and_command(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    card = dataclasses.replace(get_benchmark("MMStar"), url=f"http://127.0.0.1:{port}/MMStar.tsv")
    with pytest.raises(DataMissingError) as info:
        download(card, get_protocol(), tmp_path, progress=False)
    message = str(info.value)
    assert str(tmp_path / "MMStar.tsv") in message and card.url in message
    assert "vleval data download MMStar" in message


def test_huggingface_urls_retry_once_on_the_mirror(tmp_path, monkeypatch):
    tried = []

    def failing_fetch(url, part, desc, progress, timeout):
        tried.append(url)
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(files, "_fetch", failing_fetch)
    card = get_benchmark("CRPE_EXIST")
    with pytest.raises(DataMissingError):
        download(card, get_protocol(), tmp_path, progress=False)
    assert tried == [card.url, card.url.replace("huggingface.co", "hf-mirror.com")]
    assert mirror_url(get_benchmark("MMStar").url) is None


def test_require_tsv_missing_and_mismatch(tmp_path):
    card, protocol = get_benchmark("MMStar"), get_protocol()
    with pytest.raises(DataMissingError) as missing:
        require_tsv(card, protocol, tmp_path)
    assert "vleval data download MMStar" in str(missing.value) and card.url in str(missing.value)
    make_benchmark_tsv("MMStar", tmp_path, n=2)
    with pytest.raises(DataCorruptError) as corrupt:
        require_tsv(card, protocol, tmp_path)
    assert card.md5 in str(corrupt.value) and "vleval data download MMStar" in str(corrupt.value)
    # explicitly opting out of the check (synthetic files) still finds the file
    assert require_tsv(card, protocol, tmp_path, verify_md5=False) == tmp_path / "MMStar.tsv"


def test_md5_cache_is_used_and_invalidated(tmp_path, monkeypatch):
    path = make_benchmark_tsv("MMVet", tmp_path, n=2)
    card, protocol = get_benchmark("MMVet"), get_protocol()
    first = file_state(card, protocol, tmp_path)
    assert first.md5 == hashlib.md5(path.read_bytes()).hexdigest()
    assert (tmp_path / MD5_CACHE_NAME).is_file()
    calls = []
    real = files.md5_of_file
    monkeypatch.setattr(files, "md5_of_file", lambda p: calls.append(p) or real(p))
    file_state(card, protocol, tmp_path)
    assert calls == []  # size and mtime unchanged: cached
    path.write_bytes(path.read_bytes() + b"\n")
    os.utime(path, ns=(1, 1))
    assert file_state(card, protocol, tmp_path).md5 != first.md5 and len(calls) == 1


def test_legacy_file_name_is_adopted_when_md5_matches(tmp_path):
    source = make_benchmark_tsv("MMStar", tmp_path / "src", n=2)
    protocol = protocol_accepting(get_protocol(), {"MMStar": source})
    card = dataclasses.replace(get_benchmark("MMStar"), url="https://example.invalid/old/MMStar_legacy.tsv")
    (tmp_path / "MMStar_legacy.tsv").write_bytes(source.read_bytes())
    assert require_tsv(card, protocol, tmp_path) == tmp_path / "MMStar.tsv"
    assert not (tmp_path / "MMStar_legacy.tsv").exists()


def test_download_replaces_a_mismatched_file_only_after_verifying(tmp_path, served_card, server):
    card, protocol, body = served_card
    stale = tsv_path(card, tmp_path)
    stale.write_bytes(b"index\tquestion\nold\told\n")
    assert file_state(card, protocol, tmp_path).state == "md5_mismatch"
    assert download(card, protocol, tmp_path, progress=False).read_bytes() == body
    assert file_state(card, protocol, tmp_path).state == "present"


def test_file_of_another_protocol_is_kept_and_explained(tmp_path, served_card, monkeypatch):
    card, protocol, body = served_card
    # pretend the server's file is the one 2026.08 pins and 2024.12 pins an older upload
    newer = dataclasses.replace(protocol, name="2026.08")
    older = dataclasses.replace(protocol, name="2024.12", md5_overrides={"MMStar": "0" * 32})
    monkeypatch.setattr(files, "PROTOCOLS", {"2026.08": newer, "2024.12": older})
    with pytest.raises(DataCorruptError) as info:
        download(card, older, tmp_path, progress=False)
    assert "--protocol 2026.08" in str(info.value) and "--skip-md5-check" in str(info.value)
    assert tsv_path(card, tmp_path).read_bytes() == body  # the genuine download is kept
    with pytest.raises(DataCorruptError, match="protocol 2026.08 pins"):
        require_tsv(card, older, tmp_path)
    assert require_tsv(card, newer, tmp_path) == tsv_path(card, tmp_path)
