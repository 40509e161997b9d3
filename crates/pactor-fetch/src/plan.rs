//! The engine's input: an owned list of files to fetch, where to put them and
//! how hard to push. The resolver builds it from a prepared libalpm
//! transaction (every package libalpm would download, plus its detached
//! `.sig` when the sync db carries none); nothing in here borrows from alpm, so
//! the plan can cross threads and process boundaries.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

/// Everything one run of the engine downloads.
#[derive(Debug, Clone)]
pub struct FetchPlan {
    /// The files, in the order libalpm would download them. Order matters only
    /// as a preference: earlier items get connections first.
    pub items: Vec<FetchItem>,
    /// pactor's own download directory. Partial files (`<file>.part`) and
    /// resume records live here and verified files are renamed into it. It must
    /// never be a pacman CacheDir: libalpm resumes a `<file>.part` it finds
    /// there by appending at its size, which corrupts out-of-order data.
    pub download_dir: PathBuf,
    /// User-facing limits (pactor.conf and flags).
    pub limits: Limits,
    /// Timeouts and tuning constants; tests shorten them.
    pub options: FetchOptions,
}

/// One file to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchItem {
    /// Bare file name, e.g. `zstd-1.5.6-1-x86_64.pkg.tar.zst`; the URL of the
    /// file on a mirror is `<mirror>/<filename>`. Must not contain `/`.
    pub filename: String,
    /// Exact size from the sync db; `None` when unknown (detached signatures).
    pub size: Option<u64>,
    /// sha256 from the sync db, when it has one.
    pub sha256: Option<[u8; 32]>,
    /// The repo's `Server` URLs in pacman's order, without the file name.
    pub mirrors: Vec<Url>,
    /// Where a torrent for this file might be found. Unused by the HTTP half
    /// of the engine; the torrent half decides whether it is usable.
    pub torrent: Option<TorrentSource>,
    /// What the file is.
    pub kind: ItemKind,
}

/// What a [`FetchItem`] is; only reported, the engine treats both alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    /// A package archive.
    Package,
    /// A detached `.sig` for a package.
    Signature,
}

/// Where the torrent of a package may come from (a hint, never trusted: the
/// sync db's size and sha256 stay the authority).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TorrentSource {
    /// A `.torrent` already stored on disk.
    File(PathBuf),
    /// URLs to try, first ones first (`TorrentServer` templates, then
    /// `<Server>/<filename>.torrent`).
    Urls(Vec<Url>),
}

/// Connections a mirror gets at least before its rate and latency are
/// known (see [`Limits::max_connections_per_mirror`], [`first_connections`]).
pub const FIRST_CONNECTIONS_PER_MIRROR: usize = 6;

/// Bytes a mirror is asked for at once, at least, before its rate and
/// latency are known ([`first_connections`]).
pub const FIRST_BYTES_IN_FLIGHT: u64 = 1024 * 1024;

/// Connections a mirror gets before its rate and latency are known, when a
/// request is typically `request_bytes` (the mean file size): six, or as
/// many as it takes to have [`FIRST_BYTES_IN_FLIGHT`] in flight, up to
/// twelve. Large files are asked for in 1 MiB requests until the rate is
/// known, so six requests put 6 MiB in flight; small ones are one request
/// each, and six of 110 KiB left a 20 MB/s mirror 30 ms away idle between
/// its first answers and the next (BENCHMARKS.md, small300).
pub fn first_connections(request_bytes: u64) -> usize {
    let wanted = FIRST_BYTES_IN_FLIGHT.div_ceil(request_bytes.max(1));
    usize::try_from(wanted).unwrap_or(usize::MAX).clamp(
        FIRST_CONNECTIONS_PER_MIRROR,
        Limits::default().max_connections_per_mirror,
    )
}

/// Limits chosen by the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Global download limit in bytes per second over all connections;
    /// `None` for unlimited.
    pub max_download_rate: Option<u64>,
    /// Most HTTP connections open at once over all mirrors.
    pub max_connections: usize,
    /// Most HTTP connections to one mirror (scheme, host and port); at
    /// most [`first_connections`] of them before the mirror has
    /// answered and its link is known.
    pub max_connections_per_mirror: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_download_rate: None,
            max_connections: 48,
            // Twelve, of which a mirror gets only what its link needs once
            // its rate and latency are known, and `first_connections`
            // before (six, like browsers, or more for small files;
            // pacman's default ParallelDownloads is five, all to the first
            // mirror). With 30 ms to each answer, 300 small
            // packages kept a 20 MB/s mirror 89% busy on six connections
            // and 95-96% on the eleven or twelve its link needs
            // (BENCHMARKS.md, small300).
            max_connections_per_mirror: 12,
        }
    }
}

/// Timeouts and tuning constants. Fill with `..Default::default()`.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchOptions {
    /// TCP + TLS connect timeout.
    pub connect_timeout: Duration,
    /// A request that receives no byte for this long while another mirror is
    /// making progress is cancelled and its mirror benched.
    pub stall_timeout: Duration,
    /// An idle worker with nothing else to do asks another mirror for the
    /// unfinished part of a request that has received nothing for this long
    /// (the first copy to arrive wins): a small file stuck on a hanging
    /// mirror waits this long, not `stall_timeout`.
    pub race_after: Duration,
    /// With no other mirror to go to, how long a request may receive nothing
    /// before it is retried (pacman's own limit is 10 s under 1 B/s).
    pub lone_stall_timeout: Duration,
    /// A mirror slower than this fraction of the best mirror's rate ...
    pub slow_ratio: f64,
    /// ... for this long is benched.
    pub slow_window: Duration,
    /// Pause before the same mirror is asked again for a file after an error.
    pub retry_delay: Duration,
    /// Errors one mirror may cause for one file before it is given up for it.
    pub max_errors_per_mirror: u32,
    /// Errors (of any file) after which a mirror is benched for the run.
    pub max_mirror_errors: u32,
    /// Unit of resume bookkeeping: a file is a row of blocks of this size,
    /// and every range request starts on a block boundary.
    pub block_size: u64,
    /// Upper bound of one range request.
    pub max_request_size: u64,
    /// A request is sized to take about this long at its mirror's rate.
    pub request_duration: Duration,
    /// How often the resume record of a partial file is rewritten. These
    /// writes are not fsynced: the page cache outlives a killed process.
    pub resume_interval: Duration,
    /// How often partial data, then the record vouching for it, are fsynced
    /// (when `fsync` is on), so that a power cut loses at most this much.
    pub fsync_interval: Duration,
    /// fsync partial data and records at all; off only in tests.
    pub fsync: bool,
    /// Largest signature accepted when the plan gives no size (a package
    /// without a size, e.g. a `-U` URL target, is not capped).
    pub max_unknown_size: u64,
    /// `User-Agent` header.
    pub user_agent: String,
    /// How often the scheduler checks for stalls and slow mirrors.
    pub tick: Duration,
}

/// Environment variable that, when set, makes [`FetchOptions::default`] use
/// no retry delay (for test suites that drive the engine from outside).
pub const NO_RETRY_DELAY_ENV: &str = "PACTOR_NO_RETRY_DELAY";

impl Default for FetchOptions {
    fn default() -> Self {
        let no_delay = std::env::var_os(NO_RETRY_DELAY_ENV).is_some();
        FetchOptions {
            connect_timeout: Duration::from_secs(5),
            stall_timeout: Duration::from_secs(3),
            lone_stall_timeout: Duration::from_secs(10),
            race_after: Duration::from_secs(1),
            slow_ratio: 1.0 / 8.0,
            slow_window: Duration::from_secs(4),
            retry_delay: if no_delay {
                Duration::ZERO
            } else {
                Duration::from_millis(500)
            },
            max_errors_per_mirror: 3,
            max_mirror_errors: 6,
            // Small enough that a kill loses little (a connection's
            // unfinished block), large enough to keep the bitmap tiny
            // (2 KiB for 1 GiB) and locking rare (~1600/s at 100 MB/s).
            block_size: 64 * 1024,
            max_request_size: 16 * 1024 * 1024,
            request_duration: Duration::from_secs(1),
            resume_interval: Duration::from_millis(50),
            fsync_interval: Duration::from_secs(1),
            fsync: true,
            max_unknown_size: 16 * 1024 * 1024,
            user_agent: concat!("pactor/", env!("CARGO_PKG_VERSION")).to_owned(),
            tick: Duration::from_millis(100),
        }
    }
}

impl FetchItem {
    /// The URL of this file on `mirror`: `<mirror>/<filename>`, as pacman
    /// builds it (one slash between, whatever the Server ends with).
    pub fn url_on(&self, mirror: &Url) -> Result<Url, url::ParseError> {
        file_url(mirror, &self.filename)
    }
}

/// Whether `filename` on `mirror` needs no parsing: a plain file name on a
/// mirror without query or fragment, where only the path changes. Then
/// [`file_url`] cannot fail.
pub(crate) fn joins_plainly(mirror: &Url, filename: &str) -> bool {
    filename
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._+-:@~=".contains(&b))
        && mirror.query().is_none()
        && mirror.fragment().is_none()
        && mirror.has_host()
}

/// The URL of `filename` on `mirror`: `<mirror>/<filename>`, as pacman
/// builds it (one slash between, whatever the Server ends with).
pub(crate) fn file_url(mirror: &Url, filename: &str) -> Result<Url, url::ParseError> {
    // The host is not parsed again where only the path changes (its IDNA
    // mapping was most of the cost, 300 packages times every mirror).
    // Anything else is parsed whole.
    if joins_plainly(mirror, filename) {
        let mut url = mirror.clone();
        url.set_path(&format!(
            "{}/{}",
            mirror.path().trim_end_matches('/'),
            filename
        ));
        return Ok(url);
    }
    let base = mirror.as_str().trim_end_matches('/');
    Url::parse(&format!("{base}/{filename}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The short way to a file's URL gives exactly what parsing the joined
    /// text gives.
    #[test]
    fn url_on_matches_a_full_parse() {
        let names = [
            "a-1-1-x86_64.pkg.tar.zst",
            "gtk+-2:1.0_rc1-3-x86_64.pkg.tar.zst.sig",
            "odd name%20?x#y.pkg",
            "ünï-1-1-any.pkg.tar.xz",
        ];
        let bases = [
            "http://m/core/os/x86_64",
            "http://m/core/os/x86_64/",
            "https://Mirror.Example:8443//arch/",
            "http://10.0.0.2:8080",
            "http://m/repo?key=1",
            "https://xn--mnchen-3ya.de/a%20b/",
        ];
        for base in bases {
            let base = Url::parse(base).unwrap();
            for name in names {
                let item = FetchItem {
                    filename: name.into(),
                    size: None,
                    sha256: None,
                    mirrors: vec![],
                    torrent: None,
                    kind: ItemKind::Package,
                };
                let full = Url::parse(&format!("{}/{name}", base.as_str().trim_end_matches('/')));
                assert_eq!(item.url_on(&base), full, "{base} + {name}");
            }
        }
    }

    #[test]
    fn url_joins_with_one_slash() {
        let item = FetchItem {
            filename: "a-1-1-x86_64.pkg.tar.zst".into(),
            size: None,
            sha256: None,
            mirrors: vec![],
            torrent: None,
            kind: ItemKind::Package,
        };
        for base in ["http://m/core/os/x86_64", "http://m/core/os/x86_64/"] {
            let url = item.url_on(&Url::parse(base).unwrap()).unwrap();
            assert_eq!(
                url.as_str(),
                "http://m/core/os/x86_64/a-1-1-x86_64.pkg.tar.zst"
            );
        }
    }
}
