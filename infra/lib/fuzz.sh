# shellcheck shell=bash
# cargo-fuzz targets of shared/fuzz/ (docs/fuzzing.md), for infra/fuzz and infra/test.
#
# fuzz_nightly_ready: true when the nightly toolchain is installed.
# fuzz_toolchain_ready: true when the nightly toolchain and cargo-fuzz are both installed.
# ensure_cargo_fuzz: installs cargo-fuzz from crates.io when it is missing.
# run_fuzz_targets SECONDS LOG_DIR [TARGET...]: builds every target in one `cargo fuzz build`,
#   then runs each target (all of them by default) for SECONDS in one process, printing one
#   line per target to stderr: executions, exec/s, crashes and the crash input libFuzzer
#   saved. Returns non-zero when a target crashed or did not build.
#   RHOSYNC_FUZZ_RUNS=N also stops each target after N executions (whichever comes first);
#   RHOSYNC_FUZZ_PARALLEL=P runs up to P targets at once (default 1: the CPU is shared).
#   RHOSYNC_FUZZ_PROFILE=dev builds with cargo's dev profile (`cargo fuzz build --dev`): a cold
#   build costs a fraction of the release one and a target runs several times slower, which
#   suits the few seconds infra/test gives each; the default, release, is for long runs.
# Source after stack.sh (say, RHOSYNC_ROOT).

FUZZ_DIR="$RHOSYNC_ROOT/shared/fuzz"
# Safe Rust needs no AddressSanitizer; without it a target runs several times faster.
# Debug assertions stay on, so arithmetic overflow is a crash too.
FUZZ_BUILD_FLAGS=(--fuzz-dir "$FUZZ_DIR" --sanitizer none --debug-assertions)

# The build flags and the binaries' profile directory for RHOSYNC_FUZZ_PROFILE.
fuzz_profile_flags() {
  case "${RHOSYNC_FUZZ_PROFILE:-release}" in
    dev) printf '%s\n' "${FUZZ_BUILD_FLAGS[@]}" --dev ;;
    release) printf '%s\n' "${FUZZ_BUILD_FLAGS[@]}" ;;
    *) die "RHOSYNC_FUZZ_PROFILE must be dev or release, not ${RHOSYNC_FUZZ_PROFILE}" ;;
  esac
}

fuzz_profile_dir() {
  if [ "${RHOSYNC_FUZZ_PROFILE:-release}" = dev ]; then echo debug; else echo release; fi
}

fuzz_nightly_ready() {
  cargo +nightly --version >/dev/null 2>&1
}

fuzz_toolchain_ready() {
  fuzz_nightly_ready && cargo +nightly fuzz --version >/dev/null 2>&1
}

ensure_cargo_fuzz() {
  fuzz_nightly_ready || die "the nightly toolchain is required (rustup toolchain install nightly)"
  if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    say "installing cargo-fuzz (cargo install)"
    cargo install cargo-fuzz --locked >&2
  fi
}

fuzz_target_names() {
  (cd "$RHOSYNC_ROOT" && cargo +nightly fuzz list --fuzz-dir "$FUZZ_DIR")
}

# Where `cargo fuzz build` puts the target binaries (the profile's directory, host triple).
fuzz_bin_dir() {
  local host
  host="$(rustc +nightly -vV | sed -n 's/^host: //p')"
  printf '%s\n' "$FUZZ_DIR/target/$host/$(fuzz_profile_dir)"
}

# run_one_fuzz_target BIN_DIR SECONDS LOG_DIR TARGET: one libFuzzer process (no -jobs/-fork),
# the binary run directly so that no cargo invocation sits between the targets; the first
# crash stops it. Prints the target's line and writes its exit status to LOG_DIR/TARGET.status.
run_one_fuzz_target() {
  local bin_dir="$1" seconds="$2" log_dir="$3" target="$4" log runs rate crash status=0
  local extra=()
  log="$log_dir/$target.log"
  [ -z "${RHOSYNC_FUZZ_RUNS:-}" ] || extra+=(-runs="$RHOSYNC_FUZZ_RUNS")
  mkdir -p "$FUZZ_DIR/corpus/$target" "$FUZZ_DIR/artifacts/$target"
  if "$bin_dir/$target" -artifact_prefix="$FUZZ_DIR/artifacts/$target/" -max_total_time="$seconds" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${extra[@]}" "$FUZZ_DIR/corpus/$target" >"$log" 2>&1; then
    crash=""
  else
    crash="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
    [ -n "$crash" ] || crash="(exit status without a saved input; see ${log#"$RHOSYNC_ROOT"/})"
    status=1
  fi
  runs="$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)"
  [ -n "$runs" ] || runs="$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n 1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)"
  if [ -z "$crash" ]; then
    say "fuzz $target: ${runs:-0} executions (${rate:-?} exec/s), 0 crashes"
  else
    say "fuzz $target: ${runs:-0} executions (${rate:-?} exec/s), 1 crash: $crash"
  fi
  printf '%s\n' "$status" >"$log_dir/$target.status"
}

run_fuzz_targets() {
  local seconds="$1" log_dir="$2" status=0 target bin_dir running=0 started
  local parallel="${RHOSYNC_FUZZ_PARALLEL:-1}"
  shift 2
  local targets=("$@")
  if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(fuzz_target_names)
  fi
  mkdir -p "$log_dir"
  local flags
  mapfile -t flags < <(fuzz_profile_flags)
  say "fuzz: building ${#targets[@]} targets (nightly, one cargo fuzz build, ${RHOSYNC_FUZZ_PROFILE:-release} profile)"
  started=$SECONDS
  if ! (cd "$RHOSYNC_ROOT" && cargo +nightly fuzz build "${flags[@]}") >"$log_dir/build.log" 2>&1; then
    say "fuzz: the fuzz crate did not build (see ${log_dir#"$RHOSYNC_ROOT"/}/build.log)"
    return 1
  fi
  say "fuzz: built in $((SECONDS - started)) s; running ${targets[*]} for ${seconds} s each"
  bin_dir="$(fuzz_bin_dir)"
  for target in "${targets[@]}"; do
    rm -f "$log_dir/$target.status"
    if [ "$parallel" -le 1 ]; then
      run_one_fuzz_target "$bin_dir" "$seconds" "$log_dir" "$target"
      continue
    fi
    if [ "$running" -ge "$parallel" ]; then
      wait -n || true
      running=$((running - 1))
    fi
    run_one_fuzz_target "$bin_dir" "$seconds" "$log_dir" "$target" &
    running=$((running + 1))
  done
  wait || true
  for target in "${targets[@]}"; do
    [ "$(cat "$log_dir/$target.status" 2>/dev/null)" = 0 ] || status=1
  done
  return "$status"
}
