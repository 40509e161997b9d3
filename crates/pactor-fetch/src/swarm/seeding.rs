//! Seeding complete files that pactor does not own (a pacman CacheDir),
//! for `pactor-seed`.
//!
//! [`Swarm::seed`] adds a file's torrent with the read-only storage of
//! [`super::readonly`], paused, so that librqbit first checks the file and
//! fetches nothing. When the check finds every piece the torrent is started
//! and seeds; when it does not, the torrent stays paused and the seed reports
//! [`SeedState::Error`]: a file that does not match its torrent is never
//! completed from the swarm, and never written to.
//!
//! With [`SwarmOptions::resume_dir`](super::SwarmOptions::resume_dir) the
//! check is librqbit's fastresume: its have-bitfield for the torrent is kept
//! as `<resume_dir>/<infohash>.bitv`, and a torrent added with a bitfield is
//! only spot-checked (the first piece and a few random ones) instead of
//! hashed whole. For a [trusted](SeedItem::trusted) file pactor writes an
//! all-ones bitfield before adding it, so even its first seeding costs a few
//! pieces of reading; an untrusted file is hashed whole once, and librqbit
//! stores what it found for the next start.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use librqbit::api::TorrentIdOrHash;
use librqbit::dht::Id20;
use librqbit::storage::StorageFactoryExt;
use librqbit::{AddTorrent, AddTorrentOptions, AddTorrentResponse, ManagedTorrent, Session};
use librqbit::{TorrentStats, TorrentStatsState};
use tokio_util::sync::CancellationToken;

use super::readonly::ReadOnlyFactory;
use super::{rate, Swarm, SwarmError};
use crate::lock;
use crate::torrent::{self, InfoHash};

/// A complete file to seed.
#[derive(Debug, Clone, Default)]
pub struct SeedItem {
    /// The file, e.g. in a pacman CacheDir. It is opened read-only and never
    /// written, resized or deleted. Its file name must be the torrent's
    /// `name` and its size the torrent's `length`.
    pub path: PathBuf,
    /// The file's `.torrent`.
    pub metainfo: Vec<u8>,
    /// The caller vouches that the file is complete and matches the torrent
    /// (pactor checked its sha256 against the sync db and its size and
    /// mtime did not change since). With a
    /// [`resume_dir`](super::SwarmOptions::resume_dir) the file is then only
    /// spot-checked; without one this is ignored and the file is hashed whole.
    pub trusted: bool,
}

/// What a seed is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedState {
    /// librqbit is checking the file against the torrent (whole, or a few
    /// pieces with fastresume).
    Checking,
    /// Every piece is there; peers can download it.
    Seeding,
    /// Not seeded: the file does not match its torrent, could not be read,
    /// or the seed was [removed](Swarm::unseed).
    Error(String),
}

/// A snapshot of a [`Seed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedStats {
    /// File size.
    pub size: u64,
    /// Bytes of the file found to match the torrent (0 while checking).
    pub have: u64,
    /// Bytes checked so far, while checking.
    pub checked: u64,
    /// Bytes sent to peers since the seed was added.
    pub uploaded: u64,
    /// Current upload rate, bytes per second.
    pub upload_rate: u64,
    /// Peers connected now.
    pub peers: usize,
    /// Bytes read from the file since the seed was added: checking and
    /// uploads together.
    pub read: u64,
    /// What the seed is doing.
    pub state: SeedState,
}

/// Session-wide counters, for every torrent of the swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SwarmTotals {
    /// Bytes sent to peers since the session started.
    pub uploaded: u64,
    /// Bytes received from peers (and webseed bridges) since it started.
    pub downloaded: u64,
    /// Upload rate now, bytes per second.
    pub upload_rate: u64,
    /// Download rate now, bytes per second.
    pub download_rate: u64,
    /// Peers connected now, over all torrents.
    pub peers: usize,
}

/// Where a seed stands, beyond what librqbit's state tells.
#[derive(Debug, Clone)]
enum Phase {
    Checking,
    Seeding,
    Failed(String),
}

/// One seeded file. Clones share it.
#[derive(Clone)]
pub struct Seed {
    inner: Arc<SeedInner>,
}

struct SeedInner {
    filename: String,
    path: PathBuf,
    size: u64,
    info_hash: InfoHash,
    handle: Arc<ManagedTorrent>,
    read: Arc<AtomicU64>,
    phase: Mutex<Phase>,
    cancel: CancellationToken,
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Seed")
            .field("path", &self.inner.path)
            .field("info_hash", &self.inner.info_hash)
            .finish_non_exhaustive()
    }
}

impl SeedInner {
    fn set(&self, phase: Phase) {
        *lock(&self.phase) = phase;
    }

    fn phase(&self) -> Phase {
        lock(&self.phase).clone()
    }
}

impl Swarm {
    /// Starts seeding a complete file. The torrent must be a single-file
    /// torrent named like the file and as long as it. The returned seed is
    /// [`SeedState::Checking`] at first; see [`Seed::wait_ready`].
    ///
    /// The file is opened read-only; nothing is ever written to it, and a
    /// file found incomplete is not completed from the swarm. A seed that
    /// ends in [`SeedState::Error`] stays in the session, paused, until
    /// [`Swarm::unseed`]; seeding the same torrent again before that is
    /// refused.
    pub async fn seed(&self, item: SeedItem) -> Result<Seed, SwarmError> {
        let filename = item
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| SwarmError::Add {
                filename: item.path.display().to_string(),
                message: "not a UTF-8 file name".into(),
            })?
            .to_owned();
        let io_error = |e: std::io::Error| SwarmError::Add {
            filename: filename.clone(),
            message: format!("{}: {e}", item.path.display()),
        };
        let meta = tokio::fs::metadata(&item.path).await.map_err(io_error)?;
        if !meta.is_file() {
            return Err(SwarmError::Add {
                filename,
                message: format!("{} is not a regular file", item.path.display()),
            });
        }
        let size = meta.len();
        let torrent = torrent::parse_for_package(&item.metainfo, &filename, size)?;
        let info_hash = torrent.info_hash();

        if self
            .session
            .get(TorrentIdOrHash::Hash(Id20::new(info_hash.0)))
            .is_some()
        {
            // Before its bitfield is touched: it may be a download.
            return Err(already_there(filename, info_hash));
        }
        let read = Arc::new(AtomicU64::new(0));
        if let Some(dir) = &self.resume_dir {
            let job = ResumeJob {
                dir: dir.clone(),
                path: item.path.clone(),
                info_hash,
                size,
                piece_length: torrent.info().piece_length,
                hashes: torrent.info().pieces.clone(),
                trusted: item.trusted,
                read: read.clone(),
            };
            tokio::task::spawn_blocking(move || job.run())
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.map_err(|e| e.to_string()))
                .map_err(|message| SwarmError::Add {
                    filename: filename.clone(),
                    message: format!(
                        "preparing its fastresume bitfield in {}: {message}",
                        dir.display()
                    ),
                })?;
        }
        let folder = item
            .path
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let options = AddTorrentOptions {
            // Checked first, then started by `watch` only if complete.
            paused: true,
            output_folder: Some(folder),
            storage_factory: Some(ReadOnlyFactory::new(item.path.clone(), read.clone()).boxed()),
            preferred_id: Some(self.take_id()),
            ..Default::default()
        };
        let response = self
            .session
            .add_torrent(AddTorrent::from_bytes(item.metainfo), Some(options))
            .await
            .map_err(|e| SwarmError::Add {
                filename: filename.clone(),
                message: crate::error::chain_text(&e),
            })?;
        let handle = match response {
            AddTorrentResponse::Added(_, handle) => handle,
            AddTorrentResponse::AlreadyManaged(..) => {
                return Err(already_there(filename, info_hash))
            }
            AddTorrentResponse::ListOnly(_) => {
                return Err(SwarmError::Add {
                    filename,
                    message: "librqbit returned no torrent".into(),
                })
            }
        };
        let seed = Seed {
            inner: Arc::new(SeedInner {
                filename,
                path: item.path,
                size,
                info_hash,
                handle,
                read,
                phase: Mutex::new(Phase::Checking),
                cancel: self.cancel.child_token(),
            }),
        };
        tokio::spawn(watch(self.session.clone(), seed.inner.clone()));
        Ok(seed)
    }

    /// Stops seeding a file and forgets its fastresume bitfield. The file is
    /// neither written nor deleted. To stop seeding everything and keep the
    /// bitfields for the next start, use [`Swarm::stop`] instead.
    pub async fn unseed(&self, seed: &Seed) -> Result<(), SwarmError> {
        let inner = &seed.inner;
        inner.cancel.cancel();
        inner.set(Phase::Failed("no longer seeded".into()));
        self.session
            .delete(inner.handle.id().into(), false)
            .await
            .map_err(|e| SwarmError::Torrent {
                filename: inner.filename.clone(),
                message: crate::error::chain_text(&e),
            })
    }

    /// Sets the session's upload limit (bytes per second; `None` or 0 for
    /// none) while it runs.
    pub fn set_upload_limit(&self, bytes_per_sec: Option<u64>) {
        self.session
            .ratelimits
            .set_upload_bps(bytes_per_sec.and_then(rate));
    }

    /// Sets the session's download limit while it runs.
    pub fn set_download_limit(&self, bytes_per_sec: Option<u64>) {
        self.session
            .ratelimits
            .set_download_bps(bytes_per_sec.and_then(rate));
    }

    /// Counters of the whole session.
    pub fn totals(&self) -> SwarmTotals {
        let s = self.session.stats_snapshot();
        SwarmTotals {
            uploaded: s.counters.uploaded_bytes,
            downloaded: s.counters.fetched_bytes,
            upload_rate: s.upload_speed.as_bytes(),
            download_rate: s.download_speed.as_bytes(),
            peers: s.peers.live as usize,
        }
    }
}

impl Seed {
    /// The file's name (and the torrent's).
    pub fn filename(&self) -> &str {
        &self.inner.filename
    }

    /// The seeded file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The torrent's infohash.
    pub fn info_hash(&self) -> InfoHash {
        self.inner.info_hash
    }

    /// Current state and counters.
    pub fn stats(&self) -> SeedStats {
        let inner = &self.inner;
        let st = inner.handle.stats();
        let mut out = SeedStats {
            size: inner.size,
            have: 0,
            checked: 0,
            uploaded: 0,
            upload_rate: 0,
            peers: 0,
            read: inner.read.load(Ordering::Relaxed),
            state: state_of(&inner.phase(), &st),
        };
        match st.state {
            TorrentStatsState::Initializing { .. } => out.checked = st.progress_bytes,
            TorrentStatsState::Paused | TorrentStatsState::Live => {
                out.have = st.progress_bytes;
                out.checked = st.progress_bytes;
            }
            TorrentStatsState::Error => {}
        }
        out.uploaded = st.uploaded_bytes;
        if let Some(live) = &st.live {
            out.upload_rate = live.upload_speed.as_bytes();
            out.peers = live.snapshot.peer_stats.live as usize;
        }
        out
    }

    /// Waits until the check is over: `Ok` once seeding, the error when the
    /// file is not seeded.
    pub async fn wait_ready(&self) -> Result<(), SwarmError> {
        loop {
            match self.stats().state {
                SeedState::Checking => tokio::time::sleep(Duration::from_millis(50)).await,
                SeedState::Seeding => return Ok(()),
                SeedState::Error(message) => {
                    return Err(SwarmError::Torrent {
                        filename: self.inner.filename.clone(),
                        message,
                    })
                }
            }
        }
    }
}

fn already_there(filename: String, info_hash: InfoHash) -> SwarmError {
    SwarmError::Add {
        filename,
        message: format!("torrent {info_hash} is already in the session"),
    }
}

fn state_of(phase: &Phase, st: &TorrentStats) -> SeedState {
    match (phase, &st.state) {
        (Phase::Failed(m), _) => SeedState::Error(m.clone()),
        (_, TorrentStatsState::Error) => {
            SeedState::Error(st.error.clone().unwrap_or_else(|| "librqbit failed".into()))
        }
        (_, TorrentStatsState::Initializing { .. }) | (Phase::Checking, _) => SeedState::Checking,
        (Phase::Seeding, TorrentStatsState::Live) => SeedState::Seeding,
        (Phase::Seeding, TorrentStatsState::Paused) => SeedState::Error("paused".into()),
    }
}

/// Follows a seed through librqbit's check: starts it when every piece is
/// there, keeps it paused and records why when not.
async fn watch(session: Arc<Session>, inner: Arc<SeedInner>) {
    let cancel = inner.cancel.clone();
    let work = async {
        loop {
            let st = inner.handle.stats();
            match st.state {
                TorrentStatsState::Initializing { .. } => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                TorrentStatsState::Paused => {
                    if st.progress_bytes == inner.size && st.total_bytes == inner.size {
                        match session.unpause(&inner.handle).await {
                            Ok(()) => inner.set(Phase::Seeding),
                            Err(e) => inner.set(Phase::Failed(format!(
                                "starting: {}",
                                crate::error::chain_text(&e)
                            ))),
                        }
                    } else {
                        inner.set(Phase::Failed(format!(
                            "{} does not match its torrent: {} of {} bytes verified",
                            inner.path.display(),
                            st.progress_bytes,
                            inner.size
                        )));
                    }
                    return;
                }
                TorrentStatsState::Live => {
                    inner.set(Phase::Seeding);
                    return;
                }
                TorrentStatsState::Error => {
                    inner.set(Phase::Failed(
                        st.error.unwrap_or_else(|| "librqbit failed".into()),
                    ));
                    return;
                }
            }
        }
    };
    tokio::select! {
        () = cancel.cancelled() => {}
        () = work => {}
    }
}

/// `<dir>/<infohash>.bitv`, librqbit's fastresume bitfield file.
pub(crate) fn bitfield_path(dir: &Path, info_hash: InfoHash) -> PathBuf {
    dir.join(format!("{}.bitv", info_hash.to_hex()))
}

/// Pieces [`ResumeJob`] hashes besides the first and last claimed ones.
const SPOT_CHECKS: usize = 4;

/// What goes into the fastresume store before a seed is added.
///
/// librqbit spot-checks a stored bitfield (`validate_fastresume`), but it
/// only notices pieces it cannot *read*: a piece whose hash does not match
/// passes (`check_piece` returns `Ok(false)`, and only `Err` counts). So
/// pactor spot-checks itself: the first and last piece the bitfield claims
/// and [`SPOT_CHECKS`] random ones. If one does not match, the bitfield is
/// removed and librqbit hashes the whole file.
struct ResumeJob {
    dir: PathBuf,
    path: PathBuf,
    info_hash: InfoHash,
    size: u64,
    piece_length: u64,
    hashes: Vec<[u8; 20]>,
    trusted: bool,
    read: Arc<AtomicU64>,
}

impl ResumeJob {
    fn run(self) -> std::io::Result<()> {
        let bitv = bitfield_path(&self.dir, self.info_hash);
        let pieces = self.hashes.len();
        let claimed: Vec<usize> = if self.trusted {
            (0..pieces).collect()
        } else {
            // An earlier check's result, if librqbit stored one.
            match std::fs::read(&bitv) {
                Ok(bits) if bits.len() == pieces.div_ceil(8) => (0..pieces)
                    .filter(|i| bits[i / 8] & (0x80 >> (i % 8)) != 0)
                    .collect(),
                Ok(_) => return remove_if_there(&bitv),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            }
        };
        if !self.spot_check(&claimed)? {
            tracing::warn!(
                "{}: a piece does not match its torrent; checking the whole file",
                self.path.display()
            );
            return remove_if_there(&bitv);
        }
        if self.trusted {
            let tmp = self
                .dir
                .join(format!("{}.bitv.pactor-tmp", self.info_hash.to_hex()));
            std::fs::write(&tmp, full_bitfield(pieces))?;
            std::fs::rename(&tmp, &bitv)?;
        }
        Ok(())
    }

    /// Whether the sampled pieces of `claimed` match their hashes.
    fn spot_check(&self, claimed: &[usize]) -> std::io::Result<bool> {
        let (Some(&first), Some(&last)) = (claimed.first(), claimed.last()) else {
            return Ok(true);
        };
        let mut sample = vec![first, last];
        let mut x = random_seed();
        for _ in 0..SPOT_CHECKS {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            sample.push(claimed[(x % claimed.len() as u64) as usize]);
        }
        sample.sort_unstable();
        sample.dedup();
        let file = std::fs::File::open(&self.path)?;
        for index in sample {
            let index = index as u64;
            let got = torrent::hash_pieces(
                &file,
                &self.path,
                self.size,
                self.piece_length,
                index..index + 1,
            )
            .map_err(std::io::Error::other)?;
            let len = self
                .piece_length
                .min(self.size.saturating_sub(index * self.piece_length));
            self.read.fetch_add(len, Ordering::Relaxed);
            if got.first() != self.hashes.get(index as usize) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn remove_if_there(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Not for cryptography: which pieces to spot-check.
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() | 1
}

/// A bitfield that claims every one of `pieces` pieces, in librqbit's
/// format: one bit per piece, most significant bit first, spare bits clear.
fn full_bitfield(pieces: usize) -> Vec<u8> {
    let mut bits = vec![0xffu8; pieces.div_ceil(8)];
    if !pieces.is_multiple_of(8) {
        if let Some(last) = bits.last_mut() {
            *last = 0xffu8 << (8 - pieces % 8);
        }
    }
    bits
}

/// Readies `dir` as librqbit's JSON session store: created if missing, and
/// its torrent list emptied so that librqbit re-adds nothing at start (it
/// would re-add with its default read-write storage). The `.bitv` bitfields
/// stay for the torrents added again.
pub(crate) fn prepare_resume_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        // Torrent files librqbit kept for re-adding, and our leftovers.
        if name.ends_with(".torrent") || name.ends_with(".pactor-tmp") {
            std::fs::remove_file(entry.path())?;
        }
    }
    let db = dir.join("session.json");
    let tmp = dir.join("session.json.pactor-tmp");
    std::fs::write(&tmp, b"{\"torrents\":{}}")?;
    std::fs::rename(&tmp, &db)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_bitfield_clears_spare_bits() {
        assert_eq!(full_bitfield(0), Vec::<u8>::new());
        assert_eq!(full_bitfield(1), [0x80]);
        assert_eq!(full_bitfield(8), [0xff]);
        assert_eq!(full_bitfield(11), [0xff, 0xe0]);
        assert_eq!(full_bitfield(16), [0xff, 0xff]);
    }

    #[test]
    fn resume_dir_keeps_bitfields_only() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("resume");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("session.json"), br#"{"torrents":{"0":{}}}"#).unwrap();
        std::fs::write(dir.join("ab.torrent"), b"x").unwrap();
        std::fs::write(dir.join("ab.bitv"), b"\xff").unwrap();
        prepare_resume_dir(&dir).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["ab.bitv", "session.json"]);
        assert_eq!(
            std::fs::read(dir.join("session.json")).unwrap(),
            b"{\"torrents\":{}}"
        );
        prepare_resume_dir(&tmp.path().join("new")).unwrap();
        assert!(tmp.path().join("new/session.json").is_file());
    }
}
