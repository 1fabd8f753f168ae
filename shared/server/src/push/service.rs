//! The ping service (docs/push.md §4–§7): resolves a ping's users to devices, sends to each
//! through its platform's [`PushSender`], and keeps the rules that make delivery safe:
//!
//! * each (ping, device) delivery is recorded in the job ledger once the service took it,
//!   so a redelivered job — or a chunk — sends nothing twice;
//! * a ping reaching more devices than [`PushSettings::chunk_size`] is split into
//!   [`Job::PushChunk`] jobs on the push queue, each sent by its own worker invocation;
//! * dead addresses are removed from the registry; a failure of one device never stops
//!   the others; passing refusals (429, 5xx) are retried once at once when the service
//!   asks for a short wait, else by failing the job so SQS redelivers it (and, after the
//!   queue's receive count, moves it to the DLQ).

use std::sync::Arc;
use std::time::Duration;

use futures::stream::{self, StreamExt};

use super::config::PushSettings;
use super::metrics::Tally;
use super::resolve::Resolver;
use super::sender::{PushSender, SendOutcome};
use crate::ports::{Job, JobMessage, JobQueue, Platform, PushDevice, PushNotice, Queue};
use crate::registry::Registry;
use crate::store::keys;
use crate::store::Store;

/// Sends in flight at once within one job.
pub const CONCURRENCY: usize = 32;
/// Chunk jobs being queued at once by one ping.
const CHUNK_SENDS: usize = 10;
/// Users whose devices a ping looks up at once.
const USER_LOOKUPS: usize = 16;
/// The longest wait a passing refusal is retried after within the same job.
pub const INLINE_RETRY_MAX: Duration = Duration::from_secs(2);
/// Ledger entries of device deliveries live as long as the job ledger's (a day).
const LEDGER_TTL_SECS: u64 = 86_400;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// The registry, the store or the queue failed: nothing can be said about the job.
    #[error("push: {0}")]
    Infrastructure(String),
    /// Some devices must be tried again later.
    #[error("push: {0} device(s) to retry: {1}")]
    Retry(usize, String),
}

/// The ports a ping runs over.
pub struct PushPorts<'a> {
    pub registry: &'a dyn Registry,
    pub store: &'a dyn Store,
    pub queue: &'a dyn JobQueue,
}

/// One sender per platform.
#[derive(Clone)]
pub struct Senders {
    pub apns: Arc<dyn PushSender>,
    pub fcm: Arc<dyn PushSender>,
    pub rps: Arc<dyn PushSender>,
    pub webhook: Arc<dyn PushSender>,
}

impl Senders {
    /// The same sender for every platform (tests).
    pub fn all(sender: Arc<dyn PushSender>) -> Self {
        Self { apns: sender.clone(), fcm: sender.clone(), rps: sender.clone(), webhook: sender }
    }

    fn of(&self, platform: Platform) -> &dyn PushSender {
        match platform {
            Platform::Apns => &*self.apns,
            Platform::Fcm => &*self.fcm,
            Platform::Rps => &*self.rps,
            Platform::Webhook => &*self.webhook,
        }
    }
}

pub struct PushService {
    settings: PushSettings,
    senders: Senders,
    fcm_configured: bool,
}

impl PushService {
    pub fn new(settings: PushSettings, senders: Senders) -> Self {
        let fcm_configured = settings.fcm.project_id.is_some();
        Self { settings, senders, fcm_configured }
    }

    /// The ping job (docs/push.md §4): resolves `users` and sends, or splits the devices
    /// into chunk jobs. `key` is the job's idempotency key.
    pub async fn ping(
        &self,
        ports: &PushPorts<'_>,
        key: &str,
        users: &[String],
        notice: &PushNotice,
    ) -> Result<Tally, PushError> {
        let infra = |e: crate::registry::RegistryError| PushError::Infrastructure(e.to_string());
        let mut resolver = Resolver::new(self.fcm_configured);
        // Users are looked up side by side (a ping of thousands of users is thousands of
        // registry round trips); `buffered` keeps their order, which the de-duplication
        // by phone and token depends on.
        let registry = ports.registry;
        // Collected first, as below: a lazy map's closure is not general enough for a Send future.
        let lookups: Vec<_> = users
            .iter()
            .map(|user| async move {
                let ids = registry.clients_of(user).await?;
                let clients = if ids.is_empty() { Vec::new() } else { registry.clients(&ids).await? };
                Ok::<_, crate::registry::RegistryError>((user, clients))
            })
            .collect();
        let mut resolved = stream::iter(lookups).buffered(USER_LOOKUPS);
        while let Some(found) = resolved.next().await {
            let (user, clients) = found.map_err(infra)?;
            resolver.add_user(user, clients);
        }
        let resolution = resolver.finish();
        tracing::info!(
            job = key,
            users = users.len(),
            devices = resolution.devices.len(),
            duplicates = resolution.duplicates,
            unregistered = resolution.unregistered,
            unsupported = resolution.unsupported,
            users_without_clients = resolution.users_without_clients,
            "ping resolved"
        );
        let devices = resolution.devices;
        if devices.len() <= self.settings.chunk_size {
            return self.deliver(ports, key, notice, &devices).await;
        }
        let chunks = devices.chunks(self.settings.chunk_size);
        let count = chunks.len();
        // Sent side by side: the first chunks are being delivered while the last are queued,
        // and one slow send does not hold the others. A chunk's id is fixed by its place,
        // so a redelivered ping that sends them again is deduplicated by the job ledger.
        let messages: Vec<JobMessage> = chunks
            .enumerate()
            .map(|(i, chunk)| JobMessage {
                id: Some(format!("{key}#chunk{i}")),
                job: Job::PushChunk { ping: key.to_owned(), notice: notice.clone(), devices: chunk.to_vec() },
            })
            .collect();
        // Collected first: a lazy map's closure would not be general enough for a Send future.
        let sends: Vec<_> = messages.iter().map(|message| ports.queue.send(Queue::Push, message)).collect();
        let sent: Vec<_> = stream::iter(sends).buffer_unordered(CHUNK_SENDS).collect().await;
        for result in sent {
            result.map_err(|e| PushError::Infrastructure(e.to_string()))?;
        }
        tracing::info!(job = key, chunks = count, devices = devices.len(), "ping split into chunk jobs");
        Ok(Tally::new())
    }

    /// Sends `notice` to `devices` of ping `ping_key`, skipping those already reached.
    ///
    /// The ledger is read once for all the devices, and a delivery is recorded as soon as a
    /// batch of [`CONCURRENCY`] outcomes is in (and before any error is returned), so a
    /// redelivered job resends at most the sends of the batch that was in flight when its
    /// invocation died — as before, when each delivery was recorded on its own, at most the
    /// sends in flight.
    pub async fn deliver(
        &self,
        ports: &PushPorts<'_>,
        ping_key: &str,
        notice: &PushNotice,
        devices: &[PushDevice],
    ) -> Result<Tally, PushError> {
        let store_err = |e: crate::store::StoreError| PushError::Infrastructure(e.to_string());
        let mut tally = Tally::new();
        let entries: Vec<String> = devices.iter().map(|d| ledger_entry(ping_key, d)).collect();
        let done = ports.store.ledger_done_among(&entries).await.map_err(store_err)?;
        let mut pending: Vec<(&PushDevice, &str)> = Vec::with_capacity(devices.len());
        for ((device, entry), done) in devices.iter().zip(&entries).zip(done) {
            if done {
                tally.entry(device.platform).or_default().already += 1;
            } else {
                pending.push((device, entry.as_str()));
            }
        }
        // Refused for longer than an inline wait, or refused again after one.
        let mut later: Vec<(&PushDevice, String)> = Vec::new();
        let mut to_record: Vec<String> = Vec::with_capacity(CONCURRENCY);
        for round in 0..2 {
            // A Vec of futures of a named method, not a closure's async block: the async
            // block's borrowed arguments would not be general enough for a Send future.
            let futures: Vec<_> = std::mem::take(&mut pending)
                .into_iter()
                .map(|(device, entry)| self.step(ports, ping_key, notice, device, entry))
                .collect();
            let mut steps = stream::iter(futures).buffer_unordered(CONCURRENCY);
            let mut again: Vec<(&PushDevice, &str)> = Vec::new();
            let mut wait = Duration::ZERO;
            let mut failure: Option<PushError> = None;
            while let Some((device, entry, step)) = steps.next().await {
                let outcome = match step {
                    Ok(outcome) => outcome,
                    Err(e) => {
                        failure.get_or_insert(e);
                        continue;
                    }
                };
                let counts = tally.entry(device.platform).or_default();
                match outcome {
                    SendOutcome::Sent => counts.sent += 1,
                    SendOutcome::Ignored(_) => counts.ignored += 1,
                    SendOutcome::Dead(_) => counts.pruned += 1,
                    SendOutcome::Failed(_) => counts.failed += 1,
                    SendOutcome::Retry { after, reason } => {
                        let after = after.unwrap_or(Duration::from_millis(200));
                        if round == 0 && after <= INLINE_RETRY_MAX {
                            wait = wait.max(after);
                            again.push((device, entry));
                        } else {
                            later.push((device, reason));
                        }
                        continue;
                    }
                }
                to_record.push(entry.to_owned());
                if to_record.len() >= CONCURRENCY {
                    ports.store.ledger_mark_all_done(&to_record, LEDGER_TTL_SECS).await.map_err(store_err)?;
                    to_record.clear();
                }
            }
            // What was sent is recorded before anything is returned, an error included.
            ports.store.ledger_mark_all_done(&to_record, LEDGER_TTL_SECS).await.map_err(store_err)?;
            to_record.clear();
            if let Some(e) = failure {
                return Err(e);
            }
            if again.is_empty() {
                break;
            }
            tokio::time::sleep(wait).await;
            pending = again;
        }
        for (device, _) in &later {
            tally.entry(device.platform).or_default().retrying += 1;
        }
        super::metrics::report(ping_key, &tally);
        match later.first() {
            None => Ok(tally),
            Some((_, reason)) => Err(PushError::Retry(later.len(), reason.clone())),
        }
    }

    async fn step<'d>(
        &self,
        ports: &PushPorts<'_>,
        ping_key: &str,
        notice: &PushNotice,
        device: &'d PushDevice,
        entry: &'d str,
    ) -> (&'d PushDevice, &'d str, Result<SendOutcome, PushError>) {
        (device, entry, self.deliver_one(ports, ping_key, notice, device).await)
    }

    /// Sends to one device and, for a dead address, removes it from the registry. The
    /// caller records the delivery in the ledger.
    async fn deliver_one(
        &self,
        ports: &PushPorts<'_>,
        ping_key: &str,
        notice: &PushNotice,
        device: &PushDevice,
    ) -> Result<SendOutcome, PushError> {
        let store_err = |e: crate::store::StoreError| PushError::Infrastructure(e.to_string());
        let outcome = self.senders.of(device.platform).send(device, notice).await;
        let client = device.client_id.as_str();
        let platform = device.platform.as_str();
        match &outcome {
            SendOutcome::Sent | SendOutcome::Ignored(_) => {}
            SendOutcome::Dead(reason) => {
                tracing::info!(job = ping_key, client, platform, reason = %reason, "dead push address removed");
                ports
                    .registry
                    .forget_device_pin(client, &device.pin)
                    .await
                    .map_err(|e| PushError::Infrastructure(e.to_string()))?;
                // The sync function caches client records; the next read must see the change.
                ports
                    .store
                    .set(&keys::client_record(ports.store.keys(), client), None, None)
                    .await
                    .map_err(store_err)?;
            }
            SendOutcome::Failed(reason) => {
                tracing::warn!(job = ping_key, client, platform, error = %reason, "push failed");
            }
            SendOutcome::Retry { reason, after } => {
                tracing::warn!(job = ping_key, client, platform, error = %reason, retry_after = ?after, "push refused for now");
            }
        }
        Ok(outcome)
    }
}

/// The ledger entry of one (ping, device) delivery.
fn ledger_entry(ping_key: &str, device: &PushDevice) -> String {
    format!("push:{ping_key}:{}:{}", device.platform.as_str(), device.pin)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::MemoryJobQueue;
    use crate::push::Counts;
    use crate::push::MemorySender;
    use crate::registry::{ClientRecord, MemoryRegistry};
    use crate::store::memory::MemoryStore;

    struct World {
        registry: MemoryRegistry,
        store: MemoryStore,
        queue: MemoryJobQueue,
        sender: Arc<MemorySender>,
        service: PushService,
    }

    impl World {
        fn new(chunk_size: usize) -> Self {
            let sender = Arc::new(MemorySender::new());
            let settings = PushSettings { chunk_size, ..PushSettings::default() };
            let service = PushService::new(settings, Senders::all(sender.clone()));
            Self {
                registry: MemoryRegistry::new(),
                store: MemoryStore::new("t"),
                queue: MemoryJobQueue::new(),
                sender,
                service,
            }
        }

        fn ports(&self) -> PushPorts<'_> {
            PushPorts { registry: &self.registry, store: &self.store, queue: &self.queue }
        }

        async fn device(&self, user: &str, id: &str, kind: &str, pin: &str) {
            let mut c = ClientRecord {
                id: id.into(),
                user_id: user.into(),
                app_id: "application".into(),
                ..ClientRecord::default()
            };
            c.device.insert("device_type".into(), kind.into());
            c.device.insert("device_pin".into(), pin.into());
            self.registry.create_client(&c).await.expect("client");
        }

        async fn ping(&self, key: &str, users: &[&str]) -> Result<Tally, PushError> {
            let users: Vec<String> = users.iter().map(|u| (*u).to_owned()).collect();
            let notice = PushNotice { message: Some("hi".into()), ..PushNotice::default() };
            self.service.ping(&self.ports(), key, &users, &notice).await
        }
    }

    #[tokio::test]
    async fn each_device_hears_once_per_ping_even_when_the_job_runs_twice() {
        let w = World::new(100);
        w.device("amy", "c1", "APPLE", "aa").await;
        w.device("amy", "c2", "APPLE", "aa").await;
        w.device("bob", "c3", "rhoconnect_push", "u:1").await;
        let tally = w.ping("job1", &["amy", "bob", "ghost"]).await.expect("ping");
        assert_eq!(tally[&Platform::Apns].sent, 1);
        assert_eq!(tally[&Platform::Rps].sent, 1);
        let again = w.ping("job1", &["amy", "bob"]).await.expect("ping again");
        assert_eq!(again[&Platform::Apns].already, 1);
        assert_eq!(w.sender.pins(), ["aa", "u:1"], "the redelivered job sent nothing");
        w.ping("job2", &["amy"]).await.expect("another ping");
        assert_eq!(w.sender.pins().len(), 3, "a new ping is sent again");
    }

    #[tokio::test]
    async fn no_devices_is_a_no_op() {
        let w = World::new(100);
        assert!(w.ping("j", &["nobody"]).await.expect("ping").is_empty());
        assert!(w.sender.sent().is_empty());
        assert!(w.queue.messages(Queue::Push).is_empty());
    }

    #[tokio::test]
    async fn dead_addresses_are_removed_and_do_not_stop_the_others() {
        let w = World::new(100);
        w.device("amy", "c1", "APPLE", "dead").await;
        w.device("amy", "c2", "APPLE", "bad").await;
        w.device("amy", "c3", "APPLE", "good").await;
        w.sender.answer("dead", SendOutcome::Dead("APNs error 410: Unregistered".into()));
        w.sender.answer("bad", SendOutcome::Failed("APNs error 400: BadTopic".into()));
        let tally = w.ping("j", &["amy"]).await.expect("ping");
        assert_eq!(tally[&Platform::Apns], Counts { sent: 1, failed: 1, pruned: 1, ..Counts::default() });
        let c1 = w.registry.client("c1").await.expect("read").expect("kept");
        assert_eq!(c1.device.get("device_pin"), None, "the dead pin is gone");
        assert!(w.registry.client("c2").await.expect("read").expect("kept").device.contains_key("device_pin"));
    }

    #[tokio::test]
    async fn passing_refusals_retry_at_once_or_fail_the_job_for_redelivery() {
        let w = World::new(100);
        w.device("amy", "c1", "APPLE", "busy").await;
        w.device("amy", "c2", "APPLE", "slow").await;
        w.device("amy", "c3", "APPLE", "ok").await;
        w.sender.answer("busy", SendOutcome::Retry { after: Some(Duration::ZERO), reason: "APNs error 503".into() });
        w.sender.answer("slow", SendOutcome::Retry { after: Some(Duration::from_secs(60)), reason: "429".into() });
        let err = w.ping("j", &["amy"]).await.expect_err("retry later");
        assert!(matches!(err, PushError::Retry(1, _)), "{err}");
        // SQS redelivers the job: only the refused device is tried again.
        w.ping("j", &["amy"]).await.expect("redelivered");
        let mut pins = w.sender.pins();
        pins.sort();
        assert_eq!(pins, ["busy", "busy", "ok", "slow", "slow"]);
    }

    #[tokio::test]
    async fn large_pings_are_split_into_chunk_jobs() {
        let w = World::new(2);
        for i in 0..5 {
            w.device("amy", &format!("c{i}"), "APPLE", &format!("p{i}")).await;
        }
        assert!(w.ping("big", &["amy"]).await.expect("ping").is_empty());
        assert!(w.sender.sent().is_empty(), "the first stage sends nothing");
        let chunks = w.queue.take(Queue::Push);
        assert_eq!(chunks.len(), 3);
        for message in &chunks {
            assert!(message.id.as_deref().is_some_and(|id| id.starts_with("big#chunk")));
            let Job::PushChunk { ping, notice, devices } = &message.job else { panic!("not a chunk: {message:?}") };
            assert_eq!(ping, "big");
            w.service.deliver(&w.ports(), ping, notice, devices).await.expect("chunk");
            w.service.deliver(&w.ports(), ping, notice, devices).await.expect("chunk again");
        }
        assert_eq!(w.sender.pins().len(), 5, "every device once");
        assert!(!serde_json::to_string(&chunks[0]).expect("json").contains("token"));
    }
}
