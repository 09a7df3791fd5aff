"""`vleval models list` / `download` and the checkpoint checks behind them."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import huggingface_hub.constants
import pytest

from vleval.cli import main
from vleval.errors import DataMissingError, VlevalError
from vleval.models.download import download_model, model_dir_default, model_path, require_checkpoint
from vleval.models.registry import MODELS, get_model


def write_checkpoint(folder, shards=("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "internvl_chat"}')
    weight_map = {f"w{i}": shard for i, shard in enumerate(shards)}
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map})
    )
    for shard in shards:
        (folder / shard).write_bytes(b"\0" * 1500)


def test_model_dir_default_and_env(monkeypatch, tmp_path):
    monkeypatch.delenv("VLEVAL_MODEL_DIR", raising=False)
    assert str(model_dir_default()) == "pretrained"
    monkeypatch.setenv("VLEVAL_MODEL_DIR", str(tmp_path))
    assert model_dir_default() == tmp_path
    assert model_path(get_model("InternVL2-5-8B")) == tmp_path / "InternVL2_5-8B"


def test_require_checkpoint(tmp_path):
    card = get_model("InternVL2_5-1B")
    with pytest.raises(DataMissingError) as missing:
        require_checkpoint(card, tmp_path)
    assert str(tmp_path / "InternVL2_5-1B") in str(missing.value)
    assert "vleval models download InternVL2_5-1B" in str(missing.value)
    assert "hf download OpenGVLab/InternVL2_5-1B" in str(missing.value)

    write_checkpoint(tmp_path / "InternVL2_5-1B")
    assert require_checkpoint(card, tmp_path) == tmp_path / "InternVL2_5-1B"

    (tmp_path / "InternVL2_5-1B" / "model-00002-of-00002.safetensors").unlink()
    with pytest.raises(DataMissingError, match="missing model-00002-of-00002.safetensors"):
        require_checkpoint(card, tmp_path)


def test_require_checkpoint_single_file_and_missing_config(tmp_path):
    card = get_model("InternVL2_5-2B")
    folder = tmp_path / card.name
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"x")
    with pytest.raises(DataMissingError, match="missing config.json"):
        require_checkpoint(card, tmp_path)
    (folder / "config.json").write_text("{}")
    assert require_checkpoint(card, tmp_path) == folder


def test_models_list_shows_every_model_and_its_state(tmp_path, capsys):
    write_checkpoint(tmp_path / "InternVL2_5-8B")
    (tmp_path / "InternVL2_5-1B-MPO").mkdir()
    (tmp_path / "InternVL2_5-1B-MPO" / "config.json").write_text("{}")
    assert main(["models", "list", "--model-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert list(lines) == list(MODELS)
    assert lines["InternVL2_5-8B"][1:] == ["internlm2", "8.1B", "16", "GB", "1", "ready", "3.1", "kB",
                                           "model", "dir:", str(tmp_path / "InternVL2_5-8B")]  # fmt: skip
    assert lines["InternVL2_5-1B-MPO"][-6:-3] == ["incomplete", "2", "B"]
    assert lines["InternVL2_5-78B"][1:] == ["qwen2", "76.3B", "143", "GB", "8", "missing", "-", "-"]
    assert str(tmp_path) in out.splitlines()[0]


def test_models_list_uses_env_model_dir(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VLEVAL_MODEL_DIR", str(tmp_path))
    write_checkpoint(tmp_path / "InternVL2_5-4B")
    assert main(["models", "list"]) == 0
    assert "ready" in capsys.readouterr().out


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_download_unreachable_hub_is_a_clear_error(tmp_path):
    card = get_model("InternVL2_5-1B")
    with pytest.raises(VlevalError) as info:
        download_model(card, tmp_path, endpoint=f"http://127.0.0.1:{closed_port()}")
    message = str(info.value)
    assert "unreachable" in message and "hf download OpenGVLab/InternVL2_5-1B" in message
    assert not (tmp_path / card.name).exists()


def test_download_offline_mode_from_the_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert main(["models", "download", "InternVL2-5-1B", "--model-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "offline" in err and f"--local-dir {tmp_path / 'InternVL2_5-1B'}" in err


def test_download_rejects_unknown_names_before_downloading(tmp_path, capsys):
    assert main(["models", "download", "InternVL2_5-1B", "InternVL9-8B", "--model-dir", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "unknown model 'InternVL9-8B'" in captured.err
    assert "Downloading" not in captured.out


# --------------------------------------------------------------------------------------------------
# A minimal Hugging Face Hub on 127.0.0.1 (the three endpoints snapshot_download uses), so a real
# download runs without network.
# --------------------------------------------------------------------------------------------------
HUB_FILES = {"config.json": b'{"model_type": "internvl_chat"}', "model.safetensors": b"\1" * 5000}
HUB_COMMIT = "c" * 40


class FakeHub(BaseHTTPRequestHandler):
    file_gets: list[str] = []

    def log_message(self, *args):  # keep test output quiet
        pass

    def _json(self, payload):
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _file(self, with_body: bool):
        name = self.path.split("/resolve/", 1)[1].split("/", 1)[1]
        data = HUB_FILES[name]
        self.send_response(200)
        self.send_header("X-Repo-Commit", HUB_COMMIT)
        self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if with_body:
            FakeHub.file_gets.append(name)
            self.wfile.write(data)

    def do_HEAD(self):
        self._file(with_body=False)

    def do_GET(self):
        if self.path.startswith("/api/") and "/tree/" in self.path:
            files = [
                {"type": "file", "path": name, "size": len(data), "oid": "0" * 40}
                for name, data in HUB_FILES.items()
            ]
            self._json(files)
        elif self.path.startswith("/api/"):
            self._json(
                {"id": "repo", "sha": HUB_COMMIT, "siblings": [{"rfilename": name} for name in HUB_FILES]}
            )
        else:
            self._file(with_body=True)


@pytest.fixture
def fake_hub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    FakeHub.file_gets = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_writes_real_files_and_skips_them_next_time(tmp_path, fake_hub, capsys):
    card = get_model("InternVL2_5-1B")
    path = download_model(card, tmp_path, endpoint=fake_hub)
    assert path == tmp_path / "InternVL2_5-1B"
    for name, data in HUB_FILES.items():
        assert not (path / name).is_symlink() and (path / name).read_bytes() == data
    assert sorted(FakeHub.file_gets) == sorted(HUB_FILES)

    download_model(card, tmp_path, endpoint=fake_hub)  # complete files are not fetched again
    assert sorted(FakeHub.file_gets) == sorted(HUB_FILES)

    assert main(["models", "list", "--model-dir", str(tmp_path)]) == 0
    assert "ready" in capsys.readouterr().out
