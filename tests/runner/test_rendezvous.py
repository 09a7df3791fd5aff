"""The start of a distributed run: a rank that never arrives stops the others after --dist-timeout with
one line (not torch's 12-hour wait), and ranks that see different things refuse to start."""

from __future__ import annotations

import socket
import subprocess

from runner_support import free_port, run_args, subprocess_env, vleval_command

from vleval.runner.dist import disagreement


def test_a_rank_alone_at_the_rendezvous_stops_after_the_timeout_with_one_line(
    tiny_model, bench_dir, tmp_path
):
    command = [
        *vleval_command(),
        "run",
        *run_args(tiny_model, bench_dir, tmp_path / "work"),
        "--dist-timeout",
        "3",
    ]
    port = str(free_port())
    # a port held (bound, never listening) for the whole test: nobody can answer there
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent_port = str(silent.getsockname()[1])
    assert silent_port != port
    procs = {  # rank 0 waits for rank 1 of its run; rank 1 of another run waits for a rank 0 that never comes
        name: subprocess.Popen(
            command,
            env=subprocess_env(RANK=rank, WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=master_port),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, rank, master_port in (("server", "0", port), ("client", "1", silent_port))
    }
    outputs = {name: proc.communicate(timeout=300) for name, proc in procs.items()}
    results = {name: (procs[name].returncode, stderr) for name, (_, stderr) in outputs.items()}
    silent.close()
    for name, (rc, stderr) in results.items():
        errors = [line for line in stderr.splitlines() if line.startswith("vleval: error:")]
        assert rc == 2 and len(errors) == 1 and "Traceback" not in stderr, (name, stderr[-3000:])
    server_error = next(line for line in results["server"][1].splitlines() if "error" in line)
    assert f"only 1 of 2 tasks reached the rendezvous at 127.0.0.1:{port} within 3 s" in server_error
    assert "rank(s) 1 never arrived" in server_error
    assert "nobody answered at 127.0.0.1:" in results["client"][1]
    assert not (tmp_path / "work" / "TinyVL-Qwen2" / ".progress").exists()


def test_the_first_difference_from_rank_0_is_named():
    same = {"the protocol": "2024.12", "the checkpoint of M": "/ckpt (sha256 aa)"}
    assert disagreement([("n1", same), ("n1", dict(same)), ("n2", dict(same))]) is None
    other = dict(same, **{"the checkpoint of M": "/ckpt (sha256 bb)"})
    problem = disagreement([("n1", same), ("n1", same), ("n2", other)])
    assert problem is not None and "\n" not in problem
    assert "do not agree on the checkpoint of M: rank 0 on n1 has /ckpt (sha256 aa), rank 2 on n2" in problem
    assert "has nothing" in disagreement([("n1", same), ("n2", {"the protocol": "2024.12"})])
