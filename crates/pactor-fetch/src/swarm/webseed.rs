//! BEP 19 webseeds for librqbit, which has none: one *bridge* per mirror, a
//! tiny BitTorrent seed on 127.0.0.1 that librqbit is told about as an
//! initial peer and that answers its block requests with HTTP range requests
//! to the mirror.
//!
//! Why a bridge and not pactor's own piece fetcher (SWARM.md has the
//! measurements): librqbit keeps the set of pieces it has in memory and only
//! learns about data written behind its back by a full re-check of a paused
//! torrent, so a second writer would have to pause and re-hash the file over
//! and over. As a peer, a mirror instead gets librqbit's whole scheduler for
//! free: pieces are handed out one at a time, a slow source's pieces are
//! stolen by faster ones (`piece_tracker.rs`, `try_steal`), a dead source's
//! pieces go back to the queue, and every byte is written by librqbit's own
//! storage and hash-checked again by it.
//!
//! The bridge checks each piece against the torrent's SHA-1 before it sends
//! a single block of it: a mirror serving wrong bytes is caught here, named,
//! and dropped for that file, instead of librqbit silently disconnecting an
//! anonymous peer. A source that keeps failing requests is dropped the same
//! way; librqbit sees the connection close and gives the pieces to others.
//!
//! Piece order is librqbit's: pactor's patched copy (vendor/librqbit) knows
//! the bridges as webseeds and gives them only pieces no peer holds, each
//! owned by one client (SWARM.md, part 3), so a bridge claims every piece.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use reqwest::Client;
use sha1::{Digest, Sha1};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::head::Head;
#[cfg(test)]
use super::head::HEAD_BYTES;
use super::wire::{self, Block, Handshake, Message};
use crate::error::SourceError;
use crate::http::{self, RateLimiter};
use crate::lock;

/// How webseed bridges fetch. Fill with `..Default::default()`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebseedOptions {
    /// HTTP requests open at once to one mirror, over all files, at first.
    pub connections_per_mirror: usize,
    /// The most a mirror gets once its link is known to need more
    /// ([`Mirror::finished`]).
    pub max_connections_per_mirror: usize,
    /// Upper bound of one range request; runs of consecutive wanted pieces
    /// are fetched in one request up to this size.
    pub max_request_bytes: u64,
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// A request that receives nothing for this long fails.
    pub stall_timeout: Duration,
    /// Failed requests after which a mirror is dropped for a file.
    pub max_errors: u32,
    /// Pause before a failed range is asked again.
    pub retry_delay: Duration,
    /// Verified pieces kept per connection for blocks not yet asked for.
    pub cache_pieces: usize,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl Default for WebseedOptions {
    fn default() -> Self {
        WebseedOptions {
            connections_per_mirror: 4,
            // As the HTTP engine's (`Limits::max_connections_per_mirror`).
            max_connections_per_mirror: 12,
            max_request_bytes: 1024 * 1024,
            connect_timeout: Duration::from_secs(5),
            stall_timeout: Duration::from_secs(5),
            max_errors: 3,
            retry_delay: Duration::from_millis(500),
            cache_pieces: 64,
            user_agent: concat!("pactor/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Why a webseed was dropped for a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DropReason {
    /// A piece did not match the torrent's hash.
    BadPiece(u32),
    /// Requests kept failing; the last error.
    Errors(String),
}

impl std::fmt::Display for DropReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DropReason::BadPiece(i) => write!(f, "served wrong data (piece {i} failed its hash)"),
            DropReason::Errors(e) => write!(f, "too many errors, last: {e}"),
        }
    }
}

/// What one webseed did for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebseedStatus {
    /// The file's URL on the mirror.
    pub url: Url,
    /// Verified bytes it delivered to librqbit.
    pub bytes: u64,
    /// Failed requests so far.
    pub errors: u32,
    /// Set once it gets no more work for this file.
    pub dropped: Option<DropReason>,
}

/// Static facts of the torrent a bridge serves.
#[derive(Debug)]
pub(crate) struct PieceLayout {
    pub length: u64,
    pub piece_length: u64,
    pub hashes: Vec<[u8; 20]>,
    /// The stretch fetched while the torrent was looked up, and the pieces
    /// wholly inside it ([`Head`]): served from there, not by a request.
    pub head: Option<(Arc<Head>, std::ops::Range<u32>)>,
    /// Pieces some bridge connection of this file has handed to librqbit
    /// (grown on demand): a piece that reaches a second connection too (a
    /// piece librqbit stole from one webseed while a free slot of another
    /// mirror took over the first one's request) is handed on again but
    /// counted once.
    pub delivered: Mutex<Vec<bool>>,
}

impl PieceLayout {
    fn count(&self) -> u32 {
        self.hashes.len() as u32
    }

    fn piece_len(&self, index: u32) -> u64 {
        let start = u64::from(index) * self.piece_length;
        self.piece_length.min(self.length.saturating_sub(start))
    }

    /// Whether `data` is piece `index` by the torrent's SHA-1.
    fn matches(&self, index: u32, data: &[u8]) -> bool {
        let digest: [u8; 20] = Sha1::digest(data).into();
        digest == self.hashes[index as usize]
    }

    /// Marks `index` delivered; whether it was not before.
    fn first_delivery(&self, index: u32) -> bool {
        let mut d = lock(&self.delivered);
        let i = index as usize;
        if d.len() <= i {
            d.resize(i + 1, false);
        }
        !std::mem::replace(&mut d[i], true)
    }

    /// The pieces the head start still holds (none once it failed).
    fn head_pieces(&self) -> std::ops::Range<u32> {
        match &self.head {
            Some((head, pieces)) if !head.failed() => pieces.clone(),
            _ => 0..0,
        }
    }
}

/// One file on one mirror.
#[derive(Debug)]
pub(crate) struct Source {
    pub url: Url,
    pub layout: Arc<PieceLayout>,
    bytes: AtomicU64,
    errors: AtomicU32,
    dropped: Mutex<Option<DropReason>>,
    /// Cancelled when the source is dropped: closes its connections.
    gone: CancellationToken,
    /// The download limit this file's bytes are paid from, as they arrive
    /// from the mirror (shared with the HTTP engine of the transaction).
    limiter: Option<Arc<RateLimiter>>,
    /// This source's mirror: its request slots and request rate.
    mirror: Arc<Mirror>,
    /// The same file on the transfer's other mirrors ([`Source::link`]).
    siblings: OnceLock<Vec<Weak<Source>>>,
}

impl Source {
    /// The file at `url` on the mirror whose bridge's request slots are
    /// `mirror` ([`Bridge::mirror`]).
    pub(crate) fn new(
        url: Url,
        layout: Arc<PieceLayout>,
        limiter: Option<Arc<RateLimiter>>,
        mirror: Arc<Mirror>,
    ) -> Source {
        Source {
            url,
            layout,
            bytes: AtomicU64::new(0),
            errors: AtomicU32::new(0),
            dropped: Mutex::new(None),
            gone: CancellationToken::new(),
            limiter,
            mirror,
            siblings: OnceLock::new(),
        }
    }

    /// Tells each of `sources` (one file on several mirrors) about the
    /// others, so that a piece asked of one mirror can be fetched from
    /// another one that has a free request slot ([`Source::slot`]).
    pub(crate) fn link(sources: &[Arc<Source>]) {
        for s in sources {
            let others = sources
                .iter()
                .filter(|o| !Arc::ptr_eq(o, s))
                .map(Arc::downgrade)
                .collect();
            let _ = s.siblings.set(others);
        }
    }

    /// A request slot for this file: of the mirrors with one free now (its
    /// own and the siblings that are neither dropped nor failing), the one
    /// that would deliver a run soonest ([`Mirror::run_time`]); otherwise
    /// the first that frees up. librqbit picks a peer per piece without
    /// knowing how fast each mirror is or how much it already has to do;
    /// taking whichever mirror is free turns that into a pull: fast mirrors
    /// free their slots more often and so fetch more, as the HTTP engine's
    /// workers do. With many small packages (one request each) this is
    /// what keeps a slow mirror from holding a queue of them while a fast
    /// one idles. Its own mirror first, whatever its pace, was worse at the
    /// end of a transaction: a 5 MB/s mirror took runs while a 20 MB/s one
    /// had slots free, and finished 50-80 ms after it.
    async fn slot(self: &Arc<Source>) -> Option<(OwnedSemaphorePermit, Arc<Source>)> {
        let mut candidates = vec![self.clone()];
        candidates.extend(self.healthy_siblings());
        // Free now: the mirror that would deliver a run soonest.
        let mut free: Vec<(f64, &Arc<Source>)> = candidates
            .iter()
            .filter(|s| s.mirror.slots.available_permits() > 0)
            .map(|s| (s.mirror.run_time(), s))
            .collect();
        free.sort_by(|a, b| a.0.total_cmp(&b.0));
        if let Some((permit, s)) = free.iter().find_map(|(_, s)| {
            s.mirror
                .slots
                .clone()
                .try_acquire_owned()
                .ok()
                .map(|p| (p, (*s).clone()))
        }) {
            return Some((permit, s));
        }
        let waits = candidates.into_iter().map(|s| {
            Box::pin(async move {
                s.mirror
                    .slots
                    .clone()
                    .acquire_owned()
                    .await
                    .ok()
                    .map(|p| (p, s))
            })
        });
        futures_util::future::select_all(waits).await.0
    }

    /// The same file on the other mirrors, those neither dropped nor failing.
    fn healthy_siblings(&self) -> impl Iterator<Item = Arc<Source>> + '_ {
        self.siblings
            .get()
            .into_iter()
            .flatten()
            .filter_map(Weak::upgrade)
            .filter(|s| s.healthy())
    }

    fn healthy(&self) -> bool {
        !self.is_dropped() && !self.gone.is_cancelled() && self.errors.load(Ordering::Relaxed) == 0
    }

    /// This file on `mirror`: itself or a healthy sibling.
    fn on_mirror(self: &Arc<Source>, mirror: &Arc<Mirror>) -> Option<Arc<Source>> {
        if Arc::ptr_eq(&self.mirror, mirror) {
            return self.healthy().then(|| self.clone());
        }
        self.healthy_siblings()
            .find(|s| Arc::ptr_eq(&s.mirror, mirror))
    }

    pub(crate) fn status(&self) -> WebseedStatus {
        WebseedStatus {
            url: self.url.clone(),
            bytes: self.bytes.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            dropped: lock(&self.dropped).clone(),
        }
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn drop_for(&self, reason: DropReason) {
        let mut d = lock(&self.dropped);
        if d.is_none() {
            tracing::warn!(url = %self.url, %reason, "webseed dropped");
            *d = Some(reason);
        }
        self.gone.cancel();
    }

    /// Closes its connections without blaming the mirror (the transfer is
    /// over).
    pub(crate) fn retire(&self) {
        self.gone.cancel();
    }

    fn is_dropped(&self) -> bool {
        lock(&self.dropped).is_some()
    }
}

/// One mirror as the files it serves share it: its request slots, and how
/// fast one request to it goes.
#[derive(Debug)]
pub(crate) struct Mirror {
    slots: Arc<Semaphore>,
    /// Smoothed over its finished requests: bytes/s of one request once its
    /// answer began, and seconds to that answer.
    pace: Mutex<Option<Pace>>,
    /// What its link carries, for how many slots it needs ([`Link`]).
    link: Mutex<Link>,
    /// Bytes received from it, over all requests.
    received: AtomicU64,
    /// A [`watch`] of this mirror's free slots is on.
    watching: std::sync::atomic::AtomicBool,
}

/// A mirror's link as its finished requests show it: how many request
/// slots keep it busy.
#[derive(Debug)]
struct Link {
    /// Slots it has (the semaphore's permits, taken or not).
    slots: usize,
    max_slots: usize,
    /// Where the current rate sample began: when, and `received` then.
    since: Instant,
    since_bytes: u64,
    /// Highest rate of all its requests together over a sample, bytes/s.
    peak_rate: f64,
    /// Shortest wait for an answer, s.
    min_latency: Option<f64>,
    /// Smoothed size of its requests, bytes.
    request_bytes: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
struct Pace {
    rate: f64,
    latency: f64,
}

/// Shortest span a mirror's link rate is sampled over ([`Link`]).
const LINK_SAMPLE: Duration = Duration::from_millis(100);

impl Link {
    /// The slots that keep a link busy with requests of `request_bytes`:
    /// while one request waits out the latency, the others stream, so
    /// 1 + latency x rate / request size. The HTTP engine counts the rate
    /// twice (`crate::mirrors::Mirror::connections_needed`); here that gave
    /// a 10 MB/s mirror eleven slots for the last few pieces of a
    /// transaction, and the last ones waited 200 ms behind the others'
    /// answers on its link.
    fn needed(&self) -> Option<usize> {
        let (latency, bytes) = (self.min_latency?, self.request_bytes?);
        if self.peak_rate <= 0.0 || bytes <= 0.0 {
            return None;
        }
        Some((1.0 + latency * self.peak_rate / bytes).ceil() as usize)
    }
}

impl Mirror {
    /// A mirror with `connections` request slots at first, up to
    /// `max_connections` once its link needs them.
    fn new(connections: usize, max_connections: usize) -> Mirror {
        let slots = connections.max(1);
        Mirror {
            slots: Arc::new(Semaphore::new(slots)),
            pace: Mutex::new(None),
            link: Mutex::new(Link {
                slots,
                max_slots: max_connections.max(slots),
                since: Instant::now(),
                since_bytes: 0,
                peak_rate: 0.0,
                min_latency: None,
                request_bytes: None,
            }),
            received: AtomicU64::new(0),
            watching: Default::default(),
        }
    }

    /// Slots it has now, taken or not.
    #[cfg(test)]
    fn slot_count(&self) -> usize {
        lock(&self.link).slots
    }

    fn pace(&self) -> Option<Pace> {
        *lock(&self.pace)
    }

    /// Seconds one more request of [`RUN_GUESS`] bytes would take: its
    /// answer's wait and its transfer at the pace of one request. Unknown
    /// (no request finished yet): infinite, after every known mirror.
    fn run_time(&self) -> f64 {
        self.pace()
            .map_or(f64::INFINITY, |p| p.latency + RUN_GUESS / p.rate.max(1.0))
    }

    /// Counts `bytes` received from the mirror.
    fn received(&self, bytes: u64) {
        self.received.fetch_add(bytes, Ordering::Relaxed);
    }

    /// [`Mirror::finished`]'s part for the link, at `now`: the rate of all
    /// requests together since the last sample, the latency and request
    /// size; then the slots it needs.
    fn sample_link(&self, bytes: u64, latency: f64, now: Instant) {
        let received = self.received.load(Ordering::Relaxed);
        let mut link = lock(&self.link);
        let elapsed = now.saturating_duration_since(link.since);
        if elapsed >= LINK_SAMPLE {
            let rate = received.saturating_sub(link.since_bytes) as f64 / elapsed.as_secs_f64();
            link.peak_rate = link.peak_rate.max(rate);
            link.since = now;
            link.since_bytes = received;
        }
        if latency > 0.0 {
            link.min_latency = Some(link.min_latency.map_or(latency, |l| l.min(latency)));
        }
        if bytes > 0 {
            let b = bytes as f64;
            link.request_bytes = Some(link.request_bytes.map_or(b, |r| (r + b) / 2.0));
        }
        let Some(needed) = link.needed() else { return };
        let slots = needed.min(link.max_slots);
        if slots > link.slots {
            self.slots.add_permits(slots - link.slots);
            link.slots = slots;
        }
    }

    /// A request of `bytes` that waited `latency` s for its answer and then
    /// took `transfer` s finished. The mirror gets more slots when its link
    /// needs them ([`Link::needed`]): librqbit asks each bridge connection
    /// for a window of pieces, so the runs a slot fetches shrink to a few
    /// pieces towards the end of a transaction, and four slots each waiting
    /// 30 ms for 64 KiB kept a 20 MB/s mirror at 12-13 MB/s over its last
    /// 200 ms while the slower ones stayed full (`healthy`, BENCHMARKS.md).
    /// It never gets fewer than it started with: a mirror near by (no
    /// latency to wait out) keeps what it had.
    fn finished(&self, bytes: u64, latency: f64, transfer: f64) {
        self.sample_link(bytes, latency, Instant::now());
        if bytes < MIN_PACED_BYTES || transfer <= 0.0 {
            return;
        }
        let now = Pace {
            rate: bytes as f64 / transfer,
            latency,
        };
        let mut pace = lock(&self.pace);
        *pace = Some(match *pace {
            None => now,
            Some(p) => Pace {
                rate: (p.rate + now.rate) / 2.0,
                latency: (p.latency + now.latency) / 2.0,
            },
        });
    }
}

/// The size of a run of pieces that [`Mirror::run_time`] compares mirrors
/// by, bytes.
const RUN_GUESS: f64 = 256.0 * 1024.0;

/// Requests smaller than this say little about a mirror's rate.
const MIN_PACED_BYTES: u64 = 64 * 1024;

/// Taking over part of a request must save at least this many seconds.
const MIN_GAIN: f64 = 0.02;

/// Most bytes of a response paid to the download limiter at once
/// ([`Conn::pay`]).
const PAY_STEP: usize = 64 * 1024;

/// A request silent this long is raced whatever its rate was.
const SILENT: Duration = Duration::from_secs(1);

/// Every range request in flight in a swarm, on all its mirrors. A mirror
/// slot that would go idle takes over the tail of the request expected to
/// finish last, on a mirror where it would take longer ([`Flights::take`]):
/// without it, the last second of a transaction waited for a slow
/// mirror's requests while the fast ones idled (`scripts/bench-x.sh
/// slow-first`, BENCHMARKS.md).
#[derive(Default)]
pub(crate) struct Flights(Mutex<Vec<Arc<Flight>>>);

/// One range request: pieces `first..end` of a file, for one librqbit
/// connection, from one mirror.
struct Flight {
    conn: Weak<Conn>,
    /// The file on the mirror that fetches.
    source: Arc<Source>,
    first: u32,
    /// Lowered when another mirror takes over the tail.
    end: AtomicU32,
    /// Bytes of the range received so far.
    received: AtomicU64,
    started: Instant,
    /// When the answer began, and the last bytes came (ms after `started`;
    /// 0: not yet).
    answered_ms: AtomicU64,
    last_byte_ms: AtomicU64,
    /// Another mirror races it for its piece in progress: it has nothing
    /// more to give away.
    raced: std::sync::atomic::AtomicBool,
    /// Fired once another mirror delivered everything this one had left.
    overtaken: CancellationToken,
}

impl Flight {
    fn ms(&self) -> u64 {
        (self.started.elapsed().as_millis() as u64).max(1)
    }

    /// The piece being received, and the absolute byte position.
    fn position(&self) -> (u32, u64) {
        let pl = self.source.layout.piece_length;
        let pos = u64::from(self.first) * pl + self.received.load(Ordering::Acquire);
        ((pos / pl) as u32, pos)
    }
}

/// Pieces `run` to fetch from `source` (a file on the mirror whose slot is
/// free) for `conn`, the librqbit connection that asked another mirror.
struct Handover {
    conn: Arc<Conn>,
    source: Arc<Source>,
    run: (u32, u32),
}

/// What a free slot does with another mirror's request ([`Flights::take`]).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Takeover {
    /// The owner stops at piece `mid`; this slot fetches the rest.
    Split(u32),
    /// The owner only finishes the piece it is in; this slot fetches that
    /// piece again and the rest, and the first to deliver the piece wins.
    Race(u32),
}

impl Flights {
    fn add(&self, conn: &Arc<Conn>, source: &Arc<Source>, run: (u32, u32)) -> Arc<Flight> {
        let flight = Arc::new(Flight {
            conn: Arc::downgrade(conn),
            source: source.clone(),
            first: run.0,
            end: AtomicU32::new(run.1),
            received: AtomicU64::new(0),
            started: Instant::now(),
            answered_ms: AtomicU64::new(0),
            last_byte_ms: AtomicU64::new(0),
            raced: Default::default(),
            overtaken: CancellationToken::new(),
        });
        lock(&self.0).push(flight.clone());
        flight
    }

    fn remove(&self, flight: &Arc<Flight>) {
        lock(&self.0).retain(|f| !Arc::ptr_eq(f, flight));
    }

    /// Whether a mirror other than `mirror` has a request out.
    fn elsewhere(&self, mirror: &Arc<Mirror>) -> bool {
        lock(&self.0)
            .iter()
            .any(|f| !Arc::ptr_eq(&f.source.mirror, mirror) && !f.overtaken.is_cancelled())
    }

    /// For a free slot of `mirror`: the request on another mirror whose
    /// tail this one would finish soonest compared with its owner, cut
    /// there.
    fn take(&self, mirror: &Arc<Mirror>) -> Option<Handover> {
        let mine = mirror.pace()?;
        let list = lock(&self.0);
        let usable = |f: &Flight| {
            let conn = f.conn.upgrade().filter(|c| !c.cancel.is_cancelled())?;
            let here = conn.source.on_mirror(mirror)?;
            Some((conn, here))
        };
        let mut best: Option<(f64, &Arc<Flight>, Takeover)> = None;
        for f in list.iter() {
            if Arc::ptr_eq(&f.source.mirror, mirror)
                || f.overtaken.is_cancelled()
                || f.raced.load(Ordering::Acquire)
            {
                continue;
            }
            if usable(f).is_none() {
                continue;
            }
            let Some((gain, how)) =
                Self::tail(f).and_then(|t| takeover(&t, mine, f.source.limiter.is_some()))
            else {
                continue;
            };
            if best.as_ref().is_none_or(|b| gain > b.0) {
                best = Some((gain, f, how));
            }
        }
        let (_, f, how) = best?;
        let (conn, here) = usable(f)?;
        let end = f.end.load(Ordering::Acquire);
        let run = match how {
            Takeover::Split(mid) => (mid, end),
            Takeover::Race(cur) => (cur, end),
        };
        let keep = match how {
            Takeover::Split(mid) => mid,
            Takeover::Race(cur) => {
                f.raced.store(true, Ordering::Release);
                cur + 1
            }
        };
        f.end.store(keep, Ordering::Release);
        tracing::trace!(url = %f.source.url, ?run, "webseed tail taken over by {}", here.url);
        Some(Handover {
            conn,
            source: here,
            run,
        })
    }

    /// Where `f` stands, for [`takeover`]; `None` when it is done or its
    /// rate is unknown.
    fn tail(f: &Flight) -> Option<Tail> {
        let layout = &f.source.layout;
        let end_piece = f.end.load(Ordering::Acquire);
        let end = (u64::from(end_piece) * layout.piece_length).min(layout.length);
        let (_, pos) = f.position();
        if pos >= end {
            return None;
        }
        let now = f.ms();
        let answered = f.answered_ms.load(Ordering::Acquire);
        let last = f.last_byte_ms.load(Ordering::Acquire).max(answered);
        // Counted from its start while it has no answer.
        let silent = now.saturating_sub(last) >= SILENT.as_millis() as u64;
        // What it has had since its answer began (nothing is a rate too),
        // or its mirror's usual rate until it has had some time.
        let got = f.received.load(Ordering::Acquire);
        let owner_rate = match f.source.mirror.pace() {
            _ if answered > 0 && now - answered >= 200 => {
                got as f64 * 1000.0 / (now - answered) as f64
            }
            Some(pace) => pace.rate,
            None if silent => 0.0,
            None => return None,
        };
        Some(Tail {
            piece_length: layout.piece_length,
            pos,
            end,
            end_piece,
            owner_rate,
            silent,
        })
    }
}

/// A request in flight as [`takeover`] sees it: bytes `pos..end` of the
/// file left (pieces up to `end_piece`), coming at `owner_rate` bytes/s.
#[derive(Debug, Clone, Copy)]
struct Tail {
    piece_length: u64,
    pos: u64,
    end: u64,
    end_piece: u32,
    owner_rate: f64,
    /// Nothing came for [`SILENT`].
    silent: bool,
}

/// How a free slot of a mirror going at `mine` would best take over `t`,
/// and the seconds it would save. The owner keeps at least the piece it is
/// in: a split gives the slot the pieces from where both would end at
/// once; a race gives it that piece again and all after, for when the
/// owner is too slow even for the rest of its piece, or silent. Races
/// fetch a piece twice, so under a download limit only a silent owner is
/// raced (the rates then say who got the limit's tokens, not how fast a
/// mirror is).
fn takeover(t: &Tail, mine: Pace, limited: bool) -> Option<(f64, Takeover)> {
    let pl = t.piece_length;
    let cur = (t.pos / pl) as u32;
    if t.pos >= t.end || cur >= t.end_piece {
        return None;
    }
    if t.silent {
        return Some((f64::INFINITY, Takeover::Race(cur)));
    }
    let (r_o, r_m) = (t.owner_rate.max(1.0), mine.rate.max(1.0));
    let t_owner = (t.end - t.pos) as f64 / r_o;
    let mut best: Option<(f64, Takeover)> = None;
    let split = t.pos as f64 + (t.end - t.pos) as f64 * r_o / (r_o + r_m);
    let mid = ((split as u64).div_ceil(pl) as u32).max(cur + 1);
    if mid < t.end_piece {
        let at = u64::from(mid) * pl;
        let after = ((at - t.pos) as f64 / r_o).max((t.end - at) as f64 / r_m + mine.latency);
        best = Some((t_owner - after, Takeover::Split(mid)));
    }
    if !limited {
        let after = (t.end - u64::from(cur) * pl) as f64 / r_m + mine.latency;
        let gain = t_owner - after;
        if best.as_ref().is_none_or(|b| gain > b.0) {
            best = Some((gain, Takeover::Race(cur)));
        }
    }
    best.filter(|(gain, _)| *gain > MIN_GAIN)
}

/// Runs one range request of pieces `run` for `conn` on `source`'s mirror,
/// holding `permit`; then the slot, if nothing else wants it, takes over
/// the tail of a slower mirror's request ([`Flights::take`]).
fn launch(conn: Arc<Conn>, source: Arc<Source>, run: (u32, u32), permit: OwnedSemaphorePermit) {
    let flights = conn.bridge.flights.clone();
    let flight = flights.add(&conn, &source, run);
    // The file's other mirrors with a free slot look at it once its rate
    // shows: none of their requests may end to make them look.
    for other in std::iter::once(conn.source.clone()).chain(conn.source.healthy_siblings()) {
        if !Arc::ptr_eq(&other.mirror, &source.mirror) && other.mirror.slots.available_permits() > 0
        {
            watch_soon(&flights, &other.mirror, &conn.bridge.cancel);
        }
    }
    // Boxed: the task launches others of its own kind.
    let task: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
        Box::pin(async move {
            let result = tokio::select! {
                _ = conn.cancel.cancelled() => None,
                r = conn.fetch(&flight) => Some(r),
            };
            flights.remove(&flight);
            drop(permit);
            let Some(result) = result else { return };
            let answered = flight.answered_ms.load(Ordering::Acquire);
            match result {
                Ok(()) => source.mirror.finished(
                    flight.received.load(Ordering::Acquire),
                    answered as f64 / 1000.0,
                    flight.ms().saturating_sub(answered) as f64 / 1000.0,
                ),
                Err((e, from)) => {
                    conn.on_fetch_error(&source, e, from, flight.end.load(Ordering::Acquire))
                        .await
                }
            }
            take_over(&flights, &source.mirror, &conn.bridge.cancel);
        });
    tokio::spawn(task);
}

/// How often a mirror with a free slot looks again at the requests of
/// other mirrors (their rates are unknown for their first 200 ms).
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// Gives each free slot of `mirror` the tail of a slower mirror's request
/// while there is one worth taking. A slot left free while other mirrors
/// still have requests out looks again after [`WATCH_EVERY`] ([`watch`]);
/// a busy one looks when its request ends.
fn take_over(flights: &Arc<Flights>, mirror: &Arc<Mirror>, cancel: &CancellationToken) {
    loop {
        let Ok(permit) = mirror.slots.clone().try_acquire_owned() else {
            return;
        };
        let Some(h) = flights.take(mirror) else {
            break;
        };
        launch(h.conn, h.source, h.run, permit);
    }
    if flights.elsewhere(mirror) {
        watch_soon(flights, mirror, cancel);
    }
}

/// Starts a [`watch`] of `mirror` unless one is on.
fn watch_soon(flights: &Arc<Flights>, mirror: &Arc<Mirror>, cancel: &CancellationToken) {
    if !mirror.watching.swap(true, Ordering::AcqRel) {
        tokio::spawn(watch(flights.clone(), mirror.clone(), cancel.clone()));
    }
}

/// [`take_over`] for `mirror` again after [`WATCH_EVERY`], unless the
/// swarm stops first.
async fn watch(flights: Arc<Flights>, mirror: Arc<Mirror>, cancel: CancellationToken) {
    tokio::select! {
        _ = cancel.cancelled() => return,
        _ = tokio::time::sleep(WATCH_EVERY) => {}
    }
    mirror.watching.store(false, Ordering::Release);
    take_over(&flights, &mirror, &cancel);
}

/// A bridge: one listening socket on 127.0.0.1 for one mirror, serving every
/// file of the transaction that mirror has (librqbit names the file by the
/// infohash in its handshake).
pub(crate) struct Bridge {
    addr: SocketAddr,
    sources: Mutex<HashMap<[u8; 20], Arc<Source>>>,
    /// This mirror's request slots (open HTTP requests, for any file) and rate.
    mirror: Arc<Mirror>,
    /// Every range request in flight, on this mirror and the swarm's others.
    flights: Arc<Flights>,
    client: Client,
    options: WebseedOptions,
    peer_id: [u8; 20],
    cancel: CancellationToken,
}

impl Bridge {
    /// Binds 127.0.0.1:0 and starts accepting; stops when `cancel` fires.
    pub(crate) async fn start(
        client: Client,
        options: WebseedOptions,
        flights: Arc<Flights>,
        cancel: CancellationToken,
    ) -> std::io::Result<Arc<Bridge>> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let bridge = Arc::new(Bridge {
            addr,
            sources: Mutex::new(HashMap::new()),
            mirror: Arc::new(Mirror::new(
                options.connections_per_mirror,
                options.max_connections_per_mirror,
            )),
            flights,
            client,
            peer_id: bridge_peer_id(addr),
            options,
            cancel,
        });
        let weak = Arc::downgrade(&bridge);
        let cancel = bridge.cancel.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = cancel.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors or similar: back off, retry.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let Some(bridge) = weak.upgrade() else { return };
                tokio::spawn(async move {
                    if let Err(e) = bridge.serve(stream).await {
                        tracing::debug!("webseed bridge connection ended: {e}");
                    }
                });
            }
        });
        Ok(bridge)
    }

    /// Where librqbit should connect.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The mirror, for the [`Source`]s of its files.
    pub(crate) fn mirror(&self) -> Arc<Mirror> {
        self.mirror.clone()
    }

    /// Serves `source` to connections for `info_hash`.
    pub(crate) fn register(&self, info_hash: [u8; 20], source: Arc<Source>) {
        lock(&self.sources).insert(info_hash, source);
    }

    /// One connection from librqbit, from handshake to close.
    async fn serve(self: Arc<Self>, mut stream: TcpStream) -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        let hs = tokio::time::timeout(Duration::from_secs(10), Handshake::read(&mut stream))
            .await
            .map_err(|_| std::io::Error::other("handshake timed out"))??;
        let Some(source) = lock(&self.sources).get(&hs.info_hash).cloned() else {
            return Ok(());
        };
        if source.is_dropped() || source.gone.is_cancelled() {
            return Ok(());
        }
        let reply = Handshake {
            reserved: [0; 8],
            info_hash: hs.info_hash,
            peer_id: self.peer_id,
        };
        stream.write_all(&reply.encode()).await?;

        let conn_cancel = source.gone.child_token();
        let _stop_on_return = conn_cancel.clone().drop_guard();
        let (tx, rx) = mpsc::unbounded_channel::<Vec<u8>>();
        let conn = Arc::new(Conn {
            bridge: self.clone(),
            source: source.clone(),
            state: Mutex::new(ConnState::new(&source.layout)),
            tx,
            wake: Notify::new(),
            cancel: conn_cancel.clone(),
        });
        {
            conn.send(wire::bitfield(&full_bitfield(source.layout.count())));
            conn.send(wire::unchoke());
        }

        let (mut rd, wr) = stream.into_split();
        tokio::spawn(write_loop(wr, rx, conn_cancel.clone()));
        tokio::spawn(conn.clone().schedule());

        loop {
            let msg = tokio::select! {
                _ = self.cancel.cancelled() => return Ok(()),
                _ = conn_cancel.cancelled() => return Ok(()),
                m = Message::read(&mut rd) => m?,
            };
            conn.on_message(msg)?;
        }
    }
}

/// Message id of `not interested`.
const NOT_INTERESTED: u8 = 3;

/// A random-enough peer id: the bridge only needs one that differs from
/// librqbit's and from other bridges'.
fn bridge_peer_id(addr: SocketAddr) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(addr.to_string().as_bytes());
    h.update(std::process::id().to_be_bytes());
    h.update(format!("{:?}", Instant::now()).as_bytes());
    let digest: [u8; 20] = h.finalize().into();
    let mut id = [0u8; 20];
    id[..8].copy_from_slice(b"-PC0001-");
    id[8..].copy_from_slice(&digest[..12]);
    id
}

async fn write_loop(
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
    cancel: CancellationToken,
) {
    // librqbit drops a peer that sends nothing for 10 s (its read timeout).
    let keep_alive = Duration::from_secs(4);
    loop {
        let msg = tokio::select! {
            _ = cancel.cancelled() => break,
            m = tokio::time::timeout(keep_alive, rx.recv()) => match m {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(_) => wire::keep_alive(),
            },
        };
        if wr.write_all(&msg).await.is_err() {
            break;
        }
    }
    cancel.cancel();
    let _ = wr.shutdown().await;
}

/// A piece's state on one connection.
enum PieceState {
    /// Asked for, waiting for an HTTP slot.
    Queued,
    /// Being fetched.
    Fetching,
    /// Verified, kept until librqbit has asked for all of it.
    Ready { data: Bytes, sent: u64 },
}

struct ConnState {
    layout: Arc<PieceLayout>,
    pieces: HashMap<u32, PieceState>,
    /// Blocks asked for and not yet sent, by piece.
    wanted: HashMap<u32, Vec<Block>>,
    /// Pieces waiting for an HTTP slot, in the order asked.
    queue: VecDeque<u32>,
    /// Ready pieces, oldest first, for cache eviction.
    ready_order: VecDeque<u32>,
}

/// The bitfield of a seed: every one of `count` pieces.
fn full_bitfield(count: u32) -> Vec<u8> {
    let mut bits = vec![0u8; (count as usize).div_ceil(8)];
    for i in 0..count as usize {
        bits[i / 8] |= 0x80 >> (i % 8);
    }
    bits
}

impl ConnState {
    fn new(layout: &Arc<PieceLayout>) -> ConnState {
        ConnState {
            layout: layout.clone(),
            pieces: HashMap::new(),
            wanted: HashMap::new(),
            queue: VecDeque::new(),
            ready_order: VecDeque::new(),
        }
    }

    fn has_queued(&self) -> bool {
        self.queue
            .iter()
            .any(|p| matches!(self.pieces.get(p), Some(PieceState::Queued)))
    }

    /// Whether a queued piece is outside `head` (needs a request).
    fn has_queued_outside(&self, head: &std::ops::Range<u32>) -> bool {
        self.queue
            .iter()
            .any(|p| !head.contains(p) && matches!(self.pieces.get(p), Some(PieceState::Queued)))
    }

    /// Takes the next run of queued consecutive pieces that `allowed` lets
    /// through, at most `max` bytes (always at least one piece), and marks
    /// them fetching; the others stay queued where they were.
    fn take_run_where(&mut self, max: u64, allowed: impl Fn(u32) -> bool) -> Option<(u32, u32)> {
        let at = self
            .queue
            .iter()
            .position(|p| allowed(*p) && matches!(self.pieces.get(p), Some(PieceState::Queued)))?;
        let first = self.queue.remove(at)?;
        let queued: BTreeSet<u32> = self.queue.iter().copied().collect();
        let mut end = first + 1;
        let mut bytes = self.layout.piece_len(first);
        while queued.contains(&end)
            && allowed(end)
            && matches!(self.pieces.get(&end), Some(PieceState::Queued))
            && bytes + self.layout.piece_len(end) <= max
        {
            bytes += self.layout.piece_len(end);
            end += 1;
        }
        self.queue.retain(|p| !(first..end).contains(p));
        for p in first..end {
            self.pieces.insert(p, PieceState::Fetching);
        }
        Some((first, end))
    }

    /// A verified piece arrived: the blocks to send now.
    fn on_ready(&mut self, index: u32, data: Bytes, cache: usize) -> Vec<Vec<u8>> {
        let blocks = self.wanted.remove(&index).unwrap_or_default();
        let mut sent = 0;
        let out = blocks
            .iter()
            .map(|b| {
                sent += u64::from(b.length);
                block_message(&data, b)
            })
            .collect();
        if sent < data.len() as u64 {
            self.pieces.insert(index, PieceState::Ready { data, sent });
            self.ready_order.push_back(index);
            while self.ready_order.len() > cache {
                if let Some(old) = self.ready_order.pop_front() {
                    self.pieces.remove(&old);
                }
            }
        } else {
            self.pieces.remove(&index);
        }
        out
    }
}

fn block_message(data: &Bytes, b: &Block) -> Vec<u8> {
    let start = b.begin as usize;
    wire::piece(b.index, b.begin, &data[start..start + b.length as usize])
}

/// One librqbit connection to a bridge, for one file.
struct Conn {
    bridge: Arc<Bridge>,
    source: Arc<Source>,
    state: Mutex<ConnState>,
    tx: mpsc::UnboundedSender<Vec<u8>>,
    /// Pieces were queued.
    wake: Notify,
    cancel: CancellationToken,
}

impl Conn {
    fn send(&self, msg: Vec<u8>) {
        let _ = self.tx.send(msg);
    }

    fn on_message(&self, msg: Message) -> std::io::Result<()> {
        let layout = &self.source.layout;
        let mut st = lock(&self.state);
        match msg {
            Message::Request(b) => {
                let valid = b.index < layout.count()
                    && b.length > 0
                    && b.length <= wire::MAX_BLOCK_LEN
                    && u64::from(b.begin) + u64::from(b.length) <= layout.piece_len(b.index);
                if !valid {
                    return Err(std::io::Error::other(format!("invalid request {b:?}")));
                }
                match st.pieces.get_mut(&b.index) {
                    Some(PieceState::Ready { data, sent }) => {
                        *sent += u64::from(b.length);
                        let msg = block_message(data, &b);
                        if *sent >= data.len() as u64 {
                            st.pieces.remove(&b.index);
                            st.ready_order.retain(|p| *p != b.index);
                        }
                        self.send(msg);
                    }
                    Some(_) => st.wanted.entry(b.index).or_default().push(b),
                    None => {
                        st.wanted.entry(b.index).or_default().push(b);
                        st.pieces.insert(b.index, PieceState::Queued);
                        st.queue.push_back(b.index);
                        self.wake.notify_one();
                    }
                }
            }
            Message::Cancel(b) => {
                if let Some(w) = st.wanted.get_mut(&b.index) {
                    w.retain(|x| *x != b);
                }
            }
            Message::Other(NOT_INTERESTED) => {
                // librqbit has everything: it sends this only once finished
                // (`update_interest` in `task_peer_chunk_requester`), and
                // keeps the connection to a peer that lacks pieces open
                // forever otherwise.
                self.cancel.cancel();
                return Ok(());
            }
            // A seed has no use for what librqbit has.
            Message::KeepAlive | Message::Have(_) | Message::Bitfield(_) | Message::Other(_) => {}
        }
        Ok(())
    }

    /// Hands queued runs of pieces to HTTP requests, as many at once as the
    /// mirrors' permits allow, each to the first mirror of the file with a
    /// free slot ([`Source::slot`]). A permit is taken only once there is
    /// work: connections of finished packages stay open and idle, and must
    /// not hold the mirror's slots.
    async fn schedule(self: Arc<Self>) {
        loop {
            loop {
                let notified = self.wake.notified();
                if lock(&self.state).has_queued() {
                    break;
                }
                tokio::select! {
                    _ = self.cancel.cancelled() => return,
                    _ = notified => {}
                }
            }
            let max = self.bridge.options.max_request_bytes;
            // Pieces of the head start need no request, and no slot.
            let head = self.source.layout.head_pieces();
            let run = lock(&self.state).take_run_where(max, |p| head.contains(&p));
            if let Some(run) = run {
                tokio::spawn(self.clone().serve_head(run));
                continue;
            }
            if !lock(&self.state).has_queued_outside(&head) {
                continue;
            }
            let (permit, mirror) = tokio::select! {
                _ = self.cancel.cancelled() => return,
                p = self.source.slot() => match p {
                    Some(p) => p,
                    None => return,
                },
            };
            let head = self.source.layout.head_pieces();
            let Some(run) = lock(&self.state).take_run_where(max, |p| !head.contains(&p)) else {
                continue;
            };
            launch(self.clone(), mirror, run, permit);
        }
    }

    /// Fetches `flight`'s pieces from its mirror (this connection's source
    /// or a sibling of it) in one range request, checks each piece as it
    /// completes and sends its wanted blocks. Stops early where another
    /// mirror took over the rest (`Flight::end`). On error returns the first
    /// piece not delivered.
    async fn fetch(&self, flight: &Flight) -> Result<(), (SourceError, u32)> {
        let mirror = &*flight.source;
        let layout = &mirror.layout;
        let opts = &self.bridge.options;
        let first = flight.first;
        let start = u64::from(first) * layout.piece_length;
        let end = (u64::from(flight.end.load(Ordering::Acquire)) * layout.piece_length)
            .min(layout.length);
        let opened = tokio::time::timeout(
            opts.connect_timeout + opts.stall_timeout,
            http::open(
                &self.bridge.client,
                &mirror.url,
                Some((start, end)),
                Some(layout.length),
            ),
        )
        .await
        .map_err(|_| (SourceError::Stalled(opts.stall_timeout), first))?
        .map_err(|e| (e, first))?;
        flight.answered_ms.store(flight.ms(), Ordering::Release);
        let mut response = opened.response;
        // A server that ignores ranges sends the whole file from 0.
        let mut skip = start - opened.offset;
        let mut piece = first;
        let mut buf = BytesMut::with_capacity(layout.piece_len(piece) as usize);
        while piece < flight.end.load(Ordering::Acquire) {
            let chunk = tokio::select! {
                _ = flight.overtaken.cancelled() => return Err((SourceError::Overtaken, piece)),
                c = tokio::time::timeout(opts.stall_timeout, http::next_chunk(&mut response)) => c,
            };
            let chunk = chunk
                .map_err(|_| (SourceError::Stalled(opts.stall_timeout), piece))?
                .map_err(|e| (e, piece))?;
            let Some(mut chunk) = chunk else {
                return Err((SourceError::ShortBody, piece));
            };
            flight.last_byte_ms.store(flight.ms(), Ordering::Release);
            if skip > 0 {
                let n = skip.min(chunk.len() as u64);
                Self::pay(flight, n).await;
                let _ = chunk.split_to(n as usize);
                skip -= n;
            }
            while !chunk.is_empty() && piece < flight.end.load(Ordering::Acquire) {
                let want = layout.piece_len(piece) as usize - buf.len();
                let take = want.min(chunk.len()).min(PAY_STEP);
                Self::pay(flight, take as u64).await;
                if piece >= flight.end.load(Ordering::Acquire) {
                    break; // the tail went to another mirror meanwhile
                }
                buf.extend_from_slice(&chunk.split_to(take));
                flight.received.fetch_add(take as u64, Ordering::AcqRel);
                mirror.mirror.received(take as u64);
                if buf.len() as u64 == layout.piece_len(piece) {
                    let data = buf.split().freeze();
                    self.on_piece(flight, piece, data).map_err(|e| (e, piece))?;
                    piece += 1;
                    buf.reserve(layout.piece_len(piece) as usize);
                }
            }
        }
        Ok(())
    }

    /// Pays the download limiter, if any, for `bytes` of `flight` as they
    /// arrive, like the HTTP engine's bytes; the pause reaches the mirror
    /// through TCP's flow control. Paid in steps of at most [`PAY_STEP`]
    /// and only for bytes used: a chunk grows to hundreds of KiB while the
    /// limiter holds a request back, and paying it whole, past a split
    /// request's new end, cost 5-9% of the limit in a swarm alone.
    async fn pay(flight: &Flight, bytes: u64) {
        if let Some(limiter) = &flight.source.limiter {
            limiter
                .consume_marked(bytes, &flight.last_byte_ms, || flight.ms())
                .await;
        }
    }

    /// Verifies one piece of `flight` and sends what librqbit asked of it,
    /// unless another mirror delivered it first. A request racing for
    /// nothing else than pieces now delivered is called off.
    fn on_piece(&self, flight: &Flight, index: u32, data: Bytes) -> Result<(), SourceError> {
        let mirror = &flight.source;
        if !mirror.layout.matches(index, &data) {
            mirror.drop_for(DropReason::BadPiece(index));
            return Err(SourceError::Transport(format!(
                "piece {index} failed its hash"
            )));
        }
        mirror.errors.store(0, Ordering::Relaxed);
        if self.deliver(mirror, index, data) {
            self.call_off_races(flight);
        }
        Ok(())
    }

    /// Hands a verified piece to librqbit, counted as `mirror`'s unless a
    /// connection of the file delivered it before, and not at all when
    /// another mirror's request for this connection was first (then
    /// `false`).
    fn deliver(&self, mirror: &Source, index: u32, data: Bytes) -> bool {
        let len = data.len() as u64;
        let mut st = lock(&self.state);
        if !matches!(
            st.pieces.get(&index),
            Some(PieceState::Fetching | PieceState::Queued)
        ) {
            return false;
        }
        if self.source.layout.first_delivery(index) {
            mirror.bytes.fetch_add(len, Ordering::Relaxed);
        }
        let msgs = st.on_ready(index, data, self.bridge.options.cache_pieces);
        drop(st);
        for m in msgs {
            self.send(m);
        }
        true
    }

    /// Serves pieces `run` of the head start as they arrive, each checked
    /// against the torrent's SHA-1. When the stretch fails, or a piece of
    /// it does not match (the head's mirror lied, or the torrent's pieces
    /// are not this file's), the head start is given up and the pieces not
    /// served go back to the queue, for the mirrors' requests.
    async fn serve_head(self: Arc<Self>, run: (u32, u32)) {
        let layout = &self.source.layout;
        let Some((head, _)) = &layout.head else {
            return;
        };
        for piece in run.0..run.1 {
            let start = u64::from(piece) * layout.piece_length;
            let data = tokio::select! {
                _ = self.cancel.cancelled() => return,
                d = head.bytes(start, layout.piece_len(piece)) => d,
            };
            let good = data.filter(|d| layout.matches(piece, d));
            let Some(data) = good else {
                head.fail();
                self.requeue(piece, run.1);
                return;
            };
            self.deliver(&self.source, piece, data);
        }
    }

    /// Puts pieces `from..end` that are still being fetched back at the
    /// front of the queue, in order.
    fn requeue(&self, from: u32, end: u32) {
        let mut st = lock(&self.state);
        for p in (from..end).rev() {
            if matches!(st.pieces.get(&p), Some(PieceState::Fetching)) {
                st.pieces.insert(p, PieceState::Queued);
                st.queue.push_front(p);
            }
        }
        drop(st);
        self.wake.notify_one();
    }

    /// Calls off this connection's other requests that have nothing left
    /// to deliver (a race another mirror won).
    fn call_off_races(&self, by: &Flight) {
        let others: Vec<Arc<Flight>> = lock(&self.bridge.flights.0)
            .iter()
            .filter(|f| !std::ptr::eq(&***f, by) && !f.overtaken.is_cancelled())
            .filter(|f| f.conn.upgrade().is_some_and(|c| std::ptr::eq(&*c, self)))
            .cloned()
            .collect();
        if others.is_empty() {
            return;
        }
        let st = lock(&self.state);
        for f in others {
            let (cur, _) = f.position();
            let end = f.end.load(Ordering::Acquire);
            let pending = (cur..end).any(|p| {
                matches!(
                    st.pieces.get(&p),
                    Some(PieceState::Fetching | PieceState::Queued)
                )
            });
            if !pending {
                f.overtaken.cancel();
            }
        }
    }

    /// Counts the error against `mirror`, which fetched for this connection,
    /// and drops it after too many, or at once when it cannot be connected
    /// to, as the HTTP engine does (two more tries half a second apart held
    /// the pieces librqbit had asked of it for a second). Puts the
    /// undelivered pieces back, unless this connection's own source is
    /// dropped (librqbit then gives its pieces to other peers). Pieces a
    /// sibling failed are queued again at once, for another mirror to take.
    async fn on_fetch_error(&self, mirror: &Source, e: SourceError, from: u32, end: u32) {
        if matches!(e, SourceError::Overtaken) {
            return; // everything it had left was delivered by another mirror
        }
        if !mirror.is_dropped() {
            let errors = mirror.errors.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::debug!(url = %mirror.url, "webseed request failed: {e}");
            let unreachable = matches!(e, SourceError::Connect(_));
            if errors >= self.bridge.options.max_errors || e.is_missing_file() || unreachable {
                mirror.drop_for(DropReason::Errors(e.to_string()));
            }
        }
        if self.source.is_dropped() {
            return;
        }
        if std::ptr::eq(mirror, &*self.source) {
            tokio::time::sleep(self.bridge.options.retry_delay).await;
        }
        self.requeue(from, end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(n: u32) -> Arc<PieceLayout> {
        Arc::new(PieceLayout {
            length: u64::from(n) * 16384 - 100,
            piece_length: 16384,
            hashes: vec![[0; 20]; n as usize],
            head: None,
            delivered: Default::default(),
        })
    }

    /// A request of pieces 0..16 (64 KiB each), `done` pieces in, at `rate`.
    fn tail(done: f64, rate: f64) -> Tail {
        let pl = 65536;
        Tail {
            piece_length: pl,
            pos: (done * pl as f64) as u64,
            end: 16 * pl,
            end_piece: 16,
            owner_rate: rate,
            silent: false,
        }
    }

    const FAST: Pace = Pace {
        rate: 2.5e6,
        latency: 0.001,
    };

    #[test]
    fn a_slow_mirrors_tail_goes_to_a_faster_one() {
        // 0.25 MB/s against 2.5: the owner keeps its piece and about a
        // tenth of the rest; both then end at about the same time.
        let (gain, how) = takeover(&tail(2.0, 2.5e5), FAST, true).unwrap();
        assert_eq!(how, Takeover::Split(4));
        assert!(gain > 3.0, "{gain}");
        // Without a limit, racing its piece is better still: the fast
        // mirror has the piece and the rest before the owner has the piece.
        let (race, how) = takeover(&tail(2.0, 2.5e4), FAST, false).unwrap();
        assert_eq!(how, Takeover::Race(2));
        assert!(race > gain);
    }

    #[test]
    fn a_fast_or_nearly_done_request_is_left_alone() {
        // As fast as the free slot: they share the rest, no race.
        let t = tail(2.0, 2.5e6);
        assert_eq!(
            takeover(&t, FAST, false).map(|(_, h)| h),
            Some(Takeover::Split(9))
        );
        let mut faster = t;
        faster.owner_rate = 25e6;
        assert_eq!(takeover(&faster, FAST, false), None);
        // In its last piece, with most of it in: nothing worth taking.
        assert_eq!(takeover(&tail(15.9, 1e6), FAST, false), None);
        // Done.
        assert_eq!(takeover(&tail(16.0, 1e3), FAST, false), None);
    }

    #[test]
    fn a_silent_request_is_raced_from_its_piece() {
        let mut t = tail(5.5, 1e7);
        t.silent = true;
        assert_eq!(
            takeover(&t, FAST, true).map(|(_, h)| h),
            Some(Takeover::Race(5))
        );
    }

    /// librqbit's side of a bridge connection, by hand: a handshake for
    /// `info_hash`, then the bridge's bitfield and unchoke.
    async fn peer(addr: SocketAddr, info_hash: [u8; 20]) -> TcpStream {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let hs = Handshake {
            reserved: [0; 8],
            info_hash,
            peer_id: *b"-TT0001-000000000000",
        };
        s.write_all(&hs.encode()).await.unwrap();
        Handshake::read(&mut s).await.unwrap();
        assert!(matches!(
            Message::read(&mut s).await.unwrap(),
            Message::Bitfield(_)
        ));
        assert_eq!(Message::read(&mut s).await.unwrap(), Message::Other(1));
        s
    }

    /// Asks `conn`'s bridge, as librqbit would, for every `block` of
    /// `pieces` (of `piece` bytes each).
    async fn ask_pieces(
        conn: &mut TcpStream,
        pieces: std::ops::Range<u32>,
        piece: usize,
        block: usize,
    ) {
        for index in pieces {
            for begin in (0..piece).step_by(block) {
                let mut req = vec![0, 0, 0, 13, 6];
                for v in [index, begin as u32, block as u32] {
                    req.extend_from_slice(&v.to_be_bytes());
                }
                conn.write_all(&req).await.unwrap();
            }
        }
    }

    /// Reads `blocks` block messages from `conn`, each checked against the
    /// file `data` (pieces of `piece` bytes); other messages are skipped.
    async fn read_blocks(conn: &mut TcpStream, blocks: usize, piece: usize, data: &[u8]) {
        use tokio::io::AsyncReadExt;
        let mut got = 0;
        while got < blocks {
            let len = conn.read_u32().await.unwrap() as usize;
            let mut msg = vec![0u8; len];
            conn.read_exact(&mut msg).await.unwrap();
            if msg.first() != Some(&7) {
                continue;
            }
            let at = |i: usize| u32::from_be_bytes(msg[i..i + 4].try_into().unwrap()) as usize;
            let start = at(1) * piece + at(5);
            assert_eq!(&msg[9..], &data[start..start + msg.len() - 9]);
            got += 1;
        }
    }

    /// A request of pieces 0..4 to a mirror at 16 KiB/s (16 s of work) while
    /// a fast mirror of the file has its slots free: one of them takes it
    /// over once the slow one's rate shows, and every block comes, right,
    /// long before the slow mirror could send it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_free_slot_takes_over_a_slow_mirrors_request() {
        use crate::test_support::{content, spawn_mirror, within, Faults};
        const PIECE: usize = 64 * 1024;
        const BLOCK: usize = 16 * 1024;
        const NAME: &str = "pkg-1.0-1-x86_64.pkg.tar.zst";
        let data = content(7, 16 * PIECE);
        let files = Arc::new(HashMap::from([(NAME.to_owned(), data.clone())]));
        let slow = Faults {
            rate: Some(16 * 1024),
            ..Default::default()
        };
        let slow = spawn_mirror(files.clone(), slow).await;
        let fast = spawn_mirror(files, Faults::default()).await;
        let layout = Arc::new(PieceLayout {
            length: data.len() as u64,
            piece_length: PIECE as u64,
            hashes: data.chunks(PIECE).map(|c| Sha1::digest(c).into()).collect(),
            head: None,
            delivered: Default::default(),
        });
        let cancel = CancellationToken::new();
        let _stop = cancel.clone().drop_guard();
        let flights = Arc::new(Flights::default());
        let (mut bridges, mut sources) = (Vec::new(), Vec::new());
        for m in [&slow, &fast] {
            let bridge = Bridge::start(
                Client::new(),
                WebseedOptions::default(),
                flights.clone(),
                cancel.child_token(),
            )
            .await
            .unwrap();
            let url = Url::parse(&format!("{}/{NAME}", m.url())).unwrap();
            let source = Arc::new(Source::new(url, layout.clone(), None, bridge.mirror()));
            bridge.register([9; 20], source.clone());
            bridges.push(bridge);
            sources.push(source);
        }
        Source::link(&sources);
        // The fast mirror's pace, as its first requests would have shown it,
        // and a better one of the slow mirror from before it slowed down: the
        // run goes to the slow one, and the fast one takes it over.
        bridges[1].mirror.finished(4 * PIECE as u64, 0.001, 0.01);
        bridges[0].mirror.finished(4 * PIECE as u64, 0.001, 0.005);

        let mut conn = peer(bridges[0].addr(), [9; 20]).await;
        ask_pieces(&mut conn, 0..4, PIECE, BLOCK).await;
        within(
            Duration::from_secs(8),
            read_blocks(&mut conn, 4 * PIECE / BLOCK, PIECE, &data),
        )
        .await;
        assert!(
            slow.sent() < 2 * PIECE as u64,
            "the slow mirror sent {} bytes",
            slow.sent()
        );
    }

    /// A bridge serves the pieces of a head start from it, with no request
    /// of its own; when the stretch lies (its mirror flips bytes), the
    /// pieces fail their SHA-1, go back to the queue and come, right, from
    /// the bridge's own mirror.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn head_start_pieces_are_served_from_it_unless_they_lie() {
        use crate::test_support::{content, spawn_mirror, within, Faults};
        const PIECE: usize = 64 * 1024;
        const BLOCK: usize = 16 * 1024;
        const NAME: &str = "pkg-1.0-1-x86_64.pkg.tar.zst";
        let data = content(8, 16 * PIECE);
        let files = Arc::new(HashMap::from([(NAME.to_owned(), data.clone())]));
        for lying in [false, true] {
            let head_mirror = spawn_mirror(
                files.clone(),
                Faults {
                    corrupt: lying,
                    ..Default::default()
                },
            )
            .await;
            let own = spawn_mirror(files.clone(), Faults::default()).await;
            let at = |m: &crate::test_support::Mirror| {
                Url::parse(&format!("{}/{NAME}", m.url())).unwrap()
            };
            let client = Client::new();
            let head = Head::start(
                &client,
                at(&head_mirror),
                data.len() as u64,
                None,
                Duration::from_secs(5),
            )
            .unwrap();
            let pieces = head.pieces(PIECE as u64, 16);
            assert_eq!(pieces.len(), 4, "{pieces:?}");
            let layout = Arc::new(PieceLayout {
                length: data.len() as u64,
                piece_length: PIECE as u64,
                hashes: data.chunks(PIECE).map(|c| Sha1::digest(c).into()).collect(),
                head: Some((head.clone(), pieces.clone())),
                delivered: Default::default(),
            });
            let cancel = CancellationToken::new();
            let _stop = cancel.clone().drop_guard();
            let bridge = Bridge::start(
                client,
                WebseedOptions::default(),
                Arc::new(Flights::default()),
                cancel.child_token(),
            )
            .await
            .unwrap();
            let source = Arc::new(Source::new(at(&own), layout, None, bridge.mirror()));
            bridge.register([9; 20], source.clone());

            let mut conn = peer(bridge.addr(), [9; 20]).await;
            ask_pieces(&mut conn, pieces.clone(), PIECE, BLOCK).await;
            let wanted = pieces.len() * PIECE / BLOCK;
            within(
                Duration::from_secs(8),
                read_blocks(&mut conn, wanted, PIECE, &data),
            )
            .await;
            assert_eq!(head.failed(), lying);
            if lying {
                // Given up at the first bad piece: what was still to come
                // may not have been sent.
                assert!(head_mirror.sent() <= HEAD_BYTES);
                assert!(
                    own.sent() >= 4 * PIECE as u64,
                    "own mirror sent {}",
                    own.sent()
                );
                assert_eq!(source.status().dropped, None, "its own mirror was blamed");
            } else {
                assert_eq!(head_mirror.sent(), HEAD_BYTES);
                assert_eq!(own.sent(), 0, "a request for pieces the head start held");
                assert_eq!(source.bytes(), 4 * PIECE as u64);
            }
        }
    }

    #[test]
    fn a_mirrors_slots_grow_to_what_its_link_needs() {
        let [far, fast, near, young] = std::array::from_fn(|_| Mirror::new(4, 12));
        // Their samples began when they were made, a moment before.
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        // 2 MB in 100 ms (20 MB/s), 30 ms to each answer, 64 KiB requests:
        // 1 + 0.03 x 2e7 / 65536 = 10.2, so eleven.
        assert_eq!(far.slot_count(), 4);
        far.received(2_000_000);
        far.sample_link(65536, 0.03, at(100));
        assert_eq!(far.slot_count(), 11);
        assert_eq!(far.slots.available_permits(), 11);
        // A slower sample and larger requests later: it keeps them.
        far.received(100_000);
        far.sample_link(1 << 20, 0.03, at(300));
        assert_eq!(far.slot_count(), 11);
        // 100 MB/s: at most twelve.
        fast.received(10_000_000);
        fast.sample_link(65536, 0.03, at(100));
        assert_eq!(fast.slot_count(), 12);
        // 1 ms to each answer: two would do, it keeps its four.
        near.received(2_000_000);
        near.sample_link(65536, 0.001, at(100));
        assert_eq!(near.slot_count(), 4);
        // No sample over LINK_SAMPLE yet: no rate, no change.
        young.received(2_000_000);
        young.sample_link(65536, 0.03, at(50));
        assert_eq!(young.slot_count(), 4);
    }

    #[tokio::test]
    async fn a_run_goes_to_the_free_mirror_that_delivers_soonest() {
        let sources: Vec<Arc<Source>> = ["http://a.invalid/f", "http://b.invalid/f"]
            .into_iter()
            .map(|u| {
                let mirror = Arc::new(Mirror::new(2, 2));
                Arc::new(Source::new(Url::parse(u).unwrap(), layout(4), None, mirror))
            })
            .collect();
        Source::link(&sources);
        let (own, other) = (&sources[0], &sources[1]);
        let on = |s: &Arc<Source>, m: &Arc<Source>| Arc::ptr_eq(s, m);
        // Neither has a pace yet: its own mirror.
        let (p, s) = own.slot().await.unwrap();
        assert!(on(&s, own));
        drop(p);
        // The other one answers as soon and streams ten times as fast.
        own.mirror.finished(1 << 20, 0.03, 1.0);
        other.mirror.finished(1 << 20, 0.03, 0.1);
        let (p1, s) = own.slot().await.unwrap();
        assert!(on(&s, other));
        let (p2, s) = own.slot().await.unwrap();
        assert!(on(&s, other));
        // Its slots taken: the slower one that is free.
        let (p3, s) = own.slot().await.unwrap();
        assert!(on(&s, own));
        drop((p1, p2, p3));
        // A failing mirror is no candidate.
        other.errors.store(1, Ordering::Relaxed);
        let (_p, s) = own.slot().await.unwrap();
        assert!(on(&s, own));
    }

    #[test]
    fn a_bridge_claims_every_piece() {
        assert_eq!(full_bitfield(9), vec![0xff, 0x80]);
        assert_eq!(full_bitfield(8), vec![0xff]);
    }

    #[test]
    fn runs_are_consecutive_and_bounded() {
        let l = layout(10);
        let mut s = ConnState::new(&l);
        for p in [3, 4, 5, 9, 6, 1] {
            s.pieces.insert(p, PieceState::Queued);
            s.queue.push_back(p);
        }
        assert_eq!(s.take_run_where(3 * 16384, |_| true), Some((3, 6)));
        assert_eq!(s.take_run_where(1 << 20, |_| true), Some((9, 10)));
        assert_eq!(s.take_run_where(1 << 20, |_| true), Some((6, 7)));
        assert_eq!(s.take_run_where(1 << 20, |_| true), Some((1, 2)));
        assert_eq!(s.take_run_where(1 << 20, |_| true), None);
    }

    #[test]
    fn ready_piece_serves_wanted_blocks_and_caches_the_rest() {
        let l = layout(2);
        let mut s = ConnState::new(&l);
        let b = Block {
            index: 0,
            begin: 0,
            length: 8192,
        };
        s.wanted.insert(0, vec![b]);
        let out = s.on_ready(0, Bytes::from(vec![1u8; 16384]), 4);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), 13 + 8192);
        assert!(matches!(
            s.pieces.get(&0),
            Some(PieceState::Ready { sent: 8192, .. })
        ));
    }
}
