//! pactor's download engine. It knows nothing of libalpm: the resolver hands it
//! an owned fetch plan (files, sizes, sha256, mirrors) and it returns verified
//! files in a download directory.
#![warn(missing_docs)]

pub mod engine;
pub mod error;
mod http;
mod mirrors;
pub mod plan;
pub mod reporter;
pub mod resume;
pub mod tls;
pub mod verify;
pub mod warm;

pub use engine::{
    engine_runtime, fetch_all, fetch_all_blocking, Checked, FetchOutcome, FetchSummary, FetchedFile,
};
pub use error::{FetchError, FileFailure, SourceAttempt, SourceError};
pub use http::prebuild_client;
pub use plan::{
    first_connections, FetchItem, FetchOptions, FetchPlan, ItemKind, Limits, TorrentSource,
    FIRST_BYTES_IN_FLIGHT, FIRST_CONNECTIONS_PER_MIRROR,
};
pub use reporter::{BenchReason, ItemId, NoopReporter, Reporter, SourceKind};
pub use url::Url;

pub mod swarm;
pub mod torrent;
pub mod transaction;

pub use swarm::{
    Seed, SeedItem, SeedState, SeedStats, Swarm, SwarmError, SwarmOptions, SwarmTotals,
};
// The integration tests' loopback mirrors, for the unit tests that need one.
#[cfg(test)]
extern crate self as pactor_fetch;
#[cfg(test)]
#[path = "../tests/support/mod.rs"]
mod test_support;

pub use transaction::{
    fetch_transaction, fetch_transaction_blocking, fetch_transaction_on, SwarmSettings,
};

/// Locks `m`, also when a thread panicked while holding it (the data is
/// plain bookkeeping that stays usable). Also pactor's own (`src/`).
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
