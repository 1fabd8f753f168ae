//! A change of a whole scratch document that loses nothing under simultaneous writers: the
//! built-in adapters that keep their "backend" in one document (demo, bench) all change it
//! through [`change_doc`].

use std::time::Duration;

use serde_json::Value;

use super::{AdapterError, ScratchDocs};

/// How often a change is tried while other writers keep saving the document first.
const ATTEMPTS: u32 = 64;

/// Writers of one document in this process take turns (one lock per stripe of document
/// names), so they do not lose compare-and-set races to each other: each lost race reads and
/// parses the whole document again, and fifty simultaneous writers of one catalogue tripled
/// the CPU of a request that way. Other processes (other Lambda instances) are still kept
/// apart by the compare-and-set.
static TURNS: [tokio::sync::Mutex<()>; 64] = [const { tokio::sync::Mutex::const_new(()) }; 64];

fn turn(name: &str) -> &'static tokio::sync::Mutex<()> {
    use std::hash::{BuildHasher, BuildHasherDefault};
    let hash = BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(name);
    &TURNS[(hash % TURNS.len() as u64) as usize]
}

/// Reads the document `name` with its version, lets `change` compute the new value (`None`:
/// nothing to save) and saves it only if nobody saved meanwhile, else starts over after a
/// jittered pause that doubles up to 32 ms. `change` sees the document as it is each time.
/// Changes of one document in this process wait for each other's turn ([`TURNS`]).
pub async fn change_doc<F>(scratch: &dyn ScratchDocs, name: &str, mut change: F) -> Result<(), AdapterError>
where
    F: FnMut(Option<Value>) -> Result<Option<Value>, AdapterError> + Send,
{
    let _turn = turn(name).lock().await;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            let bound = 1u64 << attempt.min(5);
            let micros = rand::Rng::gen_range(&mut rand::thread_rng(), 0..bound * 1_000);
            tokio::time::sleep(Duration::from_micros(micros)).await;
        }
        let (value, version) = scratch.read_versioned(name).await?;
        let Some(new) = change(value)? else { return Ok(()) };
        if scratch.replace_if(name, version.as_deref(), new).await? {
            return Ok(());
        }
    }
    Err(AdapterError::Backend(format!("{name} kept changing; the write was not saved")))
}
