# shellcheck shell=bash
# Schemathesis against the api function's served OpenAPI description, for infra/test.
#
# run_schemathesis RUN_DIR SECONDS: builds the local runner, provisions its own
# resources (prefix st<pid>) on the already started redis-server/moto_server, serves
# HTTP only, runs `st run` for at most SECONDS with an admin token and the check of
# infra/schemathesis/hooks.py (no 5xx except the 500s docs/rest-api.md documents), then
# stops the runner. Returns schemathesis' status (non-zero when it found a failure).
# Source after stack.sh; needs REDIS_URL and AWS_ENDPOINT_URL exported.

ensure_schemathesis() {
  if [ ! -x "$VENV_DIR/bin/st" ]; then
    say "installing schemathesis into the venv"
    "$VENV_DIR/bin/python" -m pip install --quiet --disable-pip-version-check schemathesis >&2
  fi
}

run_schemathesis() {
  local dir="$1" seconds="$2" runner prefix token port="" i status=0
  ensure_schemathesis
  runner="$(cd "$RHOSYNC_ROOT" && cargo build -q -p rhosync-local --message-format=json-render-diagnostics |
    python3 -c 'import json, sys
path = ""
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "rhosync-local" and msg.get("executable"):
        path = msg["executable"]
print(path)')"
  [ -n "$runner" ] && [ -x "$runner" ] || { say "schemathesis: the local runner did not build"; return 1; }
  prefix="st$$"
  token="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  mkdir -p "$dir"
  (
    export RHOSYNC_SETTINGS="$RHOSYNC_ROOT/infra/demo/settings.yml"
    RHOCONNECT_SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
    export RHOCONNECT_SECRET API_TOKEN="$token" RHOSYNC_REDIS_NAMESPACE="$prefix"
    eval "$("$runner" provision --prefix "$prefix")"
    cd "$RHOSYNC_ROOT" && exec "$runner" serve --bind 127.0.0.1:0 --no-consumers --port-file "$dir/st-port"
  ) >"$dir/st-runner.log" 2>&1 </dev/null &
  echo "$!" >"$dir/runner.pid"
  for i in $(seq 1 300); do
    if [ -s "$dir/st-port" ]; then port="$(cat "$dir/st-port")"; break; fi
    kill -0 "$(cat "$dir/runner.pid")" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$port" ]; then
    say "schemathesis: the runner did not start (see $dir/st-runner.log)"
    stop_pidfile "$dir/runner.pid" rhosync-local
    return 1
  fi
  say "schemathesis: fuzzing http://127.0.0.1:$port/rc/v1/openapi.json for up to ${seconds}s"
  # Run from the run directory so schemathesis' caches stay out of the checkout.
  # filter_too_much: for operations with several path parameters schemathesis throws away
  # most generated values (those that cannot form a path segment) and now and then calls its
  # own generator unhealthy; that says nothing about the server, so that check is off.
  (cd "$dir" && PYTHONPATH="$RHOSYNC_ROOT/infra/schemathesis" PYTHONDONTWRITEBYTECODE=1 \
    SCHEMATHESIS_HOOKS=hooks timeout --kill-after=10 "$((seconds + 30))" "$VENV_DIR/bin/st" run \
      "http://127.0.0.1:$port/rc/v1/openapi.json" \
      --header "X-RhoConnect-API-TOKEN: $token" \
      --checks no_undocumented_server_error \
      --suppress-health-check filter_too_much \
      --max-time "$seconds" --request-timeout 10 --workers 2 \
      --no-color) >"$dir/schemathesis.log" 2>&1 || status=$?
  stop_pidfile "$dir/runner.pid" rhosync-local
  tail -n 25 "$dir/schemathesis.log" >&2
  if [ "$status" -eq 0 ]; then
    say "schemathesis: no undocumented server error"
  else
    say "schemathesis: FAILED (exit $status; full log: $dir/schemathesis.log)"
    cp "$dir/schemathesis.log" "$LOCAL_DIR/schemathesis-last.log" 2>/dev/null || true
  fi
  return "$status"
}
