//! Bad configuration stops the function at start with one clear line.

#[test]
fn bad_configuration_fails_at_start_with_one_line() {
    rhosync_testkit::assert_bad_configuration_fails_cleanly(env!("CARGO_BIN_EXE_adapter-worker"));
}
