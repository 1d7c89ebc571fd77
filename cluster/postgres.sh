# cluster/postgres.sh — sourced by local.sh: the PostgreSQL server behind `up --with-mlflow`'s MLflow.
#
# Debian's `postgresql` binaries (/usr/lib/postgresql/<version>/bin, or GANARENA_PG_BIN), a data directory of
# its own in $STATE_DIR/postgres, TCP on 127.0.0.1:$PG_PORT only (no unix socket), password authentication
# (scram-sha-256) for the role `ganarena`, whose generated password is kept in $STATE_DIR/postgres.pw (0600)
# and reaches MLflow through PGPASSWORD, never a command line. As root the server runs as the `postgres`
# user (PostgreSQL refuses root), which must be able to enter $STATE_DIR (local.sh makes it traversable).
# Needs: say, die, cmd_down, start_in_session_bg, wait_until, port_in_use, STATE_DIR, LOG_DIR (local.sh).

PG_PORT="${GANARENA_PG_PORT:-5433}"
PG_DIR="$STATE_DIR/postgres"
PG_PASSFILE="$STATE_DIR/postgres.pw"
PG_USER=ganarena
PG_DB=mlflow

pg_bindir() {  # the directory of initdb / postgres / pg_isready / createdb
  if [[ -n "${GANARENA_PG_BIN:-}" ]]; then echo "$GANARENA_PG_BIN"; return; fi
  local d
  d="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -1)"
  echo "${d:-}"
}

pg_as_owner() {  # run a PostgreSQL program as the user the server runs as
  if [[ "$(id -u)" == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_accepting() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; }

pg_uri() { echo "postgresql+psycopg2://$PG_USER@127.0.0.1:$PG_PORT/$PG_DB"; }

pg_fail() { cmd_down >/dev/null 2>&1 || true; die "$@"; }  # once the server runs: stop what started

pg_up() {  # initialise (first time) and start the server, create the MLflow database; sets PG_PASSWORD
  PG_BIN="$(pg_bindir)"
  [[ -n "$PG_BIN" && -x "$PG_BIN/postgres" ]] || die "MLflow's database needs PostgreSQL: sudo apt-get install -y postgresql (or GANARENA_PG_BIN=<its bin dir>; or GANARENA_MLFLOW_BACKEND=sqlite)"
  port_in_use "$PG_PORT" && die "port $PG_PORT is already in use; choose another with GANARENA_PG_PORT"
  if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || die "running as root, PostgreSQL needs the 'postgres' user (installed with Debian's postgresql)"
    chmod o+x "$STATE_DIR"
    runuser -u postgres -- test -x "$STATE_DIR" \
      || die "the postgres user cannot enter $STATE_DIR (a parent folder is private); set GANARENA_CLUSTER_DIR under /tmp"
  fi
  if [[ ! -s "$PG_DIR/data/PG_VERSION" ]]; then
    say "initialising PostgreSQL in $PG_DIR (role $PG_USER, password in $PG_PASSFILE)"
    (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$PG_PASSFILE")
    mkdir -p "$PG_DIR"
    [[ "$(id -u)" == 0 ]] && chown postgres: "$PG_DIR"
    chmod 700 "$PG_DIR"
    local pw="$PG_DIR/initdb.pw"
    (umask 077; cp "$PG_PASSFILE" "$pw")
    [[ "$(id -u)" == 0 ]] && chown postgres: "$pw"
    pg_as_owner "$PG_BIN/initdb" -D "$PG_DIR/data" -U "$PG_USER" --pwfile="$pw" --auth=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >>"$LOG_DIR/postgres.log" 2>&1 \
      || { rm -f "$pw"; die "initdb failed; see $LOG_DIR/postgres.log"; }
    rm -f "$pw"
  fi
  PG_PASSWORD="$(cat "$PG_PASSFILE")"  # exported by local.sh to MLflow's server alone
  say "starting PostgreSQL on 127.0.0.1:$PG_PORT (data in $PG_DIR/data)"
  start_in_session_bg postgres "$LOG_DIR/postgres.log" \
    bash -c 'if [[ "$(id -u)" == 0 ]]; then exec runuser -u postgres -- "$@"; else exec "$@"; fi' _ \
      "$PG_BIN/postgres" -D "$PG_DIR/data" -p "$PG_PORT" -c listen_addresses=127.0.0.1 \
        -c unix_socket_directories= -c max_connections=200
  wait_until "PostgreSQL" pg_accepting || pg_fail "PostgreSQL did not accept connections on 127.0.0.1:$PG_PORT; see $LOG_DIR/postgres.log"
  if ! PGPASSWORD="$PG_PASSWORD" "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
    PGPASSWORD="$PG_PASSWORD" "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "$PG_DB" \
      || pg_fail "could not create the database $PG_DB; see $LOG_DIR/postgres.log"
  fi
}
