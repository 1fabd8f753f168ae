//! A device session is only as good as its user (docs/device-protocol.md §2.4): once the user is
//! deleted through the REST API — or the system is reset — the signed cookie stops working
//! at once (not after the existence cache's TTL), and a user created again under the same
//! login must log in anew.

mod sync_support;

use serde_json::json;
use sync_support::{World, SYNC_SETTINGS};

#[tokio::test]
async fn a_deleted_users_cookie_is_refused_even_after_the_login_is_recreated() {
    let w = World::new("sess-del", SYNC_SETTINGS).await;
    let mut old = w.device("dora").await;
    // A successful sync: the user's existence is now cached.
    let p = old.query("MockAdapter", "").await;
    assert_eq!(p.status, 200, "{}", p.text);

    let (status, body) = w.admin("DELETE", "/rc/v1/users/dora", None).await;
    assert_eq!((status, body.as_str()), (200, "User deleted"));
    let p = old.query("MockAdapter", "").await;
    assert_eq!((p.status, p.text.as_str()), (401, "Not authenticated"), "query right after the deletion");
    let c = old.post_json("/rc/v1/clients", serde_json::Value::Null).await;
    assert_eq!(c.status, 401, "clientcreate: {}", c.text);
    let cud = old.cud("MockAdapter", json!({"create": {"t1": {"name": "x"}}})).await;
    assert_eq!(cud.status, 401, "client write: {}", cud.text);

    // Same login again: the old cookie stays void; a fresh login works.
    let (status, body) =
        w.admin("POST", "/rc/v1/users", Some(json!({"attributes": {"login": "dora", "password": "x"}}))).await;
    assert_eq!(status, 200, "{body}");
    let p = old.query("MockAdapter", "").await;
    assert_eq!(p.status, 401, "the pre-deletion cookie names the old user: {}", p.text);
    let mut new = w.device("dora").await;
    let p = new.query("MockAdapter", "").await;
    assert_eq!(p.status, 200, "{}", p.text);
    // Still void after the existence cache would have been refreshed.
    let p = old.query("MockAdapter", "").await;
    assert_eq!(p.status, 401, "{}", p.text);
}

#[tokio::test]
async fn a_system_reset_voids_every_device_session() {
    let w = World::new("sess-reset", SYNC_SETTINGS).await;
    let mut old = w.device("rita").await;
    assert_eq!(old.query("MockAdapter", "").await.status, 200);
    let (status, body) = w.admin("POST", "/rc/v1/system/reset", None).await;
    assert_eq!((status, body.as_str()), (200, "DB reset"));
    // Open device auth recreates the user at the next login; the old cookie stays void.
    let mut new = w.device("rita").await;
    assert_eq!(new.query("MockAdapter", "").await.status, 200);
    let p = old.query("MockAdapter", "").await;
    assert_eq!((p.status, p.text.as_str()), (401, "Not authenticated"));
}
