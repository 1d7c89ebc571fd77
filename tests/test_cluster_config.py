"""Static checks of cluster/: launcher YAMLs against Ray 2.60's own schema, KubeRay manifests,
the Dockerfile, the working_dir ignore file and local.sh's argument handling. Fast: no Ray
cluster, no Docker, no Kubernetes."""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import socket
import subprocess
import tempfile
import zipfile
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "cluster"
KUBERAY = CLUSTER / "kuberay"
LAUNCHERS = [CLUSTER / "launcher-aws.yaml", CLUSTER / "launcher-local.yaml"]
RAY_SCHEMA = Path(ray.__file__).parent / "autoscaler" / "ray-schema.json"


def _load_all(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


# --- cluster launcher ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_schema() -> dict:
    assert RAY_SCHEMA.is_file(), f"Ray {ray.__version__} ships no {RAY_SCHEMA}"
    return json.loads(RAY_SCHEMA.read_text())


@pytest.mark.parametrize("path", LAUNCHERS, ids=lambda p: p.name)
def test_launcher_yaml_matches_ray_schema(path, ray_schema):
    config = yaml.safe_load(path.read_text())
    jsonschema.validate(config, ray_schema)
    # Ray's own pipeline for `ray up`: fill defaults (local provider: node types from the IP list),
    # then validate (schema + Ray's extra rules). Offline: no cloud API is called.
    from ray.autoscaler._private.util import prepare_config, validate_config

    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    assert prepared["head_node_type"] in prepared["available_node_types"]


def test_schema_check_is_strict(ray_schema):
    config = yaml.safe_load(LAUNCHERS[0].read_text())
    config["setup_comands"] = []  # a typo must not pass silently
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, ray_schema)
    config = yaml.safe_load(LAUNCHERS[0].read_text())
    config["available_node_types"]["cpu_worker"]["resources"]["node_cpu"] = 0.5  # Ray wants ints
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, ray_schema)


def test_aws_launcher_has_head_cpu_and_gpu_types_installing_the_project():
    config = yaml.safe_load((CLUSTER / "launcher-aws.yaml").read_text())
    types = config["available_node_types"]
    assert set(types) == {"head", "cpu_worker", "gpu_worker"}
    assert types["head"]["resources"] == {"CPU": 0, "node_head": 1}
    assert types["gpu_worker"]["node_config"]["InstanceType"].startswith(("g", "p"))
    assert config["file_mounts"]["~/ganarena"] == "."
    for name in ("cpu_worker", "gpu_worker"):
        cmds = " && ".join(types[name]["worker_setup_commands"])
        assert 'pip install -q "$HOME/ganarena[pipeline]"' in cmds and "torch==" in cmds
    assert "download.pytorch.org/whl/cpu" in " ".join(types["cpu_worker"]["worker_setup_commands"])
    assert "download.pytorch.org" not in " ".join(types["gpu_worker"]["worker_setup_commands"])
    assert any('pip install -q "$HOME/ganarena[pipeline]"' in c for c in config["head_setup_commands"])


@pytest.mark.parametrize("path", LAUNCHERS, ids=lambda p: p.name)
def test_launcher_security_defaults(path):
    config = yaml.safe_load(path.read_text())
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head
    for cmds in (config["head_start_ray_commands"], config["worker_start_ray_commands"]):
        start = next(c for c in cmds if "ray start" in c)
        assert "RAY_AUTH_MODE=token" in start
    assert ".venv" in config["rsync_exclude"]


def test_local_launcher_lists_hosts():
    config = yaml.safe_load((CLUSTER / "launcher-local.yaml").read_text())
    assert config["provider"]["type"] == "local"
    assert config["provider"]["head_ip"] and len(config["provider"]["worker_ips"]) >= 1


# --- KubeRay ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def k8s() -> dict[str, list[dict]]:
    docs = {p.name: _load_all(p) for p in sorted(KUBERAY.glob("*.yaml"))}
    assert set(docs) == {"raycluster.yaml", "rayjob-sweep.yaml", "rayjob-train.yaml", "mlflow.yaml"}
    return docs


def _one(docs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}"
    return found[0]


def _ray_pod_specs(cluster: dict) -> dict[str, dict]:
    specs = {"head": cluster["spec"]["headGroupSpec"]["template"]["spec"]}
    for group in cluster["spec"]["workerGroupSpecs"]:
        specs[group["groupName"]] = group["template"]["spec"]
    return specs


def _env(container: dict) -> dict[str, object]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def _mlflow_url(k8s) -> str:
    svc = _one(k8s["mlflow.yaml"], "Service", "mlflow")
    port = svc["spec"]["ports"][0]["port"]
    return f"http://{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc.cluster.local:{port}"


def test_raycluster_shape(k8s):
    cluster = _one(k8s["raycluster.yaml"], "RayCluster")
    assert cluster["apiVersion"] == "ray.io/v1"
    assert cluster["spec"]["rayVersion"] == ray.__version__
    groups = {g["groupName"]: g for g in cluster["spec"]["workerGroupSpecs"]}
    assert set(groups) == {"cpu", "gpu"}
    gpu_limits = groups["gpu"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert gpu_limits["nvidia.com/gpu"] == "1"
    head = cluster["spec"]["headGroupSpec"]
    assert head["serviceType"] == "ClusterIP"
    assert head["rayStartParams"]["num-cpus"] == "0"
    for group in groups.values():
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]


def test_images_consistent(k8s):
    cluster = _one(k8s["raycluster.yaml"], "RayCluster")
    images = {name: spec["containers"][0]["image"] for name, spec in _ray_pod_specs(cluster).items()}
    pattern = re.compile(r"^(?P<repo>.+/ganarena):(?P<version>\d+\.\d+\.\d+)-(?P<variant>cpu|cu\d+)$")
    parsed = {name: pattern.match(image) for name, image in images.items()}
    assert all(parsed.values()), images
    assert len({m["repo"] for m in parsed.values()}) == 1
    assert {m["version"] for m in parsed.values()} == {_project_version()}
    assert parsed["head"]["variant"] == parsed["cpu"]["variant"] == "cpu"
    assert parsed["gpu"]["variant"].startswith("cu")
    others = [_one(k8s["mlflow.yaml"], "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]["image"]]
    for job in ("rayjob-sweep.yaml", "rayjob-train.yaml"):
        others.append(_one(k8s[job], "RayJob")["spec"]["submitterPodTemplate"]["spec"]["containers"][0]["image"])
    assert set(others) == {images["head"]}


def _project_version() -> str:
    return re.search(r'^version = "([^"]+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE).group(1)


@pytest.mark.parametrize("job,command", [("rayjob-sweep.yaml", "sweep"), ("rayjob-train.yaml", "train")])
def test_rayjob_runs_ganarena_on_the_cluster(k8s, job, command):
    rayjob = _one(k8s[job], "RayJob")
    cluster = _one(k8s["raycluster.yaml"], "RayCluster")
    assert rayjob["apiVersion"] == "ray.io/v1"
    assert rayjob["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    assert rayjob["metadata"]["namespace"] == cluster["metadata"]["namespace"]
    argv = shlex.split(rayjob["spec"]["entrypoint"])
    assert argv[:2] == ["ganarena", command]
    assert argv[argv.index("--address") + 1] == "auto"

    # The flags exist in the real CLI (pipeline/cli.py) ...
    from pipeline.cli import build_parser

    args = build_parser().parse_args(argv[1:])
    assert args.address == "auto"
    # ... and the storage path is on the volume every Ray pod mounts (Train V2 needs shared storage).
    shared_mounts = set()
    for spec in _ray_pod_specs(cluster).values():
        claims = {v["name"] for v in spec["volumes"] if v.get("persistentVolumeClaim", {}).get("claimName")
                  == "ganarena-shared"}
        mounts = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"] if m["name"] in claims}
        assert mounts, "a Ray pod without the shared volume"
        shared_mounts.add(mounts.pop())
    assert len(shared_mounts) == 1
    assert args.storage_path.startswith(shared_mounts.pop() + "/")


def test_mlflow_tracking_uri_reaches_jobs(k8s):
    url = _mlflow_url(k8s)
    cluster = _one(k8s["raycluster.yaml"], "RayCluster")
    for name, spec in _ray_pod_specs(cluster).items():
        assert _env(spec["containers"][0])["MLFLOW_TRACKING_URI"] == url, name
    for job in ("rayjob-sweep.yaml", "rayjob-train.yaml"):
        runtime_env = yaml.safe_load(_one(k8s[job], "RayJob")["spec"]["runtimeEnvYAML"])
        assert runtime_env["env_vars"]["MLFLOW_TRACKING_URI"] == url, job
    # the server accepts that Host header (MLflow 3 rejects unknown hosts)
    args = _one(k8s["mlflow.yaml"], "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]["args"]
    allowed = next(a for a in args if a.startswith("--allowed-hosts=")).split("=", 1)[1].split(",")
    assert url.removeprefix("http://") in allowed


def test_mlflow_server_backend_and_artifacts(k8s):
    """MLflow on the PostgreSQL StatefulSet: credentials from a Secret as libpq's env vars, never in the
    manifest or on a command line; both Services cluster-internal."""
    deploy = _one(k8s["mlflow.yaml"], "Deployment", "mlflow")
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["mlflow", "server"]
    opts = dict(a.split("=", 1) for a in container["args"])
    pg_svc = _one(k8s["mlflow.yaml"], "Service", "postgres")
    port = pg_svc["spec"]["ports"][0]["port"]
    assert opts["--backend-store-uri"] == f"postgresql+psycopg2://postgres.ganarena.svc.cluster.local:{port}/mlflow"
    env = _env(container)
    secret_refs = {k: v["secretKeyRef"] for k, v in env.items() if isinstance(v, dict) and "secretKeyRef" in v}
    assert set(secret_refs) == {"PGUSER", "PGPASSWORD"}
    assert {r["name"] for r in secret_refs.values()} == {"ganarena-mlflow-db"}
    db = _one(k8s["mlflow.yaml"], "StatefulSet", "postgres")
    db_env = _env(db["spec"]["template"]["spec"]["containers"][0])
    assert db_env["POSTGRES_PASSWORD"] == {"secretKeyRef": {"name": "ganarena-mlflow-db", "key": "password"}}
    assert db_env["POSTGRES_DB"] == "mlflow" and db["spec"]["volumeClaimTemplates"]
    assert db["spec"]["template"]["metadata"]["labels"] == pg_svc["spec"]["selector"] | {
        "app.kubernetes.io/part-of": "ganarena"}
    assert "Secret" not in {d["kind"] for d in k8s["mlflow.yaml"]}  # credentials are created, never committed
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert opts["--artifacts-destination"].startswith(("s3://", "gs://")) or any(
        opts["--artifacts-destination"].startswith(m + "/") for m in mounts)
    assert {svc["spec"]["type"] for svc in k8s["mlflow.yaml"] if svc["kind"] == "Service"} == {"ClusterIP"}


def test_token_auth_everywhere(k8s):
    cluster = _one(k8s["raycluster.yaml"], "RayCluster")
    containers = [spec["containers"][0] for spec in _ray_pod_specs(cluster).values()]
    for job in ("rayjob-sweep.yaml", "rayjob-train.yaml"):
        containers.append(_one(k8s[job], "RayJob")["spec"]["submitterPodTemplate"]["spec"]["containers"][0])
    secrets = set()
    for c in containers:
        env = _env(c)
        assert env["RAY_AUTH_MODE"] == "token", c["name"]
        ref = env["RAY_AUTH_TOKEN"]["secretKeyRef"]
        secrets.add((ref["name"], ref["key"]))
    assert secrets == {("ganarena-ray-token", "auth_token")}


def test_configs_of_the_rayjobs_exist(k8s):
    missing = []
    for job in ("rayjob-sweep.yaml", "rayjob-train.yaml"):
        argv = shlex.split(_one(k8s[job], "RayJob")["spec"]["entrypoint"])
        config = Path(argv[2])
        assert config.parent == Path("/home/ray/ganarena/configs")  # where the Dockerfile puts configs/
        if not (REPO / "configs" / config.name).is_file():
            missing.append(f"configs/{config.name}")
    if missing:
        pytest.skip(f"not in the repository yet: {missing}")


# --- container image ----------------------------------------------------------------------------


def test_dockerfile():
    text = (CLUSTER / "Dockerfile").read_text()
    instructions = [ln.split(None, 1) for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    keywords = [i[0].upper() for i in instructions]
    assert "ENTRYPOINT" not in keywords
    from_line = next(rest for kw, *rest in instructions if kw.upper() == "FROM")[0]
    assert from_line == "python:${PYTHON_VERSION}-slim" and "ARG PYTHON_VERSION=3.11" in text
    assert "ARG TORCH_VARIANT=cpu" in text and "download.pytorch.org/whl/${TORCH_VARIANT}" in text
    assert re.search(r'pip install "\.\[pipeline\]" ', text)
    user = [rest[0] for kw, *rest in instructions if kw.upper() == "USER"]
    assert user and user[-1] not in ("root", "0")
    # every COPY source exists and is let through by the Dockerfile-specific ignore file
    ignore = (CLUSTER / "Dockerfile.dockerignore").read_text().split()
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    for kw, *rest in instructions:
        if kw.upper() == "COPY":
            sources = [s for s in rest[0].split() if not s.startswith("--")][:-1]
            for src in sources:
                assert (REPO / src).exists(), src
                assert src in allowed, f"{src} is filtered out by Dockerfile.dockerignore"


# --- working_dir upload -------------------------------------------------------------------------


def test_rayignore_keeps_working_dir_upload_small():
    """With Ray's default excludes and .gitignore both switched off, .rayignore alone keeps .venv
    and .git out of `ray job submit --working-dir .` (the upload limit is 512 MiB)."""
    from ray._private.runtime_env.packaging import GCS_STORAGE_MAX_SIZE, create_package

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "pkg.zip"
        cwd = os.getcwd()
        os.chdir(REPO)
        try:
            create_package(str(REPO), target, include_gitignore=False, excludes=[])
        finally:
            os.chdir(cwd)
        names = zipfile.ZipFile(target).namelist()
        size = target.stat().st_size
    assert not any(n.startswith((".venv/", ".git/")) or "/__pycache__/" in n for n in names)
    assert any(n == "pyproject.toml" for n in names) and any(n.startswith("pipeline/") for n in names)
    assert size < 50 * 2**20 < GCS_STORAGE_MAX_SIZE


# --- local.sh (no cluster started) --------------------------------------------------------------


def _local_sh(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "GANARENA_"))}
    full_env.update(env)
    return subprocess.run(["bash", str(CLUSTER / "local.sh"), *args], check=False, env=full_env, capture_output=True,
                          text=True, timeout=60)


def test_local_sh_syntax_and_usage():
    assert subprocess.run(["bash", "-n", str(CLUSTER / "local.sh")], check=False).returncode == 0
    bad = _local_sh("start")
    assert bad.returncode == 2 and "local.sh up" in bad.stderr
    assert _local_sh("up", "--gpu").returncode == 2
    assert "unknown option for 'up': --gpu" in _local_sh("up", "--gpu").stderr


def test_local_sh_refuses_bad_auth_mode_and_busy_ports(tmp_path):
    state = tmp_path / "s"
    bad = _local_sh("up", GANARENA_CLUSTER_DIR=str(state), RAY_AUTH_MODE="tokn")
    assert bad.returncode == 2 and "RAY_AUTH_MODE must be 'disabled' or 'token'" in bad.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = _local_sh("up", GANARENA_CLUSTER_DIR=str(state), GANARENA_DASHBOARD_PORT=str(port),
                        GANARENA_RAY_PORT="1", GANARENA_RAY_CLIENT_PORT="2")
    assert out.returncode == 1 and f"port {port} is already in use" in out.stderr
    assert not list(state.glob("*.sid"))  # nothing was started
    status = _local_sh("status", GANARENA_CLUSTER_DIR=str(state))
    assert status.returncode == 3 and "head: not running" in status.stdout
