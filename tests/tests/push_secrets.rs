//! The push keys from AWS Secrets Manager (docs/push.md §8), against the emulator: the
//! reader the push worker uses returns a secret's text, and refuses the placeholder
//! `template.yaml` creates the secrets with.

use rhosync_server::push::config::KeySource;
use rhosync_server::push::secrets::{KeyReader, Keys, PLACEHOLDER};

#[tokio::test]
async fn keys_come_from_secrets_manager_and_the_placeholder_is_refused() {
    let stack = rhosync_testkit::Stack::get();
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let sm = aws_sdk_secretsmanager::Client::new(&shared);
    let name = rhosync_testkit::unique_prefix("pushkey");
    let key_text = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n";
    sm.create_secret().name(&name).secret_string(key_text).send().await.unwrap_or_else(|e| {
        panic!(
            "creating a secret on {}: {}",
            stack.aws_endpoint_url,
            rhosync_server::edges::AwsError::sdk("secretsmanager", e)
        )
    });
    let placeholder = format!("{name}-unset");
    sm.create_secret().name(&placeholder).secret_string(PLACEHOLDER).send().await.unwrap_or_else(|e| panic!("{e}"));
    let keys = Keys::new();
    assert_eq!(keys.read(&KeySource::Secret(name.clone())).await.as_deref(), Ok(key_text));
    let err = keys.read(&KeySource::Secret(placeholder)).await.expect_err("placeholder");
    assert!(err.contains("holds no key yet"), "{err}");
    let err = keys.read(&KeySource::Secret(format!("{name}-missing"))).await.expect_err("missing");
    assert!(err.contains("secretsmanager"), "{err}");
    let err = keys.read(&KeySource::File("/nonexistent/key.p8".into())).await.expect_err("no file");
    assert!(err.contains("/nonexistent/key.p8"), "{err}");
}
