//! From users to the devices a ping goes to (docs/push.md §4): each user's clients, most
//! recently synced first, without the unregistered ones, and with every phone and every
//! push address reached once per ping — also across users.

use std::collections::HashSet;

use crate::ports::{Platform, PushDevice};
use crate::registry::ClientRecord;

/// The devices of one ping and what was left out.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub devices: Vec<PushDevice>,
    /// Users with no clients (or unknown).
    pub users_without_clients: usize,
    /// Clients that registered no push address.
    pub unregistered: usize,
    /// Clients whose phone or address was already reached by this ping.
    pub duplicates: usize,
    /// Clients of a platform nothing here can reach.
    pub unsupported: usize,
}

/// Collects devices user by user, remembering what it has seen.
#[derive(Debug, Default)]
pub struct Resolver {
    seen_phones: HashSet<String>,
    seen_pins: HashSet<String>,
    /// `gcm` and `android` devices go to FCM only when FCM is configured.
    fcm_configured: bool,
    out: Resolution,
}

fn field<'a>(client: &'a ClientRecord, name: &str) -> &'a str {
    client.device.get(name).map(String::as_str).unwrap_or("")
}

impl Resolver {
    pub fn new(fcm_configured: bool) -> Self {
        Self { fcm_configured, ..Self::default() }
    }

    /// The platform a client's registration names, or the name as stored when none fits.
    pub fn platform(&self, client: &ClientRecord) -> Result<Platform, String> {
        let push_type = field(client, "device_push_type");
        let stored = if push_type.is_empty() { field(client, "device_type") } else { push_type };
        match stored.to_lowercase().as_str() {
            "apple" => Ok(Platform::Apns),
            "iphone" => {
                tracing::warn!("DEPRECATION WARNING: 'iphone' is a deprecated device_type, use 'apple' instead");
                Ok(Platform::Apns)
            }
            "fcm" => Ok(Platform::Fcm),
            "gcm" | "android" if self.fcm_configured => Ok(Platform::Fcm),
            "rhoconnect_push" => Ok(Platform::Rps),
            "webhook" => Ok(Platform::Webhook),
            _ => Err(stored.to_owned()),
        }
    }

    /// Adds one user's clients (any order: they are sorted here).
    pub fn add_user(&mut self, user: &str, mut clients: Vec<ClientRecord>) {
        if clients.is_empty() {
            tracing::info!("Skipping ping for unknown user '{user}' or '{user}' has no registered clients...");
            self.out.users_without_clients += 1;
            return;
        }
        // Most recently synced first; never-synced last (a mix must not upset the order).
        clients.sort_by(|a, b| b.last_sync.cmp(&a.last_sync));
        for client in clients {
            self.add_client(client);
        }
    }

    fn add_client(&mut self, client: ClientRecord) {
        let id = &client.id;
        if field(&client, "device_type").is_empty() {
            tracing::info!("Skipping ping for non-registered client_id '{id}'...");
            self.out.unregistered += 1;
            return;
        }
        let (phone_id, pin) = (field(&client, "phone_id"), field(&client, "device_pin"));
        let fresh = if !phone_id.is_empty() {
            self.seen_phones.insert(format!("{phone_id}{}", field(&client, "device_app_id")))
        } else if !pin.is_empty() {
            self.seen_pins.insert(pin.to_owned())
        } else {
            tracing::info!("Skipping ping for non-registered client_id '{id}'...");
            self.out.unregistered += 1;
            return;
        };
        if !fresh {
            tracing::info!(
                "Dropping ping request for client_id '{id}' because it's already in user's device pin or phone_id list."
            );
            self.out.duplicates += 1;
            return;
        }
        let platform = match self.platform(&client) {
            Ok(p) => p,
            Err(stored) => {
                tracing::info!("Dropping ping request for unsupported platform '{stored}'");
                self.out.unsupported += 1;
                return;
            }
        };
        if pin.is_empty() {
            // Known phone, but no address to send to (e.g. pruned as dead).
            tracing::info!("Skipping ping for non-registered client_id '{id}'...");
            self.out.unregistered += 1;
            return;
        }
        self.out.devices.push(PushDevice {
            client_id: client.id.clone(),
            platform,
            pin: pin.to_owned(),
            phone_id: phone_id.to_owned(),
            app_id: field(&client, "device_app_id").to_owned(),
            app_version: field(&client, "device_app_version").to_owned(),
            port: field(&client, "device_port").to_owned(),
        });
    }

    pub fn finish(self) -> Resolution {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: &str, fields: &[(&str, &str)], last_sync: Option<&str>) -> ClientRecord {
        ClientRecord {
            id: id.into(),
            user_id: "u".into(),
            app_id: "application".into(),
            device: fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            last_sync: last_sync.map(str::to_owned),
        }
    }

    #[test]
    fn the_worked_example_reaches_three_devices() {
        let mut r = Resolver::new(true);
        r.add_user(
            "testuser",
            vec![
                client("C", &[("device_type", "ANDROID"), ("device_push_type", "fcm"), ("device_pin", "tok123")], None),
                client("B", &[("device_type", "Apple"), ("device_pin", "abcd")], Some("2024-01-01T09:00:00Z")),
                client("A", &[("device_type", "Apple"), ("device_pin", "abcd")], Some("2024-01-01T10:00:00Z")),
            ],
        );
        r.add_user(
            "testuser1",
            vec![client(
                "D",
                &[("device_type", "ANDROID"), ("device_push_type", "rhoconnect_push"), ("device_pin", "uuid:beef")],
                None,
            )],
        );
        r.add_user("nobody", Vec::new());
        let out = r.finish();
        let got: Vec<(&str, Platform)> = out.devices.iter().map(|d| (d.client_id.as_str(), d.platform)).collect();
        assert_eq!(got, [("A", Platform::Apns), ("C", Platform::Fcm), ("D", Platform::Rps)]);
        assert_eq!((out.duplicates, out.users_without_clients), (1, 1));
    }

    #[test]
    fn phones_dedupe_with_their_app_and_platforms_map_by_push_type() {
        let mut r = Resolver::new(false);
        r.add_user(
            "u",
            vec![
                client("1", &[("device_type", "APPLE"), ("phone_id", "ph"), ("device_pin", "p1")], Some("3")),
                client("2", &[("device_type", "APPLE"), ("phone_id", "ph"), ("device_pin", "p2")], Some("2")),
                client(
                    "3",
                    &[("device_type", "APPLE"), ("phone_id", "ph"), ("device_app_id", "x"), ("device_pin", "p3")],
                    Some("1"),
                ),
                client("4", &[("device_type", "ANDROID"), ("device_pin", "g")], None),
                client("5", &[("device_type", "WINDOWS"), ("device_pin", "w")], None),
                client("6", &[("device_pin", "nt")], None),
            ],
        );
        let out = r.finish();
        let ids: Vec<&str> = out.devices.iter().map(|d| d.client_id.as_str()).collect();
        assert_eq!(ids, ["1", "3"]);
        assert_eq!(
            (out.duplicates, out.unsupported, out.unregistered),
            (1, 2, 1),
            "android without FCM is unsupported"
        );
    }
}
