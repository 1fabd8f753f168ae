//! Cache cleanup when the REST API deletes users and clients (rest-api.md §4.11–4.12): the
//! sync documents of a user's partitions and of a client's per-source state, in the key
//! layout of [`crate::sync::keys`]. App-partitioned (`__shared__`) documents are never
//! touched by a user deletion (the §4.11 deviation).

use crate::config::PartitionType;
use crate::edges::RedisError;
use crate::sync::{keys, SourceCtx};
use crate::AppState;

async fn del(state: &AppState, keys: &[&str]) -> Result<(), RedisError> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut conn = state.redis.conn();
    // Each group shares one hash tag, so one DEL stays on one cluster slot.
    let _: u64 = redis::cmd("DEL").arg(keys).query_async(&mut conn).await?;
    Ok(())
}

/// Deletes every source document and read state of `login`'s user partitions and the
/// per-source documents of `clients` (the user's clients).
pub async fn user_documents(state: &AppState, login: &str, clients: &[String]) -> Result<(), RedisError> {
    for source in &state.config.settings.sources {
        let Some(ctx) = SourceCtx::find(state, &source.name) else { continue };
        let pk = ctx.keys(state, login);
        for client in clients {
            del(state, &pk.client(client).all()).await?;
        }
        if ctx.config.partition_type == PartitionType::User {
            del(state, &pk.all()).await?;
        }
    }
    for client in clients {
        del(state, &[keys::client_record(&state.redis.keys, client).as_str()]).await?;
    }
    Ok(())
}

/// Deletes the per-source documents of client `client_id` owned by `login`.
pub async fn client_documents(state: &AppState, login: &str, client_id: &str) -> Result<(), RedisError> {
    for source in &state.config.settings.sources {
        let Some(ctx) = SourceCtx::find(state, &source.name) else { continue };
        del(state, &ctx.keys(state, login).client(client_id).all()).await?;
    }
    del(state, &[keys::client_record(&state.redis.keys, client_id).as_str()]).await
}
