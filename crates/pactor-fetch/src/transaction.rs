//! One `-x` transaction: packages with a usable torrent come from the swarm
//! (BitTorrent peers plus every mirror as a webseed), everything else from
//! the multi-mirror HTTP engine, both at once, reported through one
//! [`Reporter`] and merged into one [`FetchOutcome`].
//!
//! A torrent is an untrusted hint (DESIGN.md, "Torrents"): it is fetched
//! (a stored file, or the first few URLs, the next one asked when those
//! before failed or kept it waiting, for about 3 s in all), checked
//! against the sync db's name and size ([`torrent::parse_for_package`]), and
//! a missing one is normal while a bad one is a warning; either way the
//! package goes to HTTP. A swarm transfer that fails, stalls or delivers a
//! file whose sha256 is not the db's is removed and its package goes to HTTP
//! too, so the swarm can slow a package down but never break an install.
//!
//! What can never go to the swarm (signatures, packages below
//! [`SwarmSettings::min_size`] or without a torrent source) starts on the
//! HTTP engine at once. A package goes to the swarm as soon as its torrent
//! is accepted, while the other lookups still run; a second HTTP engine run
//! gets the packages left once every lookup is done or out of time.
//!
//! The librqbit session is started only when at least one torrent was
//! accepted: without torrents (pacman's test suite with `-x`) nothing opens a
//! port, joins the DHT or contacts a tracker.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use url::Url;

use crate::engine::{fetch_all, fetch_all_limited, FetchOutcome, FetchSummary, FetchedFile};
use crate::error::{FetchError, FileFailure};
use crate::http::RateLimiter;
use crate::lock;
use crate::plan::{FetchItem, FetchOptions, FetchPlan, ItemKind, Limits, TorrentSource};
use crate::reporter::{BenchReason, ItemId, Reporter, SourceKind};
use crate::swarm::head::Head;
use crate::swarm::{Swarm, SwarmItem, SwarmOptions, Transfer, WebseedOptions};
use crate::torrent::{self, MAX_TORRENT_BYTES};
use crate::verify;

/// Name of the swarm's own directory inside the download directory: librqbit
/// writes each package there as `swarm/<filename>` while it downloads.
pub const SWARM_DIR: &str = "swarm";

/// How many torrent URLs of one package are raced.
const TORRENT_URLS_RACED: usize = 3;

/// How long a torrent URL may keep us waiting before the next one is asked
/// as well. Asking all of them at once tripled the requests and connections
/// of a transaction (900 for 300 packages), almost all of them wasted on the
/// mirrors after the first, which answers within a round trip. When the
/// first fails, the rest are asked at once: one after the other, a package
/// on mirrors that publish no torrents waited for three answers in turn
/// (~190 ms with 30 ms to each mirror) before its download began.
const TORRENT_RACE_STAGGER: Duration = Duration::from_millis(250);

/// The torrent servers (a URL without its file name) that answered "not
/// there" or could not be reached during this transaction's lookups, and
/// had no torrent for any package: later lookups do not ask them. Every
/// package asks one server first (they take turns), and one whose first
/// server failed waits for the others' first answers (asked at the same
/// moment, so at most as long again as its own took, and never more than
/// [`TORRENT_RACE_STAGGER`]) before it asks the rest: mirrors that publish
/// no torrents then cost a transaction one round trip, not one per server
/// and package. A server that does have some torrents but not this
/// package's is skipped for the rest until it delivers one; those packages
/// come from the mirrors over HTTP, as without a torrent.
struct Barren {
    /// Servers that had none, and servers that delivered one.
    servers: Mutex<(HashSet<String>, HashSet<String>)>,
    /// Lookups still waiting for their first answer.
    unanswered: tokio::sync::watch::Sender<usize>,
}

impl Barren {
    /// For `lookups` lookups by URL.
    fn new(lookups: usize) -> Barren {
        Barren {
            servers: Mutex::default(),
            unanswered: tokio::sync::watch::Sender::new(lookups),
        }
    }

    fn server(url: &Url) -> String {
        let s = url.as_str();
        s.rsplit_once('/').map_or(s, |(dir, _)| dir).to_owned()
    }

    fn lacks(&self, url: &Url) -> bool {
        let (barren, fruitful) = &*lock(&self.servers);
        let server = Barren::server(url);
        barren.contains(&server) && !fruitful.contains(&server)
    }

    fn note(&self, url: &Url, found: bool) {
        let (barren, fruitful) = &mut *lock(&self.servers);
        let server = Barren::server(url);
        if found {
            fruitful.insert(server);
        } else {
            barren.insert(server);
        }
    }

    /// Waits until every lookup had its first answer, or `limit`.
    async fn first_answers(&self, limit: Duration) {
        let mut rx = self.unanswered.subscribe();
        let _ = tokio::time::timeout(limit, rx.wait_for(|n| *n == 0)).await;
    }
}

/// One lookup's first answer: counted off [`Barren::unanswered`] when it
/// comes, or when the lookup ends without one.
struct FirstAnswer<'a>(Option<&'a Barren>);

impl FirstAnswer<'_> {
    fn came(&mut self) {
        if let Some(barren) = self.0.take() {
            barren.unanswered.send_modify(|n| *n = n.saturating_sub(1));
        }
    }
}

impl Drop for FirstAnswer<'_> {
    fn drop(&mut self) {
        self.came();
    }
}

/// How the BitTorrent half runs. Fill with `..Default::default()`.
#[derive(Debug, Clone, PartialEq)]
pub struct SwarmSettings {
    /// Use torrents at all; off: everything goes to the HTTP engine.
    pub enabled: bool,
    /// pactor's state directory (the DHT routing table is kept here); empty:
    /// not kept.
    pub state_dir: PathBuf,
    /// TCP port for incoming peers; `Some(0)` picks one, `None` listens not.
    pub listen_port: Option<u16>,
    /// Use the mainline DHT.
    pub dht: bool,
    /// Use local service discovery.
    pub lsd: bool,
    /// Trackers announced to for every torrent, besides the torrent's own.
    pub trackers: Vec<Url>,
    /// Upload limit in bytes per second.
    pub max_upload_rate: Option<u64>,
    /// How long all torrent lookups of the transaction may take together;
    /// packages whose torrent did not arrive by then go to HTTP.
    pub lookup_timeout: Duration,
    /// A swarm transfer without progress for this long is given up and its
    /// package goes to HTTP.
    pub stall_timeout: Duration,
    /// Packages smaller than this skip the swarm (no lookup, no torrent)
    /// and start on the mirrors at once; 0 sends every package with a
    /// torrent to the swarm. See [`DEFAULT_SWARM_MIN_SIZE`].
    pub min_size: u64,
}

/// The default [`SwarmSettings::min_size`]: 1 MiB, 16 pieces of the
/// smallest piece length. Below it a package takes a fraction of a second
/// from the mirrors, less than its lookup, librqbit's add and the bridges'
/// connections cost before the first byte: 300 packages of 20-200 KiB on
/// four mirrors capped at 40 MB/s took 0.38 s to their first package byte
/// through the swarm, and the transfer itself 0.9 s (BENCHMARKS.md,
/// "small300"). Such packages are a small share of an upgrade's bytes, so
/// the mirrors' load on a patch day barely changes. pactor-seed still
/// seeds them when it finds their torrent.
pub const DEFAULT_SWARM_MIN_SIZE: u64 = 1024 * 1024;

/// Environment variable that, when set, makes [`SwarmSettings::default`]
/// talk to no one but the mirrors and the torrents' own trackers: no DHT, no
/// LSD, no listening port (for demos and tests on a machine offline).
pub const LOCAL_ONLY_ENV: &str = "PACTOR_SWARM_LOCAL_ONLY";

impl Default for SwarmSettings {
    fn default() -> Self {
        let local_only = std::env::var_os(LOCAL_ONLY_ENV).is_some();
        SwarmSettings {
            enabled: true,
            state_dir: PathBuf::new(),
            listen_port: (!local_only).then_some(0),
            dht: !local_only,
            lsd: !local_only,
            trackers: Vec::new(),
            max_upload_rate: None,
            lookup_timeout: Duration::from_secs(3),
            stall_timeout: Duration::from_secs(15),
            min_size: DEFAULT_SWARM_MIN_SIZE,
        }
    }
}

/// Downloads every item of `plan` into `plan.download_dir`: packages with a
/// valid torrent from the swarm, the rest (and any swarm failure) from the
/// mirrors over HTTP, concurrently. Each file is verified against the plan's
/// size and sha256 and ends up as `<download_dir>/<filename>`; each torrent
/// fetched from the network and accepted is left as
/// `<download_dir>/<filename>.torrent` for the caller to keep for seeding.
///
/// Errors as [`fetch_all`]: [`FetchError::Failed`] lists the files that
/// failed and carries those that arrived.
pub async fn fetch_transaction(
    plan: FetchPlan,
    reporter: Arc<dyn Reporter>,
    settings: SwarmSettings,
) -> Result<FetchOutcome, FetchError> {
    fetch_transaction_on(plan, reporter, settings, None).await
}

/// [`fetch_transaction`] on a session that is already running (pactor-seed's,
/// with its DHT table and peers warm) when `session` is given: it is used
/// instead of starting one, and left running at the end. Transfers are still
/// removed from it once verified, as with a session of the transaction's own;
/// seeding the file placed in the cache is the session owner's business.
/// `settings.enabled` and the timeouts apply; the session's own options
/// (ports, DHT, limits) are the owner's.
pub async fn fetch_transaction_on(
    plan: FetchPlan,
    reporter: Arc<dyn Reporter>,
    settings: SwarmSettings,
    session: Option<Arc<Swarm>>,
) -> Result<FetchOutcome, FetchError> {
    crate::tls::preload_for(&plan);
    if !settings.enabled {
        return fetch_all(plan, reporter).await;
    }
    // Which items may go to the swarm, decided once (it reads the disk).
    let swarm_bound: Vec<bool> = plan
        .items
        .iter()
        .map(|i| for_swarm(&plan, &settings, i))
        .collect();
    if !swarm_bound.contains(&true) {
        return fetch_all(plan, reporter).await;
    }
    let started = Instant::now();
    fs_err::create_dir_all(&plan.download_dir).map_err(|source| FetchError::Io {
        action: "could not create",
        path: plan.download_dir.clone(),
        source,
    })?;
    let total = plan.items.iter().filter_map(|i| i.size).sum();
    reporter.on_start(plan.items.len(), total);

    // One HTTP client for the torrent lookups and the webseed bridges: the
    // connections the lookups open to a mirror then carry the bridges' first
    // range requests there, a connection's handshake sooner. pactor-seed's
    // session brings its own; otherwise the one pactor's download process
    // built while it waited for the plan, if any (the HTTP engine's, whose
    // pool the engine then shares).
    let client = match &session {
        Some(s) => Ok(s.webseed_client()),
        None => match crate::http::prebuilt_client_shared(&plan.options, &plan.limits) {
            Some(client) => Ok(client),
            None => crate::swarm::webseed_client(&WebseedOptions::default()),
        },
    };
    let client = match client {
        Ok(client) => Some(client),
        Err(e) => {
            reporter.on_warning(&format!("torrents not used: HTTP client: {e}"));
            None
        }
    };
    let mut lookups = Lookups::start(&plan, &swarm_bound, &settings, client.clone());
    // Each package's head start, on a mirror of its own, while its torrent
    // is looked up (see `swarm::head`).
    let limiter = plan
        .limits
        .max_download_rate
        .map(|rate| Arc::new(RateLimiter::new(rate)));
    let mut heads: Vec<Option<Arc<Head>>> = match &client {
        Some(client) => start_heads(&plan, &swarm_bound, client, limiter.clone()),
        None => Vec::new(),
    };
    let ctx = Arc::new(Ctx {
        reporter: reporter.clone(),
        download_dir: plan.download_dir.clone(),
        limits: plan.limits.clone(),
        options: plan.options.clone(),
        stall_timeout: settings.stall_timeout,
        limiter,
        dropped: Arc::default(),
    });

    // Each package with an accepted torrent goes to the swarm as soon as its
    // lookup is done, while the other lookups still run: adding a torrent
    // costs CPU (librqbit's add, the bridge connections), the lookups wait
    // on the network, and a transaction of many small packages spent the
    // whole lookup time before its first download. The session starts with
    // the first accepted torrent.
    let own_session = session.is_none();
    let mut swarm = None;
    let mut session = session;
    let mut swarm_failed = false;
    let mut legs = JoinSet::new();
    let mut items: Vec<Option<FetchItem>> = plan.items.iter().cloned().map(Some).collect();
    // What can never go to the swarm (signatures, small packages, packages
    // without a torrent source) starts on the mirrors now, not after the
    // lookups.
    let (now_ids, now_items): (Vec<ItemId>, Vec<FetchItem>) = items
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| !swarm_bound[*i])
        .filter_map(|(i, item)| item.take().map(|item| (ItemId(i), item)))
        .unzip();
    if !now_items.is_empty() {
        legs.spawn(http_leg(ctx.clone(), now_ids, now_items, false));
    }
    while let Some((i, metainfo)) = lookups.next(&plan, reporter.as_ref()).await {
        if swarm.is_none() && !swarm_failed {
            swarm = match session.take() {
                Some(s) => Some(s),
                None => start_swarm(&plan, &settings, client.clone(), reporter.as_ref()).await,
            };
            swarm_failed = swarm.is_none();
        }
        // Without a session the item stays in `items` for the HTTP leg.
        let Some(swarm) = &swarm else { continue };
        let Some(item) = items.get_mut(i).and_then(Option::take) else {
            continue;
        };
        legs.spawn(swarm_leg(
            swarm.clone(),
            ItemId(i),
            item,
            (metainfo, heads.get_mut(i).and_then(Option::take)),
            ctx.clone(),
        ));
    }
    drop(lookups);
    let (http_ids, http_items): (Vec<ItemId>, Vec<FetchItem>) = items
        .into_iter()
        .enumerate()
        .filter_map(|(i, item)| item.map(|item| (ItemId(i), item)))
        .unzip();
    // What the head starts of these packages (no usable torrent) fetched is
    // the HTTP engine's to resume from, not lost.
    let (dir, options) = (&plan.download_dir, &plan.options);
    let handing = http_ids.iter().zip(&http_items).filter_map(|(id, item)| {
        let head = heads.get_mut(id.0).and_then(Option::take)?;
        Some(async move { (*id, hand_to_http(&head, dir, item, options).await) })
    });
    let handed: Vec<(ItemId, u64)> = futures_util::future::join_all(handing).await;
    drop(heads);
    if !http_items.is_empty() {
        legs.spawn(http_leg(ctx.clone(), http_ids, http_items, false));
    }

    let mut all = Leg::default();
    while let Some(joined) = legs.join_next().await {
        match joined {
            Ok(leg) => all.merge(leg),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {}
        }
    }
    // A session of our own ends with the transaction; a borrowed one keeps
    // running for its owner.
    if let Some(swarm) = swarm
        .filter(|_| own_session)
        .and_then(|s| Arc::try_unwrap(s).ok())
    {
        swarm.stop().await;
    }
    if let Some(fatal) = all.fatal {
        return Err(fatal);
    }

    // Every item ends delivered or failed; one that a leg let go of
    // silently would otherwise surface only as a missing file later.
    let accounted = |i| {
        let id = ItemId(i);
        all.files.iter().any(|f| f.item == id) || all.failures.iter().any(|(f, _)| *f == id)
    };
    let unaccounted: Vec<_> =
        FileFailure::for_unsettled(&plan, accounted, "the download ended without delivering it")
            .collect();
    for (i, failure) in unaccounted {
        reporter.on_item_failed(ItemId(i), &failure);
        all.failures.push((ItemId(i), failure));
    }
    let mut files = all.files;
    // The engine counts a head start it resumed from as resumed; its bytes
    // came from the mirrors in this run.
    for f in &mut files {
        if let Some((_, bytes)) = handed.iter().find(|(id, _)| *id == f.item) {
            let moved = (*bytes).min(f.resumed);
            f.resumed -= moved;
            f.from_mirrors += moved;
            all.from_mirrors += moved;
        }
    }
    files.sort_by_key(|f| f.item);
    let summary = FetchSummary {
        files: files.len(),
        packages: files.iter().filter(|f| f.kind == ItemKind::Package).count(),
        bytes_from_mirrors: all.from_mirrors,
        bytes_from_peers: all.from_peers,
        bytes_resumed: files.iter().map(|f| f.resumed).sum(),
        bytes_discarded: all.discarded,
        elapsed: started.elapsed(),
    };
    reporter.on_finish(&summary);
    let outcome = FetchOutcome { files, summary };
    if all.failures.is_empty() {
        Ok(outcome)
    } else {
        all.failures.sort_by_key(|(id, _)| *id);
        Err(FetchError::Failed {
            failures: all.failures.into_iter().map(|(_, f)| f).collect(),
            partial: Box::new(outcome),
        })
    }
}

/// How long a head start may wait for its mirror's answer, and for each
/// chunk of it, before its pieces go to the bridges' own requests.
const HEAD_STALL: Duration = Duration::from_secs(1);

/// How long packages without a usable torrent wait for their head starts
/// to finish before the HTTP engine takes them with what arrived (the rest
/// of a stretch is dropped): a head on a slow mirror must not hold back
/// the packages' start on the others.
const HANDOFF_WAIT: Duration = Duration::from_millis(100);

/// A head start ([`Head`]) for each package in `swarm_bound` that has a
/// mirror and nothing on disk from an earlier run (that is resumed as it
/// is). The k-th such package's comes from the (k + 1)-th mirror, so that
/// the heads and the torrent lookups spread over the mirrors.
fn start_heads(
    plan: &FetchPlan,
    swarm_bound: &[bool],
    client: &reqwest::Client,
    limiter: Option<Arc<RateLimiter>>,
) -> Vec<Option<Arc<Head>>> {
    let mut k = 0;
    plan.items
        .iter()
        .zip(swarm_bound)
        .map(|(item, bound)| {
            let (true, Some(size)) = (*bound, item.size) else {
                return None;
            };
            let earlier = [
                plan.download_dir.join(SWARM_DIR).join(&item.filename),
                crate::resume::part_paths(&plan.download_dir, &item.filename).0,
            ];
            if item.mirrors.is_empty() || earlier.iter().any(|p| p.exists()) {
                return None;
            }
            k += 1;
            let mirror = &item.mirrors[k % item.mirrors.len()];
            let url = crate::plan::file_url(mirror, &item.filename).ok()?;
            Head::start(client, url, size, limiter.clone(), HEAD_STALL)
        })
        .collect()
}

/// Writes what `head` fetched of `item` (its package goes to the HTTP
/// engine) within [`HANDOFF_WAIT`] as the engine's partial file and resume
/// record, the blocks it covers marked done; returns their bytes. The engine checks the whole
/// file's sha256 in the end and, should it fail, starts over without
/// blaming a mirror, as for any file resumed from disk.
async fn hand_to_http(head: &Head, dir: &Path, item: &FetchItem, options: &FetchOptions) -> u64 {
    let (Some(size), bs) = (item.size, options.block_size) else {
        return 0;
    };
    let (offset, bytes) = head.settled(HANDOFF_WAIT).await;
    if bs == 0 || bytes.is_empty() {
        return 0;
    }
    let mut record = crate::resume::ResumeRecord::new(size, item.sha256, bs);
    let end = offset + bytes.len() as u64;
    let first = offset.div_ceil(bs);
    for (b, done) in record.done.iter_mut().enumerate().skip(first as usize) {
        let block_end = ((b as u64 + 1) * bs).min(size);
        if block_end > end {
            break;
        }
        *done = true;
    }
    let covered = record.done_bytes();
    if covered == 0 {
        return 0;
    }
    let (part, resume) = crate::resume::part_paths(dir, &item.filename);
    let written = (|| {
        use std::os::unix::fs::FileExt;
        let file = fs_err::File::create(&part)?;
        file.set_len(size)?;
        file.file().write_all_at(&bytes, offset)?;
        if options.fsync {
            file.sync_all()?;
        }
        record.save(&resume, options.fsync)
    })();
    if written.is_err() {
        let _ = fs_err::remove_file(&part);
        let _ = fs_err::remove_file(&resume);
        return 0;
    }
    covered
}

/// Whether `item` is a package for the swarm: it has a torrent to look up,
/// a known size of at least `settings.min_size`, and was not left complete
/// by an earlier run.
fn for_swarm(plan: &FetchPlan, settings: &SwarmSettings, item: &FetchItem) -> bool {
    let somewhere = match &item.torrent {
        Some(TorrentSource::Urls(urls)) => !urls.is_empty(),
        Some(TorrentSource::File(_)) => true,
        None => false,
    };
    item.kind == ItemKind::Package
        && item.size.is_some_and(|size| size >= settings.min_size)
        && somewhere
        && !finished_earlier(plan, item)
}

/// Whether an earlier, interrupted run left `item` complete in the download
/// directory (downloaded and moved out of the swarm's directory, but never
/// handed on). Such a file goes to the HTTP engine, which checks it and keeps
/// it when its sha256 is right, instead of to the swarm, which would fetch it
/// again beside it.
fn finished_earlier(plan: &FetchPlan, item: &FetchItem) -> bool {
    std::fs::metadata(plan.download_dir.join(&item.filename))
        .is_ok_and(|m| m.is_file() && Some(m.len()) == item.size)
}

/// [`fetch_transaction`] on a multi-threaded runtime of its own (librqbit
/// needs one). Must not be called from inside a tokio runtime.
pub fn fetch_transaction_blocking(
    plan: FetchPlan,
    reporter: Arc<dyn Reporter>,
    settings: SwarmSettings,
) -> Result<FetchOutcome, FetchError> {
    crate::warm::runtime()?.block_on(fetch_transaction(plan, reporter, settings))
}

/// What every leg needs from the plan.
struct Ctx {
    reporter: Arc<dyn Reporter>,
    download_dir: PathBuf,
    limits: Limits,
    options: FetchOptions,
    stall_timeout: Duration,
    /// The download limit of the whole transaction: the HTTP engine and the
    /// webseed bridges pay for their bytes from it as they arrive, and the
    /// peers' bytes are charged to it once librqbit reports them.
    limiter: Option<Arc<RateLimiter>>,
    /// Mirrors reported dropped so far. Each HTTP leg runs an engine of its
    /// own (a package the swarm gave back has one to itself), which drops a
    /// bad mirror again: the user hears of it once.
    dropped: Arc<Mutex<HashSet<String>>>,
}

/// What one leg (the HTTP engine over some items, or one swarm transfer)
/// delivered, with item ids of the whole plan.
#[derive(Default)]
struct Leg {
    files: Vec<FetchedFile>,
    failures: Vec<(ItemId, FileFailure)>,
    from_mirrors: u64,
    from_peers: u64,
    discarded: u64,
    fatal: Option<FetchError>,
}

impl Leg {
    fn merge(&mut self, other: Leg) {
        self.files.extend(other.files);
        self.failures.extend(other.failures);
        self.from_mirrors += other.from_mirrors;
        self.from_peers += other.from_peers;
        self.discarded += other.discarded;
        if self.fatal.is_none() {
            self.fatal = other.fatal;
        }
    }
}

/// The torrent lookups of a transaction: every package that names a torrent,
/// all at once, within `settings.lookup_timeout` in all.
struct Lookups {
    running: JoinSet<(usize, Lookup)>,
    deadline: tokio::time::Instant,
}

impl Lookups {
    /// Starts a lookup for each item marked in `swarm_bound` ([`for_swarm`])
    /// on `client` (none: no lookups, every package goes to HTTP).
    fn start(
        plan: &FetchPlan,
        swarm_bound: &[bool],
        settings: &SwarmSettings,
        client: Option<reqwest::Client>,
    ) -> Lookups {
        let mut running = JoinSet::new();
        let deadline = tokio::time::Instant::now() + settings.lookup_timeout;
        let Some(client) = client else {
            return Lookups { running, deadline };
        };
        let timeout = settings.lookup_timeout;
        let wanted: Vec<(usize, &TorrentSource, u64)> = plan
            .items
            .iter()
            .enumerate()
            .filter_map(
                |(i, item)| match (&item.torrent, item.size, swarm_bound[i]) {
                    (Some(source), Some(size), true) => Some((i, source, size)),
                    _ => None,
                },
            )
            .collect();
        let by_url = wanted
            .iter()
            .filter(|(_, source, _)| matches!(source, TorrentSource::Urls(_)))
            .count();
        let barren = Arc::new(Barren::new(by_url));
        for (i, source, size) in wanted {
            let (client, source, filename, barren) = (
                client.clone(),
                source.clone(),
                plan.items[i].filename.clone(),
                barren.clone(),
            );
            running.spawn(async move {
                let found = find_torrent(client, timeout, source, filename, size, &barren).await;
                (i, found)
            });
        }
        Lookups { running, deadline }
    }

    /// The next accepted torrent as (item index, `.torrent` bytes), in the
    /// order they arrive; `None` once every lookup is done or the time is
    /// up (lookups still running are aborted when `self` is dropped). A
    /// torrent fetched from the network is kept beside the download as
    /// `<filename>.torrent`; a bad one is a warning.
    async fn next(
        &mut self,
        plan: &FetchPlan,
        reporter: &dyn Reporter,
    ) -> Option<(usize, Vec<u8>)> {
        loop {
            let next = tokio::time::timeout_at(self.deadline, self.running.join_next()).await;
            let Ok(Some(joined)) = next else {
                return None;
            };
            let Ok((i, found)) = joined else { continue };
            let filename = &plan.items[i].filename;
            match found {
                Lookup::Found { bytes, fetched } => {
                    if fetched {
                        // For the caller to keep: the next run (and
                        // pactor-seed) finds it without asking the network.
                        let path = plan.download_dir.join(format!("{filename}.torrent"));
                        if let Err(e) = write_atomically(&path, &bytes) {
                            reporter.on_warning(&format!(
                                "could not keep the torrent of {filename}: {e}"
                            ));
                        }
                    }
                    return Some((i, bytes));
                }
                Lookup::Invalid(why) => reporter.on_warning(&format!(
                    "ignoring the torrent of {filename} ({why}); downloading it from the mirrors"
                )),
                Lookup::Missing => {}
            }
        }
    }
}

/// What a torrent lookup found.
enum Lookup {
    /// A torrent that passed the checks; `fetched` when it came from the
    /// network (and should be kept).
    Found { bytes: Vec<u8>, fetched: bool },
    /// None anywhere: normal, the package goes to HTTP quietly.
    Missing,
    /// One was found but is not usable for this package.
    Invalid(String),
}

async fn find_torrent(
    client: reqwest::Client,
    timeout: Duration,
    source: TorrentSource,
    filename: String,
    size: u64,
    barren: &Barren,
) -> Lookup {
    match source {
        TorrentSource::File(path) => {
            let read = tokio::task::spawn_blocking(move || read_capped(&path)).await;
            match read {
                Ok(Ok(bytes)) => match torrent::parse_for_package(&bytes, &filename, size) {
                    Ok(_) => Lookup::Found {
                        bytes,
                        fetched: false,
                    },
                    Err(e) => Lookup::Invalid(e.to_string()),
                },
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Lookup::Missing,
                Ok(Err(e)) => Lookup::Invalid(e.to_string()),
                Err(e) => Lookup::Invalid(e.to_string()),
            }
        }
        TorrentSource::Urls(urls) => {
            // The first URL alone; the next joins when it kept us waiting
            // TORRENT_RACE_STAGGER, and all the others once one failed.
            // Servers known to have no torrents are not asked.
            let mut waiting = urls
                .into_iter()
                .take(TORRENT_URLS_RACED)
                .filter(|u| !barren.lacks(u));
            let mut race = JoinSet::new();
            let ask = |race: &mut JoinSet<_>, url: Url| {
                let (client, filename) = (client.clone(), filename.clone());
                race.spawn(async move {
                    let got = fetch_torrent(&client, timeout, &url).await;
                    let checked = got.and_then(|got| {
                        match torrent::parse_for_package(&got, &filename, size) {
                            Ok(_) => Ok(got),
                            Err(e) => Err(Some(format!("{url}: {e}"))),
                        }
                    });
                    (url, checked)
                });
            };
            let mut invalid = None;
            let mut failed = false;
            let mut more = true;
            let mut first = FirstAnswer(Some(barren));
            let asked_at = Instant::now();
            loop {
                if race.is_empty() || !more {
                    let asked = if failed {
                        waiting.by_ref().map(|url| ask(&mut race, url)).count()
                    } else if let Some(url) = waiting.next() {
                        ask(&mut race, url);
                        1
                    } else {
                        0
                    };
                    if asked == 0 && race.is_empty() {
                        break;
                    }
                }
                more = true;
                let joined = tokio::select! {
                    j = race.join_next() => j,
                    () = tokio::time::sleep(TORRENT_RACE_STAGGER) => {
                        more = false;
                        continue;
                    }
                };
                let Some(Ok((url, checked))) = joined else {
                    continue;
                };
                barren.note(&url, checked.is_ok());
                first.came();
                match checked {
                    Ok(bytes) => {
                        return Lookup::Found {
                            bytes,
                            fetched: true,
                        }
                    }
                    Err(why) => {
                        if !failed {
                            // Which of the other servers have none: known
                            // once the other packages' first asks answered.
                            let again = asked_at.elapsed().min(TORRENT_RACE_STAGGER);
                            barren.first_answers(again).await;
                        }
                        failed = true;
                        more = false;
                        if let Some(why) = why {
                            invalid = invalid.or(Some(why));
                        }
                    }
                }
            }
            invalid.map_or(Lookup::Missing, Lookup::Invalid)
        }
    }
}

/// One `.torrent` from a URL, at most [`MAX_TORRENT_BYTES`]. `Err(None)`:
/// not there (404, an error status, unreachable) — normal, not reported;
/// `Err(Some(..))`: something answered that is not a usable torrent.
async fn fetch_torrent(
    client: &reqwest::Client,
    timeout: Duration,
    url: &Url,
) -> Result<Vec<u8>, Option<String>> {
    let request = client.get(url.clone()).timeout(timeout);
    let mut response = request.send().await.map_err(|_| None)?;
    if !response.status().is_success() {
        return Err(None);
    }
    let too_large = || Some(format!("{url}: larger than {MAX_TORRENT_BYTES} bytes"));
    if response
        .content_length()
        .is_some_and(|n| n > MAX_TORRENT_BYTES as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| None)? {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_TORRENT_BYTES {
            return Err(too_large());
        }
    }
    Ok(body)
}

/// Reads a stored `.torrent`, refusing one larger than [`MAX_TORRENT_BYTES`].
fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = fs_err::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(MAX_TORRENT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() > MAX_TORRENT_BYTES {
        return Err(std::io::Error::other(format!(
            "{}: larger than {MAX_TORRENT_BYTES} bytes",
            path.display()
        )));
    }
    Ok(bytes)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("torrent-tmp");
    fs_err::write(&tmp, bytes)?;
    fs_err::rename(&tmp, path)
}

/// The transaction's session; `None` (and a warning) when it cannot start,
/// and then every package goes to HTTP.
async fn start_swarm(
    plan: &FetchPlan,
    settings: &SwarmSettings,
    client: Option<reqwest::Client>,
    reporter: &dyn Reporter,
) -> Option<Arc<Swarm>> {
    let dir = plan.download_dir.join(SWARM_DIR);
    if let Err(e) = fs_err::create_dir_all(&dir) {
        reporter.on_warning(&format!("torrents not used: {e}"));
        return None;
    }
    let options = SwarmOptions {
        state_dir: settings.state_dir.clone(),
        listen_port: settings.listen_port,
        dht: settings.dht,
        lsd: settings.lsd,
        trackers: settings.trackers.clone(),
        // librqbit's limit paces the peers; the bridges and the HTTP engine
        // pay from `Ctx::limiter`, which the peers' bytes are charged to.
        max_download_rate: plan.limits.max_download_rate,
        max_upload_rate: settings.max_upload_rate,
        ..Default::default()
    };
    match Swarm::start_with_client(options, client).await {
        Ok(s) => Some(Arc::new(s)),
        Err(e) => {
            reporter.on_warning(&format!("torrents not used: {e}"));
            None
        }
    }
}

/// The HTTP engine over `items`, whose ids in the whole plan are `ids`;
/// `started`: their start was already reported (by the swarm).
async fn http_leg(ctx: Arc<Ctx>, ids: Vec<ItemId>, items: Vec<FetchItem>, started: bool) -> Leg {
    let names: Vec<String> = items.iter().map(|i| i.filename.clone()).collect();
    let plan = FetchPlan {
        items,
        download_dir: ctx.download_dir.clone(),
        limits: ctx.limits.clone(),
        options: ctx.options.clone(),
    };
    let sub = Arc::new(SubReporter {
        inner: ctx.reporter.clone(),
        ids: ids.clone(),
        started,
        dropped: ctx.dropped.clone(),
    });
    let remap = |mut f: FetchedFile| {
        f.item = ids.get(f.item.0).copied().unwrap_or(f.item);
        f
    };
    let id_of = |name: &str| {
        names
            .iter()
            .position(|n| n == name)
            .and_then(|p| ids.get(p).copied())
            .unwrap_or(ItemId(usize::MAX))
    };
    let (outcome, failures, fatal) = match fetch_all_limited(plan, sub, ctx.limiter.clone()).await {
        Ok(o) => (o, Vec::new(), None),
        Err(FetchError::Failed { failures, partial }) => (*partial, failures, None),
        Err(e) => (FetchOutcome::default(), Vec::new(), Some(e)),
    };
    Leg {
        files: outcome.files.into_iter().map(remap).collect(),
        failures: failures
            .into_iter()
            .map(|f| (id_of(&f.filename), f))
            .collect(),
        from_mirrors: outcome.summary.bytes_from_mirrors,
        from_peers: outcome.summary.bytes_from_peers,
        discarded: outcome.summary.bytes_discarded,
        fatal,
    }
}

/// Passes the HTTP engine's events on with the ids of the whole plan; the
/// start and finish of the transaction are reported once, by
/// [`fetch_transaction`].
struct SubReporter {
    inner: Arc<dyn Reporter>,
    ids: Vec<ItemId>,
    /// The items' start was reported already: a bar per file, not two.
    started: bool,
    /// The transaction's mirrors reported dropped ([`Ctx::dropped`]).
    dropped: Arc<Mutex<HashSet<String>>>,
}

impl SubReporter {
    fn id(&self, item: ItemId) -> ItemId {
        self.ids.get(item.0).copied().unwrap_or(item)
    }
}

impl Reporter for SubReporter {
    fn on_item_start(&self, item: ItemId, filename: &str, size: Option<u64>, resumed: u64) {
        if !self.started {
            self.inner
                .on_item_start(self.id(item), filename, size, resumed);
        }
    }
    fn on_progress(&self, item: ItemId, bytes: u64, source: SourceKind) {
        self.inner.on_progress(self.id(item), bytes, source);
    }
    fn on_discard(&self, item: ItemId, bytes: u64) {
        self.inner.on_discard(self.id(item), bytes);
    }
    fn on_item_done(&self, item: ItemId, file: &FetchedFile) {
        let mut file = file.clone();
        file.item = self.id(item);
        self.inner.on_item_done(file.item, &file);
    }
    fn on_item_failed(&self, item: ItemId, failure: &FileFailure) {
        self.inner.on_item_failed(self.id(item), failure);
    }
    fn on_mirror_benched(&self, mirror: &str, reason: &BenchReason) {
        if lock(&self.dropped).insert(mirror.to_owned()) {
            self.inner.on_mirror_benched(mirror, reason);
        } else {
            tracing::debug!(mirror, %reason, "dropped again, in another leg");
        }
    }
    fn on_warning(&self, message: &str) {
        self.inner.on_warning(message);
    }
}

/// One package from the swarm, or from HTTP when the swarm does not
/// deliver it.
async fn swarm_leg(
    swarm: Arc<Swarm>,
    id: ItemId,
    item: FetchItem,
    torrent: (Vec<u8>, Option<Arc<Head>>),
    ctx: Arc<Ctx>,
) -> Leg {
    match from_swarm(&swarm, id, &item, torrent, &ctx).await {
        Ok(file) => {
            ctx.reporter.on_item_done(id, &file);
            Leg {
                from_mirrors: file.from_mirrors,
                from_peers: file.from_peers,
                files: vec![file],
                ..Default::default()
            }
        }
        Err((why, discarded, started)) => {
            drop(swarm);
            ctx.reporter.on_warning(&format!(
                "{}: {why}; downloading it from the mirrors",
                item.filename
            ));
            let mut leg = http_leg(ctx, vec![id], vec![item], started).await;
            leg.discarded += discarded;
            leg
        }
    }
}

/// A transfer in the session, removed from it also when the transaction is
/// dropped midway (Ctrl-C in pactor, or pactor leaving pactor-seed, whose
/// session goes on): librqbit would otherwise go on downloading into a
/// directory whose owner has moved on.
struct RemoveOnDrop {
    swarm: Arc<Swarm>,
    transfer: Option<Transfer>,
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let Some(transfer) = self.transfer.take() else {
            return;
        };
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let swarm = self.swarm.clone();
            rt.spawn(async move {
                let _ = swarm.remove(&transfer).await;
            });
        }
    }
}

/// Bytes of one transfer already passed to the reporter, by source.
#[derive(Default)]
struct Reported {
    started: bool,
    mirrors: u64,
    peers: u64,
}

/// Runs `f` on the blocking pool; its error, or the task's, as text.
async fn blocking<E: std::fmt::Display + Send + 'static>(
    f: impl FnOnce() -> Result<(), E> + Send + 'static,
) -> Result<(), String> {
    joined(tokio::task::spawn_blocking(f).await)
}

/// A blocking task's outcome, its error or the task's as text.
fn joined<E: std::fmt::Display>(
    r: Result<Result<(), E>, tokio::task::JoinError>,
) -> Result<(), String> {
    r.map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
}

/// Hands a partial file the HTTP engine left for `filename` in `dir` (an
/// earlier run fell back to the mirrors: a bad torrent, a full disk) to the
/// swarm, unless the swarm has a file of its own: librqbit checks every
/// piece of a file it finds and keeps those that match, where the part
/// would otherwise be fetched again whole.
fn take_over_part(dir: &Path, filename: &str) {
    let (part, record) = crate::resume::part_paths(dir, filename);
    let swarm_file = dir.join(SWARM_DIR).join(filename);
    let is_file = part.symlink_metadata().is_ok_and(|m| m.is_file());
    if swarm_file.symlink_metadata().is_ok() || !is_file {
        return;
    }
    if fs_err::create_dir_all(dir.join(SWARM_DIR)).is_ok()
        && fs_err::rename(&part, &swarm_file).is_ok()
    {
        let _ = fs_err::remove_file(&record);
    }
}

/// Downloads one package from the swarm, checks its sha256 against the plan
/// and renames it to `<download_dir>/<filename>`. On failure the transfer
/// is removed, the bytes reported for it are discarded, and the reason,
/// their count and whether the item's start was reported are returned.
async fn from_swarm(
    swarm: &Arc<Swarm>,
    id: ItemId,
    item: &FetchItem,
    (metainfo, head): (Vec<u8>, Option<Arc<Head>>),
    ctx: &Ctx,
) -> Result<FetchedFile, (String, u64, bool)> {
    let size = item.size.unwrap_or(0);
    take_over_part(&ctx.download_dir, &item.filename);
    let transfer = swarm
        .add_limited(
            SwarmItem {
                filename: item.filename.clone(),
                size,
                metainfo,
                output_dir: ctx.download_dir.join(SWARM_DIR),
                mirrors: item.mirrors.clone(),
                initial_peers: Vec::new(),
                head,
            },
            ctx.limiter.clone(),
        )
        .await
        .map_err(|e| (e.to_string(), 0, false))?;
    let mut pending = RemoveOnDrop {
        swarm: swarm.clone(),
        transfer: Some(transfer),
    };
    let mut reported = Reported::default();
    let result = match pending.transfer.as_ref() {
        Some(transfer) => follow(transfer, id, item, ctx, &mut reported).await,
        None => Err("the transfer is gone".to_owned()),
    };
    // Seeding is pactor-seed's job; the transaction's session ends here.
    let Some(transfer) = pending.transfer.take() else {
        return Err(("the transfer is gone".into(), 0, reported.started));
    };
    let _ = swarm.remove(&transfer).await;
    let discard = |why: String| {
        let bytes = reported.mirrors + reported.peers;
        if bytes > 0 {
            ctx.reporter.on_discard(id, bytes);
        }
        let _ = fs_err::remove_file(transfer.path());
        (why, bytes, reported.started)
    };
    let progress = result.map_err(discard)?;
    ctx.reporter.on_item_ready(id, &item.filename);

    // librqbit leaves its writes to the page cache (the HTTP engine syncs
    // as it goes), so the file's fsync is run while it is hashed, not
    // after: for the last package of a transaction, ~12 ms each for 15 MB,
    // one after the other, with nothing else left to download.
    let fsync = ctx.options.fsync;
    let path = transfer.path().to_owned();
    let flush = fsync.then(|| {
        let path = path.clone();
        tokio::task::spawn_blocking(move || verify::sync_file(&path))
    });
    let sha256 = item.sha256;
    let checked = blocking(move || verify::verify_file(&path, Some(size), sha256)).await;
    if let Err(e) = checked {
        return Err(discard(format!(
            "the swarm's copy does not match the database: {e}"
        )));
    }
    let dest = ctx.download_dir.join(&item.filename);
    let placed = async {
        if let Some(flush) = flush {
            joined(flush.await)?;
        }
        let (part, to) = (transfer.path().to_owned(), dest.clone());
        blocking(move || verify::rename_durably(&part, &to, fsync)).await
    };
    if let Err(e) = placed.await {
        return Err(discard(format!("could not move it into place: {e}")));
    }
    Ok(FetchedFile {
        item: id,
        filename: item.filename.clone(),
        path: dest,
        size,
        kind: item.kind,
        from_mirrors: progress.from_mirrors,
        from_peers: progress.from_peers,
        resumed: progress.resumed,
        checked: None,
    })
}

/// Polls a transfer every 200 ms until it completes, reporting new bytes by
/// source; fails when librqbit reports an error or nothing moves for the
/// stall timeout (checking a file left by an earlier run counts as moving).
async fn follow(
    transfer: &Transfer,
    id: ItemId,
    item: &FetchItem,
    ctx: &Ctx,
    reported: &mut Reported,
) -> Result<crate::swarm::TransferProgress, String> {
    const POLL: Duration = Duration::from_millis(200);
    let mut last_move = Instant::now();
    let mut last = (0u64, 0u64, 0u64);
    loop {
        let done = tokio::time::timeout(POLL, transfer.wait()).await;
        let p = transfer.progress();
        if !p.checking {
            if !reported.started {
                reported.started = true;
                ctx.reporter
                    .on_item_start(id, &item.filename, item.size, p.resumed);
            }
            // from_peers is a difference of two counters and may dip for a
            // moment: report only what goes past the high-water mark.
            if p.from_mirrors > reported.mirrors {
                ctx.reporter
                    .on_progress(id, p.from_mirrors - reported.mirrors, SourceKind::Mirror);
                reported.mirrors = p.from_mirrors;
            }
            if p.from_peers > reported.peers {
                if let Some(limiter) = &ctx.limiter {
                    // librqbit paced these; the HTTP engine and the bridges
                    // make up for them.
                    limiter.charge(p.from_peers - reported.peers);
                }
                ctx.reporter
                    .on_progress(id, p.from_peers - reported.peers, SourceKind::Peer);
                reported.peers = p.from_peers;
            }
        }
        match done {
            Ok(Ok(_)) => {
                return Ok(crate::swarm::TransferProgress {
                    from_mirrors: reported.mirrors,
                    from_peers: reported.peers,
                    ..p
                })
            }
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => {}
        }
        // Every mirror gave up on it and no peer is there: waiting for the
        // stall timeout would only delay the fallback. (All mirrors failing
        // the torrent's piece hashes usually means the torrent is wrong.)
        let webseeds = transfer.webseeds();
        if !p.checking
            && p.peers == 0
            && !webseeds.is_empty()
            && webseeds.iter().all(|w| w.dropped.is_some())
        {
            let why: Vec<String> = webseeds
                .iter()
                .filter_map(|w| w.dropped.as_ref().map(|d| format!("{} {d}", w.url)))
                .collect();
            return Err(format!("no source left in the swarm ({})", why.join(", ")));
        }
        let now = (p.have, p.from_mirrors, p.from_peers);
        if p.checking || now != last {
            last = now;
            last_move = Instant::now();
        } else if last_move.elapsed() >= ctx.stall_timeout {
            return Err(format!(
                "no progress from the swarm for {:.0?}",
                ctx.stall_timeout
            ));
        }
    }
}
