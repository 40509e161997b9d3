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

use super::wire::{self, Block, Handshake, Message};
use crate::error::SourceError;
use crate::http::{self, RateLimiter};

/// How webseed bridges fetch. Fill with `..Default::default()`.
#[derive(Debug, Clone, PartialEq)]
pub struct WebseedOptions {
    /// HTTP requests open at once to one mirror, over all files.
    pub connections_per_mirror: usize,
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
}

impl PieceLayout {
    fn count(&self) -> u32 {
        self.hashes.len() as u32
    }

    fn piece_len(&self, index: u32) -> u64 {
        let start = u64::from(index) * self.piece_length;
        self.piece_length.min(self.length.saturating_sub(start))
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
    /// The request slots of this source's mirror (its bridge's permits).
    slots: Arc<Semaphore>,
    /// The same file on the transfer's other mirrors ([`Source::link`]).
    siblings: OnceLock<Vec<Weak<Source>>>,
}

impl Source {
    /// The file at `url` on the mirror whose bridge's request slots are
    /// `slots` ([`Bridge::slots`]).
    pub(crate) fn new(
        url: Url,
        layout: Arc<PieceLayout>,
        limiter: Option<Arc<RateLimiter>>,
        slots: Arc<Semaphore>,
    ) -> Source {
        Source {
            url,
            layout,
            bytes: AtomicU64::new(0),
            errors: AtomicU32::new(0),
            dropped: Mutex::new(None),
            gone: CancellationToken::new(),
            limiter,
            slots,
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

    /// A request slot for this file: on its own mirror when one is free
    /// there now, otherwise the first that frees up on its own mirror or on
    /// a sibling mirror that is not dropped and not failing. librqbit picks
    /// a peer per piece without knowing how fast each mirror is or how much
    /// it already has to do; taking whichever mirror is free first turns
    /// that into a pull: fast mirrors free their slots more often and so
    /// fetch more, as the HTTP engine's workers do. With many small
    /// packages (one request each) this is what keeps a slow mirror from
    /// holding a queue of them while a fast one idles.
    async fn slot(self: &Arc<Source>) -> Option<(OwnedSemaphorePermit, Arc<Source>)> {
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Some((permit, self.clone()));
        }
        let mut candidates = vec![self.clone()];
        candidates.extend(
            self.siblings
                .get()
                .into_iter()
                .flatten()
                .filter_map(Weak::upgrade)
                .filter(|s| {
                    !s.is_dropped()
                        && !s.gone.is_cancelled()
                        && s.errors.load(Ordering::Relaxed) == 0
                }),
        );
        if let Some((permit, s)) = candidates.iter().find_map(|s| {
            s.slots
                .clone()
                .try_acquire_owned()
                .ok()
                .map(|p| (p, s.clone()))
        }) {
            return Some((permit, s));
        }
        let waits = candidates.into_iter().map(|s| {
            Box::pin(async move { s.slots.clone().acquire_owned().await.ok().map(|p| (p, s)) })
        });
        futures_util::future::select_all(waits).await.0
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A bridge: one listening socket on 127.0.0.1 for one mirror, serving every
/// file of the transaction that mirror has (librqbit names the file by the
/// infohash in its handshake).
pub(crate) struct Bridge {
    addr: SocketAddr,
    sources: Mutex<HashMap<[u8; 20], Arc<Source>>>,
    /// Open HTTP requests to this mirror, for any file.
    permits: Arc<Semaphore>,
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
        cancel: CancellationToken,
    ) -> std::io::Result<Arc<Bridge>> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let bridge = Arc::new(Bridge {
            addr,
            sources: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(options.connections_per_mirror.max(1))),
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

    /// The mirror's request slots, for the [`Source`]s of its files.
    pub(crate) fn slots(&self) -> Arc<Semaphore> {
        self.permits.clone()
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

    /// Takes the next run of queued consecutive pieces, at most `max` bytes
    /// (always at least one piece), and marks them fetching.
    fn take_run(&mut self, max: u64) -> Option<(u32, u32)> {
        let first = loop {
            let p = self.queue.pop_front()?;
            if matches!(self.pieces.get(&p), Some(PieceState::Queued)) {
                break p;
            }
        };
        let queued: BTreeSet<u32> = self.queue.iter().copied().collect();
        let mut end = first + 1;
        let mut bytes = self.layout.piece_len(first);
        while queued.contains(&end)
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
            let (permit, mirror) = tokio::select! {
                _ = self.cancel.cancelled() => return,
                p = self.source.slot() => match p {
                    Some(p) => p,
                    None => return,
                },
            };
            let Some(run) = lock(&self.state).take_run(self.bridge.options.max_request_bytes)
            else {
                continue;
            };
            let conn = self.clone();
            tokio::spawn(async move {
                let result = tokio::select! {
                    _ = conn.cancel.cancelled() => return,
                    r = conn.fetch(&mirror, run) => r,
                };
                drop(permit);
                if let Err((e, from)) = result {
                    conn.on_fetch_error(&mirror, e, from, run.1).await;
                }
            });
        }
    }

    /// Fetches pieces `run.0..run.1` from `mirror` (this connection's
    /// source or a sibling of it) in one range request, checks each piece
    /// as it completes and sends its wanted blocks. On error returns the
    /// first piece not delivered.
    async fn fetch(&self, mirror: &Source, run: (u32, u32)) -> Result<(), (SourceError, u32)> {
        let layout = &mirror.layout;
        let opts = &self.bridge.options;
        let start = u64::from(run.0) * layout.piece_length;
        let end = (u64::from(run.1) * layout.piece_length).min(layout.length);
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
        .map_err(|_| (SourceError::Stalled(opts.stall_timeout), run.0))?
        .map_err(|e| (e, run.0))?;
        let mut response = opened.response;
        // A server that ignores ranges sends the whole file from 0.
        let mut skip = start - opened.offset;
        let mut piece = run.0;
        let mut buf = BytesMut::with_capacity(layout.piece_len(piece) as usize);
        while piece < run.1 {
            let chunk = tokio::time::timeout(opts.stall_timeout, http::next_chunk(&mut response))
                .await
                .map_err(|_| (SourceError::Stalled(opts.stall_timeout), piece))?
                .map_err(|e| (e, piece))?;
            let Some(mut chunk) = chunk else {
                return Err((SourceError::ShortBody, piece));
            };
            if let Some(limiter) = &mirror.limiter {
                // Paid as it arrives, like the HTTP engine's bytes; the
                // pause reaches the mirror through TCP's flow control.
                limiter.consume(chunk.len() as u64).await;
            }
            if skip > 0 {
                let n = skip.min(chunk.len() as u64) as usize;
                let _ = chunk.split_to(n);
                skip -= n as u64;
            }
            while !chunk.is_empty() && piece < run.1 {
                let want = layout.piece_len(piece) as usize - buf.len();
                let take = want.min(chunk.len());
                buf.extend_from_slice(&chunk.split_to(take));
                if buf.len() as u64 == layout.piece_len(piece) {
                    let data = buf.split().freeze();
                    self.on_piece(mirror, piece, data).map_err(|e| (e, piece))?;
                    piece += 1;
                    if piece < run.1 {
                        buf.reserve(layout.piece_len(piece) as usize);
                    }
                }
            }
        }
        Ok(())
    }

    /// Verifies one piece from `mirror` and sends what librqbit asked of it.
    fn on_piece(&self, mirror: &Source, index: u32, data: Bytes) -> Result<(), SourceError> {
        let digest: [u8; 20] = Sha1::digest(&data).into();
        if digest != mirror.layout.hashes[index as usize] {
            mirror.drop_for(DropReason::BadPiece(index));
            return Err(SourceError::Transport(format!(
                "piece {index} failed its hash"
            )));
        }
        mirror.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
        mirror.errors.store(0, Ordering::Relaxed);
        let msgs = lock(&self.state).on_ready(index, data, self.bridge.options.cache_pieces);
        for m in msgs {
            self.send(m);
        }
        Ok(())
    }

    /// Counts the error against `mirror`, which fetched for this connection,
    /// and drops it after too many. Puts the undelivered pieces back, unless
    /// this connection's own source is dropped (librqbit then gives its
    /// pieces to other peers). Pieces a sibling failed are queued again at
    /// once, for another mirror to take.
    async fn on_fetch_error(&self, mirror: &Source, e: SourceError, from: u32, end: u32) {
        if !mirror.is_dropped() {
            let errors = mirror.errors.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::debug!(url = %mirror.url, "webseed request failed: {e}");
            if errors >= self.bridge.options.max_errors || e.is_missing_file() {
                mirror.drop_for(DropReason::Errors(e.to_string()));
            }
        }
        if self.source.is_dropped() {
            return;
        }
        if std::ptr::eq(mirror, &*self.source) {
            tokio::time::sleep(self.bridge.options.retry_delay).await;
        }
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(n: u32) -> Arc<PieceLayout> {
        Arc::new(PieceLayout {
            length: u64::from(n) * 16384 - 100,
            piece_length: 16384,
            hashes: vec![[0; 20]; n as usize],
        })
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
        assert_eq!(s.take_run(3 * 16384), Some((3, 6)));
        assert_eq!(s.take_run(1 << 20), Some((9, 10)));
        assert_eq!(s.take_run(1 << 20), Some((6, 7)));
        assert_eq!(s.take_run(1 << 20), Some((1, 2)));
        assert_eq!(s.take_run(1 << 20), None);
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
