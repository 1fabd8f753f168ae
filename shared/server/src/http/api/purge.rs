//! Cache cleanup when the REST API deletes users and clients (docs/rest-api.md §6.4–6.5): the
//! sync documents of a user's partitions and of a client's per-source state, in the key
//! layout of [`crate::store::keys`]. App-partitioned (`__shared__`) documents are never
//! touched by a user deletion (docs/rest-api.md §6.4; unlike RhoConnect:
//! docs/differences.md §12).

use crate::config::PartitionType;
use crate::sync::SyncError;
use crate::AppState;

/// Deletes every source document and read state of `login`'s user partitions and the
/// per-source documents of `clients` (the user's clients).
pub async fn user_documents(state: &AppState, login: &str, clients: &[String]) -> Result<(), SyncError> {
    let store = &state.sync.store;
    for source in &state.config.settings.sources {
        let Some(ctx) = state.sync.source(&source.name).await? else { continue };
        let pk = ctx.keys(&state.sync, login);
        for client in clients {
            store.purge_client_docs(&pk.client(client)).await?;
        }
        if ctx.config.partition_type == PartitionType::User {
            store.purge_partition(&pk).await?;
        }
    }
    for client in clients {
        store.purge_client_record(client).await?;
    }
    Ok(())
}

/// Deletes the per-source documents of client `client_id` owned by `login`.
pub async fn client_documents(state: &AppState, login: &str, client_id: &str) -> Result<(), SyncError> {
    let store = &state.sync.store;
    for source in &state.config.settings.sources {
        let Some(ctx) = state.sync.source(&source.name).await? else { continue };
        store.purge_client_docs(&ctx.keys(&state.sync, login).client(client_id)).await?;
    }
    Ok(store.purge_client_record(client_id).await?)
}
