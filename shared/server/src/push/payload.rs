//! What each push service is sent for one notice and device (docs/push.md §6): pure
//! functions, so every combination of alert, badge, sound, vibrate and sources is tested
//! without a socket.

use serde_json::{json, Map, Value};

use crate::ports::{PushDevice, PushNotice};

/// RhoConnect read a badge with Ruby's `to_i`: leading spaces, an optional sign, the
/// digits that follow; anything else is 0 (docs/push.md §6.1).
pub fn ruby_to_i(text: &str) -> i64 {
    let t = text.trim_start();
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'-') => (-1, &t[1..]),
        Some(b'+') => (1, &t[1..]),
        _ => (1, t),
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).take(18).collect();
    digits.parse::<i64>().map(|n| sign * n).unwrap_or(0)
}

/// Whether the notice shows something (alert, badge or sound): APNs then sends it as an
/// `alert` push at priority 10, else as a silent `background` one at priority 5.
pub fn is_visible(notice: &PushNotice) -> bool {
    notice.message.is_some() || notice.badge.is_some() || notice.sound.is_some()
}

/// The APNs JSON payload (docs/push.md §6.1).
pub fn apns(notice: &PushNotice) -> Value {
    let mut aps = Map::new();
    if let Some(message) = &notice.message {
        aps.insert("alert".into(), json!(message));
    }
    if let Some(badge) = &notice.badge {
        aps.insert("badge".into(), json!(ruby_to_i(badge)));
    }
    if let Some(sound) = &notice.sound {
        aps.insert("sound".into(), json!(sound));
    }
    aps.insert("vibrate".into(), json!(notice.vibrate));
    if !is_visible(notice) {
        // Without it current iOS does not wake the app for a silent push.
        aps.insert("content-available".into(), json!(1));
    }
    let mut payload = Map::new();
    payload.insert("aps".into(), Value::Object(aps));
    if !notice.sources.is_empty() {
        payload.insert("do_sync".into(), json!(notice.sources));
    }
    Value::Object(payload)
}

/// The APNs device token of a registered pin: spaces and angle brackets removed, lower case.
pub fn apns_token(pin: &str) -> String {
    pin.chars().filter(|c| !matches!(c, ' ' | '<' | '>')).collect::<String>().to_lowercase()
}

/// The FCM HTTP v1 request body (docs/push.md §6.2). Empty values count as absent here;
/// `collapse_key` is the caller's random number.
pub fn fcm(notice: &PushNotice, device: &PushDevice, package_name: &str, collapse_key: u32) -> Value {
    let present = |v: &Option<String>| v.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let mut data = Map::new();
    data.insert("do_sync".into(), json!(notice.sources.join(",")));
    let message = present(&notice.message);
    if let Some(m) = &message {
        data.insert("alert".into(), json!(m));
    }
    if !notice.vibrate.is_empty() {
        data.insert("vibrate".into(), json!(notice.vibrate));
    }
    if let Some(sound) = present(&notice.sound) {
        data.insert("sound".into(), json!(sound));
    }
    if !device.phone_id.is_empty() {
        data.insert("phone_id".into(), json!(device.phone_id));
    }
    let mut android = Map::new();
    android.insert("collapse_key".into(), json!(collapse_key.to_string()));
    android.insert("priority".into(), json!("high"));
    android.insert("restricted_package_name".into(), json!(package_name));
    android.insert("data".into(), Value::Object(data));
    if let Some(m) = message {
        android.insert("notification".into(), json!({ "body": m }));
    }
    json!({ "message": { "token": device.pin, "android": Value::Object(android) } })
}

/// The RhoConnect Push Service body (docs/push.md §6.3).
pub fn rps(notice: &PushNotice) -> Value {
    let mut data = Map::new();
    if let Some(message) = &notice.message {
        data.insert("alert".into(), json!(message));
    }
    if let Some(sound) = &notice.sound {
        data.insert("sound".into(), json!(sound));
    }
    data.insert("vibrate".into(), json!(notice.vibrate));
    if !notice.sources.is_empty() {
        data.insert("do_sync".into(), json!(notice.sources));
    }
    let mut body = Map::new();
    if let Some(badge) = &notice.badge {
        body.insert("collapseId".into(), json!(ruby_to_i(badge)));
    }
    body.insert("data".into(), Value::Object(data));
    Value::Object(body)
}

/// The plain webhook body (docs/push.md §6.4): the device as registered and the notice.
pub fn webhook(notice: &PushNotice, device: &PushDevice) -> Value {
    json!({
        "device": {
            "client_id": device.client_id,
            "device_pin": device.pin,
            "device_port": device.port,
            "phone_id": device.phone_id,
            "device_app_id": device.app_id,
            "device_app_version": device.app_version,
        },
        "notice": notice,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::Platform;

    fn notice(
        message: Option<&str>,
        badge: Option<&str>,
        sound: Option<&str>,
        vibrate: &str,
        sources: &[&str],
    ) -> PushNotice {
        PushNotice {
            message: message.map(str::to_owned),
            badge: badge.map(str::to_owned),
            sound: sound.map(str::to_owned),
            vibrate: vibrate.to_owned(),
            sources: sources.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn device(pin: &str, phone_id: &str) -> PushDevice {
        PushDevice {
            client_id: "c1".into(),
            platform: Platform::Fcm,
            pin: pin.into(),
            phone_id: phone_id.into(),
            app_id: String::new(),
            app_version: String::new(),
            port: String::new(),
        }
    }

    #[test]
    fn badges_read_like_ruby_to_i() {
        assert_eq!(ruby_to_i("5"), 5);
        assert_eq!(ruby_to_i(""), 0);
        assert_eq!(ruby_to_i(" 12abc"), 12);
        assert_eq!(ruby_to_i("-3"), -3);
        assert_eq!(ruby_to_i("x1"), 0);
    }

    #[test]
    fn apns_payload_of_the_full_notice_and_of_a_silent_one() {
        let full = notice(Some("hello world"), Some("5"), Some("hello.mp3"), "5", &["SampleAdapter"]);
        assert_eq!(
            apns(&full),
            json!({"aps":{"alert":"hello world","badge":5,"sound":"hello.mp3","vibrate":"5"},"do_sync":["SampleAdapter"]})
        );
        let two = notice(Some("hello world"), Some("5"), Some("hello.mp3"), "5", &["SampleAdapter", "SimpleAdapter"]);
        assert_eq!(apns(&two)["do_sync"], json!(["SampleAdapter", "SimpleAdapter"]));
        let silent = notice(None, None, None, "", &["Product"]);
        assert_eq!(apns(&silent), json!({"aps":{"vibrate":"","content-available":1},"do_sync":["Product"]}));
        assert!(!is_visible(&silent));
        let badge_only = notice(None, Some(""), None, "", &[]);
        assert_eq!(apns(&badge_only), json!({"aps":{"badge":0,"vibrate":""}}));
        assert_eq!(apns_token("<AB cd EF>"), "abcdef");
    }

    #[test]
    fn fcm_body_drops_empty_values() {
        let full = notice(Some("hello world"), Some("5"), Some("hello.mp3"), "5", &["SampleAdapter"]);
        assert_eq!(
            fcm(&full, &device("tok", ""), "com.example", 48213377),
            json!({"message":{"token":"tok","android":{
                "collapse_key":"48213377","priority":"high","restricted_package_name":"com.example",
                "data":{"do_sync":"SampleAdapter","alert":"hello world","vibrate":"5","sound":"hello.mp3"},
                "notification":{"body":"hello world"}}}})
        );
        let empties = notice(Some(""), None, Some("hello.mp3"), "5", &[]);
        let body = fcm(&empties, &device("tok", ""), "p", 1);
        assert_eq!(body["message"]["android"]["data"], json!({"do_sync":"","vibrate":"5","sound":"hello.mp3"}));
        assert!(body["message"]["android"].get("notification").is_none());
        let two = notice(None, None, None, "", &["A", "B"]);
        let body = fcm(&two, &device("tok", "ph1"), "p", 1);
        assert_eq!(body["message"]["android"]["data"], json!({"do_sync":"A,B","phone_id":"ph1"}));
    }

    #[test]
    fn rps_body_matches_rhoconnect() {
        let full = notice(Some("hello world"), Some("5"), Some("hello.mp3"), "5", &["SampleAdapter"]);
        assert_eq!(
            rps(&full),
            json!({"collapseId":5,"data":{"do_sync":["SampleAdapter"],"alert":"hello world","vibrate":"5","sound":"hello.mp3"}})
        );
        let example = notice(Some("hi"), Some("2"), None, "", &["Product"]);
        assert_eq!(rps(&example), json!({"collapseId":2,"data":{"alert":"hi","vibrate":"","do_sync":["Product"]}}));
    }
}
