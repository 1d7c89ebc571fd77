"""Security defaults: servers bind 127.0.0.1, files from disk load with weights_only=True, Ray's auth
mode is chosen explicitly, secret-looking values never become MLflow params.

That a checkpoint carrying pickled code is refused is tested in
tests/test_checkpoint.py::test_pickled_code_is_refused; here every ``torch.load`` in the code is
checked to pass ``weights_only=True``. That a secret-looking environment value of a real training
run reaches no param or tag is checked in tests/test_fault_tolerance.py.
"""

from __future__ import annotations

import ast
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.cli import build_parser

REPO = Path(__file__).resolve().parents[1]


def _listeners(port: int) -> set[str]:
    """Local addresses of the TCP sockets in LISTEN state on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.split(":")
            if state != "0A" or int(p, 16) != port:
                continue
            if width == 8:
                found.add(socket.inet_ntop(socket.AF_INET, bytes.fromhex(addr)[::-1]))
            else:  # four little-endian 32-bit words
                raw = b"".join(bytes.fromhex(addr[i:i + 8])[::-1] for i in range(0, 32, 8))
                found.add(socket.inet_ntop(socket.AF_INET6, raw))
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ui_defaults_to_loopback(tmp_path, monkeypatch) -> None:
    """`ganarena ui` with no --host hands `mlflow ui` --host 127.0.0.1 (the real server: the test below)."""
    from pipeline import cli

    assert build_parser().parse_args(["ui"]).host == "127.0.0.1"
    (tmp_path / "mlflow.db").touch()
    calls = []
    monkeypatch.setattr(cli.os, "execv", lambda exe, argv: calls.append(argv))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert cli.main(["ui", "--workdir", str(tmp_path)]) == 0
    argv = calls[-1]
    assert argv[1] == "ui" and argv[argv.index("--host") + 1] == "127.0.0.1"


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_ganarena_ui_listens_on_127_0_0_1_only(tmp_path) -> None:
    from mlflow.tracking import MlflowClient

    workdir = tmp_path / "w"
    workdir.mkdir()
    MlflowClient(f"sqlite:///{workdir / 'mlflow.db'}").search_experiments()  # creates the database
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "ui", "--workdir", str(workdir), "--port", str(port)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        first = proc.stdout.readline()
        assert f"on http://127.0.0.1:{port}" in first, first
        deadline = time.monotonic() + 120
        while not _listeners(port):
            assert proc.poll() is None, proc.stdout.read()[-2000:]
            assert time.monotonic() < deadline, "the MLflow UI did not start listening"
            time.sleep(0.5)
        time.sleep(1)  # any further listener (workers) would be up by now
        assert _listeners(port) == {"127.0.0.1"}
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the UI and its server workers: all in this new session
        proc.wait(timeout=10)


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_local_ray_dashboard_listens_on_127_0_0_1_only(ray_local) -> None:
    import ray

    url = ray._private.worker.get_dashboard_url()
    host, port = url.rsplit(":", 1)
    assert host == "127.0.0.1", url
    assert _listeners(int(port)) == {"127.0.0.1"}


def test_init_ray_binds_the_dashboard_to_loopback_and_sets_the_auth_mode(monkeypatch) -> None:
    """What pipeline.rayctl.init_ray asks of a new local Ray: loopback dashboard, explicit RAY_AUTH_MODE."""
    import ray

    from pipeline import rayctl

    calls: list[dict] = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kw: calls.append(kw))
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    rayctl.init_ray(num_cpus=2)
    assert calls[-1]["dashboard_host"] == "127.0.0.1" and calls[-1]["include_dashboard"] is True
    assert os.environ["RAY_AUTH_MODE"] == "disabled"  # chosen, not Ray 2.60's implicit token default
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # a user's explicit choice is kept
    rayctl.init_ray(num_cpus=2)
    assert os.environ["RAY_AUTH_MODE"] == "token"


def test_ci_and_docs_set_ray_auth_mode_explicitly() -> None:
    assert 'export RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}"' in (REPO / ".ci" / "run").read_text()
    assert "RAY_AUTH_MODE" in (REPO / "README.md").read_text()
    assert "RAY_AUTH_MODE=token" in (REPO / "cluster" / "README.md").read_text()


def test_every_torch_load_passes_weights_only_true() -> None:
    """Nothing read from disk may run pickled code (the refusal itself: test_checkpoint.py)."""
    calls = []
    for folder in ("gan_core", "pipeline", "scripts", "bench"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
                        and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"):
                    ok = any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                             for k in node.keywords)
                    calls.append((f"{path.relative_to(REPO)}:{node.lineno}", ok))
    assert calls, "no torch.load found: the scan is broken"
    assert [c for c, ok in calls if not ok] == []


def test_secret_looking_params_are_dropped() -> None:
    from pipeline.tracking import safe_params

    flat = {"loss.name": "ns", "train.steps": 100, "mlflow.token": "abc", "db.password": "p", "AWS_SECRET_ACCESS_KEY": "s",
            "api_key": "k", "hub.auth_header": "Bearer x", "s3.credentials": "c", "data.root": "/data"}
    assert safe_params(flat) == {"loss.name": "ns", "train.steps": "100", "data.root": "/data"}
