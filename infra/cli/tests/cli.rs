//! `rhosync-admin` against the local runner: every command once, over real HTTP.

use clap::Parser;
use rhosync_admin::{run, Cli, CliError};
use rhosync_e2e::{start_runner, TestEnv, DEMO_SETTINGS, TEST_API_TOKEN};

async fn admin(base: &str, args: &[&str]) -> Result<String, CliError> {
    let mut argv = vec!["rhosync-admin", "--server", base];
    argv.extend_from_slice(args);
    run(Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{e}"))).await
}

#[tokio::test]
async fn every_command_round_trips() {
    let env = TestEnv::new("cli", DEMO_SETTINGS).await;
    let runner = start_runner(&env, 0).await;
    let base = runner.base_url();
    let ok = |r: Result<String, CliError>| r.unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(ok(admin(&base, &["get-token"]).await), TEST_API_TOKEN);
    assert_eq!(ok(admin(&base, &["users", "create", "carol", "--user-password", "pw"]).await), "User created");
    assert_eq!(ok(admin(&base, &["--token", TEST_API_TOKEN, "users", "list"]).await), r#"["carol"]"#);
    assert!(ok(admin(&base, &["users", "show", "carol"]).await).contains(r#""value":"carol""#));
    assert_eq!(ok(admin(&base, &["users", "clients", "carol"]).await), "[]");
    assert_eq!(ok(admin(&base, &["ping", "carol", "--source", "Product", "--message", "hi"]).await), "");
    assert_eq!(ok(admin(&base, &["set-doc", "cli:doc", "--string", "hello"]).await), "");
    assert_eq!(ok(admin(&base, &["get-doc", "cli:doc"]).await), "hello");
    assert_eq!(ok(admin(&base, &["set-doc", "cli:map", r#"{"1":{"a":"b"}}"#]).await), "");
    assert_eq!(ok(admin(&base, &["get-doc", "cli:map"]).await), r#"{"1":{"a":"b"}}"#);
    match admin(&base, &["clients", "show", "nope"]).await {
        Err(CliError::Refused { status: 500, body }) => assert_eq!(body, "Unknown client"),
        other => panic!("{other:?}"),
    }

    // The new password logs in; the token is unchanged.
    assert_eq!(ok(admin(&base, &["set-admin-password", "s3cret"]).await), "User updated");
    match admin(&base, &["get-token"]).await {
        Err(CliError::Refused { status: 401, .. }) => {}
        other => panic!("old password must fail: {other:?}"),
    }
    assert_eq!(ok(admin(&base, &["--password", "s3cret", "get-token"]).await), TEST_API_TOKEN);

    assert!(matches!(admin(&base, &["--token", TEST_API_TOKEN, "reset"]).await, Err(CliError::Usage(_))));
    assert_eq!(ok(admin(&base, &["--token", TEST_API_TOKEN, "reset", "--yes"]).await), "DB reset");
    assert_eq!(ok(admin(&base, &["users", "list"]).await), "[]", "reset restored the empty password");
    assert_eq!(ok(admin(&base, &["users", "create", "dave"]).await), "User created");
    assert_eq!(ok(admin(&base, &["users", "delete", "dave"]).await), "User deleted");
    runner.shutdown().await;
}
