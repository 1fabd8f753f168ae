//! The SQS batch machinery against real Redis: failures are reported per message, and a
//! redelivered job that already succeeded does nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use rhosync_server::jobs::{process_batch, JobError, JobHandler, JobLedger};
use rhosync_server::ports::Job;
use rhosync_testkit::{TestEnv, DEMO_SETTINGS};

/// Counts the pings it handles; refuses everything else.
struct CountingPings(Arc<AtomicUsize>);

#[async_trait]
impl JobHandler for CountingPings {
    fn name(&self) -> &'static str {
        "counting"
    }

    async fn handle(&self, job: &Job) -> Result<(), JobError> {
        match job {
            Job::Ping { .. } => {
                self.0.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
            other => Err(JobError::WrongWorker(other.kind())),
        }
    }
}

fn message(id: &str, body: &str) -> SqsMessage {
    let mut m = SqsMessage::default();
    m.message_id = Some(id.to_owned());
    m.body = Some(body.to_owned());
    m
}

fn batch(messages: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages;
    event
}

#[tokio::test]
async fn failures_are_reported_per_message_and_duplicates_are_skipped() {
    let env = TestEnv::new("jobs", DEMO_SETTINGS).await;
    let ledger = JobLedger::new(env.state.redis.clone());
    let handled = Arc::new(AtomicUsize::new(0));
    let handler = CountingPings(handled.clone());

    let response = process_batch(
        &handler,
        &ledger,
        batch(vec![
            message("m1", r#"{"id":"ping-1","kind":"ping","users":["a"]}"#),
            message("m2", "not json"),
            message("m3", r#"{"kind":"bulk","name":"x"}"#),
            message("m4", r#"{"kind":"ping","users":["b"]}"#),
        ]),
    )
    .await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, ["m2", "m3"], "only the malformed and the misrouted message fail");
    assert_eq!(handled.load(Ordering::SeqCst), 2);

    // SQS redelivers: same job id in a new message, and the same message (same message id).
    let response = process_batch(
        &handler,
        &ledger,
        batch(vec![
            message("m9", r#"{"id":"ping-1","kind":"ping","users":["a"]}"#),
            message("m4", r#"{"kind":"ping","users":["b"]}"#),
        ]),
    )
    .await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(handled.load(Ordering::SeqCst), 2, "finished jobs are not run again");
}
