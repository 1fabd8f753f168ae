//! What counts as an AWS outage (`edges::aws::is_outage`, answered 503): a DynamoDB client
//! pointed at a local HTTP server that answers every call with a fixed status and an HTML
//! page, as a load balancer or gateway in front of a service does. A 5xx is an outage
//! even though its body carries no error code; a 4xx with the same body is not.

#![allow(clippy::unwrap_used)]

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use axum::http::StatusCode;
use rhosync_server::edges::aws::is_outage;

/// Serves `status` with an HTML body on 127.0.0.1:0; returns the endpoint URL.
async fn answering(status: StatusCode) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(move || async move {
        (status, [("content-type", "text/html")], "<html><body><h1>Bad Gateway</h1></body></html>")
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://127.0.0.1:{port}")
}

async fn get_item_against(status: StatusCode) -> bool {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(answering(status).await)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let err = client
        .get_item()
        .table_name("t")
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("k".into()))
        .send()
        .await
        .expect_err("the server answers only errors");
    assert!(
        matches!(err, aws_sdk_dynamodb::error::SdkError::ServiceError(_)),
        "an answered error is a service error: {err:?}"
    );
    is_outage(&err)
}

#[tokio::test]
async fn a_5xx_without_an_error_code_is_an_outage() {
    for status in [StatusCode::INTERNAL_SERVER_ERROR, StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE] {
        assert!(get_item_against(status).await, "{status} is an outage");
    }
}

#[tokio::test]
async fn a_4xx_without_an_error_code_is_not() {
    for status in [StatusCode::BAD_REQUEST, StatusCode::FORBIDDEN] {
        assert!(!get_item_against(status).await, "{status} is the request's fault, not an outage");
    }
}
