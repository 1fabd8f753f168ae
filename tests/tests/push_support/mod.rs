//! Local stand-ins for the push services, started by the tests on port 0: the recording
//! fakes of `rhosync-fake-push` (HTTP/2 over TLS with a certificate made here, for APNs;
//! plain HTTP for FCM, RhoConnect Push and the webhook), the keys the services are
//! configured with, and a world with a registered device per platform.

#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

pub use rhosync_fake_push::{ok, Fake, Recorded, Reply};
use rhosync_fake_push::{Options, Tls};

/// A plain HTTP/1.1 (and h2c) server.
pub async fn plain(reply: Reply) -> Fake {
    Fake::start(reply, Options::plain()).await.unwrap_or_else(|e| panic!("fake: {e}"))
}

/// An HTTP/2-over-TLS server with a fresh self-signed certificate for 127.0.0.1; returns
/// the server and the certificate's PEM (to trust it).
pub async fn tls_h2(reply: Reply) -> (Fake, String) {
    let tls = Tls::generate().unwrap_or_else(|e| panic!("{e}"));
    let pem = tls.cert_pem.clone();
    let fake = Fake::start(reply, Options::tls(tls)).await.unwrap_or_else(|e| panic!("fake: {e}"));
    (fake, pem)
}

/// Key files for the services, in a fresh directory.
pub struct Keys {
    pub dir: PathBuf,
    /// APNs: the .p8 key and its public half.
    pub apns_key: PathBuf,
    pub apns_public_pem: String,
    /// FCM: the service-account JSON and its key's public half.
    pub service_account: PathBuf,
    pub fcm_public_pem: String,
    pub ca_file: PathBuf,
}

impl Drop for Keys {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Makes the keys; `token_uri` goes into the service-account file, `ca_pem` is written
/// as the extra CA.
pub fn keys(label: &str, token_uri: &str, ca_pem: &str) -> Keys {
    let dir = std::env::temp_dir().join(rhosync_testkit::unique_prefix(label));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("writing {name}: {e}"));
        path
    };
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap_or_else(|e| panic!("{e}"));
    let rsa = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .unwrap_or_else(|e| panic!("{e}"));
    let account = serde_json::json!({
        "type": "service_account",
        "project_id": "demo-project",
        "private_key_id": "key-1",
        "private_key": rsa.serialize_pem(),
        "client_email": "push@demo-project.iam.gserviceaccount.com",
        "token_uri": token_uri,
    });
    Keys {
        apns_key: write("AuthKey_ABC123DEFG.p8", &ec.serialize_pem()),
        apns_public_pem: ec.public_key_pem(),
        service_account: write("service-account.json", &account.to_string()),
        fcm_public_pem: rsa.public_key_pem(),
        ca_file: write("ca.pem", ca_pem),
        dir,
    }
}

/// Decodes a JWT, checking its signature with `public_pem`; returns header and claims.
pub fn verify_jwt(
    token: &str,
    public_pem: &str,
    alg: jsonwebtoken::Algorithm,
) -> (jsonwebtoken::Header, serde_json::Value) {
    let key = match alg {
        jsonwebtoken::Algorithm::ES256 => jsonwebtoken::DecodingKey::from_ec_pem(public_pem.as_bytes()),
        _ => jsonwebtoken::DecodingKey::from_rsa_pem(public_pem.as_bytes()),
    }
    .unwrap_or_else(|e| panic!("public key: {e}"));
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
        .unwrap_or_else(|e| panic!("JWT {token} does not verify: {e}"));
    (data.header, data.claims)
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A stack whose push settings point at fake APNs, FCM, RhoConnect Push and webhook
/// servers.
pub struct PushWorld {
    pub world: crate::sync_support::World,
    pub apns: Fake,
    pub fcm: Fake,
    pub rps: Fake,
    pub hook: Fake,
    pub keys: Keys,
}

/// The fake FCM's answers: its token endpoint, and `200` for every send.
pub fn fcm_ok() -> Reply {
    rhosync_fake_push::fcm::reply(rhosync_fake_push::Script::new(), "ya29.test-token")
}

impl PushWorld {
    pub async fn new(label: &str, chunk_size: usize, apns: Reply, fcm: Reply) -> PushWorld {
        let (apns, ca_pem) = tls_h2(apns).await;
        let fcm = plain(fcm).await;
        let rps = plain(ok()).await;
        let hook = plain(ok()).await;
        let keys = keys(label, &format!("{}/token", fcm.url), &ca_pem);
        let rps_port = rps.url.rsplit(':').next().unwrap_or_default().to_owned();
        let settings = format!(
            "\
:development:
  :poll_interval_default: 300
  :device_auth: open
  :apns_endpoint: {apns}
  :apns_ca_file: {ca}
  :apns_key_file: {p8}
  :apns_key_id: ABC123DEFG
  :apns_team_id: TEAM123456
  :apns_topic: com.example.default
  :fcm_project_id: demo-project
  :package_name: com.example.android
  :fcm_service_account: {sa}
  :fcm_endpoint: {fcm}
  :push_server: http://someappname@127.0.0.1:{rps_port}/ignored
  :push_webhook: {hook}/hook
  :push_chunk_size: {chunk_size}
:sources:
  Product:
    adapter: demo
    push_notify: true
",
            apns = apns.url,
            ca = keys.ca_file.display(),
            p8 = keys.apns_key.display(),
            sa = keys.service_account.display(),
            fcm = fcm.url,
            hook = hook.url,
        );
        let world = crate::sync_support::World::new(label, &settings).await;
        PushWorld { world, apns, fcm, rps, hook, keys }
    }

    /// A logged-in device of `login` registered with `fields`; returns its client id.
    pub async fn register(&self, login: &str, fields: serde_json::Value) -> String {
        let mut device = self.world.device(login).await;
        let path = format!("/rc/v1/clients/{}/register", device.client_id);
        let reply = device.post_json(&path, fields).await;
        assert_eq!(reply.status, 200, "register: {}", reply.text);
        device.client_id
    }

    /// `POST /rc/v1/users/ping` with `body`; asserts RhoConnect's empty 200.
    pub async fn ping(&self, body: serde_json::Value) {
        let (status, text) = self.world.admin("POST", "/rc/v1/users/ping", Some(body)).await;
        assert_eq!((status, text.as_str()), (200, ""), "ping");
    }

    /// Waits until the push queue holds nothing (every ping and chunk handled).
    pub async fn settle(&self) {
        let env = &self.world.env;
        rhosync_e2e::settle_queue(env, &env.provisioned.push_queue_url, Duration::from_secs(30)).await;
    }

    /// The stored device fields of a client.
    pub async fn device_fields(&self, client_id: &str) -> std::collections::BTreeMap<String, String> {
        let client = self.world.env.state.registry().client(client_id).await.unwrap_or_else(|e| panic!("{e}"));
        client.map(|c| c.device).unwrap_or_default()
    }
}
