# shellcheck shell=bash
# Helpers shared by infra/dev and infra/test: install the local tools, pick ports,
# start/stop redis-server (one node, a three-master cluster, a TLS node) and moto_server,
# and reap leftovers through pid files.
#
# Source this file from a script that already runs with `set -euo pipefail`.
# Nothing in here prints to stdout except where a function says so; progress
# messages go to stderr through `say`.

RHOSYNC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LOCAL_DIR="$RHOSYNC_ROOT/.local"
VENV_DIR="$LOCAL_DIR/venv"
RUN_ROOT="$LOCAL_DIR/run"

say() { printf '%s\n' "[rhosync] $*" >&2; }
die() { say "error: $*"; exit 1; }

# Run a command as root: directly when we are root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# --- installation (idempotent; only what is missing) ------------------------

ensure_redis() {
  if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    return 0
  fi
  say "installing redis-server (apt)"
  as_root apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >&2
  # Debian's package may start a system-wide instance on 6379; we never use it.
}

# Python tools in .local/venv: moto_server, cfn-lint, cargo-lambda.
ensure_venv() {
  local want=() bin pkg
  if [ ! -x "$VENV_DIR/bin/python" ]; then
    say "creating python venv in ${VENV_DIR#"$RHOSYNC_ROOT"/}"
    python3 -m venv "$VENV_DIR"
  fi
  for pair in "moto_server:moto[server]" "cfn-lint:cfn-lint" "cargo-lambda:cargo-lambda"; do
    bin="${pair%%:*}"
    pkg="${pair#*:}"
    [ -x "$VENV_DIR/bin/$bin" ] || want+=("$pkg")
  done
  if [ "${#want[@]}" -gt 0 ]; then
    say "installing into the venv: ${want[*]}"
    "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check "${want[@]}" >&2
  fi
}

# Put the venv's tools (moto_server, cfn-lint, cargo-lambda, zig) on PATH.
use_venv() {
  case ":$PATH:" in
    *":$VENV_DIR/bin:"*) ;;
    *) export PATH="$VENV_DIR/bin:$PATH" ;;
  esac
}

ensure_tools() {
  command -v python3 >/dev/null 2>&1 || die "python3 is required"
  command -v cargo >/dev/null 2>&1 || die "cargo (Rust) is required"
  command -v curl >/dev/null 2>&1 || die "curl is required"
  ensure_redis
  ensure_venv
  use_venv
}

# What the console's browser tests need (docs/console.md §6): node and npm, Debian's
# chromium, and tests/browser's npm packages (playwright-core) installed with `npm ci`
# from the committed lockfile. Only what is missing; the packages again when the
# lockfile changed since the last install.
ensure_browser_tools() {
  local missing=() dir="$RHOSYNC_ROOT/tests/browser"
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]} (apt)"
    as_root apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  fi
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    say "installing the browser tests' npm packages (npm ci in tests/browser)"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) >&2
  fi
}

# Adds rustup components (rustfmt, clippy) the toolchain lacks.
ensure_rust_components() {
  local missing=()
  local c
  for c in "$@"; do
    case "$c" in
      rustfmt) cargo fmt --version >/dev/null 2>&1 || missing+=("$c") ;;
      clippy) cargo clippy --version >/dev/null 2>&1 || missing+=("$c") ;;
    esac
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v rustup >/dev/null 2>&1 || die "cargo ${missing[*]} missing and no rustup to add them"
  say "adding rust components: ${missing[*]}"
  rustup component add "${missing[@]}" >&2
}

# --- ports --------------------------------------------------------------------

# Print a port the kernel considers free on 127.0.0.1.
free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Succeeds when nothing listens on 127.0.0.1:$1 (and we may bind it).
port_is_free() {
  python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket()
# Like the servers we start: a port with only TIME_WAIT connections counts as free.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
PY
}

# --- processes ----------------------------------------------------------------

# True if pid $1 is alive and its command line contains $2.
pid_matches() {
  local pid="$1" pattern="$2"
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern"
}

# Stop pid $1 (only if its command line contains $2): TERM, wait up to 10 s, then KILL.
stop_pid() {
  local pid="$1" pattern="$2" i
  pid_matches "$pid" "$pattern" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 100); do
    pid_matches "$pid" "$pattern" || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  for i in $(seq 1 20); do
    pid_matches "$pid" "$pattern" || return 0
    sleep 0.1
  done
}

# Stop whatever a pid file names (if it still is the expected program), then remove the file.
stop_pidfile() {
  local file="$1" pattern="$2"
  [ -f "$file" ] || return 0
  stop_pid "$(cat "$file" 2>/dev/null || true)" "$pattern"
  rm -f "$file"
}

# Stop everything recorded under one run directory and remove the directory.
stop_run_dir() {
  local dir="$1"
  [ -d "$dir" ] || return 0
  stop_pidfile "$dir/runner.pid" rhosync-local
  stop_pidfile "$dir/fake-apns.pid" rhosync-local
  stop_pidfile "$dir/moto.pid" moto_server
  stop_pidfile "$dir/redis.pid" redis-server
  local f
  for f in "$dir"/redis-cluster/*/redis.pid "$dir"/redis-tls/redis.pid; do
    [ -f "$f" ] && stop_pidfile "$f" redis-server
  done
  rm -rf "$dir"
}

# --- redis-server ---------------------------------------------------------------

# start_redis DIR: start a throw-away redis-server on a free port, state under DIR.
# Sets REDIS_PORT and REDIS_PID, exports REDIS_URL.
start_redis() {
  local dir i
  dir="$(mkdir -p "$1" && cd "$1" && pwd)"  # absolute: redis-server chdirs to --dir
  REDIS_PORT="$(free_port)"
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --daemonize yes \
    --save '' --appendonly no \
    --pidfile "$dir/redis.pid" --dir "$dir" --logfile "$dir/redis.log" >/dev/null
  for i in $(seq 1 100); do
    if [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && [ -s "$dir/redis.pid" ]; then
      REDIS_PID="$(cat "$dir/redis.pid")"
      export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/"
      return 0
    fi
    sleep 0.1
  done
  die "redis-server did not answer on port $REDIS_PORT (see $dir/redis.log)"
}

# Wait (up to 10 s) until redis-cli "$@" ping answers PONG.
wait_redis_ping() {
  local i
  for i in $(seq 1 100); do
    [ "$(redis-cli "$@" ping 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  return 1
}

# Print a free port whose cluster bus port (port + 10000) is free too.
free_cluster_port() {
  local port i
  for i in $(seq 1 50); do
    port="$(free_port)"
    if [ "$port" -lt 55536 ] && port_is_free $((port + 10000)); then
      echo "$port"
      return 0
    fi
  done
  die "no free port pair (port, port + 10000) for a cluster node"
}

# start_redis_cluster DIR: a throw-away Redis Cluster of three masters (no replicas) on
# free ports, state under DIR/redis-cluster/PORT. Waits for cluster_state:ok on every node.
# Sets REDIS_CLUSTER_PORTS, exports REDIS_CLUSTER_URL (redis+cluster://…, the form the Redis
# edge reads as cluster mode; docs/configuration.md §2).
start_redis_cluster() {
  local dir port node i ok
  dir="$(mkdir -p "$1/redis-cluster" && cd "$1/redis-cluster" && pwd)"
  REDIS_CLUSTER_PORTS=()
  for i in 1 2 3; do
    port="$(free_cluster_port)"
    node="$dir/$port"
    mkdir -p "$node"
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes \
      --cluster-enabled yes --cluster-config-file "$node/nodes.conf" --cluster-node-timeout 5000 \
      --save '' --appendonly no \
      --pidfile "$node/redis.pid" --dir "$node" --logfile "$node/redis.log" >/dev/null
    wait_redis_ping -h 127.0.0.1 -p "$port" || die "cluster node on port $port did not answer (see $node/redis.log)"
    REDIS_CLUSTER_PORTS+=("$port")
  done
  redis-cli --cluster create "${REDIS_CLUSTER_PORTS[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes \
    >"$dir/create.log" 2>&1 || die "redis-cli --cluster create failed (see $dir/create.log)"
  for i in $(seq 1 200); do
    ok=0
    for port in "${REDIS_CLUSTER_PORTS[@]}"; do
      redis-cli -h 127.0.0.1 -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' && ok=$((ok + 1))
    done
    if [ "$ok" -eq 3 ]; then
      export REDIS_CLUSTER_URL="redis+cluster://127.0.0.1:${REDIS_CLUSTER_PORTS[0]}/"
      return 0
    fi
    sleep 0.1
  done
  die "the Redis cluster on ports ${REDIS_CLUSTER_PORTS[*]} did not reach cluster_state:ok"
}

# start_redis_tls DIR: a throw-away redis-server that speaks only TLS, with a CA and a
# server certificate (for 127.0.0.1 and localhost) generated into DIR/redis-tls; clients
# are not asked for certificates. Sets REDIS_TLS_PORT, exports REDIS_TLS_URL (rediss://…)
# and REDIS_TLS_CA_FILE (the CA's PEM, what REDIS_CA_FILE must name to verify the server).
start_redis_tls() {
  local dir
  dir="$(mkdir -p "$1/redis-tls" && cd "$1/redis-tls" && pwd)"
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=rhosync test CA" \
      -keyout ca.key -out ca.crt
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" "basicConstraints=CA:FALSE" \
      "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 \
      -extfile server.ext -out server.crt
  ) >"$dir/openssl.log" 2>&1 || die "generating the TLS test certificates failed (see $dir/openssl.log)"
  REDIS_TLS_PORT="$(free_port)"
  redis-server --port 0 --tls-port "$REDIS_TLS_PORT" --bind 127.0.0.1 --daemonize yes \
    --tls-cert-file "$dir/server.crt" --tls-key-file "$dir/server.key" --tls-ca-cert-file "$dir/ca.crt" \
    --tls-auth-clients no --save '' --appendonly no \
    --pidfile "$dir/redis.pid" --dir "$dir" --logfile "$dir/redis.log" >/dev/null
  wait_redis_ping --tls --cacert "$dir/ca.crt" -h 127.0.0.1 -p "$REDIS_TLS_PORT" \
    || die "TLS redis-server did not answer on port $REDIS_TLS_PORT (see $dir/redis.log)"
  export REDIS_TLS_URL="rediss://127.0.0.1:$REDIS_TLS_PORT/"
  export REDIS_TLS_CA_FILE="$dir/ca.crt"
}

# --- moto_server (AWS emulator: SQS, DynamoDB, S3) --------------------------------

# start_moto DIR [PREFERRED_PORT]: start moto_server in the background, state under DIR.
# Uses PREFERRED_PORT when it is free, else a free port. Sets MOTO_PORT and MOTO_PID,
# exports the AWS_* variables the functions and the runner read.
start_moto() {
  local dir="$1" preferred="${2:-}" i
  mkdir -p "$dir"
  if [ -n "$preferred" ] && port_is_free "$preferred"; then
    MOTO_PORT="$preferred"
  else
    MOTO_PORT="$(free_port)"
  fi
  # setsid: its own session, so a terminal's Ctrl-C reaches only us; we stop it ourselves.
  # infra/lib/moto-server is moto_server with DynamoDB calls taken one at a time.
  RHOSYNC_VENV="$VENV_DIR" setsid "$RHOSYNC_ROOT/infra/lib/moto-server" -H 127.0.0.1 -p "$MOTO_PORT" \
    >"$dir/moto.log" 2>&1 </dev/null &
  MOTO_PID=$!
  echo "$MOTO_PID" >"$dir/moto.pid"
  for i in $(seq 1 300); do
    if curl -s -o /dev/null "http://127.0.0.1:$MOTO_PORT/moto-api/"; then
      export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
      export AWS_REGION=us-east-1
      export AWS_DEFAULT_REGION=us-east-1
      export AWS_ACCESS_KEY_ID=test
      export AWS_SECRET_ACCESS_KEY=test
      return 0
    fi
    kill -0 "$MOTO_PID" 2>/dev/null || die "moto_server exited (see $dir/moto.log)"
    sleep 0.1
  done
  die "moto_server did not answer on port $MOTO_PORT (see $dir/moto.log)"
}

# Reap run directories left by earlier infra/test runs whose script is gone
# (their directory name ends with the script's pid).
reap_stale_test_dirs() {
  local dir owner
  for dir in "$RUN_ROOT"/test.*; do
    [ -d "$dir" ] || continue
    owner="${dir##*.}"
    if ! kill -0 "$owner" 2>/dev/null; then
      stop_run_dir "$dir"
    fi
  done
}
