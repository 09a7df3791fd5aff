import dataclasses
import functools
import hashlib
import http.server
import socket
import threading

import pytest

from vleval.cli import main
from vleval.datasets import commands
from vleval.datasets.registry import BENCHMARKS
from vleval.synthetic.benchmarks import make_benchmark_tsv


@pytest.fixture()
def served_mmstar(tmp_path, monkeypatch):
    """MMStar registered at a local HTTP server, with the md5 of a synthetic file it serves."""
    source = make_benchmark_tsv("MMStar", tmp_path / "www", n=3)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(source.parent))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    card = dataclasses.replace(
        BENCHMARKS["MMStar"],
        url=f"http://127.0.0.1:{httpd.server_address[1]}/MMStar.tsv",
        md5=hashlib.md5(source.read_bytes()).hexdigest(),
    )
    monkeypatch.setitem(BENCHMARKS, "MMStar", card)
    yield source
    httpd.shutdown()
    httpd.server_close()


def test_list_shows_every_benchmark_with_state(tmp_path, capsys):
    make_benchmark_tsv("MMVet", tmp_path, n=2)  # synthetic: md5 differs from the registry
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert all(name in lines for name in BENCHMARKS)
    assert "md5 mismatch" in lines["MMVet"] and "KB" in lines["MMVet"]
    assert "missing" in lines["OCRBench"] and str(tmp_path / "OCRBench.tsv") in lines["OCRBench"]


def test_download_then_list_present(tmp_path, served_mmstar, capsys):
    data = tmp_path / "data"
    assert main(["data", "download", "MMStar", "--data-dir", str(data), "--quiet"]) == 0
    assert (data / "MMStar.tsv").read_bytes() == served_mmstar.read_bytes()
    assert main(["data", "download", "MMStar", "--data-dir", str(data)]) == 0
    assert "already present" in capsys.readouterr().out
    main(["data", "list", "--data-dir", str(data)])
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("MMStar "))
    assert "present" in line and "mismatch" not in line


def test_download_offline_prints_one_clear_error(tmp_path, monkeypatch, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    card = dataclasses.replace(BENCHMARKS["MMStar"], url=f"http://127.0.0.1:{port}/MMStar.tsv")
    monkeypatch.setitem(BENCHMARKS, "MMStar", card)
    assert main(["data", "download", "MMStar", "--data-dir", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "vleval data download MMStar" in err and str(tmp_path / "MMStar.tsv") in err
    assert "Traceback" not in err


def test_download_all_and_unknown_names(tmp_path, monkeypatch, capsys):
    fetched = []
    monkeypatch.setattr(commands, "download", lambda card, *a, **k: fetched.append(card.name) or tmp_path)
    assert main(["data", "download", "all", "--data-dir", str(tmp_path)]) == 0
    assert fetched == list(BENCHMARKS)
    fetched.clear()
    assert main(["data", "download", "MMStar", "MMstarr", "--data-dir", str(tmp_path)]) == 2
    assert fetched == []  # nothing is fetched when a name is wrong
    assert "Did you mean MMStar" in capsys.readouterr().err


def test_help_texts(capsys):
    with pytest.raises(SystemExit):
        main(["data", "download", "--help"])
    out = capsys.readouterr().out
    assert "resume" in out and "md5" in out and "'all'" in out
