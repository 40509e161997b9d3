//! The scheduler: every file of a plan at once, each split into blocks that
//! range requests fetch from all of its mirrors at the same time.
//!
//! Each mirror gets a few worker tasks. A worker asks the scheduler for a
//! *lease* (a run of free blocks of one file, sized to take about a second at
//! that mirror's rate), fetches it with one range request, and asks again, so
//! fast mirrors take more of the work without any planning. When no block is
//! free, an idle worker splits the tail off the lease that would finish last.
//! A monitor task samples rates, cancels stalled requests and benches slow
//! or dead mirrors; their blocks go back to the pool at once. Invariants are
//! written down in `STATE.md` beside this crate's `Cargo.toml`.

use std::collections::HashMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use reqwest::Client;
use tokio::sync::{Notify, Semaphore};
use tokio::task::{AbortHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::error::{FetchError, FileFailure, SourceAttempt, SourceError};
use crate::http::{self, RateLimiter};
use crate::lock;
use crate::mirrors::{MirrorId, Mirrors};
use crate::plan::{FetchItem, FetchOptions, FetchPlan, ItemKind};
use crate::reporter::{BenchReason, ItemId, Reporter, SourceKind};
use crate::resume::{part_paths, ResumeRecord};
use crate::verify::{self, VerifyError};

/// A file that arrived and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedFile {
    /// Its item in the plan.
    pub item: ItemId,
    /// The plan's file name.
    pub filename: String,
    /// Where it is now: `<download_dir>/<filename>`.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// Package or signature.
    pub kind: ItemKind,
    /// Bytes received from mirrors in this run (including any thrown away).
    pub from_mirrors: u64,
    /// Bytes received from peers in this run.
    pub from_peers: u64,
    /// Bytes that were already on disk from an earlier run.
    pub resumed: u64,
    /// Set where another process than the writer checked the file (pactor,
    /// for its sandboxed download process); `None` for the engine's own.
    pub checked: Option<Checked>,
}

/// A file as another process than its writer checked it: which file (so
/// that what moves on later is that file, not another put under its name),
/// and whether its bytes were frozen for that check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// The file's device (`st_dev`).
    pub dev: u64,
    /// Its inode (`st_ino`).
    pub ino: u64,
    /// The checker owned the file, no one else could open it for writing
    /// and no writer was left when it was hashed: the bytes checked are the
    /// bytes for good. Else a writer kept from before could still change it.
    pub frozen: bool,
}

/// The numbers for the summary line after a download.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FetchSummary {
    /// Files delivered.
    pub files: usize,
    /// Of which packages.
    pub packages: usize,
    /// Bytes received from mirrors (HTTP and webseeds).
    pub bytes_from_mirrors: u64,
    /// Bytes received from BitTorrent peers.
    pub bytes_from_peers: u64,
    /// Bytes found on disk from an earlier run and not downloaded again.
    pub bytes_resumed: u64,
    /// Received bytes thrown away (cancelled partial blocks, bad checksums).
    pub bytes_discarded: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// What a run delivered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FetchOutcome {
    /// Verified files, in plan order.
    pub files: Vec<FetchedFile>,
    /// Totals.
    pub summary: FetchSummary,
}

/// Downloads every item of `plan` into `plan.download_dir`, verifies each,
/// and returns them. Files that fail make the whole call fail with
/// [`FetchError::Failed`], which still carries the files that arrived.
///
/// Dropping the future stops the downloads; the resume records written so
/// far (and a last one written on drop) let the next run continue.
pub async fn fetch_all(
    plan: FetchPlan,
    reporter: Arc<dyn Reporter>,
) -> Result<FetchOutcome, FetchError> {
    let limiter = plan
        .limits
        .max_download_rate
        .map(|rate| Arc::new(RateLimiter::new(rate)));
    fetch_all_limited(plan, reporter, limiter).await
}

/// [`fetch_all`] with `limiter` in place of one of its own from
/// `plan.limits.max_download_rate` (a transaction shares one between the
/// HTTP engine and the swarm's bridges).
pub(crate) async fn fetch_all_limited(
    plan: FetchPlan,
    reporter: Arc<dyn Reporter>,
    limiter: Option<Arc<RateLimiter>>,
) -> Result<FetchOutcome, FetchError> {
    let started = Instant::now();
    crate::tls::preload_for(&plan);
    let shared = Shared::prepare(plan, reporter, limiter)?;
    let _flush_on_drop = FlushOnDrop(shared.clone());

    let (items, total) = {
        let s = shared.lock();
        let total = s.items.iter().filter_map(|i| i.size).sum();
        (s.items.len(), total)
    };
    shared.reporter.on_start(items, total);

    let mut tasks = JoinSet::new();
    let initial = std::mem::take(&mut shared.lock().initial);
    shared.emit(initial);
    let mirror_count = shared.lock().mirrors.list.len();
    // Round by round, so that every mirror's first request goes out with
    // the first tasks polled, not after another mirror's whole share.
    for _ in 0..shared.limits_per_mirror {
        for m in 0..mirror_count {
            tasks.spawn(worker(shared.clone(), MirrorId(m)));
        }
    }
    let stop = CancellationToken::new();
    tasks.spawn(monitor(shared.clone(), stop.clone()));
    tasks.spawn(flusher(shared.clone(), stop.clone()));

    loop {
        let done = shared.done.notified();
        if shared.lock().remaining == 0 {
            break;
        }
        done.await;
    }
    stop.cancel();
    shared.wake.notify_waiters();
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }
    // Records of failed files, so that a rerun resumes them.
    let batch = shared.lock().dirty_records(&shared.opts);
    let fsync = shared.opts.fsync;
    let _ = tokio::task::spawn_blocking(move || write_records(batch, fsync)).await;

    let mut s = shared.lock();
    let mut files = std::mem::take(&mut s.fetched);
    files.sort_by_key(|f| f.item);
    let counters: u64 = s
        .mirrors
        .list
        .iter()
        .map(|m| m.counters.bytes.load(Ordering::Relaxed))
        .sum();
    let summary = FetchSummary {
        files: files.len(),
        packages: files.iter().filter(|f| f.kind == ItemKind::Package).count(),
        bytes_from_mirrors: counters,
        bytes_from_peers: 0,
        bytes_resumed: files.iter().map(|f| f.resumed).sum(),
        bytes_discarded: s.discarded,
        elapsed: started.elapsed(),
    };
    let mut failures = std::mem::take(&mut s.failures);
    drop(s);
    shared.reporter.on_finish(&summary);
    let outcome = FetchOutcome { files, summary };
    if failures.is_empty() {
        Ok(outcome)
    } else {
        failures.sort_by_key(|(id, _)| *id);
        Err(FetchError::Failed {
            failures: failures.into_iter().map(|(_, f)| f).collect(),
            partial: Box::new(outcome),
        })
    }
}

/// [`fetch_all`] on a runtime of its own, for callers without one (libalpm's
/// callbacks are synchronous). Must not be called from inside a tokio runtime.
pub fn fetch_all_blocking(
    plan: FetchPlan,
    reporter: Arc<dyn Reporter>,
) -> Result<FetchOutcome, FetchError> {
    engine_runtime()?.block_on(fetch_all(plan, reporter))
}

/// The runtime the engine runs on when its caller has none: multi-threaded
/// (librqbit needs `block_in_place`), two workers, since the engine is
/// I/O-bound and its budget is one core at 100 MB/s; hashing runs on the
/// blocking pool beside them.
pub fn engine_runtime() -> Result<tokio::runtime::Runtime, FetchError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("pactor-fetch")
        .enable_all()
        .build()
        .map_err(FetchError::Runtime)
}

/// State of one block of a sized file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Free,
    Claimed,
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Downloading,
    Verifying,
    Done,
    Failed,
}

/// One mirror as a source of one item.
#[derive(Debug)]
struct Source {
    mirror: MirrorId,
    /// The mirror's base URL, shared by the items it serves: a file's URL
    /// is built when a request needs it (see [`Shared::prepare`]).
    base: Arc<Url>,
}

impl Source {
    fn url(&self, filename: &str) -> Option<Url> {
        crate::plan::file_url(&self.base, filename).ok()
    }
}

/// What one mirror did for one item.
#[derive(Debug, Default)]
struct SourceRecord {
    errors: u32,
    last: Option<String>,
    /// The file is not (in this version) on the mirror: never ask again.
    gave_up: bool,
    retry_after: Option<Instant>,
}

/// Serialises writes of an item's resume record with its completion, so a
/// late flush never resurrects the record of a placed file.
#[derive(Debug, Default)]
struct RecordIo {
    finished: bool,
}

struct Item {
    id: ItemId,
    filename: String,
    size: Option<u64>,
    sha256: Option<[u8; 32]>,
    kind: ItemKind,
    sources: Vec<Source>,
    phase: Phase,
    blocks: Vec<Block>,
    /// Which mirror wrote each block in this run (blamed on a bad checksum).
    served_by: Vec<Option<MirrorId>>,
    /// After a bad checksum the file is fetched whole from one mirror at a
    /// time, so that a second failure proves that mirror wrong.
    single_source: Option<MirrorId>,
    /// Single-source rounds started.
    isolation_rounds: u32,
    /// The copy that failed first, kept to find out afterwards which mirror
    /// served the bad blocks, with who served each block.
    bad_copy: Option<(PathBuf, Vec<Option<MirrorId>>)>,
    /// An unsized item is fetched whole by one lease at a time.
    unsized_taken: bool,
    active: usize,
    file: Option<Arc<std::fs::File>>,
    part: PathBuf,
    record: PathBuf,
    dest: PathBuf,
    record_io: Arc<Mutex<RecordIo>>,
    record_dirty: bool,
    started: bool,
    resumed: u64,
    /// Blocks came from disk: a bad checksum may be a lost write, not a
    /// mirror's fault, so the first one only restarts the file.
    resumed_from_disk: bool,
    /// The complete file was already in the download directory.
    preexisting: bool,
    per_source: HashMap<MirrorId, SourceRecord>,
    /// Mirrors in the order first tried, for the failure message.
    tried: Vec<MirrorId>,
    received: u64,
    /// Bytes counted in progress events since the last reset.
    counted: u64,
    note: Option<String>,
}

impl Item {
    fn source_of(&self, m: MirrorId) -> Option<&Source> {
        self.sources.iter().find(|s| s.mirror == m)
    }

    fn usable(&self, m: MirrorId, max_errors: u32) -> bool {
        self.per_source
            .get(&m)
            .is_none_or(|r| !r.gave_up && r.errors < max_errors)
    }

    fn ready(&self, m: MirrorId, now: Instant) -> bool {
        self.per_source
            .get(&m)
            .and_then(|r| r.retry_after)
            .is_none_or(|t| now >= t)
    }

    fn has_usable(&self, max_errors: u32) -> bool {
        self.sources
            .iter()
            .any(|s| self.usable(s.mirror, max_errors))
    }

    fn all_done(&self) -> bool {
        self.blocks.iter().all(|b| *b == Block::Done)
    }

    fn record_snapshot(&self, block_size: u64) -> Option<ResumeRecord> {
        let size = self.size?;
        let mut record = ResumeRecord::new(size, self.sha256, block_size);
        for (d, b) in record.done.iter_mut().zip(&self.blocks) {
            *d = *b == Block::Done;
        }
        Some(record)
    }

    fn failure(&self) -> FileFailure {
        FileFailure {
            filename: self.filename.clone(),
            attempts: self
                .tried
                .iter()
                .filter_map(|m| {
                    let url = self.source_of(*m)?.url(&self.filename)?.to_string();
                    let outcome = self
                        .per_source
                        .get(m)
                        .and_then(|r| r.last.clone())
                        .unwrap_or_else(|| "no answer".into());
                    Some(SourceAttempt { url, outcome })
                })
                .collect(),
            note: self.note.clone(),
        }
    }
}

/// One range request in flight. The scheduler may move `end` down (another
/// mirror took the tail) and may cancel it; the worker owns `pos`.
struct Lease {
    item: usize,
    mirror: MirrorId,
    url: Url,
    size: Option<u64>,
    file: Arc<std::fs::File>,
    start: u64,
    end: AtomicU64,
    pos: AtomicU64,
    /// Milliseconds since the run's start of the last byte (or of the start).
    last_progress: AtomicU64,
    cancel: CancellationToken,
    reason: Mutex<Option<SourceError>>,
    /// The mirror may answer with the whole file; read past the start.
    skip_allowed: bool,
    /// An unsized signature: refuse more than `max_unknown_size` bytes.
    capped: bool,
    /// Another lease races this one for the same range (never raced twice).
    raced: AtomicBool,
    /// Milliseconds since the run's start when it was handed out.
    created_ms: u64,
}

impl Lease {
    fn cancel_with(&self, error: SourceError) {
        let mut reason = lock(&self.reason);
        reason.get_or_insert(error);
        self.cancel.cancel();
    }

    fn reason(&self) -> SourceError {
        lock(&self.reason)
            .clone()
            .unwrap_or(SourceError::Transport("cancelled".into()))
    }
}

/// Something to tell the reporter or start once the lock is released.
enum Emit {
    Start(ItemId, String, Option<u64>, u64),
    Benched(String, BenchReason),
    Discard(ItemId, u64),
    Done(ItemId, FetchedFile),
    Failed(ItemId, FileFailure),
    Warning(String),
    Verify(usize),
    /// The item before it was reported done or failed: one fewer to wait
    /// for. Counted only once that report is out, so that the run cannot
    /// end (and report its finish) ahead of an item's own report.
    Settled,
}

struct Sched {
    items: Vec<Item>,
    mirrors: Mirrors,
    leases: Vec<Arc<Lease>>,
    remaining: usize,
    fetched: Vec<FetchedFile>,
    failures: Vec<(ItemId, FileFailure)>,
    discarded: u64,
    /// Connections one mirror may have.
    per_mirror_limit: usize,
    /// A typical request: the mean size of the files with a known size
    /// (at least a block), bytes.
    typical_request: u64,
    /// Connections a mirror gets before its link is known
    /// ([`crate::plan::first_connections`] of `typical_request`).
    first_connections: usize,
    /// The global download limit, bytes/s, if any.
    limit: Option<f64>,
    /// Events from preparation, emitted once the run starts.
    initial: Vec<Emit>,
}

struct Shared {
    opts: FetchOptions,
    limits_per_mirror: usize,
    client: Client,
    reporter: Arc<dyn Reporter>,
    limiter: Option<Arc<RateLimiter>>,
    connections: Semaphore,
    verify_slots: Semaphore,
    state: Mutex<Sched>,
    /// Work may have become available.
    wake: Notify,
    /// `remaining` reached zero.
    done: Notify,
    base: Instant,
    verifies: Mutex<Vec<AbortHandle>>,
}

enum Next {
    Lease(Arc<Lease>),
    Wait,
    Exit,
}

impl Shared {
    fn prepare(
        plan: FetchPlan,
        reporter: Arc<dyn Reporter>,
        limiter: Option<Arc<RateLimiter>>,
    ) -> Result<Arc<Self>, FetchError> {
        let FetchPlan {
            items: plan_items,
            download_dir: dir,
            limits,
            options: opts,
        } = plan;
        if opts.block_size == 0 {
            return Err(FetchError::InvalidPlan("block size 0".into()));
        }
        fs_err::create_dir_all(&dir).map_err(|source| FetchError::Io {
            action: "creating download directory",
            path: dir.clone(),
            source,
        })?;
        // Unless the client was built ahead, it is built while the items
        // are prepared (a few hundred microseconds each; the system's CA
        // certificates wait for the first HTTPS handshake, `tls`).
        let client = http::prebuilt_client(&opts, &limits).ok_or_else(|| {
            let (opts, limits) = (opts.clone(), limits.clone());
            std::thread::spawn(move || http::build_client(&opts, &limits))
        });
        let listing = Listing::of(&dir);
        let mut mirrors = Mirrors::default();
        let mut items = Vec::with_capacity(plan_items.len());
        let mut initial = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut by_base: HashMap<String, (MirrorId, Arc<Url>)> = HashMap::new();
        for (i, plan_item) in plan_items.into_iter().enumerate() {
            let name = &plan_item.filename;
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                return Err(FetchError::InvalidPlan(format!("bad file name '{name}'")));
            }
            if !seen.insert(name.clone()) {
                return Err(FetchError::InvalidPlan(format!("'{name}' listed twice")));
            }
            // Each base is interned once and shared; a file's URL is built
            // per request (1200 of them up front took 1.3 ms of a 300-package
            // start), and checked here only where building it parses.
            let mut sources: Vec<Source> = Vec::new();
            for base in &plan_item.mirrors {
                if !crate::plan::joins_plainly(base, name) {
                    crate::plan::file_url(base, name).map_err(|e| {
                        FetchError::InvalidPlan(format!("mirror '{base}' for '{name}': {e}"))
                    })?;
                }
                let (mirror, base) = match by_base.get(base.as_str()) {
                    Some(known) => known.clone(),
                    None => {
                        let known = (mirrors.intern(base), Arc::new(base.clone()));
                        by_base.insert(base.as_str().to_owned(), known.clone());
                        known
                    }
                };
                if !sources.iter().any(|s| s.mirror == mirror) {
                    sources.push(Source { mirror, base });
                }
            }
            let item = new_item(
                ItemId(i),
                plan_item,
                sources,
                (&dir, &listing),
                &opts,
                &mut initial,
            )
            .map_err(|(path, source)| FetchError::Io {
                action: "preparing",
                path,
                source,
            })?;
            items.push(item);
        }
        let remaining = items
            .iter()
            .filter(|i| matches!(i.phase, Phase::Downloading | Phase::Verifying))
            .count();
        let (sized, total) = items
            .iter()
            .filter_map(|i| i.size)
            .fold((0u64, 0u64), |(n, sum), size| (n + 1, sum + size));
        let typical_request = (total / sized.max(1)).max(opts.block_size);
        let mut sched = Sched {
            typical_request,
            first_connections: crate::plan::first_connections(typical_request),
            items,
            mirrors,
            leases: Vec::new(),
            remaining,
            fetched: Vec::new(),
            failures: Vec::new(),
            discarded: 0,
            per_mirror_limit: limits.max_connections_per_mirror.max(1),
            limit: limiter.as_ref().map(|l| l.rate()),
            initial,
        };
        // Items nobody can serve fail now rather than wait for a worker.
        for idx in 0..sched.items.len() {
            let mut emits = Vec::new();
            sched.check_item(idx, &opts, &mut emits);
            sched.initial.extend(emits);
        }
        let client = match client {
            Ok(client) => client,
            Err(building) => building
                .join()
                .map_err(|_| FetchError::Runtime(std::io::Error::other("HTTP client: panicked")))?
                .map_err(|e| {
                    FetchError::Runtime(std::io::Error::other(format!("HTTP client: {e}")))
                })?,
        };
        let shared = Shared {
            limits_per_mirror: limits.max_connections_per_mirror.max(1),
            client,
            reporter,
            limiter,
            connections: Semaphore::new(connection_budget(&limits)),
            verify_slots: Semaphore::new(2),
            state: Mutex::new(sched),
            wake: Notify::new(),
            done: Notify::new(),
            base: Instant::now(),
            verifies: Mutex::new(Vec::new()),
            opts,
        };
        Ok(Arc::new(shared))
    }

    fn lock(&self) -> MutexGuard<'_, Sched> {
        // A panicking worker is re-raised by fetch_all; the state it left is
        // still consistent enough to write resume records from.
        lock(&self.state)
    }

    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    /// Reports and starts what a locked section decided.
    fn emit(self: &Arc<Self>, emits: Vec<Emit>) {
        for emit in emits {
            match emit {
                Emit::Start(id, name, size, resumed) => {
                    self.reporter.on_item_start(id, &name, size, resumed)
                }
                Emit::Benched(name, reason) => self.reporter.on_mirror_benched(&name, &reason),
                Emit::Discard(id, bytes) => self.reporter.on_discard(id, bytes),
                Emit::Done(id, file) => self.reporter.on_item_done(id, &file),
                Emit::Failed(id, failure) => self.reporter.on_item_failed(id, &failure),
                Emit::Warning(text) => self.reporter.on_warning(&text),
                Emit::Verify(idx) => {
                    let handle = tokio::spawn(verify_item(self.clone(), idx));
                    lock(&self.verifies).push(handle.abort_handle());
                }
                Emit::Settled => {
                    let none_left = {
                        let mut s = self.lock();
                        s.remaining -= 1;
                        s.remaining == 0
                    };
                    if none_left {
                        self.done.notify_waiters();
                        self.wake.notify_waiters();
                    }
                }
            }
        }
    }
}

/// Connections open at once: the configured maximum, but under a download
/// limit no more than one per 128 KiB/s of it (at least two), so that a slow
/// limit is not spread so thin that healthy connections look stalled.
fn connection_budget(limits: &crate::plan::Limits) -> usize {
    let max = limits.max_connections.max(1);
    match limits.max_download_rate {
        Some(rate) => ((rate / (128 * 1024)) as usize).clamp(2, max.max(2)),
        None => max,
    }
}

/// The names in the download directory when a run starts, so that the
/// files of items nothing is on disk for are not looked up one by one
/// (five system calls each: 300 packages took ~10 ms before the first
/// request). When it cannot be listed, every path is looked at.
struct Listing {
    dir: PathBuf,
    names: Option<std::collections::HashSet<std::ffi::OsString>>,
}

impl Listing {
    fn of(dir: &Path) -> Listing {
        Listing {
            dir: dir.to_owned(),
            names: std::fs::read_dir(dir)
                .and_then(|entries| entries.map(|e| e.map(|e| e.file_name())).collect())
                .ok(),
        }
    }

    /// Whether `path` may be there: false only for a name of the listed
    /// directory that was not in it.
    fn may_have(&self, path: &Path) -> bool {
        match (&self.names, path.file_name()) {
            (Some(names), Some(name)) if path.parent() == Some(self.dir.as_path()) => {
                names.contains(name)
            }
            _ => true,
        }
    }
}

/// Builds the scheduler's view of one plan item, picking up a finished file
/// or a partial one (with a matching resume record) from an earlier run.
fn new_item(
    id: ItemId,
    plan: FetchItem,
    sources: Vec<Source>,
    (dir, listing): (&Path, &Listing),
    opts: &FetchOptions,
    emits: &mut Vec<Emit>,
) -> Result<Item, (PathBuf, std::io::Error)> {
    let (part, record) = part_paths(dir, &plan.filename);
    let dest = dir.join(&plan.filename);
    let blocks = plan
        .size
        .map_or(0, |s| s.div_ceil(opts.block_size) as usize);
    let mut item = Item {
        id,
        filename: plan.filename,
        size: plan.size,
        sha256: plan.sha256,
        kind: plan.kind,
        sources,
        phase: Phase::Downloading,
        blocks: vec![Block::Free; blocks],
        served_by: vec![None; blocks],
        single_source: None,
        isolation_rounds: 0,
        bad_copy: None,
        unsized_taken: false,
        active: 0,
        file: None,
        part,
        record,
        dest,
        record_io: Arc::default(),
        record_dirty: false,
        started: false,
        resumed: 0,
        resumed_from_disk: false,
        preexisting: false,
        per_source: HashMap::new(),
        tried: Vec::new(),
        received: 0,
        counted: 0,
        note: None,
    };
    let remove = |path: &Path| match listing.may_have(path).then(|| std::fs::remove_file(path)) {
        Some(Err(e)) if e.kind() != std::io::ErrorKind::NotFound => Err((path.to_owned(), e)),
        _ => Ok(()),
    };
    // A complete file from an earlier run is checked, not trusted; a
    // signature (no size, no hash) is cheap and may be stale: fetch it again.
    if listing.may_have(&item.dest) && item.dest.exists() {
        if item.size.is_some() {
            item.preexisting = true;
            item.phase = Phase::Verifying;
            item.started = true;
            emits.push(Emit::Start(
                id,
                item.filename.clone(),
                item.size,
                item.size.unwrap_or(0),
            ));
            emits.push(Emit::Verify(id.0));
            return Ok(item);
        }
        remove(&item.dest)?;
    }
    let Some(size) = item.size else {
        remove(&item.part)?;
        return Ok(item);
    };
    let part_len = listing
        .may_have(&item.part)
        .then(|| std::fs::metadata(&item.part).map(|m| m.len()).ok())
        .flatten();
    let record = listing
        .may_have(&item.record)
        .then(|| ResumeRecord::load(&item.record))
        .flatten();
    match record {
        Some(rec) if rec.matches(size, item.sha256, opts.block_size) && part_len == Some(size) => {
            for (b, done) in item.blocks.iter_mut().zip(&rec.done) {
                if *done {
                    *b = Block::Done;
                }
            }
            item.resumed = rec.done_bytes();
            item.resumed_from_disk = item.resumed > 0;
        }
        _ => {
            remove(&item.record)?;
            remove(&item.part)?;
            // A first record now, while there is surely room for it: once
            // the disk fills, later ones are written over it in place
            // (`ResumeRecord::save`), and the next run resumes.
            if size >= RECORD_AT_ONCE_BYTES {
                if let Some(record) = item.record_snapshot(opts.block_size) {
                    let _ = record.save(&item.record, false);
                }
            }
        }
    }
    if size == 0 || item.all_done() {
        // Nothing to download; the file (possibly empty) goes to verification.
        let file = open_part(&item.part, size).map_err(|e| (item.part.clone(), e))?;
        drop(file);
        item.phase = Phase::Verifying;
        item.started = true;
        emits.push(Emit::Start(
            id,
            item.filename.clone(),
            item.size,
            item.resumed,
        ));
        emits.push(Emit::Verify(id.0));
    }
    Ok(item)
}

/// Files at least this large get a resume record before their first byte
/// ([`new_item`]); smaller ones only once the flusher finds them changed:
/// 300 small packages would each cost a file write before the first
/// request, and a full disk loses little of them.
const RECORD_AT_ONCE_BYTES: u64 = 1024 * 1024;

/// Opens (creating) a partial file and gives it its final length, so blocks
/// can be written at their offsets in any order.
fn open_part(path: &Path, size: u64) -> std::io::Result<std::fs::File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    if file.metadata()?.len() != size {
        file.set_len(size)?;
    }
    Ok(file)
}

impl Sched {
    /// Benches mirror `m` for the rest of the run and takes its requests back.
    fn bench(&mut self, m: MirrorId, reason: BenchReason, emits: &mut Vec<Emit>) {
        let mirror = self.mirrors.get_mut(m);
        if mirror.benched.is_some() {
            return;
        }
        tracing::debug!(mirror = %mirror.name, %reason, "benched");
        emits.push(Emit::Benched(mirror.name.clone(), reason.clone()));
        let error = match &reason {
            BenchReason::Slow { .. } => SourceError::Slow,
            BenchReason::Stalled => SourceError::Stalled(Duration::ZERO),
            BenchReason::Unreachable(e) => SourceError::Connect(e.clone()),
            BenchReason::Errors(e) => SourceError::Transport(e.clone()),
        };
        mirror.benched = Some(reason);
        for lease in self.leases.iter().filter(|l| l.mirror == m) {
            lease.cancel_with(error.clone());
        }
    }

    /// Starts verification when all blocks are in, or fails the item when no
    /// source is left.
    fn check_item(&mut self, idx: usize, opts: &FetchOptions, emits: &mut Vec<Emit>) {
        let item = &mut self.items[idx];
        if item.phase != Phase::Downloading || item.active > 0 {
            return;
        }
        if item.size.is_some() && item.all_done() {
            item.phase = Phase::Verifying;
            emits.push(Emit::Verify(idx));
            return;
        }
        if !item.has_usable(opts.max_errors_per_mirror) {
            self.fail(idx, emits);
            return;
        }
        if let Some(x) = item.single_source {
            if !item.usable(x, opts.max_errors_per_mirror) && !self.pick_single_source(idx, opts) {
                self.fail(idx, emits);
            }
        }
    }

    fn fail(&mut self, idx: usize, emits: &mut Vec<Emit>) {
        let item = &mut self.items[idx];
        item.phase = Phase::Failed;
        item.file = None;
        if !item.started {
            item.started = true;
            emits.push(Emit::Start(
                item.id,
                item.filename.clone(),
                item.size,
                item.resumed,
            ));
        }
        let failure = item.failure();
        emits.push(Emit::Failed(item.id, failure.clone()));
        emits.push(Emit::Settled);
        self.failures.push((item.id, failure));
    }

    /// The next piece of work for a worker of mirror `m`.
    fn next_lease(
        &mut self,
        m: MirrorId,
        now: Instant,
        now_ms: u64,
        opts: &FetchOptions,
        emits: &mut Vec<Emit>,
    ) -> Next {
        if self.remaining == 0 {
            return Next::Exit;
        }
        // Enough connections to keep this mirror busy are open already
        // (before the work left is summed up for the horizon below).
        if !self.has_room(m) {
            return Next::Wait;
        }
        let bs = opts.block_size;
        let max_errors = opts.max_errors_per_mirror;
        let mirror = self.mirrors.get(m);
        let benched = mirror.benched.is_some();
        let no_ranges = mirror.no_ranges;
        let target_blocks = match mirror.rate_per_connection() {
            Some(rate) => (rate * opts.request_duration.as_secs_f64() / bs as f64).ceil() as u64,
            // Unknown yet: a first request of ~1 MiB measures it.
            None => (1 << 20) / bs,
        }
        .clamp(1, (opts.max_request_size / bs).max(1)) as usize;
        // The end game: no request should run past the time all the work
        // left would take at every mirror's measured rate.
        let mine = mirror.rate_for_another();
        let horizon = mine.and_then(|_| self.time_left(bs));
        let target_blocks = match (horizon, mine) {
            (Some(t), Some(r)) => target_blocks.min(((r * t) as u64 / bs).max(1) as usize),
            _ => target_blocks,
        };
        // For a mirror without ranges: a file it could serve by reading
        // from the start and skipping what is done.
        let mut skip_candidate: Option<(usize, usize)> = None;

        for idx in 0..self.items.len() {
            let item = &self.items[idx];
            if item.phase != Phase::Downloading || item.source_of(m).is_none() {
                continue;
            }
            if !item.usable(m, max_errors) || !item.ready(m, now) {
                continue;
            }
            // Usable sources that are not benched; benched mirrors are a last
            // resort only.
            let others_active: Vec<MirrorId> = item
                .sources
                .iter()
                .map(|s| s.mirror)
                .filter(|&o| o != m && item.usable(o, max_errors))
                .filter(|&o| self.mirrors.get(o).benched.is_none())
                .collect();
            let isolated_here = item.single_source == Some(m);
            if item.single_source.is_some() && !isolated_here {
                continue;
            }
            // Even one block from here would end after the horizon: leave
            // the item to a faster source that can take it now (small300 in
            // BENCHMARKS.md: 5 MB/s mirrors' last blocks, ~80 ms each over
            // six connections, held up 300 packages done elsewhere). Not an
            // item isolated here: no other source may take it, and leaving
            // it waited for ever (a lying mirror, then a slow one chosen to
            // fetch the file alone: tests/it's torrent_survives_faulty_mirrors
            // hung in 1 of 6 runs under load).
            if let (Some(t), Some(r), false) = (horizon, mine, isolated_here) {
                let faster = |o: &MirrorId| {
                    let other = self.mirrors.get(*o);
                    self.has_room(*o)
                        && item.ready(*o, now)
                        && other.rate_for_another().is_some_and(|x| x > r)
                };
                if (bs as f64) > r * t && others_active.iter().any(faster) {
                    continue;
                }
            }
            if benched && !others_active.is_empty() && !isolated_here {
                continue;
            }
            // Last resort among benched mirrors: one that has delivered
            // bytes in this run before one that never did (dead, hanging).
            if benched && !isolated_here && self.mirrors.get(m).delivered() == 0 {
                let productive = item.sources.iter().any(|s| {
                    s.mirror != m
                        && item.usable(s.mirror, max_errors)
                        && self.mirrors.get(s.mirror).delivered() > 0
                });
                if productive {
                    continue;
                }
            }
            let Some(size) = item.size else {
                // Unsized (a signature): one GET, from the first working
                // mirror in pacman's order unless that one is busy.
                if item.unsized_taken {
                    continue;
                }
                // Pacman's order, but a mirror that has delivered bytes in
                // this run goes before one that has only been silent.
                // Benched mirrors only when every usable one is benched.
                let usable: Vec<MirrorId> = item
                    .sources
                    .iter()
                    .map(|s| s.mirror)
                    .filter(|&o| item.usable(o, max_errors))
                    .collect();
                let unbenched: Vec<MirrorId> = usable
                    .iter()
                    .copied()
                    .filter(|&o| self.mirrors.get(o).benched.is_none())
                    .collect();
                let candidates = if unbenched.is_empty() {
                    usable
                } else {
                    unbenched
                };
                let first = candidates
                    .iter()
                    .find(|&&o| self.mirrors.get(o).delivered() > 0)
                    .or(candidates.first())
                    .copied()
                    .unwrap_or(m);
                let first_busy = !self.has_room(first);
                if first != m && !first_busy {
                    continue;
                }
                if let Some(lease) = self.make_lease(idx, m, 0, u64::MAX, false, now_ms, emits) {
                    self.items[idx].unsized_taken = true;
                    return Next::Lease(lease);
                }
                continue;
            };
            // A mirror without range support reads from the start; it can
            // only help with a file whose first block is free, unless it is
            // the only source.
            let only_source = others_active.is_empty() || isolated_here;
            let may_take = |b: usize| item.blocks[b] == Block::Free;
            let Some(first) = (0..item.blocks.len()).find(|&b| may_take(b)) else {
                continue;
            };
            if no_ranges && first != 0 && !only_source {
                // Only if nothing better turns up (see below).
                skip_candidate.get_or_insert((idx, first));
                continue;
            }
            // A mirror without ranges streams from the start anyway: let it
            // claim the whole run; faster mirrors split its tail off.
            let target_blocks = if no_ranges {
                item.blocks.len()
            } else {
                target_blocks
            };
            let mut last = first + 1;
            while last < item.blocks.len() && last - first < target_blocks && may_take(last) {
                last += 1;
            }
            let start = first as u64 * bs;
            let end = (last as u64 * bs).min(size);
            let lease = self.make_lease(idx, m, start, end, only_source, now_ms, emits);
            if let Some(lease) = lease {
                for b in first..last {
                    self.items[idx].blocks[b] = Block::Claimed;
                }
                return Next::Lease(lease);
            }
        }
        if let Some((idx, first)) = skip_candidate.filter(|_| !benched) {
            // Idle otherwise: reading a prefix only to skip it beats leaving
            // a working mirror unused while slower ones crawl (faster
            // ranged mirrors still split its tail off).
            let item = &self.items[idx];
            let size = item.size.unwrap_or(0);
            let mut last = first + 1;
            while last < item.blocks.len() && item.blocks[last] == Block::Free {
                last += 1;
            }
            let (start, end) = (first as u64 * bs, (last as u64 * bs).min(size));
            if let Some(lease) = self.make_lease(idx, m, start, end, true, now_ms, emits) {
                for b in first..last {
                    self.items[idx].blocks[b] = Block::Claimed;
                }
                return Next::Lease(lease);
            }
        }
        if benched || no_ranges {
            return Next::Wait;
        }
        match self.steal(m, now_ms, opts, emits) {
            Some(lease) => Next::Lease(lease),
            None => Next::Wait,
        }
    }

    /// Whether mirror `m` may open another connection: fewer than the
    /// configured limit, and fewer than its link needs
    /// ([`Mirror::connections_needed`]), or than the first few while that
    /// is not known yet.
    fn has_room(&self, m: MirrorId) -> bool {
        let mirror = self.mirrors.get(m);
        let needed = mirror
            .connections_needed(self.typical_request as f64)
            .unwrap_or(self.first_connections);
        mirror.active < needed.min(self.per_mirror_limit)
    }

    /// Seconds the work left (free blocks and the rest of every request in
    /// flight) would take at the summed measured rate of the unbenched
    /// mirrors (one without a rate yet adds nothing: the estimate errs
    /// long); `None` before any rate is known.
    fn time_left(&self, bs: u64) -> Option<f64> {
        if self.limit_reached() {
            return None;
        }
        let rate: f64 = self
            .mirrors
            .list
            .iter()
            .filter(|m| m.benched.is_none())
            .filter_map(|m| m.rate)
            .sum();
        let free: u64 = self
            .items
            .iter()
            .filter(|i| i.phase == Phase::Downloading)
            .filter_map(|i| Some((i.size?, i)))
            .map(|(size, i)| {
                let n = i.blocks.iter().filter(|b| **b == Block::Free).count() as u64;
                (n * bs).min(size)
            })
            .sum();
        let in_flight: u64 = self
            .leases
            .iter()
            .filter(|l| l.size.is_some())
            .map(|l| {
                let end = l.end.load(Ordering::Acquire).min(l.size.unwrap_or(0));
                end.saturating_sub(l.pos.load(Ordering::Acquire))
            })
            .sum();
        (rate > 0.0).then(|| (free + in_flight) as f64 / rate)
    }

    /// Whether the mirrors' summed rate is near the global download limit:
    /// then rates say who got the limiter's tokens, not how fast a mirror
    /// or a request is, and the end game has nothing to gain (a race would
    /// spend the limit twice).
    fn limit_reached(&self) -> bool {
        self.limit.is_some_and(|limit| {
            let total: f64 = self.mirrors.list.iter().filter_map(|m| m.rate).sum();
            total >= 0.7 * limit
        })
    }

    /// Splits the tail off the in-flight request expected to finish last, if
    /// mirror `m` would get it done sooner. The owner keeps `[pos, mid)`.
    fn steal(
        &mut self,
        m: MirrorId,
        now_ms: u64,
        opts: &FetchOptions,
        emits: &mut Vec<Emit>,
    ) -> Option<Arc<Lease>> {
        let bs = opts.block_size;
        let mine = self.mirrors.get(m).rate_for_another();
        // A new request costs this mirror's request latency, as measured.
        let latency = self.mirrors.get(m).latency.unwrap_or(DEFAULT_LATENCY);
        let mut best: Option<(f64, Arc<Lease>, u64)> = None;
        for lease in &self.leases {
            if lease.mirror == m || lease.cancel.is_cancelled() {
                continue;
            }
            let Some(size) = lease.size else { continue };
            let item = &self.items[lease.item];
            if !item.usable(m, opts.max_errors_per_mirror)
                || item.source_of(m).is_none()
                || item.single_source.is_some()
            {
                continue;
            }
            let pos = lease.pos.load(Ordering::Acquire);
            let end = lease.end.load(Ordering::Acquire).min(size);
            // The owner keeps the block it is writing.
            let min_mid = (pos / bs + 1) * bs;
            if min_mid >= end {
                continue;
            }
            let owner = self.lease_rate(lease, now_ms, opts);
            let (r_o, r_m) = match (owner, mine) {
                (Some(o), Some(me)) => (o.max(1.0), me.max(1.0)),
                (Some(o), None) => (o.max(1.0), o.max(1.0)),
                // An owner without a rate has not sent a byte yet: it has no
                // claim to its tail if the lease is older than a tick or two.
                (None, _) => {
                    let age = now_ms.saturating_sub(lease.last_progress.load(Ordering::Relaxed));
                    if age < 2 * opts.tick.as_millis() as u64 {
                        continue;
                    }
                    (1.0, mine.unwrap_or(1e6))
                }
            };
            let remaining = (end - pos) as f64;
            let t_owner = remaining / r_o;
            let split = pos as f64 + remaining * r_o / (r_o + r_m);
            let mid = ((split as u64).div_ceil(bs) * bs).max(min_mid);
            if mid >= end {
                continue;
            }
            let t_after = ((mid - pos) as f64 / r_o).max((end - mid) as f64 / r_m + latency);
            let gain = t_owner - t_after;
            if gain > MIN_GAIN && best.as_ref().is_none_or(|(g, _, _)| gain > *g) {
                best = Some((gain, lease.clone(), mid));
            }
        }
        let Some((_, victim, mid)) = best else {
            return self.race(m, now_ms, opts, emits);
        };
        let end = victim
            .end
            .load(Ordering::Acquire)
            .min(victim.size.unwrap_or(0));
        victim.end.store(mid, Ordering::Release);
        tracing::trace!(item = victim.item, mid, end, "split");
        // The blocks stay Claimed: they change hands, they are not free.
        self.make_lease(victim.item, m, mid, end, false, now_ms, emits)
    }

    /// The rate request `lease` can be expected to go on at: its share of
    /// its mirror's rate, or what it has really had if less. Flows through
    /// one bottleneck are not treated alike, and one that lost packets may
    /// crawl for a while behind its siblings (small300 in BENCHMARKS.md:
    /// single requests at a tenth of their mirror's rate per connection).
    fn lease_rate(&self, lease: &Lease, now_ms: u64, opts: &FetchOptions) -> Option<f64> {
        let share = self.mirrors.get(lease.mirror).rate_per_connection();
        let age = now_ms.saturating_sub(lease.created_ms);
        if age < 2 * opts.tick.as_millis() as u64 || self.limit_reached() {
            return share;
        }
        let got = lease
            .pos
            .load(Ordering::Acquire)
            .saturating_sub(lease.start);
        let seen = got as f64 * 1000.0 / age as f64;
        share.map(|share| share.min(seen))
    }

    /// Duplicates the unfinished part of another mirror's request: the one
    /// silent longest, if for at least `race_after`, or else (the end game:
    /// nothing worth splitting) the one where racing saves most, if this
    /// mirror would have the owner's current block and the rest sooner.
    /// Both run, the first to finish wins and the other is cancelled
    /// (`Overtaken`).
    fn race(
        &mut self,
        m: MirrorId,
        now_ms: u64,
        opts: &FetchOptions,
        emits: &mut Vec<Emit>,
    ) -> Option<Arc<Lease>> {
        let bs = opts.block_size;
        let race_after = opts.race_after.as_millis() as u64;
        let mine = self
            .mirrors
            .get(m)
            .rate_per_connection()
            .filter(|_| !self.limit_reached());
        let latency = self.mirrors.get(m).latency.unwrap_or(DEFAULT_LATENCY);
        // An idle worker is not an idle link: while this mirror's other
        // connections still fetch, a race's copy of another mirror's bytes
        // takes its share from them, and the bytes are fetched twice. In
        // small300 such races fetched 0.56 MB (1.6%) again.
        let link_busy = self.mirrors.get(m).active > 0;
        // What racing saves: the owner's expected time to its end, less
        // this mirror's for the whole block the owner is in.
        let end_game_gain = |l: &Lease| -> f64 {
            let (Some(owner), Some(me)) = (self.lease_rate(l, now_ms, opts), mine) else {
                return 0.0;
            };
            let pos = l.pos.load(Ordering::Acquire);
            let end = l.end.load(Ordering::Acquire).min(l.size.unwrap_or(0));
            let t_owner = end.saturating_sub(pos) as f64 / owner.max(1.0);
            t_owner - (end.saturating_sub((pos / bs) * bs) as f64 / me.max(1.0) + latency)
        };
        let victim = self
            .leases
            .iter()
            .filter(|l| l.mirror != m && l.size.is_some() && !l.cancel.is_cancelled())
            .filter(|l| !l.raced.load(Ordering::Relaxed))
            .filter(|l| {
                let item = &self.items[l.item];
                item.single_source.is_none()
                    && item.source_of(m).is_some()
                    && item.usable(m, opts.max_errors_per_mirror)
            })
            .map(|l| {
                let idle = now_ms.saturating_sub(l.last_progress.load(Ordering::Relaxed));
                let gain = if idle >= race_after {
                    f64::INFINITY
                } else if link_busy {
                    0.0
                } else {
                    end_game_gain(l)
                };
                (idle, gain, l)
            })
            .filter(|(_, gain, _)| *gain > MIN_GAIN)
            // The silent ones first, longest silent first; then the most gained.
            .max_by(|(ia, ga, _), (ib, gb, _)| ga.total_cmp(gb).then(ia.cmp(ib)))
            .map(|(_, _, l)| l.clone())?;
        victim.raced.store(true, Ordering::Relaxed);
        let pos = victim.pos.load(Ordering::Acquire);
        let size = victim.size.unwrap_or(0);
        let start = (pos / bs) * bs;
        let end = victim.end.load(Ordering::Acquire).min(size);
        if start >= end {
            return None;
        }
        tracing::trace!(item = victim.item, start, end, "race");
        let lease = self.make_lease(victim.item, m, start, end, false, now_ms, emits)?;
        lease.raced.store(true, Ordering::Relaxed);
        Some(lease)
    }

    #[allow(clippy::too_many_arguments)]
    fn make_lease(
        &mut self,
        idx: usize,
        m: MirrorId,
        start: u64,
        end: u64,
        skip_allowed: bool,
        now_ms: u64,
        emits: &mut Vec<Emit>,
    ) -> Option<Arc<Lease>> {
        let item = &mut self.items[idx];
        let file = match &item.file {
            Some(f) => f.clone(),
            None => {
                let opened = match item.size {
                    Some(size) => open_part(&item.part, size),
                    None => std::fs::File::create(&item.part),
                };
                match opened {
                    Ok(f) => {
                        let f = Arc::new(f);
                        item.file = Some(f.clone());
                        f
                    }
                    Err(e) => {
                        item.note = Some(format!(
                            "cannot write {}: {}",
                            item.part.display(),
                            crate::error::os_text(&e)
                        ));
                        // No source can help with a local error.
                        for s in &item.sources {
                            item.per_source.entry(s.mirror).or_default().gave_up = true;
                        }
                        if item.active == 0 {
                            self.fail(idx, emits);
                        }
                        return None;
                    }
                }
            }
        };
        let url = item.source_of(m)?.url(&item.filename)?;
        if !item.started {
            item.started = true;
            emits.push(Emit::Start(
                item.id,
                item.filename.clone(),
                item.size,
                item.resumed,
            ));
        }
        if !item.tried.contains(&m) {
            item.tried.push(m);
        }
        item.active += 1;
        let lease = Arc::new(Lease {
            item: idx,
            mirror: m,
            url,
            size: item.size,
            file,
            start,
            end: AtomicU64::new(end),
            pos: AtomicU64::new(start),
            last_progress: AtomicU64::new(now_ms),
            cancel: CancellationToken::new(),
            reason: Mutex::new(None),
            skip_allowed,
            capped: item.size.is_none() && item.kind == ItemKind::Signature,
            raced: AtomicBool::new(false),
            created_ms: now_ms,
        });
        self.mirrors.get_mut(m).active += 1;
        self.leases.push(lease.clone());
        Some(lease)
    }

    /// Marks blocks `[first, last)` of a lease's item as written.
    fn mark_done(&mut self, lease: &Lease, first: usize, last: usize) {
        let item = &mut self.items[lease.item];
        for b in first..last.min(item.blocks.len()) {
            if item.blocks[b] != Block::Done {
                item.blocks[b] = Block::Done;
                item.served_by[b] = Some(lease.mirror);
            }
        }
        item.record_dirty = true;
    }

    /// Takes a finished or failed lease back; frees what it did not write.
    fn finish_lease(
        &mut self,
        lease: &Arc<Lease>,
        result: Result<(), SourceError>,
        now_ms: u64,
        opts: &FetchOptions,
        emits: &mut Vec<Emit>,
    ) {
        let now = Instant::now();
        self.leases.retain(|l| !Arc::ptr_eq(l, lease));
        let m = lease.mirror;
        let idx = lease.item;
        self.mirrors.get_mut(m).active -= 1;
        let bs = opts.block_size;
        let pos = lease.pos.load(Ordering::Acquire);
        let item = &mut self.items[idx];
        item.active -= 1;
        match item.size {
            Some(size) => {
                let end = lease.end.load(Ordering::Acquire).min(size);
                let first = (lease.start / bs) as usize;
                let last = (end.div_ceil(bs) as usize).min(item.blocks.len());
                // A block another lease (a racer) still covers stays Claimed.
                let others: Vec<(u64, u64)> = self
                    .leases
                    .iter()
                    .filter(|l| l.item == idx)
                    .map(|l| (l.start, l.end.load(Ordering::Acquire)))
                    .collect();
                for b in first..last {
                    let offset = b as u64 * bs;
                    let covered = others.iter().any(|&(s, e)| s <= offset && offset < e);
                    if item.blocks[b] == Block::Claimed && !covered {
                        item.blocks[b] = Block::Free;
                    }
                }
                // Bytes of a block left half-written are lost.
                let block_start = (pos / bs) * bs;
                if pos < end && block_start >= lease.start && pos > block_start {
                    let lost = pos - block_start;
                    item.counted = item.counted.saturating_sub(lost);
                    self.discarded += lost;
                    emits.push(Emit::Discard(item.id, lost));
                }
            }
            None => {
                item.unsized_taken = false;
                if result.is_err() {
                    // The next attempt starts from an empty file.
                    item.file = None;
                    if pos > 0 {
                        item.counted = 0;
                        self.discarded += pos;
                        emits.push(Emit::Discard(item.id, pos));
                    }
                }
            }
        }
        match result {
            Ok(()) => {
                self.mirrors.get_mut(m).errors = 0;
                if item.size.is_none() {
                    item.phase = Phase::Verifying;
                    emits.push(Emit::Verify(idx));
                } else {
                    // The other side of a race has nothing left to do.
                    for other in self.leases.iter().filter(|l| l.item == idx) {
                        let pos = other.pos.load(Ordering::Acquire);
                        let end = other
                            .end
                            .load(Ordering::Acquire)
                            .min(item.size.unwrap_or(0));
                        let first = (pos / bs) as usize;
                        let last = (end.div_ceil(bs) as usize).min(item.blocks.len());
                        if item.blocks[first.min(last)..last]
                            .iter()
                            .all(|b| *b == Block::Done)
                        {
                            other.cancel_with(SourceError::Overtaken);
                        }
                    }
                }
            }
            Err(SourceError::Overtaken) => {
                // Lost a race. Silence since `race_after` or longer counts
                // against the mirror (a hanging mirror is benched after a
                // few); bytes, or a request too young to have answered
                // (an end-game racer), do not.
                let age = now_ms.saturating_sub(lease.created_ms);
                if pos == lease.start && age >= opts.race_after.as_millis() as u64 {
                    let record = item.per_source.entry(m).or_default();
                    record.last = Some(SourceError::Overtaken.to_string());
                    let mirror = self.mirrors.get_mut(m);
                    mirror.errors += 1;
                    if mirror.errors >= opts.max_mirror_errors {
                        self.bench(m, BenchReason::Stalled, emits);
                    }
                }
            }
            Err(SourceError::BadRange(why)) if !lease.skip_allowed && pos == lease.start => {
                // Most likely no range support: serve it from block 0 only.
                tracing::debug!(mirror = %self.mirrors.get(m).name, why, "no ranges");
                let mirror = self.mirrors.get_mut(m);
                if why == NO_RANGES {
                    mirror.no_ranges = true;
                } else {
                    let record = item.per_source.entry(m).or_default();
                    record.errors += 1;
                    record.last = Some(SourceError::BadRange(why).to_string());
                    record.retry_after = Some(now + opts.retry_delay);
                }
            }
            Err(error) => {
                let record = item.per_source.entry(m).or_default();
                record.last = Some(error.to_string());
                if error.is_missing_file() {
                    record.gave_up = true;
                }
                if !matches!(error, SourceError::Slow) {
                    record.errors += 1;
                    record.retry_after = Some(now + opts.retry_delay);
                }
                if let SourceError::Write(e) = &error {
                    item.note = Some(format!("cannot write {}: {e}", item.part.display()));
                    for s in &item.sources {
                        item.per_source.entry(s.mirror).or_default().gave_up = true;
                    }
                }
                self.judge_mirror(m, &error, opts, emits);
            }
        }
        if self.items[idx].active == 0 {
            // Every lease is back: close the file, the fd limit is finite.
            if self.items[idx].phase != Phase::Downloading {
                self.items[idx].file = None;
            }
        }
        self.check_item(idx, opts, emits);
    }

    /// Chooses the mirror that fetches item `idx` alone in the next
    /// isolation round: usable ones not benched first, fastest first.
    fn pick_single_source(&mut self, idx: usize, opts: &FetchOptions) -> bool {
        let item = &self.items[idx];
        let best = item
            .sources
            .iter()
            .map(|s| s.mirror)
            .filter(|&m| item.usable(m, opts.max_errors_per_mirror))
            .max_by(|&a, &b| {
                let key = |m: MirrorId| {
                    let mirror = self.mirrors.get(m);
                    // The peak: a mirror's current rate may reflect a quiet
                    // moment, its best says what it can do.
                    (mirror.benched.is_none(), mirror.peak_rate)
                };
                let (ka, kb) = (key(a), key(b));
                ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
            });
        self.items[idx].single_source = best;
        best.is_some()
    }

    /// Counts an error against mirror `m` as a whole; benches it when it is
    /// unreachable or keeps failing.
    fn judge_mirror(
        &mut self,
        m: MirrorId,
        error: &SourceError,
        opts: &FetchOptions,
        emits: &mut Vec<Emit>,
    ) {
        match error {
            SourceError::Connect(e) => {
                self.bench(m, BenchReason::Unreachable(e.clone()), emits);
            }
            SourceError::Status(500..)
            | SourceError::ShortBody
            | SourceError::Transport(_)
            | SourceError::BadRange(_) => {
                let mirror = self.mirrors.get_mut(m);
                mirror.errors += 1;
                if mirror.errors >= opts.max_mirror_errors {
                    self.bench(m, BenchReason::Errors(error.to_string()), emits);
                }
            }
            _ => {}
        }
    }

    /// Records of partial files that changed since they were last written.
    fn dirty_records(&mut self, opts: &FetchOptions) -> Vec<RecordWrite> {
        let mut batch = Vec::new();
        for item in &mut self.items {
            if !item.record_dirty || !matches!(item.phase, Phase::Downloading | Phase::Failed) {
                continue;
            }
            item.record_dirty = false;
            if let Some(record) = item.record_snapshot(opts.block_size) {
                batch.push(RecordWrite {
                    record,
                    path: item.record.clone(),
                    file: item.file.clone(),
                    io: item.record_io.clone(),
                });
            }
        }
        batch
    }
}

const NO_RANGES: &str = "no range support";

struct RecordWrite {
    record: ResumeRecord,
    path: PathBuf,
    file: Option<Arc<std::fs::File>>,
    io: Arc<Mutex<RecordIo>>,
}

/// Writes resume records (blocking). With `fsync`, the data a record vouches
/// for is made durable first.
fn write_records(batch: Vec<RecordWrite>, fsync: bool) {
    for write in batch {
        let io = lock(&write.io);
        if io.finished {
            continue;
        }
        if fsync {
            if let Some(file) = &write.file {
                let _ = file.sync_data();
            }
        }
        if let Err(e) = write.record.save(&write.path, fsync) {
            // Losing a record costs a re-download, not correctness.
            tracing::warn!(path = %write.path.display(), error = %e, "resume record not written");
        }
    }
}

/// On an abandoned run (the caller dropped the future: Ctrl-C), writes the
/// last resume records synchronously, without fsync: the page cache survives
/// the process.
struct FlushOnDrop(Arc<Shared>);

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        let batch = self.0.lock().dirty_records(&self.0.opts);
        write_records(batch, false);
        for handle in lock(&self.0.verifies).drain(..) {
            handle.abort();
        }
    }
}

async fn worker(shared: Arc<Shared>, m: MirrorId) {
    loop {
        let notified = shared.wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let Ok(permit) = shared.connections.acquire().await else {
            return;
        };
        let mut emits = Vec::new();
        let next =
            shared
                .lock()
                .next_lease(m, Instant::now(), shared.now_ms(), &shared.opts, &mut emits);
        shared.emit(emits);
        match next {
            Next::Exit => return,
            Next::Wait => {
                drop(permit);
                let _ = tokio::time::timeout(shared.opts.tick, notified).await;
            }
            Next::Lease(lease) => {
                let result = tokio::select! {
                    biased;
                    _ = lease.cancel.cancelled() => Err(lease.reason()),
                    r = transfer(&shared, &lease) => r,
                };
                drop(permit);
                if let Err(e) = &result {
                    tracing::debug!(url = %lease.url, error = %e, "request ended");
                }
                let mut emits = Vec::new();
                shared.lock().finish_lease(
                    &lease,
                    result,
                    shared.now_ms(),
                    &shared.opts,
                    &mut emits,
                );
                shared.emit(emits);
                shared.wake.notify_waiters();
                if shared.lock().remaining == 0 {
                    shared.done.notify_waiters();
                }
            }
        }
    }
}

/// A split or an end-game race must save more than this many seconds.
const MIN_GAIN: f64 = 0.02;

/// A mirror's request latency before its first answer, in seconds.
const DEFAULT_LATENCY: f64 = 0.05;

/// Carries out one lease: one request, its body written at its offsets.
async fn transfer(shared: &Arc<Shared>, lease: &Lease) -> Result<(), SourceError> {
    let opts = &shared.opts;
    let bs = opts.block_size;
    let range = lease
        .size
        .map(|_| (lease.start, lease.end.load(Ordering::Acquire)));
    let asked = Instant::now();
    let mut opened = http::open(&shared.client, &lease.url, range, lease.size).await?;
    let (counters, item_id) = {
        let mut s = shared.lock();
        let mirror = s.mirrors.get_mut(lease.mirror);
        mirror.note_latency(asked.elapsed());
        (mirror.counters.clone(), s.items[lease.item].id)
    };
    lease
        .last_progress
        .store(shared.now_ms(), Ordering::Relaxed);
    let mut skip = lease.start - opened.offset.min(lease.start);
    if skip > 0 && !lease.skip_allowed {
        return Err(SourceError::BadRange(NO_RANGES.into()));
    }
    let mut pos = lease.start;
    let mut next_block = (lease.start / bs) as usize;
    let mut unreported = 0u64;
    let mut last_report = Instant::now();
    let report = |bytes: &mut u64, last: &mut Instant| {
        if *bytes > 0 {
            shared
                .reporter
                .on_progress(item_id, *bytes, SourceKind::Mirror);
            *bytes = 0;
        }
        *last = Instant::now();
    };
    let result = loop {
        let chunk = match http::next_chunk(&mut opened.response).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        let len = chunk.len() as u64;
        lease
            .last_progress
            .store(shared.now_ms(), Ordering::Relaxed);
        counters.bytes.fetch_add(len, Ordering::Relaxed);
        let mut data = &chunk[..];
        let mut skipped = 0;
        if skip > 0 {
            skipped = skip.min(len);
            data = &data[skipped as usize..];
            skip -= skipped;
        }
        if let Some(limiter) = &shared.limiter {
            // Paid: what is skipped and what is written. The part of a
            // chunk past `end` (the tail went to another mirror) is not,
            // or every split would cost the others up to a chunk of the
            // limit.
            let used =
                (data.len() as u64).min(lease.end.load(Ordering::Acquire).saturating_sub(pos));
            limiter
                .consume_marked(skipped + used, &lease.last_progress, || shared.now_ms())
                .await;
        }
        let end = lease.end.load(Ordering::Acquire);
        if pos >= end {
            break Ok(());
        }
        let n = (data.len() as u64).min(end - pos);
        if lease.capped && pos + n > opts.max_unknown_size {
            break Err(SourceError::TooLarge(opts.max_unknown_size));
        }
        // Positioned writes to the page cache take microseconds; a trip
        // through spawn_blocking per chunk would cost more than it saves.
        if let Err(e) = lease.file.write_all_at(&data[..n as usize], pos) {
            break Err(SourceError::Write(crate::error::os_text(&e)));
        }
        pos += n;
        lease.pos.store(pos, Ordering::Release);
        unreported += n;
        if let Some(size) = lease.size {
            let complete = if pos == size {
                size.div_ceil(bs) as usize
            } else {
                (pos / bs) as usize
            };
            if complete > next_block {
                let mut s = shared.lock();
                s.mark_done(lease, next_block, complete);
                next_block = complete;
            }
        }
        if unreported >= 256 * 1024 || last_report.elapsed() >= Duration::from_millis(100) {
            count_reported(shared, lease, unreported);
            report(&mut unreported, &mut last_report);
        }
        if pos >= end {
            break Ok(());
        }
    };
    count_reported(shared, lease, unreported);
    report(&mut unreported, &mut last_report);
    result?;
    if lease.size.is_some() && pos < lease.end.load(Ordering::Acquire) {
        return Err(SourceError::ShortBody);
    }
    Ok(())
}

fn count_reported(shared: &Shared, lease: &Lease, bytes: u64) {
    if bytes > 0 {
        let mut s = shared.lock();
        let item = &mut s.items[lease.item];
        item.counted += bytes;
        item.received += bytes;
    }
}

/// How long a verification waits for the last holders of an item's file to
/// let go (they are done writing; they only have yet to drop it).
const WRITERS_GONE_WITHIN: Duration = Duration::from_secs(2);

/// Checks a complete file and moves it into place, or sends it back for
/// another round (see `STATE.md`, "bad checksum").
async fn verify_item(shared: Arc<Shared>, idx: usize) {
    let Ok(_slot) = shared.verify_slots.acquire().await else {
        return;
    };
    // Every lease is back, but a worker or a resume record write may still
    // hold the file for a moment: the check waits until nothing can write
    // to it any more, so that the bytes checked are the bytes delivered
    // (and a checker in another process finds no writer left).
    let writer = shared.lock().items[idx].file.take();
    if let Some(file) = writer {
        let deadline = Instant::now() + WRITERS_GONE_WITHIN;
        while Arc::strong_count(&file) > 1 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let (path, dest, size, sha256, io, preexisting) = {
        let s = shared.lock();
        let item = &s.items[idx];
        let path = if item.preexisting {
            item.dest.clone()
        } else {
            item.part.clone()
        };
        (
            path,
            item.dest.clone(),
            item.size,
            item.sha256,
            item.record_io.clone(),
            item.preexisting,
        )
    };
    let (record_path, bad_copy) = {
        let mut s = shared.lock();
        let item = &mut s.items[idx];
        (item.record.clone(), item.bad_copy.clone())
    };
    let fsync = shared.opts.fsync;
    let block_size = shared.opts.block_size;
    let checked =
        tokio::task::spawn_blocking(move || -> Result<(u64, Vec<MirrorId>), VerifyError> {
            verify::verify_file(&path, size, sha256)?;
            let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            // Whoever served a block that differs from the verified file lied.
            let mut liars = Vec::new();
            if let Some((bad_path, served)) = bad_copy {
                if let Ok(blocks) = differing_blocks(&path, &bad_path, block_size) {
                    liars = blocks
                        .iter()
                        .filter_map(|b| served.get(*b).copied().flatten())
                        .collect();
                    liars.sort();
                    liars.dedup();
                }
                let _ = std::fs::remove_file(bad_path);
            }
            if !preexisting {
                let mut io = lock(&io);
                io.finished = true;
                verify::place(&path, &dest, fsync).map_err(|source| VerifyError::Io {
                    path: dest.display().to_string(),
                    source,
                })?;
                let _ = std::fs::remove_file(&record_path);
            }
            Ok((len, liars))
        })
        .await;
    let checked = match checked {
        Ok(r) => r,
        Err(e) => Err(VerifyError::Io {
            path: String::new(),
            source: std::io::Error::other(e.to_string()),
        }),
    };
    let mut emits = Vec::new();
    {
        let mut s = shared.lock();
        match checked {
            Ok((len, liars)) => {
                let verified_by = s.items[idx].single_source;
                s.items[idx].bad_copy = None;
                for liar in liars.into_iter().filter(|l| Some(*l) != verified_by) {
                    let name = s.items[idx].filename.clone();
                    s.bench(
                        liar,
                        BenchReason::Errors(format!("served wrong data for {name}")),
                        &mut emits,
                    );
                }
                let item = &mut s.items[idx];
                item.phase = Phase::Done;
                item.file = None;
                let file = FetchedFile {
                    item: item.id,
                    filename: item.filename.clone(),
                    path: item.dest.clone(),
                    size: len,
                    kind: item.kind,
                    from_mirrors: item.received,
                    from_peers: 0,
                    resumed: if item.preexisting { len } else { item.resumed },
                    checked: None,
                };
                emits.push(Emit::Done(item.id, file.clone()));
                emits.push(Emit::Settled);
                s.fetched.push(file);
            }
            Err(VerifyError::Io { path, source }) if !preexisting => {
                let item = &mut s.items[idx];
                item.note = Some(format!("cannot verify or place {path}: {source}"));
                s.fail(idx, &mut emits);
            }
            Err(error) => {
                restart_item(&mut s, idx, error, &shared.opts, &mut emits);
            }
        }
    }
    shared.emit(emits);
    if shared.lock().remaining == 0 {
        shared.done.notify_waiters();
    }
    shared.wake.notify_waiters();
}

/// A complete file failed verification: start it over. A copy from disk (a
/// resumed or leftover file) is blameless and simply restarts. A copy served
/// by several mirrors is kept aside and the file is fetched again whole from
/// one mirror; a copy from a single mirror proves that mirror wrong and the
/// next one is tried, at most [`MAX_ISOLATION_ROUNDS`] times. See `STATE.md`.
fn restart_item(
    s: &mut Sched,
    idx: usize,
    error: VerifyError,
    opts: &FetchOptions,
    emits: &mut Vec<Emit>,
) {
    let served: Vec<MirrorId> = {
        let mut ids: Vec<MirrorId> = s.items[idx].served_by.iter().flatten().copied().collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let names = |s: &Sched, ids: &[MirrorId]| {
        ids.iter()
            .map(|m| s.mirrors.get(*m).name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let served_names = names(s, &served);
    let item = &mut s.items[idx];
    let filename = item.filename.clone();
    let blameless = item.preexisting || item.resumed_from_disk;
    if item.preexisting {
        let _ = std::fs::remove_file(&item.dest);
    }
    let _ = std::fs::remove_file(&item.record);
    lock(&item.record_io).finished = false;
    item.file = None;
    let lost = item.counted;
    item.counted = 0;
    s.discarded += lost;
    if lost > 0 {
        emits.push(Emit::Discard(item.id, lost));
    }
    if item.size.is_none() {
        // An unsized file has nothing to fail against; cannot happen.
        item.note = Some(format!("verification failed: {error}"));
        s.fail(idx, emits);
        return;
    }
    if blameless {
        emits.push(Emit::Warning(format!(
            "{filename}: earlier download did not verify ({error}), downloading it again"
        )));
        item.preexisting = false;
        item.resumed_from_disk = false;
        item.resumed = 0;
        let _ = std::fs::remove_file(&item.part);
    } else {
        if let Some(x) = item.single_source {
            // It alone served this copy.
            let record = item.per_source.entry(x).or_default();
            record.gave_up = true;
            record.last = Some("served data that failed the checksum".into());
            s.bench(
                x,
                BenchReason::Errors(format!("served wrong data for {filename}")),
                emits,
            );
        } else {
            let item = &mut s.items[idx];
            let bad = item.part.with_extension("bad");
            if std::fs::rename(&item.part, &bad).is_ok() {
                item.bad_copy = Some((bad, item.served_by.clone()));
            }
        }
        let item = &mut s.items[idx];
        item.isolation_rounds += 1;
        let next = item.isolation_rounds <= MAX_ISOLATION_ROUNDS && s.pick_single_source(idx, opts);
        let item = &mut s.items[idx];
        if !next {
            if let Some((bad, _)) = item.bad_copy.take() {
                let _ = std::fs::remove_file(bad);
            }
            let _ = std::fs::remove_file(&item.part);
            item.note = Some(format!("{error}; bytes came from {served_names}"));
            for m in &served {
                let record = item.per_source.entry(*m).or_default();
                if record.last.is_none() || record.gave_up {
                    record.last = Some("served data that failed the checksum".into());
                }
            }
            s.fail(idx, emits);
            return;
        }
        let retry_from = item.single_source.map(|m| s.mirrors.get(m).name.clone());
        emits.push(Emit::Warning(format!(
            "{filename}: {error} (bytes from {served_names}); downloading it again from {}",
            retry_from.unwrap_or_default()
        )));
    }
    let item = &mut s.items[idx];
    item.blocks.iter_mut().for_each(|b| *b = Block::Free);
    item.served_by.iter_mut().for_each(|b| *b = None);
    item.phase = Phase::Downloading;
    item.record_dirty = true;
    s.check_item(idx, opts, emits);
}

/// Single-source rounds after a bad checksum before the file fails.
const MAX_ISOLATION_ROUNDS: u32 = 2;

/// Indices of the `block_size` blocks in which two files differ.
fn differing_blocks(a: &Path, b: &Path, block_size: u64) -> std::io::Result<Vec<usize>> {
    use std::io::Read;
    let mut fa = std::io::BufReader::new(std::fs::File::open(a)?);
    let mut fb = std::io::BufReader::new(std::fs::File::open(b)?);
    let mut ba = vec![0u8; block_size as usize];
    let mut bb = vec![0u8; block_size as usize];
    let mut out = Vec::new();
    for i in 0.. {
        let na = read_full(&mut fa, &mut ba)?;
        let nb = read_full(&mut fb, &mut bb)?;
        if na == 0 && nb == 0 {
            break;
        }
        if ba[..na] != bb[..nb] {
            out.push(i);
        }
    }
    fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match r.read(&mut buf[n..])? {
                0 => break,
                k => n += k,
            }
        }
        Ok(n)
    }
    Ok(out)
}

/// Samples mirror rates, benches slow mirrors and cancels stalled requests.
async fn monitor(shared: Arc<Shared>, stop: CancellationToken) {
    let opts = &shared.opts;
    let mut last = Instant::now();
    let mut ticker = tokio::time::interval(opts.tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let now = Instant::now();
        let now_ms = shared.now_ms();
        let dt = now.duration_since(last);
        last = now;
        let mut emits = Vec::new();
        {
            let mut s = shared.lock();
            // Under a global limit that is reached, rates say who got the
            // limiter's tokens, not how fast a mirror is: judge nobody.
            let limit = shared.limiter.as_ref().map(|l| l.rate());
            let slow = s.mirrors.sample_all(
                dt,
                now,
                opts.slow_ratio,
                opts.slow_window,
                limit.map(|l| l * 0.7),
            );
            for (m, reason) in slow {
                s.bench(m, reason, &mut emits);
            }
            let mut stalled = Vec::new();
            for lease in &s.leases {
                let idle_ms = now_ms.saturating_sub(lease.last_progress.load(Ordering::Relaxed));
                let idle = Duration::from_millis(idle_ms);
                if idle < opts.stall_timeout || lease.cancel.is_cancelled() {
                    continue;
                }
                // Bench only when someone else is delivering, or idle after
                // having delivered (a proven alternative with nothing to
                // do): if nobody is, the network (not this mirror) is the
                // likely culprit.
                let others_flowing = s.mirrors.list.iter().enumerate().any(|(j, o)| {
                    j != lease.mirror.0
                        && o.benched.is_none()
                        && o.last_byte.is_some_and(|t| {
                            now.duration_since(t) < opts.stall_timeout || o.active == 0
                        })
                });
                if others_flowing {
                    stalled.push((lease.clone(), idle, true));
                } else if idle >= opts.lone_stall_timeout {
                    stalled.push((lease.clone(), idle, false));
                }
            }
            for (lease, idle, bench) in stalled {
                lease.cancel_with(SourceError::Stalled(idle));
                if bench {
                    s.bench(lease.mirror, BenchReason::Stalled, &mut emits);
                }
            }
        }
        shared.emit(emits);
    }
}

/// Writes resume records of changed partial files every `resume_interval`,
/// and every `fsync_interval` durably (data first, then the record).
async fn flusher(shared: Arc<Shared>, stop: CancellationToken) {
    let mut last_sync = Instant::now();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(shared.opts.resume_interval) => {}
        }
        let batch = shared.lock().dirty_records(&shared.opts);
        if batch.is_empty() {
            continue;
        }
        let fsync = shared.opts.fsync && last_sync.elapsed() >= shared.opts.fsync_interval;
        if fsync {
            last_sync = Instant::now();
        }
        let _ = tokio::task::spawn_blocking(move || write_records(batch, fsync)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::Listing;

    #[test]
    fn a_listing_rules_out_only_names_of_its_own_directory() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("a.pkg.tar.zst.part"), b"x").unwrap();
        let listing = Listing::of(tmp.path());
        assert!(listing.may_have(&tmp.path().join("a.pkg.tar.zst.part")));
        assert!(!listing.may_have(&tmp.path().join("a.pkg.tar.zst.resume")));
        // Elsewhere, or a directory that cannot be listed: look.
        assert!(listing.may_have(&tmp.path().join("sub").join("b")));
        let gone = Listing::of(&tmp.path().join("missing"));
        assert!(gone.may_have(&tmp.path().join("missing").join("b")));
    }
}
