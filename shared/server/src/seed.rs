//! Seeding for local runs: the demo device user and the admin account.

use crate::registry::{password, Registry, RegistryError, User};

/// Creates (or resets the password of) a device user.
pub async fn demo_user(registry: &dyn Registry, login: &str, pass: &str) -> Result<(), RegistryError> {
    let user = User { login: login.to_owned(), password_hash: Some(password::hash(pass)), ..User::default() };
    registry.put_user(&user).await
}
