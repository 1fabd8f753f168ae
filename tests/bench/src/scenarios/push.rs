//! Scenario `push`: one ping to many registered devices (default 10,000: 20 users × 500,
//! half APNs, half FCM, every token unique; few users because each costs the worker one
//! Query, which the emulator answers by sorting the whole table), delivered by the push worker (`crate::push::
//! worker`, a child process) to the fake APNs (HTTP/2 over TLS) and FCM of
//! `rhosync-fake-push` started here; then the floor (`crate::push::floor`, another child)
//! replays the very requests the worker sent to the same fakes.
//!
//! The devices are seeded straight into the registry table on the emulator's DynamoDB
//! (BatchWriteItem of the items clientregister stores, one read back through the registry
//! to check), not through 20,000 HTTP requests nor 10,000 single-item transactions (the
//! emulator copies the table for each transaction).
//! The ping goes through `POST /rc/v1/users/ping` on the runner under test.
//!
//! Figures: notifications/s from the first device request a fake received to the last;
//! CPU per notification of the worker's process over the whole job (from the ping until the
//! last notification: SQS polling, resolving users in the registry, splitting into chunk
//! jobs, the job and delivery ledgers in Redis, HTTP/2 + TLS) and over the delivery alone
//! (first to last notification), and of the floor's process over its sending. A run in
//! which a fake did not get every token exactly once is an error, not a figure.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures::stream::{self, StreamExt, TryStreamExt};
use rhosync_fake_push::{apns, fcm, Fake, Options, Recording, Script, Tls};
use rhosync_server::registry::ClientRecord;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::{Bench, BENCH_SETTINGS};
use crate::client::API_TOKEN_HEADER;
use crate::measure::CpuReading;
use crate::push::{floor::worker_concurrency, PlanEntry, Setup, To, APP_ID};
use crate::report::Goal;

/// BatchWriteItem requests in flight while seeding.
const SEED_CONCURRENCY: usize = 4;
/// DynamoDB's limit of items per BatchWriteItem.
const BATCH_ITEMS: usize = 25;

type Item = HashMap<String, AttributeValue>;

/// The registry's items of one client (docs/deploy.md, the table's layout; the same as
/// `shared/server/src/registry/dynamo.rs` writes on clientcreate and clientregister): the
/// record under `CLIENT#<id>`/`PROFILE` and the user's membership `USER#<login>`/`CLIENT#<id>`.
fn client_items(c: &ClientRecord) -> [Item; 2] {
    let s = |v: &str| AttributeValue::S(v.to_owned());
    let device = c.device.iter().map(|(k, v)| (k.clone(), s(v))).collect();
    [
        HashMap::from([
            ("pk".to_owned(), s(&format!("CLIENT#{}", c.id))),
            ("sk".to_owned(), s("PROFILE")),
            ("user_id".to_owned(), s(&c.user_id)),
            ("app_id".to_owned(), s(&c.app_id)),
            ("device".to_owned(), AttributeValue::M(device)),
        ]),
        HashMap::from([
            ("pk".to_owned(), s(&format!("USER#{}", c.user_id))),
            ("sk".to_owned(), s(&format!("CLIENT#{}", c.id))),
        ]),
    ]
}

/// Writes `clients` into the registry table with BatchWriteItem (25 items a request),
/// retrying what DynamoDB hands back unprocessed; then reads one back through the registry
/// to check the layout.
async fn seed_clients(clients: &[ClientRecord]) -> Result<()> {
    let table = std::env::var("RHOSYNC_TABLE").context("RHOSYNC_TABLE (the registry table) is not set")?;
    // The emulator on a loaded machine answers slower than the functions' timeout.
    let aws = rhosync_server::edges::AwsClients::from_env_with(Duration::from_secs(30)).await;
    let items: Vec<Item> = clients.iter().flat_map(client_items).collect();
    let requests = items.chunks(BATCH_ITEMS).map(|chunk| {
        let (db, table) = (aws.dynamodb.clone(), table.clone());
        let writes: Result<Vec<WriteRequest>> = chunk
            .iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item.clone()))
                    .build()
                    .map_err(|e| anyhow::anyhow!("building a write: {e}"))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect();
        async move {
            let mut pending = writes?;
            for _ in 0..20 {
                let out = db.batch_write_item().request_items(&table, pending).send().await.map_err(|e| {
                    anyhow::anyhow!("BatchWriteItem: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e))
                })?;
                pending = out.unprocessed_items.unwrap_or_default().remove(&table).unwrap_or_default();
                if pending.is_empty() {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            bail!("BatchWriteItem left {} item(s) unprocessed", pending.len())
        }
    });
    stream::iter(requests).buffer_unordered(SEED_CONCURRENCY).try_collect::<Vec<()>>().await?;
    Ok(())
}

/// A child process speaking the `ready`/`go`/`done` lines of `crate::push`.
struct Child {
    child: tokio::process::Child,
    pid: u32,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    stdin: Option<tokio::process::ChildStdin>,
}

impl Child {
    fn spawn(mut command: tokio::process::Command, what: &str) -> Result<Child> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting the {what}"))?;
        let pid = child.id().with_context(|| format!("the {what} has no pid"))?;
        let stdout = child.stdout.take().with_context(|| format!("the {what}'s stdout"))?;
        let stdin = child.stdin.take();
        Ok(Child { child, pid, lines: BufReader::new(stdout).lines(), stdin })
    }

    /// The next line starting with `word`, within `limit`.
    async fn expect(&mut self, word: &str, limit: Duration) -> Result<String> {
        let line = tokio::time::timeout(limit, self.lines.next_line())
            .await
            .with_context(|| format!("no `{word}` within {limit:?}"))?
            .context("reading the child's output")?
            .with_context(|| format!("the child exited before `{word}`"))?;
        if !line.starts_with(word) {
            bail!("expected `{word}`, got {line:?}");
        }
        Ok(line)
    }

    async fn say(&mut self, line: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().context("the child's stdin is closed")?;
        stdin.write_all(format!("{line}\n").as_bytes()).await.context("writing to the child")?;
        stdin.flush().await.context("writing to the child")
    }

    /// Closes stdin (the child's signal to stop) and waits for it.
    async fn stop(mut self) {
        drop(self.stdin.take());
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await.is_err() {
            let _ = self.child.kill().await;
        }
    }
}

/// The rhosync-bench executable, to start the children from.
fn own_binary(cfg: &super::Config) -> Result<std::path::PathBuf> {
    match &cfg.floor_bin {
        Some(b) => Ok(b.clone()),
        None => std::env::current_exe().context("the bench's own executable"),
    }
}

/// Checks that `fake` got each of `tokens` exactly once and nothing else.
fn check_once(name: &str, fake: &Fake, tokens: &[String]) -> Result<()> {
    let got = fake.devices();
    let missing = tokens.iter().filter(|t| !got.contains_key(*t)).count();
    let doubled = got.values().filter(|n| **n > 1).count();
    let unknown = got.len() + missing - tokens.len();
    if missing > 0 || doubled > 0 || unknown > 0 {
        bail!("{name}: {missing} token(s) missed, {doubled} sent more than once, {unknown} unknown");
    }
    Ok(())
}

/// The span from the first to the last device request over both fakes.
fn span(a: &Fake, b: &Fake) -> Option<Duration> {
    let windows: Vec<(Instant, Instant)> = [a.window(), b.window()].into_iter().flatten().collect();
    let first = windows.iter().map(|w| w.0).min()?;
    let last = windows.iter().map(|w| w.1).max()?;
    Some(last.duration_since(first))
}

/// Waits until the fakes counted `n` device requests (or `limit` passes); returns when.
async fn wait_for_devices(a: &Fake, b: &Fake, n: u64, limit: Duration) -> Result<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        let got = a.device_requests() + b.device_requests();
        if got >= n {
            return Ok(Instant::now());
        }
        if Instant::now() > deadline {
            bail!("{got} of {n} notifications arrived within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

impl Bench {
    /// Scenario `push`: ping N devices through the worker, then the floor.
    pub(super) async fn push(&mut self) -> Result<()> {
        let devices = self.cfg.push_devices.max(2);
        let users = self.cfg.push_users.clamp(1, devices);
        let binary = own_binary(&self.cfg)?;

        // The fakes, in this process, recording every request (the floor replays them).
        let tls = Tls::generate().map_err(|e| anyhow::anyhow!("{e}"))?;
        let ca_pem = tls.cert_pem.clone();
        let apns_fake = Fake::start(
            apns::reply(Script::new()),
            Options::tls(tls).recording(Recording::All).device_of(apns::token_of),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let fcm_fake = Fake::start(
            fcm::reply(Script::new(), crate::push::FCM_ACCESS_TOKEN),
            Options::plain().recording(Recording::All).device_of(fcm::token_of),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let dir = self.cfg.out.parent().unwrap_or(std::path::Path::new(".")).join(format!("push.{}", self.run_id));
        let setup = Setup::write(&dir, BENCH_SETTINGS, &apns_fake.url, &fcm_fake.url, &ca_pem)?;

        // Seed the registry: users × devices, alternating APNs and FCM.
        let state = rhosync_server::runtime::bootstrap().await.context("connecting to the stack")?;
        let logins: Vec<String> = (0..users).map(|u| self.login(&format!("push{u}"))).collect();
        let mut apns_tokens = Vec::new();
        let mut fcm_tokens = Vec::new();
        let mut clients = Vec::with_capacity(devices);
        for i in 0..devices {
            let mut c = ClientRecord {
                id: format!("push-{}-{i}", self.run_id),
                user_id: logins[i % users].clone(),
                app_id: "application".into(),
                ..ClientRecord::default()
            };
            if i % 2 == 0 {
                // A 32-byte APNs device token, in hex, unique per run and device.
                let pin = format!("{:0>56}{:08x}", self.run_id, i);
                c.device.insert("device_type".into(), "APPLE".into());
                c.device.insert("device_app_id".into(), APP_ID.into());
                apns_tokens.push(pin.clone());
                c.device.insert("device_pin".into(), pin);
            } else {
                let pin = format!("bench{}:APA91b-{i:08}-fcm-registration-token-of-a-bench-device", self.run_id);
                c.device.insert("device_type".into(), "ANDROID".into());
                c.device.insert("device_push_type".into(), "fcm".into());
                fcm_tokens.push(pin.clone());
                c.device.insert("device_pin".into(), pin);
            }
            clients.push(c);
        }
        let seed_started = Instant::now();
        seed_clients(&clients).await?;
        let registry = state.registry();
        let probe = &clients[clients.len() - 1];
        let stored = registry.client(&probe.id).await.context("reading a seeded client back")?;
        if stored.as_ref() != Some(probe) || !registry.clients_of(&probe.user_id).await?.contains(&probe.id) {
            bail!("a seeded client does not read back through the registry: {stored:?}");
        }
        let seed_s = seed_started.elapsed().as_secs_f64();
        eprintln!("[bench] push: {devices} devices of {users} users registered in {seed_s:.1} s");

        // The worker, alone in its process, with the push keys in its settings.
        let mut command = tokio::process::Command::new(&binary);
        // A longer AWS timeout than the functions' 1.8 s: the emulator's Query of a user's
        // clients sorts the whole table first (about a second at 20,000 items).
        command.arg("push-worker").env("RHOSYNC_SETTINGS", &setup.settings).env("RHOSYNC_AWS_TIMEOUT_MS", "30000");
        let mut worker = Child::spawn(command, "push worker")?;
        worker.expect("ready", Duration::from_secs(60)).await?;
        let before = CpuReading::take(worker.pid)?;
        let pinged = Instant::now();
        let resp = self
            .target
            .request(reqwest::Method::POST, "/rc/v1/users/ping")?
            .header(API_TOKEN_HEADER, &self.cfg.api_token)
            .json(&json!({"user_id": logins, "sources": [self.cfg.small_source], "message": "bench ping"}))
            .send()
            .await
            .context("POST /rc/v1/users/ping")?;
        if !resp.status().is_success() {
            bail!("ping: HTTP {}", resp.status());
        }
        let limit = Duration::from_secs(self.cfg.push_timeout_s);
        wait_for_devices(&apns_fake, &fcm_fake, 1, limit).await?;
        let first_cpu = CpuReading::take(worker.pid)?;
        let resolved_s = pinged.elapsed().as_secs_f64();
        wait_for_devices(&apns_fake, &fcm_fake, devices as u64, limit).await?;
        let after = CpuReading::take(worker.pid)?;
        let job_s = pinged.elapsed().as_secs_f64();
        // Anything sent twice arrives late: give it a moment, then check.
        tokio::time::sleep(Duration::from_millis(500)).await;
        worker.stop().await;
        check_once("APNs (worker)", &apns_fake, &apns_tokens)?;
        check_once("FCM (worker)", &fcm_fake, &fcm_tokens)?;
        let worker_span = span(&apns_fake, &fcm_fake).context("no notification arrived")?;
        let worker_job_cpu = before.seconds_until(&after);
        let worker_send_cpu = first_cpu.seconds_until(&after);

        // The floor's plan: what the worker sent, APNs and FCM interleaved as the worker's
        // chunks interleave them.
        let apns_plan: Vec<PlanEntry> = apns_fake.take_requests().iter().map(|r| PlanEntry::of(To::Apns, r)).collect();
        let fcm_plan: Vec<PlanEntry> = fcm_fake
            .take_requests()
            .iter()
            .filter(|r| fcm::token_of(r).is_some())
            .map(|r| PlanEntry::of(To::Fcm, r))
            .collect();
        let mut plan = Vec::with_capacity(apns_plan.len() + fcm_plan.len());
        let (mut a, mut f) = (apns_plan.into_iter(), fcm_plan.into_iter());
        loop {
            match (a.next(), f.next()) {
                (None, None) => break,
                (x, y) => plan.extend(x.into_iter().chain(y)),
            }
        }
        let mut text = String::new();
        for entry in &plan {
            text.push_str(&serde_json::to_string(entry)?);
            text.push('\n');
        }
        let plan_file = setup.dir.join("floor-plan.jsonl");
        std::fs::write(&plan_file, text).with_context(|| format!("writing {}", plan_file.display()))?;
        apns_fake.reset();
        fcm_fake.reset();

        let concurrency = worker_concurrency();
        let mut command = tokio::process::Command::new(&binary);
        command
            .arg("push-floor")
            .arg("--plan")
            .arg(&plan_file)
            .arg("--apns-url")
            .arg(&apns_fake.url)
            .arg("--fcm-url")
            .arg(&fcm_fake.url)
            .arg("--ca-file")
            .arg(&setup.ca_file)
            .arg("--concurrency")
            .arg(concurrency.to_string());
        let mut floor = Child::spawn(command, "push floor")?;
        floor.expect("ready", Duration::from_secs(60)).await?;
        let floor_before = CpuReading::take(floor.pid)?;
        floor.say("go").await?;
        let done = floor.expect("done", limit).await?;
        let floor_after = CpuReading::take(floor.pid)?;
        tokio::time::sleep(Duration::from_millis(200)).await;
        floor.stop().await;
        let failed: usize = done.split_whitespace().nth(2).and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
        if failed != 0 {
            bail!("the floor had {failed} failed request(s): {done}");
        }
        check_once("APNs (floor)", &apns_fake, &apns_tokens)?;
        check_once("FCM (floor)", &fcm_fake, &fcm_tokens)?;
        let floor_span = span(&apns_fake, &fcm_fake).context("no floor request arrived")?;
        let floor_cpu = floor_before.seconds_until(&floor_after);
        let _ = std::fs::remove_dir_all(&setup.dir);

        let n = devices as f64;
        let worker_rate = n / worker_span.as_secs_f64().max(1e-9);
        let floor_rate = n / floor_span.as_secs_f64().max(1e-9);
        let us = |cpu: f64| cpu * 1e6 / n;
        let (job_us, send_us, floor_us) = (us(worker_job_cpu), us(worker_send_cpu), us(floor_cpu));
        let r = &mut self.report;
        r.info("push", "devices registered (registry, emulator)", format!("{devices} in {seed_s:.1} s"));
        r.info("push", "ping → first notification (resolve, split)", format!("{resolved_s:.2} s"));
        r.info("push", "ping → last notification", format!("{job_s:.2} s"));
        r.info("push", "worker notifications/s", format!("{worker_rate:.0}/s"));
        r.info("push", "floor notifications/s", format!("{floor_rate:.0}/s"));
        let rate_ratio = floor_rate / worker_rate;
        r.target(
            "push",
            "notifications/s: floor / worker",
            rate_ratio,
            format!("{rate_ratio:.2}"),
            Goal::AtMost(2.0, "≤ 2"),
        );
        r.info("push", "worker CPU per notification, whole job", format!("{job_us:.1} µs"));
        r.info("push", "worker CPU per notification, delivery only", format!("{send_us:.1} µs"));
        r.info("push", "floor CPU per notification", format!("{floor_us:.1} µs"));
        let cpu_ratio = job_us / floor_us;
        r.target(
            "push",
            "CPU/notification: worker (job) / floor",
            cpu_ratio,
            format!("{cpu_ratio:.2}"),
            Goal::AtMost(2.0, "≤ 2"),
        );
        let send_ratio = send_us / floor_us;
        r.target(
            "push",
            "CPU/notification: worker (delivery) / floor",
            send_ratio,
            format!("{send_ratio:.2}"),
            Goal::AtMost(2.0, "≤ 2"),
        );
        let per_platform: HashMap<&str, usize> =
            HashMap::from([("apns", apns_tokens.len()), ("fcm", fcm_tokens.len())]);
        r.detail(
            "push",
            json!({
                "devices": devices, "users": users, "per_platform": per_platform, "seed_s": seed_s,
                "ping_to_first_s": resolved_s, "ping_to_last_s": job_s,
                "worker": {"span_s": worker_span.as_secs_f64(), "notifications_per_s": worker_rate,
                           "cpu_job_s": worker_job_cpu, "cpu_delivery_s": worker_send_cpu,
                           "cpu_job_us_per_notification": job_us, "cpu_delivery_us_per_notification": send_us},
                "floor": {"span_s": floor_span.as_secs_f64(), "notifications_per_s": floor_rate, "cpu_s": floor_cpu,
                          "cpu_us_per_notification": floor_us, "concurrency": concurrency},
                "ratios": {"rate_floor_over_worker": rate_ratio, "cpu_job_worker_over_floor": cpu_ratio,
                           "cpu_delivery_worker_over_floor": send_ratio},
            }),
        );
        Ok(())
    }
}
