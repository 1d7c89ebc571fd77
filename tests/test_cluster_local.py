"""A REAL 2-node Ray cluster on this machine (cluster/local.sh), used the way a user would.

The cluster runs with its own ports and temp dir so it can coexist with the single `ray.init`
that other tests share; this module never calls `ray.init` — it talks to the cluster through
the `ray` CLI and HTTP only. It runs with RAY_AUTH_MODE=token (the non-trivial path: a token is
generated, reaches both nodes and the job, and a request without it is refused) and with the
MLflow server of `up --with-mlflow`, on its PostgreSQL database.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
LOCAL_SH = REPO / "cluster" / "local.sh"
BIN = Path(sys.executable).parent
RAY = BIN / "ray"
MEASUREMENTS = REPO / "test-artifacts" / "cluster_local.json"


def _free_ports(n: int) -> list[int]:
    """n distinct free TCP ports (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _session_pids(sid: int) -> list[int]:
    """Live (non-zombie) pids whose session id is `sid` (Linux /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        state, session = fields[0], int(fields[3])
        if session == sid and state != "Z":
            pids.append(int(entry))
    return pids


def _memory_mib(pids: list[int]) -> dict[str, float]:
    """Summed RSS and PSS (proportional set size: shared pages split between sharers) in MiB."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return {"processes": len(pids), "rss_mib": round(rss / 1024, 1), "pss_mib": round(pss / 1024, 1)}


def _listen_addresses(port: int) -> set[str]:
    """IPs that listen on TCP `port`, from /proc/net/tcp{,6} (no psutil needed)."""
    addrs = set()
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            ip_hex, port_hex = local.split(":")
            if state != "0A" or int(port_hex, 16) != port:  # 0A = LISTEN
                continue
            raw = bytes.fromhex(ip_hex)
            if v6:  # four little-endian 32-bit words
                raw = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                ip = socket.inet_ntop(socket.AF_INET6, raw)
                ip = ip.removeprefix("::ffff:")
            else:
                ip = socket.inet_ntoa(raw[::-1])
            addrs.add(ip)
    return addrs


def _run(args: list[str], env: dict[str, str], timeout: float, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=False, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


class Cluster:
    """Addresses, environment and measurements of the cluster under test."""

    def __init__(self) -> None:
        self.state_dir = Path(tempfile.mkdtemp(prefix="gac-", dir="/tmp"))  # short: socket paths
        ray_port, client_port, dash_port, mlflow_port, pg_port = _free_ports(5)
        self.dashboard = f"http://127.0.0.1:{dash_port}"
        self.mlflow = f"http://127.0.0.1:{mlflow_port}"
        self.dash_port, self.mlflow_port, self.pg_port = dash_port, mlflow_port, pg_port
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "GANARENA_"))}
        env.update(
            GANARENA_CLUSTER_DIR=str(self.state_dir),
            GANARENA_RAY_PORT=str(ray_port),
            GANARENA_RAY_CLIENT_PORT=str(client_port),
            GANARENA_DASHBOARD_PORT=str(dash_port),
            GANARENA_MLFLOW_PORT=str(mlflow_port),
            GANARENA_PG_PORT=str(pg_port),
            GANARENA_OBJECT_STORE_MB="256",
            GANARENA_RAY_BIN=str(RAY),
            RAY_AUTH_MODE="token",
            MLFLOW_DISABLE_TELEMETRY="true",
        )
        self.env = env
        self.measurements: dict[str, object] = {}

    @property
    def token(self) -> str:
        return (self.state_dir / "auth_token").read_text().strip()

    def client_env(self) -> dict[str, str]:
        """Environment of a user's shell after `up`: the settings `up` wrote to <state>/env."""
        env = dict(self.env)
        for line in (self.state_dir / "env").read_text().splitlines():
            key, _, value = line.partition("=")
            env[key] = value
        env.pop("RAY_ADDRESS", None)  # job commands below name the dashboard explicitly
        return env

    def get_json(self, path: str, token: bool = True) -> dict:
        req = urllib.request.Request(self.dashboard + path)
        if token:
            req.add_header("Authorization", "Bearer " + self.token)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    def sql(self, query: str, *args: object) -> list[tuple]:
        """Rows of ``query`` in MLflow's PostgreSQL database (the password `up` generated)."""
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.pg_port, user="ganarena", dbname="mlflow",
                                password=(self.state_dir / "postgres.pw").read_text().strip())
        try:
            with conn.cursor() as cur:
                cur.execute(query, args)
                return cur.fetchall()
        finally:
            conn.close()

    def sessions(self) -> dict[str, int]:
        return {
            f.stem: int(f.read_text().strip()) for f in self.state_dir.glob("*.sid") if f.read_text().strip()
        }


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    try:
        t0 = time.monotonic()
        up = _run(["bash", str(LOCAL_SH), "up", "--with-mlflow"], c.env, timeout=240)
        c.measurements["up_s"] = round(time.monotonic() - t0, 1)
        assert up.returncode == 0, f"local.sh up failed:\n{up.stdout}\n{up.stderr}"
        c.up_output = up.stdout
        c.measurements["memory_idle"] = {
            name: _memory_mib(_session_pids(sid)) for name, sid in c.sessions().items()
        }
        yield c
    finally:
        # Idempotent: the last test already ran `down`; this also covers failures before it.
        _run(["bash", str(LOCAL_SH), "down", "--purge"], c.env, timeout=120)
        shutil.rmtree(c.state_dir, ignore_errors=True)
        MEASUREMENTS.parent.mkdir(exist_ok=True)
        MEASUREMENTS.write_text(json.dumps(c.measurements, indent=2))
        print("\ncluster measurements:", json.dumps(c.measurements, indent=2))


@pytest.mark.timeout(300)
def test_two_alive_nodes_with_their_own_resources(cluster):
    nodes = cluster.get_json("/api/v0/nodes?limit=100&detail=true")["data"]["result"]["result"]
    alive = [n for n in nodes if n["state"] == "ALIVE"]
    assert len(alive) == 2
    by_role = {}
    for n in alive:
        res = n["resources_total"]
        roles = [r for r in ("node_head", "node_worker") if r in res]
        assert len(roles) == 1, res
        assert res[roles[0]] == 1 and res["CPU"] == 1, res
        by_role[roles[0]] = n
    assert set(by_role) == {"node_head", "node_worker"}
    assert by_role["node_head"]["is_head_node"] and not by_role["node_worker"]["is_head_node"]
    assert by_role["node_head"]["node_id"] != by_role["node_worker"]["node_id"]
    cluster.node_ids = {role: n["node_id"] for role, n in by_role.items()}

    status = _run(["bash", str(LOCAL_SH), "status"], cluster.env, timeout=60)
    assert status.returncode == 0, status.stdout + status.stderr
    for word in ("head: running", "worker: running", "mlflow: running", "postgres: running", "node_head",
                 "node_worker"):
        assert word in status.stdout, status.stdout


@pytest.mark.timeout(120)
def test_servers_bind_loopback_and_token_is_required(cluster):
    listening = {port: _listen_addresses(port) for port in (cluster.dash_port, cluster.mlflow_port, cluster.pg_port)}
    assert all(addrs == {"127.0.0.1"} for addrs in listening.values()), listening
    assert (cluster.state_dir / "postgres.pw").stat().st_mode & 0o077 == 0  # the database password is private
    assert not list((cluster.state_dir / "postgres" / "data").glob("**/.s.PGSQL.*"))  # no unix socket either
    cmdlines = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in _session_pids(cluster.sessions()["mlflow"])]
    server = next(c for c in cmdlines if b"--backend-store-uri" in c)
    assert f"postgresql+psycopg2://ganarena@127.0.0.1:{cluster.pg_port}/mlflow".encode() in server
    assert (cluster.state_dir / "postgres.pw").read_bytes().strip() not in server  # never on a command line

    with pytest.raises(urllib.error.HTTPError) as no_token:
        cluster.get_json("/api/jobs/", token=False)
    assert no_token.value.code == 401
    assert isinstance(cluster.get_json("/api/jobs/"), list)
    assert (cluster.state_dir / "auth_token").stat().st_mode & 0o077 == 0  # token file is private


JOB_SCRIPT = """
import json, os, time
import mlflow
import ray

ray.init()  # inside the job: joins the cluster the job runs on


@ray.remote(num_cpus=0.5)
def where():
    return {"node_id": ray.get_runtime_context().get_node_id(), "pid": os.getpid(),
            "tracking_uri": os.environ.get("MLFLOW_TRACKING_URI")}


placed = ray.get([where.options(resources={"node_head": 0.5}).remote(),
                  where.options(resources={"node_worker": 0.5}).remote()])


@ray.remote(num_cpus=0.5, resources={"node_worker": 0.5})
class Short:
    def ping(self):
        return True


# Regression: an actor that ends on the worker node must not delete the working_dir copy the
# driver runs in (it did when both nodes shared one Ray temp dir).
short = Short.remote()
ray.get(short.ping.remote())
ray.kill(short)
time.sleep(3)
assert os.path.isfile(os.path.join(os.getcwd(), "script.py")), "working_dir deleted under the driver"
mlflow.set_experiment("cluster-smoke")
with mlflow.start_run(run_name=os.environ["SMOKE_RUN_NAME"]):
    mlflow.log_params({"head_node": placed[0]["node_id"], "worker_node": placed[1]["node_id"]})
    mlflow.log_metric("nodes", len({p["node_id"] for p in placed}))
print("PLACEMENT " + json.dumps(placed))
"""


@pytest.mark.timeout(300)
def test_job_submit_places_tasks_on_both_nodes_and_tracks_in_mlflow(cluster, tmp_path):
    (tmp_path / "script.py").write_text(textwrap.dedent(JOB_SCRIPT))
    submission_id = f"cluster-test-{uuid.uuid4().hex[:8]}"
    run_name = f"smoke-{submission_id}"
    runtime_env = {"env_vars": {"MLFLOW_TRACKING_URI": cluster.mlflow, "SMOKE_RUN_NAME": run_name,
                                "MLFLOW_DISABLE_TELEMETRY": "true"}}
    t0 = time.monotonic()
    submit = _run(
        [str(RAY), "job", "submit", "--address", cluster.dashboard, "--submission-id", submission_id,
         "--working-dir", str(tmp_path), "--runtime-env-json", json.dumps(runtime_env),
         "--", "python", "script.py"],
        cluster.client_env(), timeout=240,
    )
    cluster.measurements["job_submit_s"] = round(time.monotonic() - t0, 1)
    cluster.measurements["memory_after_job"] = {
        name: _memory_mib(_session_pids(sid)) for name, sid in cluster.sessions().items()
    }
    out = submit.stdout + submit.stderr
    info = cluster.get_json(f"/api/jobs/{submission_id}")
    assert info["status"] == "SUCCEEDED", out
    assert submit.returncode == 0, out

    line = next(ln for ln in out.splitlines() if ln.startswith("PLACEMENT "))
    head, worker = json.loads(line.removeprefix("PLACEMENT "))
    assert head["node_id"] != worker["node_id"]
    if hasattr(cluster, "node_ids"):
        assert (head["node_id"], worker["node_id"]) == (cluster.node_ids["node_head"], cluster.node_ids["node_worker"])
    # runtime_env env_vars reach the tasks on both nodes, not only the driver
    assert head["tracking_uri"] == worker["tracking_uri"] == cluster.mlflow

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=cluster.mlflow)
    exp = client.get_experiment_by_name("cluster-smoke")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], filter_string=f"attributes.run_name = '{run_name}'")
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    assert run.data.params == {"head_node": head["node_id"], "worker_node": worker["node_id"]}
    assert run.data.metrics["nodes"] == 2


@pytest.mark.timeout(420)
def test_job_submit_ganarena_train_places_two_workers_on_two_nodes(cluster, tmp_path):
    """cluster/README's short form, no flags beyond the run's own: `ray job submit --working-dir . -- ganarena
    train CONFIG --workers 2`. The job joins the cluster (not a private instance), takes its storage, runs
    folder and MLflow server from what `local.sh up` exported, and puts one worker on each node."""
    submission_id = f"train-test-{uuid.uuid4().hex[:8]}"
    name = f"cluster-train-{submission_id}"
    entry = ["ganarena", "train", "configs/toy_ring.yaml", "--workers", "2", "--name", name,
             "--experiment", "cluster-train", "--set", "train.steps=100", "--set", "train.log_every=25",
             "--set", "eval.every=50", "--set", "train.ckpt_every=50", "--set", "eval.samples=500"]
    t0 = time.monotonic()
    submit = _run([str(RAY), "job", "submit", "--address", cluster.dashboard, "--submission-id", submission_id,
                   "--working-dir", ".", "--", *entry], cluster.client_env(), timeout=400, cwd=REPO)
    cluster.measurements["train_job_s"] = round(time.monotonic() - t0, 1)
    out = submit.stdout + submit.stderr
    assert cluster.get_json(f"/api/jobs/{submission_id}")["status"] == "SUCCEEDED", out[-4000:]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=cluster.mlflow)
    exp = client.get_experiment_by_name("cluster-train")
    runs = client.search_runs([exp.experiment_id], filter_string=f"tags.`ganarena.name` = '{name}'")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    run = runs[0]
    nodes = run.data.tags["ganarena.worker_nodes"].split(",")
    assert len(nodes) == 2 and nodes[0] != nodes[1], nodes  # the two workers ran on different nodes
    if hasattr(cluster, "node_ids"):
        assert set(nodes) == set(cluster.node_ids.values())
    assert [m.step for m in client.get_metric_history(run.info.run_id, "d_loss")] == [25, 50, 75, 100]
    assert {a.path for a in client.list_artifacts(run.info.run_id, "checkpoints")} >= {"checkpoints/latest.pt"}
    assert (cluster.state_dir / "storage" / name).is_dir()  # Ray Train's storage: GANARENA_STORAGE from `up`
    assert "RuntimeEnvSetupError" not in out and "Started a local Ray instance" not in out, out[-4000:]


@pytest.mark.timeout(660)
def test_sweep_of_8_concurrent_trials_writes_each_metric_point_once_to_postgresql(cluster):
    """A sweep job whose 8 trials (a quarter CPU each: 2 CPUs, so both nodes) all run at once, every one writing
    to the MLflow server on PostgreSQL: each metric point arrives exactly once, and no run is left RUNNING.
    4,500 steps, so a trial outlasts Tune's staggered launch of the other seven (~3 s apart: each is a new
    process importing torch; at 3,000 steps an idle machine once ended the first trial 4.7 s before the
    last one started)."""
    name = f"pg-{uuid.uuid4().hex[:6]}"
    entry = ["ganarena", "sweep", "configs/toy_ring.yaml", "--name", name, "--trials", "8", "--seeds", "0",
             "--set", "sweep.cpus_per_worker=0.25", "--set", "sweep.grace_evals=3", "--set", "train.steps=4500",
             "--set", "train.log_every=150", "--set", "eval.every=1500", "--set", "eval.samples=500",
             "--set", "generator.width=32", "--set", "discriminator.width=32"]
    t0 = time.monotonic()
    submit = _run([str(RAY), "job", "submit", "--address", cluster.dashboard, "--working-dir", ".", "--", *entry],
                  cluster.client_env(), timeout=600, cwd=REPO)  # 142 s alone, idle
    cluster.measurements["sweep_8_concurrent_s"] = round(time.monotonic() - t0, 1)
    out = submit.stdout + submit.stderr
    assert submit.returncode == 0, out[-4000:]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=cluster.mlflow)
    exp = client.get_experiment_by_name(name)
    every = client.search_runs([exp.experiment_id], max_results=100)
    trials = [r for r in every if r.data.tags.get("ganarena.role") == "child"]
    assert len(trials) == 8 and len(every) == 9
    assert all(r.info.status != "RUNNING" for r in every), [(r.info.run_name, r.info.status) for r in every]
    nodes = {r.data.tags["ganarena.worker_nodes"] for r in trials}
    assert len(nodes) == 2, nodes  # trials ran on both nodes
    starts, ends = sorted(r.info.start_time for r in trials), sorted(r.info.end_time for r in trials)
    cluster.measurements["sweep_8_trials_s"] = [  # (start, end) of each trial's run, from the first start
        (round((r.info.start_time - starts[0]) / 1e3, 1), round((r.info.end_time - starts[0]) / 1e3, 1))
        for r in sorted(trials, key=lambda r: r.info.start_time)]
    late = (starts[-1] - ends[0]) / 1e3
    assert late < 0, f"the 8 trials did not all run at once: the last started {late:.1f} s after the first ended"
    for r in trials:
        assert [m.step for m in client.get_metric_history(r.info.run_id, "d_loss")] == list(range(150, 4501, 150))
        assert [m.step for m in client.get_metric_history(r.info.run_id, "modes_hq")] == [1500, 3000, 4500]
    # the same in the database itself: no (run, key, step) stored twice, and every trial's points there
    dupes = cluster.sql("SELECT m.run_uuid, m.key, m.step FROM metrics m JOIN runs r ON r.run_uuid = m.run_uuid "
                        "WHERE r.experiment_id = %s GROUP BY m.run_uuid, m.key, m.step HAVING count(*) > 1",
                        int(exp.experiment_id))
    assert dupes == []
    per_run = dict(cluster.sql("SELECT run_uuid, count(*) FROM metrics WHERE key = 'd_loss' AND run_uuid = ANY(%s) "
                               "GROUP BY run_uuid", [r.info.run_id for r in trials]))
    assert per_run == {r.info.run_id: 30 for r in trials}


@pytest.mark.timeout(600)
def test_sweep_of_two_worker_trials_spans_both_nodes_and_resumes_after_its_driver_is_killed(cluster):
    """A sweep job whose trials each train with 2 Ray Train workers of 1 CPU: every trial's workers span the two
    1-CPU nodes. Once a trial has finished, the job's driver is SIGKILLed; `ganarena sweep --resume` submitted
    again finishes the sweep in the same MLflow runs: no trial twice, no metric step twice or missing, none
    RUNNING."""
    name = f"mw-{uuid.uuid4().hex[:6]}"
    steps, every = 400, 200
    entry = ["ganarena", "sweep", "configs/toy_ring.yaml", "--name", name, "--trials", "3", "--seeds", "0",
             "--set", "sweep.workers_per_trial=2", "--set", "sweep.cpus_per_worker=1", "--set", "sweep.grace_evals=1",
             "--set", f"train.steps={steps}", "--set", "train.log_every=50", "--set", f"eval.every={every}",
             "--set", "eval.samples=500", "--set", "generator.width=32", "--set", "discriminator.width=32"]
    env = cluster.client_env()
    first = f"{name}-1"
    submit = _run([str(RAY), "job", "submit", "--address", cluster.dashboard, "--submission-id", first, "--no-wait",
                   "--working-dir", ".", "--", *entry], env, timeout=120, cwd=REPO)
    assert submit.returncode == 0, submit.stdout + submit.stderr

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=cluster.mlflow)

    def children() -> list:
        exp = client.get_experiment_by_name(name)
        if exp is None:
            return []
        return [r for r in client.search_runs([exp.experiment_id], max_results=100)
                if r.data.tags.get("ganarena.role") == "child"]

    deadline = time.monotonic() + 300
    while not any(steps in [m.step for m in client.get_metric_history(r.info.run_id, "modes_hq")] for r in children()):
        status = cluster.get_json(f"/api/jobs/{first}")["status"]
        assert status in ("PENDING", "RUNNING"), f"the job ended before the kill: {status}"
        assert time.monotonic() < deadline, "no trial finished in time"
        time.sleep(1)
    driver = subprocess.run(["pgrep", "-f", f"bin/ganarena sweep .*--name {name} "], capture_output=True, text=True,
                            check=False)  # the driver itself, not the shell the job started it with
    pids = [int(p) for p in driver.stdout.split()]
    assert len(pids) == 1, (pids, driver.stdout)
    os.kill(pids[0], 9)  # the job's driver dies at once
    while cluster.get_json(f"/api/jobs/{first}")["status"] in ("PENDING", "RUNNING"):
        assert time.monotonic() < deadline + 60, "the job outlived its driver"
        time.sleep(1)
    before = {r.info.run_id: r for r in children()}

    second = f"{name}-2"
    again = _run([str(RAY), "job", "submit", "--address", cluster.dashboard, "--submission-id", second,
                  "--working-dir", ".", "--", *entry, "--resume"], env, timeout=420, cwd=REPO)
    out = again.stdout + again.stderr
    assert cluster.get_json(f"/api/jobs/{second}")["status"] == "SUCCEEDED", out[-4000:]

    exp = client.get_experiment_by_name(name)
    every_run = client.search_runs([exp.experiment_id], max_results=100)
    kids = [r for r in every_run if r.data.tags.get("ganarena.role") == "child"]
    assert all(r.info.status != "RUNNING" for r in every_run), [(r.info.run_name, r.info.status) for r in every_run]
    seen = sorted((r.data.tags["ganarena.trial_id"], r.data.tags.get("ganarena.status")) for r in kids)
    assert len(kids) == 3 and len({r.data.tags["ganarena.trial_id"] for r in kids}) == 3, (seen, out[-3000:])
    assert set(before) - {r.info.run_id for r in kids} <= {rid for rid, r in before.items()
                                                            if not client.get_metric_history(rid, "modes_hq")}
    for r in kids:
        nodes = r.data.tags["ganarena.worker_nodes"].split(",")
        assert len(nodes) == 2 and nodes[0] != nodes[1], (r.info.run_name, nodes)  # one worker on each node
        d_loss = [m.step for m in client.get_metric_history(r.info.run_id, "d_loss")]
        evals = [m.step for m in client.get_metric_history(r.info.run_id, "modes_hq")]
        assert len(d_loss) == len(set(d_loss)) and len(evals) == len(set(evals)), (r.info.run_name, d_loss, evals)
        status = r.data.tags["ganarena.status"]
        assert status in ("completed", "pruned"), status
        assert d_loss == list(range(50, max(d_loss) + 1, 50)) and evals == list(range(every, max(evals) + 1, every))
        if status == "completed":
            assert evals == [every, steps] and d_loss == list(range(50, steps + 1, 50))
        # A trial ASHA stops is not checked to stop at its rung: a multi-worker trial's TorchTrainer does not
        # wait for Tune's decision (measured: one stopped at step 200 had trained on to 400). Not yet solved.


@pytest.mark.timeout(120)
def test_down_stops_everything_it_started(cluster):
    sessions = cluster.sessions()
    assert {"head", "worker", "mlflow", "postgres"} <= set(sessions)
    t0 = time.monotonic()
    down = _run(["bash", str(LOCAL_SH), "down"], cluster.env, timeout=120)
    cluster.measurements["down_s"] = round(time.monotonic() - t0, 1)
    assert down.returncode == 0, down.stdout + down.stderr
    for name, sid in sessions.items():
        assert _session_pids(sid) == [], f"{name} (session {sid}) still has processes"
    leftovers = subprocess.run(["pgrep", "-f", str(cluster.state_dir)], check=False, capture_output=True, text=True).stdout
    assert leftovers.strip() == ""
    for port in (cluster.dash_port, cluster.mlflow_port, cluster.pg_port):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"
    status = _run(["bash", str(LOCAL_SH), "status"], cluster.env, timeout=60)
    assert status.returncode == 3 and "head: not running" in status.stdout
