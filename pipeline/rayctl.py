"""Starting or joining Ray, sized on purpose, with Ray's own log noise turned down by default."""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any

from gan_core.errors import GanConfigError

ADDRESS_FORMS = "auto, HOST:6379, ray://HOST:10001, or leave out ($RAY_ADDRESS if set, else a local instance)"
PROBE_TIMEOUT_S = 5.0
# Ray starts worker processes at niceness 15 so that its own daemons stay responsive. Here the workers
# do the training, so next to any other busy process they starve: measured beside two nice-0 processes
# on 2 cores, a TrainController still importing torch after 2 minutes at 4% CPU, then Train's 60 s
# worker-group start timeout (GetTimeoutError). `ray job submit` gives its jobs 0 for the same reason.
WORKER_NICENESS = "0"
PREEMPTION_WATCHER_ENV = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"  # Train V2 reads it in the controller
# Train V2's controller polls its workers every 2 s by default, so a finished run is noticed up to 2 s
# late (measured: a 4-step run's last report to FINISHED 3.8 s, 0.8-1.8 s at 0.2 s). On a local instance
# a poll is a call between processes of one machine; a sweep of short trials pays the wait per trial.
HEALTH_CHECK_ENV, LOCAL_HEALTH_CHECK_S = "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.25"
RUNTIME_ENV_HINT = ("inside `ray job submit`, let ganarena join the job's cluster (leave out --address, or pass "
                    "--address auto); check the job's --working-dir and --runtime-env-json; see cluster/README.md")


def _probe(address: str) -> None:
    """Fail fast on an address nothing listens at: ``ray.init`` would retry the GCS for minutes."""
    import socket

    hostport = address.split("://", 1)[1] if address.startswith("ray://") else address
    host, sep, port = hostport.rpartition(":")
    if address in ("auto", "local") or not sep or "/" in hostport:
        return  # Ray resolves these itself
    if not port.isdigit():
        raise GanConfigError("--address", f"bad port in {address!r}", ADDRESS_FORMS)
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as e:
        raise GanConfigError("--address", f"cannot reach a Ray cluster at {address!r} "
                             f"({e.strerror or type(e).__name__})", ADDRESS_FORMS) from None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_ray(address: str | None = None, verbose: bool = False, num_cpus: int | None = None,
             runtime_env: dict[str, Any] | None = None) -> dict[str, Any]:
    """Join ``address`` (default: $RAY_ADDRESS, as inside a Ray job) or start a local Ray sized for this
    machine; returns the cluster's resources. ``runtime_env`` is this job's Ray runtime environment
    (env_vars, a worker_process_setup_hook, ...), applied to every worker it starts.

    A local instance binds its dashboard to 127.0.0.1 and, unless RAY_AUTH_MODE is set, runs with
    token authentication disabled (nothing listens beyond loopback). Joining a cluster keeps
    whatever RAY_AUTH_MODE the caller set (use ``token`` on shared clusters).
    """
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")  # else worker prints reach the driver twice
    os.environ.setdefault("RAY_CHDIR_TO_TRIAL_DIR", "0")  # trials keep the caller's working directory
    if not verbose:
        os.environ.setdefault("RAY_DATA_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("RAY_TRAIN_ENABLE_STATE_TRACKING", "0")
        os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    import ray

    # Inside `ray job submit` (and wherever the user exported it) RAY_ADDRESS names the cluster to join:
    # a private instance started there could not set up the job's runtime environment for its workers.
    address = address or os.environ.get("RAY_ADDRESS") or None
    if address:
        _probe(address)
    if ray.is_initialized():
        return ray.cluster_resources()
    level = logging.INFO if verbose else logging.ERROR
    try:
        if address:
            ray.init(address=address, logging_level=level, log_to_driver=True, runtime_env=runtime_env)
        else:
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            os.environ.setdefault("RAY_worker_niceness", WORKER_NICENESS)  # read by the raylet it starts
            # Train's PreemptionWatcher polls for node drains (spot/autoscaled nodes), which a local
            # instance never has: it would cost every run one more worker process (~2.7 CPU-s) and a
            # C++ warning about its restart arguments on the console.
            os.environ.setdefault(PREEMPTION_WATCHER_ENV, "0")
            os.environ.setdefault(HEALTH_CHECK_ENV, LOCAL_HEALTH_CHECK_S)
            port = _free_port()
            # Ray's state API (Train's placement-group cleaner polls it) finds its server through
            # /tmp/ray/ray_current_cluster when nothing else says where it is; a stale file left by an
            # old `ray start` makes every poll wait out a 10 s timeout. Ray's processes inherit this env.
            os.environ["RAY_API_SERVER_ADDRESS"] = f"http://127.0.0.1:{port}"
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count(), include_dashboard=True,
                     dashboard_host="127.0.0.1", dashboard_port=port, logging_level=level, log_to_driver=True,
                     runtime_env=runtime_env)
    except (ConnectionError, TimeoutError, ValueError, RuntimeError) as e:
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise GanConfigError("--address", f"cannot reach a Ray cluster at {address!r} ({first})",
                             ADDRESS_FORMS) from None
    if not verbose:
        try:
            from ray.data import DataContext

            DataContext.get_current().enable_progress_bars = False
        except ImportError:
            pass
    return ray.cluster_resources()


def node_resources() -> list[dict[str, float]]:
    """CPU, GPU and memory of each alive node (what one worker can be placed on)."""
    import ray

    return [{k: float(n.get("Resources", {}).get(k, 0.0)) for k in ("CPU", "GPU", "memory")}
            for n in ray.nodes() if n.get("Alive")]


def user_error(exc: BaseException | None) -> GanConfigError | None:
    """The user's error inside an exception Ray raised for a worker or a trial, as one GanConfigError:
    a GanConfigError from the cause chain or Ray's wrappers (``worker_failures``, ``_base_exc``, ...),
    or a runtime environment Ray could not set up; None when the failure was not the user's input."""
    from ray.exceptions import RuntimeEnvSetupError

    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, GanConfigError):
            inner = getattr(e, "cause", None)  # Ray's RayTaskError(GanConfigError) prints a traceback: unwrap
            if isinstance(inner, GanConfigError) and inner is not e:
                todo.append(inner)
                continue
            return e if type(e) is GanConfigError else GanConfigError(e.field, e.problem, e.allowed)
        if isinstance(e, RuntimeEnvSetupError):
            first = next((ln.strip() for ln in str(e).splitlines() if ln.strip() and "Traceback" not in ln), "")
            return GanConfigError("runtime_env", f"Ray could not set up the job's runtime environment "
                                  f"({first[:200]})", RUNTIME_ENV_HINT)
        todo += [e.__cause__, e.__context__]
        for attr in ("worker_failures", "errors"):  # Train V2 WorkerGroupError, exception groups
            more = getattr(e, attr, None)
            if isinstance(more, dict):
                todo += list(more.values())
            elif isinstance(more, list | tuple):
                todo += list(more)
        as_instance = getattr(e, "as_instanceof_cause", None)  # RayTaskError wraps the original
        if callable(as_instance):
            with contextlib.suppress(Exception):  # a wrapper that cannot rebuild its cause adds nothing
                todo.append(as_instance())
        for attr in ("cause", "_base_exc", "controller_failure"):  # Ray's wrappers of the user's exception
            inner = getattr(e, attr, None)
            if isinstance(inner, BaseException):
                todo.append(inner)
    return None
