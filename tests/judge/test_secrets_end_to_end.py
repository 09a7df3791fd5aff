"""Secrets through the whole pipeline (issue 10, items 4 and 5): `vleval run --backend openai` against a
server that echoes the key in its errors, then `vleval report`; neither the key nor the credentials
inside --api-base reach any file vleval writes, nor stdout/stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from vleval.cli import main
from vleval.synthetic.benchmarks import make_benchmark_tsv
from vleval.synthetic.checkpoints import make_tiny_checkpoint
from vleval.synthetic.judge_server import JudgeServer

KEY = "sk-e2e-SECRET-5566778899aabb"
URL_PASSWORD = "url-pa55word-77"
URL_KEY = "query-key-abc123xyz"


def _every_file(root: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in root.rglob("*") if path.is_file()}


def test_an_echoed_key_and_url_credentials_reach_no_file_and_no_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_tiny_checkpoint(tmp_path / "ckpt" / "TinyVL-Qwen2", "qwen2", seed=0)
    make_benchmark_tsv("MMStar", tmp_path / "data", n=3, seed=0)
    work = tmp_path / "work"
    monkeypatch.setenv("VLEVAL_API_KEY", KEY)
    with JudgeServer(lambda model, messages, temperature: "B") as server:
        server.inject("echo_key", 3)  # the first sample's 3 attempts (the default) fail, echoing the key
        api_base = server.base_url.replace("http://", f"http://user:{URL_PASSWORD}@") + f"?api-key={URL_KEY}"
        code = main([
            "run", "--model", str(model), "--data", "MMStar", "--data-dir", str(tmp_path / "data"),
            "--work-dir", str(work), "--skip-md5-check", "--judge", "none", "--no-progress",
            "--backend", "openai", "--api-base", api_base, "--api-model", "served", "--api-workers", "1",
        ])  # fmt: skip
        assert server.auth_headers[0] == f"Bearer {KEY}"
    assert code == 1  # one sample failed: written, counted, non-zero exit
    assert main(["report", "--work-dir", str(work)]) == 0
    out, err = capsys.readouterr()
    files = _every_file(work)
    assert any(b"HTTP 500" in data for data in files.values())  # the error itself was kept ...
    for secret in (KEY, URL_PASSWORD, URL_KEY):  # ... without the secrets
        assert secret not in out and secret not in err
        for path, data in files.items():
            assert secret.encode() not in data, path


def test_the_report_never_shows_credentials_of_a_recorded_judge_url() -> None:
    """A run.json written before URLs were recorded redacted still shows none of its credentials."""
    from vleval.families.base import family_of
    from vleval.report.collect import read_settings
    from vleval.workdir import manifest_from_json

    run_json = {
        "settings": {
            "judge": "gpt-4o-mini",
            "judge_base_url": f"http://u:{URL_PASSWORD}@127.0.0.1:9/v1?key={URL_KEY}",
        }
    }
    settings = read_settings(manifest_from_json(run_json), None, family_of("MMVet"), "MMVet")
    assert settings.judge_endpoint == "http://***@127.0.0.1:9/v1?key=***"
    assert URL_PASSWORD not in settings.describe() and "127.0.0.1:9" in settings.describe()
