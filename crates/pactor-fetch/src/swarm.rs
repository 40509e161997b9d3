//! The BitTorrent half of the engine: one librqbit session for a whole
//! transaction, one torrent per package, and every mirror as a BEP 19
//! webseed through a local bridge peer ([`webseed`]).
//!
//! [`Swarm::start`] opens the session (listen port, DHT with its routing
//! table kept in the state directory, trackers, LSD, rate limits);
//! [`Swarm::add`] checks a package's torrent against the sync db
//! ([`crate::torrent::validate_for_package`]), registers the package on one
//! bridge per mirror and hands the torrent to librqbit with the bridges as
//! initial peers. The returned [`Transfer`] reports progress (bytes from
//! mirrors and from peers) and completes when librqbit has every piece,
//! each checked against the torrent's SHA-1; the caller still checks the
//! file's sha256 against the sync db before using it.
//!
//! librqbit writes the file as `<output_dir>/<filename>` while it downloads
//! (sparse, pieces in any order), so `output_dir` must be pactor's own
//! directory, never a pacman CacheDir (DESIGN.md, "Shape"). A file already
//! there is re-checked piece by piece when added: an interrupted run resumes
//! from its verified pieces. (With [`SwarmOptions::resume_dir`] librqbit
//! trusts a bitfield it stored instead; the caller's sha256 check of the
//! finished file still stands.)
//!
//! [`Swarm::seed`] ([`seeding`]) is the other direction, for `pactor-seed`:
//! a complete file in a pacman CacheDir, opened read-only, served to peers.
//!
//! librqbit runs blocking work (hashes of pieces over 64 KiB, the check of
//! a file already there, the stored bitfield's fsync) with
//! `tokio::task::block_in_place`, so the swarm needs a multi-threaded tokio
//! runtime. Chunk writes, chunk reads and the hashes of pieces up to 64 KiB
//! run on the worker (vendor/librqbit/PACTOR-PATCHES.md, 14).

pub mod head;
mod readonly;
pub mod seeding;
pub mod webseed;
mod wire;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use librqbit::dht::DhtPersistenceConfig;
use librqbit::limits::LimitsConfig;
use librqbit::{
    AddTorrent, AddTorrentOptions, DhtSessionConfig, ListenerMode, ListenerOptions, ManagedTorrent,
    Session, SessionOptions, SessionPersistenceConfig, TorrentStatsState,
};
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::http::RateLimiter;
use crate::torrent::{self, InfoHash, Layout, TorrentError};
pub use seeding::{Seed, SeedItem, SeedState, SeedStats, SwarmTotals};
use webseed::{Bridge, Flights, PieceLayout, Source};
pub use webseed::{DropReason, WebseedOptions, WebseedStatus};

/// How the session runs. Fill with `..Default::default()`.
#[derive(Debug, Clone, PartialEq)]
pub struct SwarmOptions {
    /// pactor's state directory: the DHT routing table is kept here
    /// (`dht.json`) so that the next run starts warm. Empty: not kept.
    pub state_dir: PathBuf,
    /// TCP port for incoming peers; `Some(0)` picks one, `None` accepts no
    /// incoming connections (outgoing ones still work).
    pub listen_port: Option<u16>,
    /// Address to listen on (all of them by default; tests use 127.0.0.1).
    pub listen_ip: IpAddr,
    /// Use the mainline DHT (BEP 5).
    pub dht: bool,
    /// DHT bootstrap nodes (`host:port`); `None` for librqbit's defaults.
    pub dht_bootstrap: Option<Vec<String>>,
    /// Use local service discovery (BEP 14 multicast on the LAN).
    pub lsd: bool,
    /// Trackers announced to for every torrent, besides the torrent's own.
    pub trackers: Vec<Url>,
    /// Download limit in bytes per second over all peers and webseeds.
    pub max_download_rate: Option<u64>,
    /// Upload limit in bytes per second.
    pub max_upload_rate: Option<u64>,
    /// Most peers connected per torrent (librqbit's default when `None`).
    pub peer_limit: Option<usize>,
    /// How webseeds are fetched.
    pub webseed: WebseedOptions,
    /// Turns on librqbit's fastresume: each torrent's have-bitfield is kept
    /// in this directory as `<infohash>.bitv`, and a torrent added again
    /// with one is only spot-checked instead of hashed whole (see
    /// [`Swarm::seed`] and [`SeedItem::trusted`]). librqbit's session list
    /// in the same directory is emptied at start: nothing is re-added by
    /// itself. `None` (the default): every add re-checks the whole file.
    pub resume_dir: Option<PathBuf>,
}

impl Default for SwarmOptions {
    fn default() -> Self {
        SwarmOptions {
            state_dir: PathBuf::new(),
            listen_port: Some(0),
            listen_ip: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            dht: true,
            dht_bootstrap: None,
            lsd: true,
            trackers: Vec::new(),
            max_download_rate: None,
            max_upload_rate: None,
            peer_limit: None,
            webseed: WebseedOptions::default(),
            resume_dir: None,
        }
    }
}

/// One package to download from the swarm.
#[derive(Debug, Clone, Default)]
pub struct SwarmItem {
    /// Bare package file name; the torrent's `name` must equal it.
    pub filename: String,
    /// Size from the sync db; the torrent's `length` must equal it.
    pub size: u64,
    /// The `.torrent` file as fetched (an untrusted hint).
    pub metainfo: Vec<u8>,
    /// Where the file is written as `<output_dir>/<filename>`.
    pub output_dir: PathBuf,
    /// Mirror URLs without the file name (the repo's `Server`s); each one
    /// becomes a webseed `<mirror>/<filename>`, besides the torrent's own
    /// `url-list`.
    pub mirrors: Vec<Url>,
    /// Peers to try at once (a local `pactor-seed`, tests).
    pub initial_peers: Vec<SocketAddr>,
    /// A stretch of the file fetched while the torrent was looked up
    /// ([`head`]); its pieces are asked of the webseeds first.
    pub head: Option<Arc<head::Head>>,
}

/// What can go wrong in the swarm; messages name the package file.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    /// The librqbit session did not start.
    #[error("starting the BitTorrent session: {0}")]
    Start(String),
    /// A webseed bridge could not listen.
    #[error("starting a webseed bridge for {mirror}: {source}")]
    Bridge {
        /// The mirror.
        mirror: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The torrent is not usable for this package.
    #[error(transparent)]
    BadTorrent(#[from] TorrentError),
    /// librqbit refused the torrent.
    #[error("adding the torrent of {filename}: {message}")]
    Add {
        /// The package file.
        filename: String,
        /// librqbit's error chain.
        message: String,
    },
    /// The torrent failed while downloading (a disk error, usually).
    #[error("downloading {filename} from the swarm: {message}")]
    Torrent {
        /// The package file.
        filename: String,
        /// librqbit's error chain.
        message: String,
    },
}

/// The session of one transaction.
pub struct Swarm {
    session: Arc<Session>,
    /// One bridge per mirror origin (`scheme://host:port`).
    bridges: tokio::sync::Mutex<HashMap<String, Arc<Bridge>>>,
    /// The bridges' range requests in flight, for their end game.
    flights: Arc<Flights>,
    client: reqwest::Client,
    webseed: WebseedOptions,
    cancel: CancellationToken,
    /// [`SwarmOptions::resume_dir`].
    resume_dir: Option<PathBuf>,
    /// Where the DHT routing table is kept (`<state_dir>/dht.json`), when
    /// the DHT runs and there is a state directory.
    dht_file: Option<PathBuf>,
    /// The id of the next torrent added. librqbit's JSON persistence (on
    /// with a resume directory) hands out "largest stored id + 1", which
    /// torrents added at the same time all get before any is stored; its
    /// add then answers the second with the first one's handle
    /// (`AlreadyManaged`), and removing either breaks both. Every torrent
    /// therefore gets its id here (the store is empty at start).
    next_id: std::sync::atomic::AtomicUsize,
}

/// The HTTP client of a session's webseed bridges: it keeps as many idle
/// connections to each mirror as the mirror may get request slots.
pub(crate) fn webseed_client(options: &WebseedOptions) -> reqwest::Result<reqwest::Client> {
    crate::tls::client_builder()
        .connect_timeout(options.connect_timeout)
        .user_agent(options.user_agent.clone())
        .pool_max_idle_per_host(
            options
                .max_connections_per_mirror
                .max(options.connections_per_mirror),
        )
        .tcp_nodelay(true)
        .build()
}

impl Swarm {
    /// Opens the session: listener, DHT, LSD, trackers and limits.
    pub async fn start(options: SwarmOptions) -> Result<Swarm, SwarmError> {
        Swarm::start_with_client(options, None).await
    }

    /// [`Swarm::start`] whose webseed bridges use `client` (one from
    /// [`webseed_client`]) when given: connections it opened before, to
    /// the mirrors for the torrents themselves, carry the first range
    /// requests without a new handshake.
    pub(crate) async fn start_with_client(
        options: SwarmOptions,
        client: Option<reqwest::Client>,
    ) -> Result<Swarm, SwarmError> {
        let dht_file = (options.dht && !options.state_dir.as_os_str().is_empty())
            .then(|| options.state_dir.join(DHT_FILE));
        let dht = options.dht.then(|| DhtSessionConfig {
            bootstrap_addrs: options.dht_bootstrap.clone(),
            port: None,
            persistence: dht_file.clone().map(|f| DhtPersistenceConfig {
                dump_interval: None,
                config_filename: Some(f),
            }),
        });
        let listen = match options.listen_port {
            None => None,
            Some(port) => {
                let port = match port {
                    // librqbit announces port 4240 to trackers when it
                    // listens on loopback and is not told the port, so the
                    // port is picked here (a loopback seeder: tests).
                    0 if options.listen_ip.is_loopback() => free_port(options.listen_ip)
                        .map_err(|e| SwarmError::Start(format!("picking a port: {e}")))?,
                    p => p,
                };
                Some(ListenerOptions {
                    mode: ListenerMode::TcpOnly,
                    listen_addr: SocketAddr::new(options.listen_ip, port),
                    // A v4 address cannot be bound dual-stack.
                    ipv4_only: options.listen_ip.is_ipv4(),
                    announce_port: (port != 0).then_some(port),
                    ..Default::default()
                })
            }
        };
        if let Some(dir) = &options.resume_dir {
            seeding::prepare_resume_dir(dir)
                .map_err(|e| SwarmError::Start(format!("preparing {}: {e}", dir.display())))?;
        }
        let session_options = SessionOptions {
            dht,
            listen,
            // Without a resume directory, resume is a re-check of the file on
            // add (SWARM.md). With one, librqbit keeps have-bitfields there;
            // its list of torrents was just emptied, so last run's torrents
            // do not come back by themselves.
            fastresume: options.resume_dir.is_some(),
            persistence: options
                .resume_dir
                .clone()
                .map(|folder| SessionPersistenceConfig::Json {
                    folder: Some(folder),
                }),
            ratelimits: LimitsConfig {
                download_bps: options.max_download_rate.and_then(rate),
                upload_bps: options.max_upload_rate.and_then(rate),
            },
            trackers: options.trackers.iter().cloned().collect::<HashSet<_>>(),
            disable_local_service_discovery: !options.lsd,
            peer_limit: options.peer_limit,
            client_name_and_version: Some(concat!("pactor/", env!("CARGO_PKG_VERSION")).into()),
            ..Default::default()
        };
        let session = Session::new_with_opts(options.state_dir.clone(), session_options)
            .await
            .map_err(|e| SwarmError::Start(crate::error::chain_text(&e)))?;
        let client = match client {
            Some(client) => client,
            None => webseed_client(&options.webseed)
                .map_err(|e| SwarmError::Start(format!("HTTP client: {e}")))?,
        };
        Ok(Swarm {
            session,
            bridges: tokio::sync::Mutex::new(HashMap::new()),
            flights: Arc::default(),
            client,
            webseed: options.webseed,
            cancel: CancellationToken::new(),
            resume_dir: options.resume_dir,
            dht_file,
            next_id: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// The HTTP client of the webseed bridges.
    pub(crate) fn webseed_client(&self) -> reqwest::Client {
        self.client.clone()
    }

    /// The DHT's UDP address, when it runs.
    pub fn dht_addr(&self) -> Option<SocketAddr> {
        self.session.get_dht().map(|d| d.listen_addr())
    }

    /// How many nodes the DHT's routing tables (IPv4 and IPv6) hold.
    pub fn dht_nodes(&self) -> Option<usize> {
        self.session.get_dht().map(|d| {
            let s = d.stats();
            s.routing_table_size + s.routing_table_size_v6
        })
    }

    /// Writes the DHT routing table to [`DHT_FILE`], in the format librqbit
    /// reads at start (its own peer store left out). librqbit writes it only
    /// from a timer, every 60 s (`librqbit-dht` `persistence.rs`), and a
    /// transaction's session rarely lives that long: without this the next
    /// run never started warm.
    fn save_dht(&self) -> std::io::Result<()> {
        let (Some(dht), Some(path)) = (self.session.get_dht(), &self.dht_file) else {
            return Ok(());
        };
        let addr = dht.listen_addr();
        let json = dht
            .with_routing_tables(|v4, v6| {
                serde_json::to_vec(&serde_json::json!({
                    "addr": addr,
                    "table": v4,
                    "table_v6": v6,
                    "peer_store": null,
                }))
            })
            .map_err(std::io::Error::other)?;
        let tmp = path.with_extension("json.pactor-tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, path)
    }

    /// Starts downloading one package. The torrent is checked first: one
    /// file named `item.filename`, `item.size` bytes long, sane pieces.
    pub async fn add(&self, item: SwarmItem) -> Result<Transfer, SwarmError> {
        self.add_limited(item, None).await
    }

    /// [`Swarm::add`] whose webseed bridges pay for the mirror's bytes from
    /// `limiter` as they arrive (a transaction's download limit, shared with
    /// its HTTP engine). librqbit's own limit (`max_download_rate`) still
    /// applies to every block it requests.
    pub(crate) async fn add_limited(
        &self,
        item: SwarmItem,
        limiter: Option<Arc<RateLimiter>>,
    ) -> Result<Transfer, SwarmError> {
        let meta = torrent::parse_for_package(&item.metainfo, &item.filename, item.size)?;
        let info = meta.info();
        let Layout::Single { length } = info.layout else {
            // validate_for_package lets single-file torrents through only.
            return Err(TorrentError::NotSingleFile {
                filename: item.filename,
            }
            .into());
        };
        if item.filename.contains('/') || item.filename == "." || item.filename == ".." {
            return Err(SwarmError::Add {
                filename: item.filename,
                message: "not a plain file name".into(),
            });
        }
        let info_hash = meta.info_hash();
        let count = info.pieces.len() as u32;
        let head = item
            .head
            .map(|h| {
                let pieces = h.pieces(info.piece_length, count);
                (h, pieces)
            })
            .filter(|(_, pieces)| !pieces.is_empty());
        let webseed_first = head.as_ref().map(|(_, pieces)| pieces.clone());
        let layout = Arc::new(PieceLayout {
            length,
            piece_length: info.piece_length,
            hashes: info.pieces.clone(),
            head,
            delivered: Default::default(),
        });

        let mut sources = Vec::new();
        let mut peers = Vec::new();
        let mut webseeds = Vec::new();
        let mut origins = HashSet::new();
        for url in webseed_urls(&item.filename, &item.mirrors, &meta.url_list) {
            let origin = url.origin().ascii_serialization();
            if !origins.insert(origin.clone()) {
                continue;
            }
            let bridge = self.bridge(&origin).await?;
            let source = Arc::new(Source::new(
                url,
                layout.clone(),
                limiter.clone(),
                bridge.mirror(),
            ));
            bridge.register(info_hash.0, source.clone());
            peers.push(bridge.addr());
            webseeds.push(bridge.addr());
            sources.push((bridge.addr(), source));
        }
        Source::link(&sources.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>());
        peers.extend(item.initial_peers.iter().copied());

        let output_dir = item.output_dir.to_str().ok_or_else(|| SwarmError::Add {
            filename: item.filename.clone(),
            message: format!("{} is not UTF-8", item.output_dir.display()),
        })?;
        let options = AddTorrentOptions {
            output_folder: Some(output_dir.to_owned()),
            // Needed to resume into a file left by an earlier run; librqbit
            // re-checks every piece of it first.
            overwrite: true,
            initial_peers: Some(peers),
            // Our patched librqbit asks them only for pieces no peer offers.
            webseed_peers: Some(webseeds),
            webseed_first,
            preferred_id: Some(self.take_id()),
            ..Default::default()
        };
        let response = self
            .session
            .add_torrent(AddTorrent::from_bytes(item.metainfo.clone()), Some(options))
            .await
            .map_err(|e| SwarmError::Add {
                filename: item.filename.clone(),
                message: crate::error::chain_text(&e),
            })?;
        let handle = match response {
            librqbit::AddTorrentResponse::Added(_, handle) => handle,
            // Another transfer's, or a seed's (read-only storage): not ours
            // to download into or to remove.
            librqbit::AddTorrentResponse::AlreadyManaged(..) => {
                return Err(SwarmError::Add {
                    filename: item.filename,
                    message: format!("torrent {info_hash} is already in the session"),
                })
            }
            librqbit::AddTorrentResponse::ListOnly(_) => {
                return Err(SwarmError::Add {
                    filename: item.filename,
                    message: "librqbit returned no torrent".into(),
                })
            }
        };
        Ok(Transfer {
            path: item.output_dir.join(&item.filename),
            filename: item.filename,
            size: length,
            info_hash,
            handle,
            sources,
        })
    }

    /// An id for the next torrent added (see [`Swarm::next_id`]).
    pub(crate) fn take_id(&self) -> usize {
        self.next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// The bridge for a mirror origin, started on first use.
    async fn bridge(&self, origin: &str) -> Result<Arc<Bridge>, SwarmError> {
        let mut bridges = self.bridges.lock().await;
        if let Some(b) = bridges.get(origin) {
            return Ok(b.clone());
        }
        let bridge = Bridge::start(
            self.client.clone(),
            self.webseed.clone(),
            self.flights.clone(),
            self.cancel.child_token(),
        )
        .await
        .map_err(|source| SwarmError::Bridge {
            mirror: origin.to_owned(),
            source,
        })?;
        bridges.insert(origin.to_owned(), bridge.clone());
        Ok(bridge)
    }

    /// Stops downloading and seeding one package; its file stays.
    pub async fn remove(&self, transfer: &Transfer) -> Result<(), SwarmError> {
        for (_, s) in &transfer.sources {
            s.retire();
        }
        self.session
            .delete(transfer.handle.id().into(), false)
            .await
            .map_err(|e| SwarmError::Torrent {
                filename: transfer.filename.clone(),
                message: crate::error::chain_text(&e),
            })
    }

    /// Where incoming peers connect, when listening.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.session.listen_addr()
    }

    /// Ends the session: bridges, peers, DHT.
    ///
    /// librqbit's `Session::stop` pauses every torrent and cancels the
    /// session's tasks at once, then sleeps a fixed second for those tasks
    /// to wind down. With a [`SwarmOptions::resume_dir`] that second is
    /// waited for, since librqbit's store in that directory may still be
    /// written and the next session reads it. Without one (a transaction's
    /// own session) nothing waits on those tasks: its transfers are removed
    /// already, pausing is synchronous, and the DHT table is written here
    /// first ([`Swarm::save_dht`]; librqbit's own timer never does it on
    /// stop). So the stop is run up to that sleep and not waited out; the
    /// tasks end on their own, or with the runtime.
    pub async fn stop(self) {
        if let Err(e) = self.save_dht() {
            tracing::debug!("DHT table not saved: {e}");
        }
        self.cancel.cancel();
        if self.resume_dir.is_some() {
            self.session.stop().await;
        } else {
            use futures_util::FutureExt;
            let _ = self.session.stop().now_or_never();
        }
    }
}

/// The DHT routing table's file in [`SwarmOptions::state_dir`].
pub const DHT_FILE: &str = "dht.json";

/// A TCP port free on `ip` a moment ago.
fn free_port(ip: IpAddr) -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind((ip, 0))?.local_addr()?.port())
}

/// librqbit's limits are `u32` bytes per second; 0 means none.
fn rate(bps: u64) -> Option<NonZeroU32> {
    NonZeroU32::new(u32::try_from(bps).unwrap_or(u32::MAX))
}

/// Every webseed URL of a package: `<mirror>/<filename>` for each mirror,
/// then the torrent's `url-list` (BEP 19: an entry ending in `/` is a
/// directory the name is appended to). Only http and https.
pub fn webseed_urls(filename: &str, mirrors: &[Url], url_list: &[String]) -> Vec<Url> {
    let from_mirrors = mirrors
        .iter()
        .filter_map(|m| crate::plan::file_url(m, filename).ok());
    let from_torrent = url_list.iter().filter_map(|u| {
        if u.ends_with('/') {
            Url::parse(&format!("{u}{filename}")).ok()
        } else {
            Url::parse(u).ok()
        }
    });
    let mut seen = HashSet::new();
    from_mirrors
        .chain(from_torrent)
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .filter(|u| seen.insert(u.clone()))
        .collect()
}

/// One package being downloaded.
pub struct Transfer {
    filename: String,
    path: PathBuf,
    size: u64,
    info_hash: InfoHash,
    handle: Arc<ManagedTorrent>,
    /// Its webseeds, by the address of their bridge.
    sources: Vec<(SocketAddr, Arc<Source>)>,
}

/// A snapshot of a [`Transfer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransferProgress {
    /// File size.
    pub size: u64,
    /// Verified bytes on disk (all sources, and what was resumed).
    pub have: u64,
    /// Of those, bytes found on disk from an earlier run.
    pub resumed: u64,
    /// Verified bytes the webseeds delivered.
    pub from_mirrors: u64,
    /// Verified bytes BitTorrent peers delivered.
    pub from_peers: u64,
    /// Peers connected now, webseed bridges not counted.
    pub peers: usize,
    /// Still re-checking a file left by an earlier run.
    pub checking: bool,
    /// Every piece is there and verified.
    pub finished: bool,
}

impl Transfer {
    /// The package file.
    pub fn filename(&self) -> &str {
        &self.filename
    }

    /// Where the file is written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The torrent's infohash.
    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    /// What each webseed did so far.
    pub fn webseeds(&self) -> Vec<WebseedStatus> {
        self.sources.iter().map(|(_, s)| s.status()).collect()
    }

    /// Current progress.
    pub fn progress(&self) -> TransferProgress {
        let stats = self.handle.stats();
        let from_mirrors: u64 = self.sources.iter().map(|(_, s)| s.bytes()).sum();
        let mut p = TransferProgress {
            size: self.size,
            from_mirrors,
            finished: stats.finished,
            checking: matches!(stats.state, TorrentStatsState::Initializing { .. }),
            ..Default::default()
        };
        if p.checking {
            return p;
        }
        p.have = stats.progress_bytes;
        if let Some(live) = self.handle.live() {
            // Pieces verified in this run, whoever sent them; the rest of
            // what is there was found on disk.
            let verified = live.stats_snapshot().downloaded_and_checked_bytes;
            p.resumed = p.have.saturating_sub(verified);
            p.from_peers = verified.saturating_sub(from_mirrors);
            // A piece a bridge sent that another source completed first is
            // not counted by librqbit.
            p.from_mirrors = from_mirrors.min(verified);
            let bridges: HashSet<String> =
                self.sources.iter().map(|(a, _)| a.to_string()).collect();
            p.peers = live
                .per_peer_stats_snapshot(Default::default())
                .peers
                .keys()
                .filter(|a| !bridges.contains(*a))
                .count();
        }
        p
    }

    /// Waits until every piece is on disk and verified, and returns the
    /// file's path. The caller checks its sha256 against the sync db.
    pub async fn wait(&self) -> Result<PathBuf, SwarmError> {
        // librqbit's own wait can miss a notification that fires between
        // its check and its wait, so it is raced with a 50 ms poll: the
        // notification ends the wait at once when it comes (the last
        // package of a transaction no longer waits up to 50 ms), the poll
        // when it was missed.
        loop {
            let stats = self.handle.stats();
            if stats.finished && matches!(stats.state, TorrentStatsState::Live) {
                return Ok(self.path.clone());
            }
            if let Some(e) = stats.error {
                return Err(SwarmError::Torrent {
                    filename: self.filename.clone(),
                    message: crate::error::one_line(&e),
                });
            }
            let poll = tokio::time::sleep(Duration::from_millis(50));
            tokio::pin!(poll);
            tokio::select! {
                // An error (the state in flux) ends it at once: wait the
                // poll out instead of spinning.
                r = self.handle.wait_until_completed() => if r.is_err() { (&mut poll).await },
                () = &mut poll => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webseed_urls_follow_bep19() {
        let mirrors = vec![
            Url::parse("http://a/core/os/x86_64").unwrap(),
            Url::parse("http://b/core/os/x86_64/").unwrap(),
        ];
        let list = vec![
            "http://c/pool/".to_owned(),
            "http://d/exact/file.pkg".to_owned(),
            "ftp://e/".to_owned(),
            "http://a/core/os/x86_64/f.pkg".to_owned(),
        ];
        let urls: Vec<String> = webseed_urls("f.pkg", &mirrors, &list)
            .into_iter()
            .map(String::from)
            .collect();
        assert_eq!(
            urls,
            [
                "http://a/core/os/x86_64/f.pkg",
                "http://b/core/os/x86_64/f.pkg",
                "http://c/pool/f.pkg",
                "http://d/exact/file.pkg",
            ]
        );
    }

    #[test]
    fn rates_clamp_to_librqbit_range() {
        assert_eq!(rate(0), None);
        assert_eq!(rate(5).map(NonZeroU32::get), Some(5));
        assert_eq!(rate(u64::MAX).map(NonZeroU32::get), Some(u32::MAX));
    }
}
