//! Test mirrors on 127.0.0.1 with injected faults: rate caps, stalls, wrong
//! bytes, missing files, no range support, dead ports and servers that accept
//! and never answer. Every server stops by itself after [`SERVER_LIFETIME`].
#![allow(dead_code)]

pub mod programs;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::Response;
use pactor_fetch::{FetchItem, FetchOptions, FetchPlan, ItemKind, Limits, Url};
use sha2::{Digest, Sha256};

/// A swarm session that listens on 127.0.0.1 (a free port) and talks to
/// nobody it is not told of: no DHT, no LSD.
pub fn loopback_swarm(state: &std::path::Path) -> pactor_fetch::swarm::SwarmOptions {
    pactor_fetch::swarm::SwarmOptions {
        state_dir: state.to_owned(),
        listen_port: Some(0),
        listen_ip: [127, 0, 0, 1].into(),
        dht: false,
        lsd: false,
        ..Default::default()
    }
}

/// No test server outlives this.
pub const SERVER_LIFETIME: Duration = Duration::from_secs(120);

/// Deterministic pseudo-random content.
pub fn content(seed: u64, len: usize) -> Bytes {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// What a mirror does wrong.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Cap on the whole server's sending rate, bytes/s.
    pub rate: Option<u64>,
    /// After this many body bytes in total, send nothing more (hang).
    pub stall_after: Option<u64>,
    /// Flip bytes in every body.
    pub corrupt: bool,
    /// 404 for everything.
    pub not_found: bool,
    /// Ignore `Range`: 200 with the whole file.
    pub no_ranges: bool,
    /// Answer every request with this status.
    pub status: Option<u16>,
    /// Delay before the response headers.
    pub latency: Duration,
    /// Serve these files with other content of another size.
    pub other_version: bool,
}

/// A running test mirror.
pub struct Mirror {
    pub addr: SocketAddr,
    /// Body bytes sent so far.
    pub sent: Arc<AtomicU64>,
    /// Requests answered so far.
    pub requests: Arc<AtomicU64>,
    /// Requests in progress (from arrival to the body's end) now, and the
    /// most there were at once since the start or [`Mirror::reset_peak`].
    pub in_flight: Arc<InFlight>,
    /// Every body it began to send: file name and byte range.
    pub bodies: Arc<Mutex<Vec<(String, u64, u64)>>>,
}

/// Requests a test mirror is serving at once.
#[derive(Debug, Default)]
pub struct InFlight {
    now: AtomicU64,
    peak: AtomicU64,
    /// The peak when the first answer went out (0 before).
    peak_at_first_answer: AtomicU64,
}

impl InFlight {
    /// One more request; the guard ends it when dropped.
    fn start(self: &Arc<Self>) -> Serving {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.peak.fetch_max(n, Ordering::SeqCst);
        Serving(self.clone())
    }

    /// Records the peak so far, the first time only.
    fn answering(&self) {
        let peak = self.peak.load(Ordering::SeqCst);
        let _ =
            self.peak_at_first_answer
                .compare_exchange(0, peak, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// A request being served (see [`InFlight`]).
struct Serving(Arc<InFlight>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.now.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Mirror {
    /// The most requests served at once since the last reset.
    pub fn peak_in_flight(&self) -> u64 {
        self.in_flight.peak.load(Ordering::SeqCst)
    }
    /// The most requests served at once before the first answer went out
    /// (what a client opened before it could know the link).
    pub fn peak_before_first_answer(&self) -> u64 {
        self.in_flight.peak_at_first_answer.load(Ordering::SeqCst)
    }
    /// Starts counting the peak again from the requests served now.
    pub fn reset_peak(&self) {
        let now = self.in_flight.now.load(Ordering::SeqCst);
        self.in_flight.peak.store(now, Ordering::SeqCst);
    }

    /// The repo URL (a pacman `Server`).
    pub fn url(&self) -> Url {
        Url::parse(&format!("http://{}/repo/os/x86_64", self.addr)).unwrap()
    }
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
    /// The byte ranges of `name` it began to send, in order.
    pub fn ranges_of(&self, name: &str) -> Vec<(u64, u64)> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, a, b)| (*a, *b))
            .collect()
    }
}

struct ServerState {
    files: Arc<HashMap<String, Bytes>>,
    faults: Faults,
    sent: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
    in_flight: Arc<InFlight>,
    bodies: Arc<Mutex<Vec<(String, u64, u64)>>>,
    /// When the server's link is next free (rate cap shared by connections).
    pacer: Mutex<Instant>,
    deadline: Instant,
}

/// Starts a mirror serving `files` under `/repo/os/x86_64/`.
pub async fn spawn_mirror(files: Arc<HashMap<String, Bytes>>, faults: Faults) -> Mirror {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(InFlight::default());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let state = Arc::new(ServerState {
        files,
        faults,
        sent: sent.clone(),
        requests: requests.clone(),
        in_flight: in_flight.clone(),
        bodies: bodies.clone(),
        pacer: Mutex::new(Instant::now()),
        deadline: Instant::now() + SERVER_LIFETIME,
    });
    let app = axum::Router::new().fallback(serve).with_state(state);
    tokio::spawn(async move {
        let _ = tokio::time::timeout(SERVER_LIFETIME, axum::serve(listener, app)).await;
    });
    Mirror {
        addr,
        sent,
        requests,
        in_flight,
        bodies,
    }
}

fn parse_range(headers: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let value = headers.get(header::RANGE)?.to_str().ok()?;
    let spec = value.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()))
}

async fn serve(State(state): State<Arc<ServerState>>, uri: Uri, headers: HeaderMap) -> Response {
    state.requests.fetch_add(1, Ordering::Relaxed);
    let serving = state.in_flight.start();
    let faults = &state.faults;
    if !faults.latency.is_zero() {
        tokio::time::sleep(faults.latency).await;
    }
    state.in_flight.answering();
    let status_only = |code: StatusCode| {
        Response::builder()
            .status(code)
            .body(Body::empty())
            .unwrap()
    };
    if let Some(code) = faults.status {
        return status_only(StatusCode::from_u16(code).unwrap());
    }
    let name = uri.path().rsplit('/').next().unwrap_or("");
    let Some(data) = state.files.get(name).filter(|_| !faults.not_found) else {
        return status_only(StatusCode::NOT_FOUND);
    };
    let data = if faults.other_version {
        content(99, data.len() + 1000)
    } else {
        data.clone()
    };
    let total = data.len() as u64;
    let range = parse_range(&headers).filter(|_| !faults.no_ranges);
    let (status, start, end) = match range {
        Some((a, b)) => {
            let end = b.map_or(total, |b| (b + 1).min(total));
            if a >= total || a >= end {
                return Response::builder()
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{total}"))
                    .body(Body::empty())
                    .unwrap();
            }
            (StatusCode::PARTIAL_CONTENT, a, end)
        }
        None => (StatusCode::OK, 0, total),
    };
    let mut builder = Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, end - start)
        .header(header::ACCEPT_RANGES, "bytes");
    if status == StatusCode::PARTIAL_CONTENT {
        builder = builder.header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{total}", end - 1),
        );
    }
    state
        .bodies
        .lock()
        .unwrap()
        .push((name.to_owned(), start, end));
    let body = data.slice(start as usize..end as usize);
    let stream = futures_util::stream::unfold(
        (state.clone(), body, 0usize, serving),
        |(state, body, off, serving)| async move {
            if off >= body.len() || Instant::now() >= state.deadline {
                return None;
            }
            let n = (body.len() - off).min(16 * 1024);
            let mut chunk = body.slice(off..off + n);
            if let Some(limit) = state.faults.stall_after {
                let before = state.sent.fetch_add(n as u64, Ordering::Relaxed);
                if before + n as u64 > limit {
                    // Hang until the server's end of life; the client must
                    // give up on us long before.
                    tokio::time::sleep_until(state.deadline.into()).await;
                    return None;
                }
            } else {
                state.sent.fetch_add(n as u64, Ordering::Relaxed);
            }
            if let Some(rate) = state.faults.rate {
                let wake = {
                    let mut next = state.pacer.lock().unwrap();
                    let now = Instant::now();
                    let start = (*next).max(now);
                    *next = start + Duration::from_secs_f64(n as f64 / rate as f64);
                    *next
                };
                tokio::time::sleep_until(wake.into()).await;
            }
            if state.faults.corrupt {
                let mut bytes = chunk.to_vec();
                for b in bytes.iter_mut().step_by(4096) {
                    *b ^= 0x5a;
                }
                chunk = Bytes::from(bytes);
            }
            Some((
                Ok::<_, std::io::Error>(chunk),
                (state, body, off + n, serving),
            ))
        },
    );
    builder.body(Body::from_stream(stream)).unwrap()
}

/// A mirror of `files` whose whole sending rate is capped at `rate` B/s.
pub async fn capped_mirror(files: &Files, rate: u64) -> Mirror {
    spawn_mirror(
        files.map.clone(),
        Faults {
            rate: Some(rate),
            ..Faults::default()
        },
    )
    .await
}

/// A URL on a port nobody listens on (connection refused). The port stays
/// bound, never listening, for the rest of the test binary: a port merely
/// found free a moment ago could be taken meanwhile by another test's
/// server, and the dead mirror would answer.
pub fn dead_url() -> Url {
    static HELD: std::sync::Mutex<Vec<std::os::fd::OwnedFd>> = std::sync::Mutex::new(Vec::new());
    let (fd, addr) = refusing_port();
    HELD.lock().unwrap().push(fd);
    Url::parse(&format!("http://{addr}/repo/os/x86_64")).unwrap()
}

/// A socket bound to a free port on 127.0.0.1 that never listens: a
/// connection to it is refused for as long as the socket lives.
pub fn refusing_port() -> (std::os::fd::OwnedFd, std::net::SocketAddr) {
    use std::os::fd::FromRawFd;
    // SAFETY: plain socket calls on a descriptor owned from here on and
    // on local, correctly sized address structures.
    unsafe {
        let raw = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(raw >= 0, "socket: {}", std::io::Error::last_os_error());
        let fd = std::os::fd::OwnedFd::from_raw_fd(raw);
        let mut sin: libc::sockaddr_in = std::mem::zeroed();
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_addr.s_addr = u32::from(std::net::Ipv4Addr::LOCALHOST).to_be();
        let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        let ptr = &mut sin as *mut libc::sockaddr_in as *mut libc::sockaddr;
        assert_eq!(
            libc::bind(raw, ptr, len),
            0,
            "bind: {}",
            std::io::Error::last_os_error()
        );
        let mut got = len;
        assert_eq!(libc::getsockname(raw, ptr, &mut got), 0);
        let port = u16::from_be(sin.sin_port);
        (
            fd,
            std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, port)),
        )
    }
}

/// A server that accepts connections and never answers.
pub async fn spawn_hang() -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        let _ = tokio::time::timeout(SERVER_LIFETIME, async {
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        })
        .await;
    });
    Url::parse(&format!("http://{addr}/repo/os/x86_64")).unwrap()
}

/// A set of test files.
pub struct Files {
    pub map: Arc<HashMap<String, Bytes>>,
    pub names: Vec<String>,
}

impl Files {
    pub fn new(sizes: &[usize]) -> Self {
        let mut map = HashMap::new();
        let mut names = Vec::new();
        for (i, size) in sizes.iter().enumerate() {
            let name = format!("pkg{i}-1.0-1-x86_64.pkg.tar.zst");
            map.insert(name.clone(), content(i as u64 + 1, *size));
            names.push(name);
        }
        Files {
            map: Arc::new(map),
            names,
        }
    }

    /// Adds an unsized `.sig` for the first file.
    pub fn with_sig(mut self) -> Self {
        let name = format!("{}.sig", self.names[0]);
        Arc::get_mut(&mut self.map)
            .unwrap()
            .insert(name.clone(), content(1000, 566));
        self.names.push(name);
        self
    }

    pub fn get(&self, name: &str) -> &Bytes {
        &self.map[name]
    }

    /// Plan items for every file on `mirrors`.
    pub fn items(&self, mirrors: &[Url]) -> Vec<FetchItem> {
        self.names
            .iter()
            .map(|name| {
                let data = &self.map[name];
                let sig = name.ends_with(".sig");
                FetchItem {
                    filename: name.clone(),
                    size: (!sig).then_some(data.len() as u64),
                    sha256: (!sig).then(|| sha256(data)),
                    mirrors: mirrors.to_vec(),
                    torrent: None,
                    kind: if sig {
                        ItemKind::Signature
                    } else {
                        ItemKind::Package
                    },
                }
            })
            .collect()
    }
}

/// Options with short timeouts for tests.
pub fn test_options() -> FetchOptions {
    FetchOptions {
        connect_timeout: Duration::from_secs(2),
        stall_timeout: Duration::from_millis(1000),
        lone_stall_timeout: Duration::from_secs(3),
        race_after: Duration::from_millis(400),
        slow_window: Duration::from_millis(1500),
        retry_delay: Duration::ZERO,
        fsync: false,
        tick: Duration::from_millis(50),
        ..FetchOptions::default()
    }
}

pub fn plan(items: Vec<FetchItem>, dir: &std::path::Path) -> FetchPlan {
    FetchPlan {
        items,
        download_dir: dir.to_owned(),
        limits: Limits::default(),
        options: test_options(),
    }
}

/// Asserts every file of `files` sits complete in `dir` and no partial or
/// record is left.
pub fn assert_placed(files: &Files, dir: &std::path::Path) {
    for name in &files.names {
        let on_disk = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(on_disk == files.get(name)[..], "{name} differs");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part") || n.ends_with(".resume") || n.ends_with("-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

/// Runs `f` with an overall time limit.
pub async fn within<F: std::future::Future>(limit: Duration, f: F) -> F::Output {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("test took longer than {limit:?}"))
}
