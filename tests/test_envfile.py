"""API keys from ./.env (vleval.envfile): read by every command, never written anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import vleval
from vleval.datasets.loading import load_table
from vleval.datasets.predictions import write_prediction_file
from vleval.datasets.registry import get_benchmark
from vleval.envfile import MAX_ENV_FILE_BYTES, load_env_file
from vleval.protocol import get_protocol
from vleval.synthetic.benchmarks import make_benchmark_tsv
from vleval.synthetic.judge_server import JudgeServer

KEY = "sk-from-dotenv-5f1c2e9a"
# the subprocesses run in a tmp folder: the source under test by absolute path
SRC = str(Path(vleval.__file__).resolve().parents[1])


def test_the_judge_key_and_endpoint_come_from_dotenv_and_are_written_nowhere(tmp_path):
    make_benchmark_tsv("MMStar", tmp_path / "data", n=4, seed=2)
    table = load_table(get_benchmark("MMStar"), get_protocol(), root=tmp_path / "data", verify_md5=False)
    write_prediction_file(
        tmp_path / "M_MMStar.xlsx", table, {i: "I would rather not say" for i in table["index"]}
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LOCAL_LLM"))}
    env["PYTHONPATH"] = SRC
    with JudgeServer(api_key=KEY) as server:  # any other key is answered 401
        (tmp_path / ".env").write_text(
            f"# judge\nOPENAI_API_KEY={KEY}\nOPENAI_API_BASE='{server.base_url}'\n"
        )
        done = subprocess.run(
            [sys.executable, "-m", "vleval", "eval", "--pred", "M_MMStar.xlsx", "--judge", "gpt-4o-mini",
             "--data-dir", "data", "--skip-md5-check"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert server.request_count >= 4 and set(server.auth_headers) == {f"Bearer {KEY}"}
    assert "read OPENAI_API_KEY, OPENAI_API_BASE from ./.env" in done.stderr
    assert KEY not in done.stdout + done.stderr
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != ".env"]
    assert written and not [p for p in written if KEY.encode() in p.read_bytes()]


def test_the_environment_wins_over_the_file_and_empty_values_are_skipped(tmp_path):
    path = tmp_path / ".env"
    path.write_text(
        "OPENAI_API_KEY=from-file\nVLEVAL_API_KEY=\nexport OPENAI_API_BASE=http://127.0.0.1:1/v1\n"
    )
    environ = {"OPENAI_API_KEY": "from-shell"}
    assert load_env_file(path, environ) == ["OPENAI_API_BASE"]
    assert environ == {"OPENAI_API_KEY": "from-shell", "OPENAI_API_BASE": "http://127.0.0.1:1/v1"}
    assert load_env_file(tmp_path / "absent", environ) == []


def test_an_oversized_env_file_is_refused_in_one_line(tmp_path):
    (tmp_path / ".env").write_text("A=" + "x" * MAX_ENV_FILE_BYTES)
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run([sys.executable, "-m", "vleval", "data", "list"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and ".env" in done.stderr and "Traceback" not in done.stderr
