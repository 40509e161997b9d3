//! How the engine tells the outside what it is doing. The engine never prints:
//! pactor implements [`Reporter`] with indicatif bars (`src/ui/bars.rs`),
//! tests with [`CollectingReporter`]. Calls come from many tasks at once, so
//! an implementation must be cheap and thread-safe; byte progress is batched
//! by the engine (a few calls per second per connection, not one per packet).

use std::sync::Mutex;

use crate::engine::{FetchSummary, FetchedFile};
use crate::error::FileFailure;

/// Index of an item in [`crate::FetchPlan::items`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ItemId(pub usize);

/// Where bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// An HTTP mirror (directly or as a BEP 19 webseed).
    Mirror,
    /// A BitTorrent peer.
    Peer,
}

/// Why a mirror stopped getting work for the rest of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BenchReason {
    /// It could not be connected to.
    Unreachable(String),
    /// It accepted a request and then sent nothing.
    Stalled,
    /// It was much slower than the best mirror.
    Slow {
        /// Its rate in bytes/s.
        rate: u64,
        /// The best mirror's rate in bytes/s.
        best: u64,
    },
    /// It kept failing requests.
    Errors(String),
}

impl std::fmt::Display for BenchReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BenchReason::Unreachable(e) => write!(f, "unreachable: {e}"),
            BenchReason::Stalled => write!(f, "stalled"),
            BenchReason::Slow { rate, best } => {
                write!(f, "too slow ({rate} B/s while the best does {best} B/s)")
            }
            BenchReason::Errors(e) => write!(f, "too many errors, last: {e}"),
        }
    }
}

/// Receives the engine's events. Every method has an empty default.
pub trait Reporter: Send + Sync {
    /// The run starts: how many items, and the sum of their known sizes.
    fn on_start(&self, _items: usize, _total_bytes: u64) {}
    /// An item is being worked on; `resumed` bytes were already on disk from
    /// an earlier run (count them as done, not as downloaded).
    fn on_item_start(&self, _item: ItemId, _filename: &str, _size: Option<u64>, _resumed: u64) {}
    /// `bytes` more arrived for `item` from a source of kind `source`.
    fn on_progress(&self, _item: ItemId, _bytes: u64, _source: SourceKind) {}
    /// Bytes counted by `on_progress` were thrown away (a cancelled or bad
    /// transfer) and will be downloaded again; a bar should go back.
    fn on_discard(&self, _item: ItemId, _bytes: u64) {}
    /// The swarm finished the item's file: it is complete and closed at
    /// `<download dir>/`[`SWARM_DIR`](crate::transaction::SWARM_DIR)`/<filename>`,
    /// and the engine now checks it and moves it to `<download dir>/<filename>`
    /// (same file, same inode), then reports it done. Another checker of the
    /// file (pactor's parent process) may start on it now.
    fn on_item_ready(&self, _item: ItemId, _filename: &str) {}
    /// The item is verified and in the download directory.
    fn on_item_done(&self, _item: ItemId, _file: &FetchedFile) {}
    /// The item could not be downloaded.
    fn on_item_failed(&self, _item: ItemId, _failure: &FileFailure) {}
    /// A mirror gets no more work in this run.
    fn on_mirror_benched(&self, _mirror: &str, _reason: &BenchReason) {}
    /// Something the user should hear about that is not a failure (a bad
    /// torrent ignored, a checksum mismatch retried).
    fn on_warning(&self, _message: &str) {}
    /// The run is over.
    fn on_finish(&self, _summary: &FetchSummary) {}
}

/// A reporter that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoopReporter;

impl Reporter for NoopReporter {}

/// One recorded call of [`CollectingReporter`].
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)]
pub enum Event {
    Start {
        items: usize,
        total_bytes: u64,
    },
    ItemStart {
        item: ItemId,
        filename: String,
        size: Option<u64>,
        resumed: u64,
    },
    Progress {
        item: ItemId,
        bytes: u64,
        source: SourceKind,
    },
    Discard {
        item: ItemId,
        bytes: u64,
    },
    ItemReady {
        item: ItemId,
        filename: String,
    },
    ItemDone {
        item: ItemId,
        file: FetchedFile,
    },
    ItemFailed {
        item: ItemId,
        failure: FileFailure,
    },
    MirrorBenched {
        mirror: String,
        reason: BenchReason,
    },
    Warning(String),
    Finish(FetchSummary),
}

/// A reporter that records every call, for tests.
#[derive(Debug, Default)]
pub struct CollectingReporter {
    events: Mutex<Vec<Event>>,
}

impl CollectingReporter {
    /// A copy of the events so far.
    pub fn events(&self) -> Vec<Event> {
        self.lock().clone()
    }

    /// Mirrors benched so far, with reasons.
    pub fn benched(&self) -> Vec<(String, BenchReason)> {
        self.lock()
            .iter()
            .filter_map(|e| match e {
                Event::MirrorBenched { mirror, reason } => Some((mirror.clone(), reason.clone())),
                _ => None,
            })
            .collect()
    }

    /// Sum of progress bytes minus discarded bytes for `item`.
    pub fn net_bytes(&self, item: ItemId) -> i64 {
        self.lock().iter().fold(0i64, |acc, e| match e {
            Event::Progress { item: i, bytes, .. } if *i == item => acc + *bytes as i64,
            Event::Discard { item: i, bytes } if *i == item => acc - *bytes as i64,
            _ => acc,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Event>> {
        // A panic in another test thread must not hide this one's events.
        crate::lock(&self.events)
    }

    fn push(&self, event: Event) {
        self.lock().push(event);
    }
}

impl Reporter for CollectingReporter {
    fn on_start(&self, items: usize, total_bytes: u64) {
        self.push(Event::Start { items, total_bytes });
    }
    fn on_item_start(&self, item: ItemId, filename: &str, size: Option<u64>, resumed: u64) {
        self.push(Event::ItemStart {
            item,
            filename: filename.to_owned(),
            size,
            resumed,
        });
    }
    fn on_progress(&self, item: ItemId, bytes: u64, source: SourceKind) {
        self.push(Event::Progress {
            item,
            bytes,
            source,
        });
    }
    fn on_discard(&self, item: ItemId, bytes: u64) {
        self.push(Event::Discard { item, bytes });
    }
    fn on_item_ready(&self, item: ItemId, filename: &str) {
        self.push(Event::ItemReady {
            item,
            filename: filename.to_owned(),
        });
    }
    fn on_item_done(&self, item: ItemId, file: &FetchedFile) {
        self.push(Event::ItemDone {
            item,
            file: file.clone(),
        });
    }
    fn on_item_failed(&self, item: ItemId, failure: &FileFailure) {
        self.push(Event::ItemFailed {
            item,
            failure: failure.clone(),
        });
    }
    fn on_mirror_benched(&self, mirror: &str, reason: &BenchReason) {
        self.push(Event::MirrorBenched {
            mirror: mirror.to_owned(),
            reason: reason.clone(),
        });
    }
    fn on_warning(&self, message: &str) {
        self.push(Event::Warning(message.to_owned()));
    }
    fn on_finish(&self, summary: &FetchSummary) {
        self.push(Event::Finish(summary.clone()));
    }
}
