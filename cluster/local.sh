#!/usr/bin/env bash
# cluster/local.sh — a REAL two-node Ray cluster on this one machine, for trying the cluster path
# and for tests.
#
#   bash cluster/local.sh up [--with-mlflow]   head node + one worker node (+ an MLflow server)
#   bash cluster/local.sh status               what is running, the Ray nodes and their resources
#   bash cluster/local.sh down [--purge]       stop exactly what `up` started (--purge: delete state)
#
# Two raylets, each with its own CPUs and a custom resource (`node_head` / `node_worker`) so work
# can be pinned to one node. The dashboard (job submission API) and MLflow bind 127.0.0.1.
#
# Why not `ray stop`: it kills EVERY Ray process of the machine (other users' clusters, the test
# suite's `ray.init`). `up` starts each node in its own session (setsid) and records the session
# id; `down` signals only the processes of those sessions.
#
# Environment (defaults in brackets):
#   GANARENA_CLUSTER_DIR       state, Ray temp dir, logs, MLflow data [/tmp/ganarena-cluster-$UID]
#                              (keep it short: Ray's unix socket paths must fit in 107 bytes)
#   GANARENA_RAY_PORT          GCS port of the head node [6380]
#   GANARENA_RAY_CLIENT_PORT   Ray Client server port of the head node [6381]
#   GANARENA_DASHBOARD_PORT    dashboard / job submission port, bound to 127.0.0.1 [8265]
#   GANARENA_DASHBOARD_HOST    interface for the dashboard [127.0.0.1]
#   GANARENA_HEAD_CPUS         CPUs of the head node [1]
#   GANARENA_WORKER_CPUS       CPUs of the worker node [1]
#   GANARENA_WORKER_GPUS       GPUs of the worker node [0]
#   GANARENA_OBJECT_STORE_MB   object store per node, MiB [512]
#   GANARENA_MLFLOW_PORT       MLflow server port, bound to 127.0.0.1 [5000]
#   GANARENA_MLFLOW_BACKEND    MLflow's database: `postgresql` (a server of its own, cluster/postgres.sh)
#                              or `sqlite` (one file) [postgresql]
#   GANARENA_PG_PORT           PostgreSQL port, bound to 127.0.0.1 [5433]
#   GANARENA_PG_BIN            PostgreSQL's bin dir [newest /usr/lib/postgresql/*/bin]
#   GANARENA_READY_TIMEOUT     seconds to wait for each component [90]
#   GANARENA_STOP_GRACE        seconds between SIGTERM and SIGKILL in `down` [3]; Ray's GCS
#                              can hang on SIGTERM flushing events, so a short grace is enough
#   GANARENA_RAY_BIN           the `ray` executable [<repo>/.venv/bin/ray, else `ray` on PATH]
#   GANARENA_STORAGE           checkpoint storage default of ganarena's jobs [$GANARENA_CLUSTER_DIR/storage]
#   GANARENA_HOME              runs folder default of ganarena's jobs [$GANARENA_CLUSTER_DIR/runs]
#   RAY_AUTH_MODE              Ray token authentication: `disabled` (default here) or `token`.
#                              With `token`, a token is taken from RAY_AUTH_TOKEN /
#                              RAY_AUTH_TOKEN_PATH, or generated in $GANARENA_CLUSTER_DIR/auth_token.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="${GANARENA_CLUSTER_DIR:-/tmp/ganarena-cluster-$(id -u)}"
RAY_PORT="${GANARENA_RAY_PORT:-6380}"
CLIENT_PORT="${GANARENA_RAY_CLIENT_PORT:-6381}"
DASHBOARD_PORT="${GANARENA_DASHBOARD_PORT:-8265}"
DASHBOARD_HOST="${GANARENA_DASHBOARD_HOST:-127.0.0.1}"
HEAD_CPUS="${GANARENA_HEAD_CPUS:-1}"
WORKER_CPUS="${GANARENA_WORKER_CPUS:-1}"
WORKER_GPUS="${GANARENA_WORKER_GPUS:-0}"
OBJECT_STORE_MB="${GANARENA_OBJECT_STORE_MB:-512}"
MLFLOW_PORT="${GANARENA_MLFLOW_PORT:-5000}"
MLFLOW_BACKEND="${GANARENA_MLFLOW_BACKEND:-postgresql}"
READY_TIMEOUT="${GANARENA_READY_TIMEOUT:-90}"
STOP_GRACE="${GANARENA_STOP_GRACE:-3}"

# Token authentication is an explicit choice here, never Ray's implicit default (which turns
# token mode on for `ray start` only when a token file happens to exist in ~/.ray).
export RAY_AUTH_MODE="${RAY_AUTH_MODE:-disabled}"
export RAY_USAGE_STATS_ENABLED=0
# Workers at normal priority (Ray's default, 15, starves training next to any busy process; pipeline/rayctl.py).
export RAY_worker_niceness="${RAY_worker_niceness:-0}"

if [[ -n "${GANARENA_RAY_BIN:-}" ]]; then
  RAY_BIN="$GANARENA_RAY_BIN"
elif [[ -x "$ROOT/.venv/bin/ray" ]]; then
  RAY_BIN="$ROOT/.venv/bin/ray"
else
  RAY_BIN="$(command -v ray || true)"
fi
[[ -n "$RAY_BIN" && -x "$RAY_BIN" ]] || { echo "error: no 'ray' executable found (make venv, or set GANARENA_RAY_BIN)" >&2; exit 2; }
BIN_DIR="$(cd "$(dirname "$RAY_BIN")" && pwd)"
PY="$BIN_DIR/python"
# Job entrypoints (`python ...`, `ganarena ...`) run with the raylet's PATH: put this
# environment's bin first so they resolve to the same installation as Ray itself.
export PATH="$BIN_DIR:$PATH"

RAY_TMP="$STATE_DIR/ray"            # head node's Ray temp dir
RAY_TMP_WORKER="$STATE_DIR/ray-w"   # worker node's: see the note at `ray start --address` below
LOG_DIR="$STATE_DIR/logs"
MLFLOW_DIR="$STATE_DIR/mlflow"
DASHBOARD_URL="http://127.0.0.1:$DASHBOARD_PORT"
MLFLOW_URL="http://127.0.0.1:$MLFLOW_PORT"

say() { printf '[local.sh] %s\n' "$*"; }
die() { printf '[local.sh] error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=cluster/postgres.sh
source "$ROOT/cluster/postgres.sh"

# --- process bookkeeping: one session per component, its id in $STATE_DIR/<name>.sid ----------

session_pids() {  # live (not zombie) pids in session $1
  ps -eo pid=,sid=,stat= | awk -v s="$1" '$2 == s && $3 !~ /^Z/ { print $1 }'
}

component_alive() {  # true if the recorded session of component $1 still has processes
  local f="$STATE_DIR/$1.sid" sid
  [[ -f "$f" ]] || return 1
  sid="$(cat "$f")"
  [[ -n "$(session_pids "$sid")" ]]
}

start_in_session() {  # start_in_session NAME LOGFILE CMD...: run CMD in a new session, record its id
  local name="$1" log="$2"; shift 2
  # `setsid` makes the wrapper bash the session leader, so its pid ($$) is the session id that
  # every process started below it (Ray daemons, workers, agents) inherits.
  setsid --wait bash -c 'echo $$ > "$0"; exec "$@"' "$STATE_DIR/$name.sid" "$@" >>"$log" 2>&1 </dev/null
}

start_in_session_bg() {  # like start_in_session, for a server that does not daemonize itself
  local name="$1" log="$2"; shift 2
  rm -f "$STATE_DIR/$name.sid"
  setsid bash -c 'echo $$ > "$0"; exec "$@"' "$STATE_DIR/$name.sid" "$@" >>"$log" 2>&1 </dev/null &
  local i
  for i in $(seq 50); do [[ -s "$STATE_DIR/$name.sid" ]] && return 0; sleep 0.1; done
  die "could not start $name; see $log"
}

stop_components() {  # stop_components NAME...: SIGTERM their sessions together, wait, SIGKILL the rest
  local name sid sids=() pids waited=0
  for name in "$@"; do
    [[ -f "$STATE_DIR/$name.sid" ]] || continue
    sid="$(cat "$STATE_DIR/$name.sid")"
    pids="$(session_pids "$sid" | tr '\n' ' ')"
    if [[ -n "${pids// /}" ]]; then
      say "stopping $name (session $sid: $(wc -w <<<"$pids") processes)"
      # shellcheck disable=SC2086
      kill -TERM $pids 2>/dev/null || true
      sids+=("$sid")
    fi
  done
  all_pids() { local s; for s in "${sids[@]}"; do session_pids "$s"; done; }
  if (( ${#sids[@]} )); then
    while [[ -n "$(all_pids)" && $waited -lt $((STOP_GRACE * 5)) ]]; do
      sleep 0.2; waited=$((waited + 1))
    done
    pids="$(all_pids | tr '\n' ' ')"
    if [[ -n "${pids// /}" ]]; then
      # Ray's GCS may hang flushing events after SIGTERM; nothing of value is lost here.
      say "$(wc -w <<<"$pids") processes still running after ${STOP_GRACE}s; sending SIGKILL"
      # shellcheck disable=SC2086
      kill -KILL $pids 2>/dev/null || true
    fi
  fi
  for name in "$@"; do rm -f "$STATE_DIR/$name.sid"; done
}

port_in_use() {  # something is listening on 127.0.0.1:$1 (or on all interfaces)
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

probe() {  # probe ok|nodes URL: "ok": exit 0 if URL answers 2xx; "nodes": print "<n> <node_* resources>"
  # of the ALIVE nodes from the dashboard's state API. Sends the Ray token when token auth is on.
  "$PY" - "$@" <<'EOF' 2>/dev/null
import json, os, sys, urllib.request
mode, url = sys.argv[1], sys.argv[2]
req = urllib.request.Request(url)
if os.environ.get("RAY_AUTH_MODE", "").lower() == "token":
    token = os.environ.get("RAY_AUTH_TOKEN")
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or os.path.expanduser("~/.ray/auth_token")
    if not token and os.path.isfile(path):
        token = open(path).read().strip()
    if token:
        req.add_header("Authorization", "Bearer " + token)
try:
    with urllib.request.urlopen(req, timeout=5) as r:
        body = r.read()
except Exception:
    sys.exit(1)
if mode == "nodes":
    nodes = json.loads(body)["data"]["result"]["result"]
    alive = [n for n in nodes if n.get("state") == "ALIVE"]
    names = sorted({k for n in alive for k in n.get("resources_total", {}) if k.startswith("node_")})
    print(len(alive), " ".join(names))
EOF
}

wait_until() {  # wait_until WHAT CMD...: poll CMD until it succeeds or READY_TIMEOUT passes
  local what="$1"; shift
  local deadline=$((SECONDS + READY_TIMEOUT))
  until "$@"; do
    (( SECONDS < deadline )) || return 1
    sleep 0.5
  done
  say "$what ready"
}

two_nodes_alive() {
  local out
  out="$(probe nodes "$DASHBOARD_URL/api/v0/nodes?limit=100&detail=true")" || return 1
  [[ "$out" == "2 node_head node_worker" ]]
}

# --- token authentication ---------------------------------------------------------------------

setup_auth() {  # setup_auth [--generate]: find (or generate) the token when RAY_AUTH_MODE=token
  case "${RAY_AUTH_MODE,,}" in
    disabled) ;;
    token)
      if [[ -z "${RAY_AUTH_TOKEN:-}" && -z "${RAY_AUTH_TOKEN_PATH:-}" ]]; then
        export RAY_AUTH_TOKEN_PATH="$STATE_DIR/auth_token"
        if [[ ! -s "$RAY_AUTH_TOKEN_PATH" && "${1:-}" == --generate ]]; then
          (umask 077 && "$PY" -c 'import secrets; print(secrets.token_hex(32))' >"$RAY_AUTH_TOKEN_PATH")
          say "generated a Ray auth token in $RAY_AUTH_TOKEN_PATH (mode 600)"
        fi
      fi
      ;;
    *) echo "error: RAY_AUTH_MODE must be 'disabled' or 'token' (got '$RAY_AUTH_MODE')" >&2; exit 2 ;;
  esac
}

# --- commands ---------------------------------------------------------------------------------

cmd_up() {
  local with_mlflow=0 arg
  for arg in "$@"; do
    case "$arg" in
      --with-mlflow) with_mlflow=1 ;;
      *) echo "error: unknown option for 'up': $arg (allowed: --with-mlflow)" >&2; exit 2 ;;
    esac
  done
  mkdir -p "$STATE_DIR" "$LOG_DIR"
  setup_auth --generate

  if component_alive head || component_alive worker; then
    say "already running (state in $STATE_DIR); use 'status' or 'down' first"
    cmd_status || true
    return 0
  fi
  local p
  for p in "$RAY_PORT" "$CLIENT_PORT" "$DASHBOARD_PORT"; do
    port_in_use "$p" && die "port $p is already in use (another Ray?); choose others with GANARENA_RAY_PORT / GANARENA_RAY_CLIENT_PORT / GANARENA_DASHBOARD_PORT"
  done
  if (( with_mlflow )); then
    port_in_use "$MLFLOW_PORT" && die "port $MLFLOW_PORT is already in use; choose another with GANARENA_MLFLOW_PORT"
  fi

  local t0=$SECONDS obj_bytes=$((OBJECT_STORE_MB * 1024 * 1024))
  # Cluster-wide defaults that job drivers inherit from the raylets: checkpoint storage every node reaches
  # (ganarena's --storage-path default), the runs folder (--workdir default) and, with --with-mlflow, the
  # tracking server; so `ray job submit ... -- ganarena train CONFIG --workers 2` needs no flags.
  export GANARENA_STORAGE="${GANARENA_STORAGE:-$STATE_DIR/storage}"
  export GANARENA_HOME="${GANARENA_HOME:-$STATE_DIR/runs}"
  (( with_mlflow )) && export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-$MLFLOW_URL}"
  say "RAY_AUTH_MODE=$RAY_AUTH_MODE; state in $STATE_DIR; ray = $RAY_BIN"

  if (( with_mlflow )); then
    # Started first (in the background) so it boots while Ray does.
    mkdir -p "$MLFLOW_DIR/artifacts" "$LOG_DIR"
    local backend="sqlite:///$MLFLOW_DIR/mlflow.db"
    case "$MLFLOW_BACKEND" in
      postgresql) pg_up; backend="$(pg_uri)"; export PGPASSWORD="$PG_PASSWORD" ;;  # for MLflow's server only
      sqlite) ;;
      *) die "GANARENA_MLFLOW_BACKEND=$MLFLOW_BACKEND (allowed: postgresql, sqlite)" ;;
    esac
    say "starting MLflow server on $MLFLOW_URL ($MLFLOW_BACKEND backend, artifacts in $MLFLOW_DIR/artifacts)"
    # Server-side job execution (GenAI evaluation jobs; 8 extra `huey` processes, ~1.3 GiB) is
    # not needed for tracking: turned off. Telemetry off: offline here, and MLflow 3.17's telemetry
    # thread edits os.environ while the server copies it (seen: KeyError at start-up).
    start_in_session_bg mlflow "$LOG_DIR/mlflow.log" \
      env MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false MLFLOW_DISABLE_TELEMETRY=true \
      "$BIN_DIR/mlflow" server \
        --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1 \
        --backend-store-uri "$backend" \
        --artifacts-destination "$MLFLOW_DIR/artifacts"
    unset PGPASSWORD
  fi

  say "starting head node: GCS port $RAY_PORT, $HEAD_CPUS CPU, resource node_head, dashboard $DASHBOARD_HOST:$DASHBOARD_PORT"
  # Ray's state API (Train's placement-group cleaner calls it from its own actor) looks for the cluster in
  # /tmp/ray when nothing names it, and with another Ray instance on the machine (a test suite's, a second
  # cluster) it gives up ("Found multiple active Ray instances"): a killed job's placement groups then stay
  # reserved and the next job's workers never start. Every process of both nodes is told where it is.
  start_in_session head "$LOG_DIR/head.log" env RAY_API_SERVER_ADDRESS="$DASHBOARD_URL" "$RAY_BIN" start --head \
      --port="$RAY_PORT" --ray-client-server-port="$CLIENT_PORT" \
      --num-cpus="$HEAD_CPUS" --num-gpus=0 --resources='{"node_head": 1}' \
      --dashboard-host="$DASHBOARD_HOST" --dashboard-port="$DASHBOARD_PORT" \
      --dashboard-agent-listen-port=0 --min-worker-port=0 --max-worker-port=0 \
      --object-store-memory="$obj_bytes" --temp-dir="$RAY_TMP" --disable-usage-stats \
    || { cmd_down >/dev/null 2>&1 || true; die "head node failed to start; see $LOG_DIR/head.log"; }

  # The second raylet on the same host: its node-manager/object-manager ports are random by
  # default, but the dashboard agent's HTTP port defaults to a fixed 52365 (taken by the head's
  # agent), so it is set to 0 (random) on both nodes; worker ports likewise.
  # Its own --temp-dir is required too, although it starts fine without one (it would then use
  # the head's session dir): each node's runtime-env agent deletes a job's working_dir copy in
  # <temp-dir>/session_*/runtime_resources when the last worker using it *on that node* exits.
  # With one shared dir, an actor ending on the worker node deleted the directory the job driver
  # on the head runs in (seen: `ganarena sweep` died with FileNotFoundError from os.getcwd()).
  say "starting worker node: $WORKER_CPUS CPU, $WORKER_GPUS GPU, resource node_worker"
  start_in_session worker "$LOG_DIR/worker.log" env RAY_API_SERVER_ADDRESS="$DASHBOARD_URL" "$RAY_BIN" start \
      --address="127.0.0.1:$RAY_PORT" \
      --num-cpus="$WORKER_CPUS" --num-gpus="$WORKER_GPUS" --resources='{"node_worker": 1}' \
      --dashboard-agent-listen-port=0 --min-worker-port=0 --max-worker-port=0 \
      --object-store-memory="$obj_bytes" --temp-dir="$RAY_TMP_WORKER" --disable-usage-stats \
    || { cmd_down >/dev/null 2>&1 || true; die "worker node failed to start; see $LOG_DIR/worker.log"; }

  wait_until "dashboard" probe ok "$DASHBOARD_URL/api/version" \
    || { cmd_down >/dev/null 2>&1 || true; die "dashboard did not answer on $DASHBOARD_URL; see $RAY_TMP/session_latest/logs/dashboard.log"; }
  wait_until "2 nodes" two_nodes_alive \
    || { cmd_down >/dev/null 2>&1 || true; die "the cluster did not reach 2 alive nodes; see $LOG_DIR"; }
  if (( with_mlflow )); then
    wait_until "MLflow" probe ok "$MLFLOW_URL/health" \
      || { cmd_down >/dev/null 2>&1 || true; die "MLflow did not answer on $MLFLOW_URL; see $LOG_DIR/mlflow.log"; }
  fi

  {
    echo "RAY_ADDRESS=127.0.0.1:$RAY_PORT"
    echo "RAY_API_SERVER_ADDRESS=$DASHBOARD_URL"
    echo "RAY_AUTH_MODE=$RAY_AUTH_MODE"
    echo "GANARENA_STORAGE=$GANARENA_STORAGE"
    echo "GANARENA_HOME=$GANARENA_HOME"
    [[ -n "${RAY_AUTH_TOKEN_PATH:-}" ]] && echo "RAY_AUTH_TOKEN_PATH=$RAY_AUTH_TOKEN_PATH"
    (( with_mlflow )) && echo "MLFLOW_TRACKING_URI=$MLFLOW_URL"
  } >"$STATE_DIR/env"
  say "up in $((SECONDS - t0)) s"
  say "dashboard / job API:  $DASHBOARD_URL"
  (( with_mlflow )) && say "MLflow:               $MLFLOW_URL"
  say "submit:  RAY_AUTH_MODE=$RAY_AUTH_MODE ray job submit --address $DASHBOARD_URL --working-dir . -- <command>"
  say "(the client settings are also in $STATE_DIR/env)"
}

cmd_down() {
  local purge=0 arg
  for arg in "$@"; do
    case "$arg" in
      --purge) purge=1 ;;
      *) echo "error: unknown option for 'down': $arg (allowed: --purge)" >&2; exit 2 ;;
    esac
  done
  local t0=$SECONDS
  [[ -d "$STATE_DIR" ]] || { say "nothing to stop ($STATE_DIR does not exist)"; return 0; }
  stop_components worker head mlflow
  stop_components postgres  # after MLflow, its only client: a fast, clean shutdown
  # Job drivers run in their own session (Ray's JobSupervisor uses start_new_session); Ray kills
  # them within ~1 s of their supervisor's death. Catch any straggler that still names our
  # temp dir on its command line.
  local left
  left="$( (pgrep -f -- "--temp-dir=$RAY_TMP( |$)"; pgrep -f -- "--temp-dir=$RAY_TMP_WORKER( |$)") || true)"
  if [[ -n "$left" ]]; then
    say "killing $(wc -w <<<"$left") leftover processes of $STATE_DIR"
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null || true
  fi
  rm -f "$STATE_DIR/env"
  if (( purge )); then
    rm -rf "$STATE_DIR"
    say "removed $STATE_DIR"
  fi
  say "down in $((SECONDS - t0)) s"
}

cmd_status() {
  local rc=0 name sid
  setup_auth
  for name in head worker mlflow postgres; do
    if component_alive "$name"; then
      sid="$(cat "$STATE_DIR/$name.sid")"
      say "$name: running (session $sid, $(session_pids "$sid" | wc -l) processes)"
    elif [[ "$name" != mlflow && "$name" != postgres ]]; then
      say "$name: not running"; rc=3
    fi
  done
  if component_alive head; then
    say "dashboard / job API: $DASHBOARD_URL   RAY_AUTH_MODE=$RAY_AUTH_MODE"
    component_alive mlflow && say "MLflow: $MLFLOW_URL"
    "$RAY_BIN" list nodes --address "$DASHBOARD_URL" 2>/dev/null \
      || say "(ray list nodes failed; is the dashboard up?)"
    "$RAY_BIN" status --address "127.0.0.1:$RAY_PORT" 2>/dev/null | sed -n '/^Resources/,$p' || true
  fi
  return $rc
}

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down "$@" ;;
  status) shift; cmd_status "$@" ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
