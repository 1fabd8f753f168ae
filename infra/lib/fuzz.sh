# shellcheck shell=bash
# cargo-fuzz targets of shared/fuzz/ (docs/fuzzing.md), for infra/fuzz and infra/test.
#
# fuzz_toolchain_ready: true when the nightly toolchain and cargo-fuzz are both installed.
# ensure_cargo_fuzz: installs cargo-fuzz from crates.io when it is missing.
# run_fuzz_targets SECONDS LOG_DIR [TARGET...]: builds the fuzz crate once, then runs each
#   target (all of them by default) for SECONDS in one process, printing one line per target
#   to stderr: executions, crashes and the crash input libFuzzer saved. Returns non-zero when
#   a target crashed or did not build.
# Source after stack.sh (say, RHOSYNC_ROOT).

FUZZ_DIR="$RHOSYNC_ROOT/shared/fuzz"
# Safe Rust needs no AddressSanitizer; without it a target runs several times faster.
# Debug assertions stay on, so arithmetic overflow is a crash too.
FUZZ_BUILD_FLAGS=(--fuzz-dir "$FUZZ_DIR" --sanitizer none --debug-assertions)

fuzz_toolchain_ready() {
  cargo +nightly --version >/dev/null 2>&1 && cargo +nightly fuzz --version >/dev/null 2>&1
}

ensure_cargo_fuzz() {
  cargo +nightly --version >/dev/null 2>&1 || die "the nightly toolchain is required (rustup toolchain install nightly)"
  if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    say "installing cargo-fuzz (cargo install)"
    cargo install cargo-fuzz --locked >&2
  fi
}

fuzz_target_names() {
  (cd "$RHOSYNC_ROOT" && cargo +nightly fuzz list --fuzz-dir "$FUZZ_DIR")
}

run_fuzz_targets() {
  local seconds="$1" log_dir="$2" status=0 target log runs crash
  shift 2
  local targets=("$@")
  if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(fuzz_target_names)
  fi
  mkdir -p "$log_dir"
  say "fuzz: building the fuzz crate (nightly)"
  if ! (cd "$RHOSYNC_ROOT" && cargo +nightly fuzz build "${FUZZ_BUILD_FLAGS[@]}") >"$log_dir/build.log" 2>&1; then
    say "fuzz: the fuzz crate did not build (see ${log_dir#"$RHOSYNC_ROOT"/}/build.log)"
    return 1
  fi
  for target in "${targets[@]}"; do
    log="$log_dir/$target.log"
    mkdir -p "$FUZZ_DIR/corpus/$target" "$FUZZ_DIR/artifacts/$target"
    # One process (no -jobs/-fork): the CPU is shared; the first crash stops the target.
    if (cd "$RHOSYNC_ROOT" && cargo +nightly fuzz run "${FUZZ_BUILD_FLAGS[@]}" "$target" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1) >"$log" 2>&1; then
      crash=""
    else
      crash="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)"
      [ -n "$crash" ] || crash="(exit status without a saved input; see ${log#"$RHOSYNC_ROOT"/})"
      status=1
    fi
    runs="$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)"
    [ -n "$runs" ] || runs="$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -n 1)"
    if [ -z "$crash" ]; then
      say "fuzz $target: ${runs:-0} executions in ${seconds} s, 0 crashes"
    else
      say "fuzz $target: ${runs:-0} executions, 1 crash: $crash"
    fi
  done
  return "$status"
}
