//! A small HTTP/1.1 file server on 127.0.0.1 standing in for a mirror, with
//! injected faults, and a log of what it served (to assert where bytes came
//! from and that nothing was downloaded twice).
//!
//! GET and HEAD, single `Range: bytes=a-b` requests (curl resumes and webseeds
//! need them), one request per connection. Faults other than `Dead` only
//! touch package files (`*.pkg.tar.*` without `.sig`/`.torrent`), so that the
//! database sync still works and the fault hits the download under test.
//! Every server stops when dropped, and by itself after [`MAX_LIFETIME`].

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// No test server outlives this, even if a test leaks it.
pub const MAX_LIFETIME: Duration = Duration::from_secs(300);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Serves every file correctly.
    None,
    /// Nothing listens on the port (connection refused).
    Dead,
    /// Package files at this many bytes per second.
    Slow { bytes_per_sec: u64 },
    /// Sends the headers and this many bytes of a package file, then nothing
    /// (the connection stays open until the client gives up).
    StallAfter { bytes: u64 },
    /// Package files with every byte flipped (right length, wrong content).
    WrongBytes,
    /// 404 for package files.
    NotFound,
}

/// One request as the mirror saw it.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub range: Option<(u64, Option<u64>)>,
    pub status: u16,
    /// Body bytes actually written.
    pub bytes: u64,
}

pub struct Mirror {
    addr: SocketAddr,
    pub fault: Fault,
    log: Arc<Mutex<Vec<Request>>>,
    /// Connections accepted so far.
    accepted: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// A dead mirror's port, held.
    _refuser: Option<std::os::fd::OwnedFd>,
}

impl Mirror {
    /// Serve `root` (the directory holding `$repo/os/$arch/`).
    pub fn start(root: &Path, fault: Fault) -> Mirror {
        let log = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        if fault == Fault::Dead {
            // Bound but never listening, for as long as the mirror lives:
            // connections are refused, and no other test's server can take
            // the port meanwhile (as it could a port merely found free).
            let (refuser, addr) = refusing_port();
            return Mirror {
                addr,
                fault,
                log,
                accepted,
                stop,
                thread: None,
                _refuser: Some(refuser),
            };
        }
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let root = root.to_path_buf();
        let (log2, accepted2, stop2) = (log.clone(), accepted.clone(), stop.clone());
        let thread =
            thread::spawn(move || accept_loop(listener, root, fault, log2, accepted2, stop2));
        Mirror {
            addr,
            fault,
            log,
            accepted,
            stop,
            _refuser: None,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The pacman.conf `Server =` value.
    pub fn server_line(&self) -> String {
        format!("{}/$repo/os/$arch", self.base_url())
    }

    pub fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    /// Connections accepted so far (each carries at most one request).
    pub fn connections(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Body bytes served for paths ending in `suffix` (e.g. a package filename).
    pub fn bytes_served(&self, suffix: &str) -> u64 {
        self.requests()
            .iter()
            .filter(|r| r.path.ends_with(suffix))
            .map(|r| r.bytes)
            .sum()
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    root: PathBuf,
    fault: Fault,
    log: Arc<Mutex<Vec<Request>>>,
    accepted: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) {
    let deadline = Instant::now() + MAX_LIFETIME;
    let mut conns: Vec<JoinHandle<()>> = vec![];
    while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
        match listener.accept() {
            Ok((stream, _)) => {
                accepted.fetch_add(1, Ordering::SeqCst);
                let (root, log, stop) = (root.clone(), log.clone(), stop.clone());
                conns.push(thread::spawn(move || {
                    let _ = serve(stream, &root, fault, &log, &stop, deadline);
                }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(5))
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
        conns.retain(|c| !c.is_finished());
    }
    stop.store(true, Ordering::SeqCst);
    for c in conns {
        let _ = c.join();
    }
}

fn is_package(path: &str) -> bool {
    path.contains(".pkg.tar") && !path.ends_with(".sig") && !path.ends_with(".torrent")
}

fn parse_range(v: &str) -> Option<(u64, Option<u64>)> {
    let spec = v.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let start = a.trim().parse().ok()?;
    let end = if b.trim().is_empty() {
        None
    } else {
        Some(b.trim().parse().ok()?)
    };
    Some((start, end))
}

fn serve(
    mut s: TcpStream,
    root: &Path,
    fault: Fault,
    log: &Mutex<Vec<Request>>,
    stop: &AtomicBool,
    deadline: Instant,
) -> std::io::Result<()> {
    s.set_nonblocking(false)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.set_write_timeout(Some(Duration::from_secs(10)))?;
    // Request head.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf)?;
        if n == 0 || head.len() > 16384 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("").to_owned();
    let target = first.next().unwrap_or("/").to_owned();
    let mut range = None;
    let mut if_modified_since = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = parse_range(v);
            } else if k.eq_ignore_ascii_case("if-modified-since") {
                if_modified_since = parse_http_date(v.trim());
            }
        }
    }
    let path = target.split('?').next().unwrap_or("/").to_owned();
    let mut rec = Request {
        method: method.clone(),
        path: path.clone(),
        range,
        status: 0,
        bytes: 0,
    };

    let file = resolve(root, &path);
    let mtime = file
        .as_ref()
        .and_then(|f| fs::metadata(f).ok())
        .and_then(|m| m.modified().ok())
        .map(unix_secs)
        .unwrap_or(0);
    // pacman syncs databases with If-Modified-Since (and curl also compares
    // Last-Modified itself): both must be the file's real mtime.
    if let (Some(since), Some(_)) = (if_modified_since, &file) {
        if mtime <= since && range.is_none() {
            rec.status = 304;
            let _ = write!(
                s,
                "HTTP/1.1 304 Not Modified\r\nLast-Modified: {}\r\nConnection: close\r\n\r\n",
                http_date(mtime)
            );
            log.lock().unwrap().push(rec);
            return Ok(());
        }
    }
    let data = match (&method[..], file) {
        ("GET" | "HEAD", Some(f)) if !(fault == Fault::NotFound && is_package(&path)) => {
            fs::read(f).ok()
        }
        _ => None,
    };
    let Some(mut data) = data else {
        rec.status = 404;
        let body = b"not found\n";
        let _ = write!(
            s,
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let _ = s.write_all(body);
        log.lock().unwrap().push(rec);
        return Ok(());
    };
    let faulty = is_package(&path);
    if faulty && fault == Fault::WrongBytes {
        data.iter_mut().for_each(|b| *b = !*b);
    }
    let total = data.len() as u64;
    let (status, start, end) = match range {
        Some((a, _)) if a >= total => {
            rec.status = 416;
            let _ = write!(s, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{total}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            log.lock().unwrap().push(rec);
            return Ok(());
        }
        Some((a, b)) => (206, a, b.map_or(total - 1, |b| b.min(total - 1))),
        None => (200, 0, total.saturating_sub(1)),
    };
    let len = if total == 0 { 0 } else { end - start + 1 };
    rec.status = status;
    let mut hdr = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {len}\r\nContent-Type: application/octet-stream\r\nAccept-Ranges: bytes\r\nLast-Modified: {}\r\nConnection: close\r\n",
        status,
        if status == 206 { "Partial Content" } else { "OK" },
        http_date(mtime)
    );
    if status == 206 {
        hdr.push_str(&format!("Content-Range: bytes {start}-{end}/{total}\r\n"));
    }
    hdr.push_str("\r\n");
    s.write_all(hdr.as_bytes())?;
    if method == "HEAD" || len == 0 {
        log.lock().unwrap().push(rec);
        return Ok(());
    }
    let body = &data[start as usize..=end as usize];
    let result = send_body(
        &mut s,
        body,
        if faulty { fault } else { Fault::None },
        stop,
        deadline,
        &mut rec.bytes,
    );
    log.lock().unwrap().push(rec);
    let _ = s.shutdown(Shutdown::Write);
    result
}

fn send_body(
    s: &mut TcpStream,
    body: &[u8],
    fault: Fault,
    stop: &AtomicBool,
    deadline: Instant,
    sent: &mut u64,
) -> std::io::Result<()> {
    match fault {
        Fault::Slow { bytes_per_sec } => {
            // 20 slices a second.
            let slice = (bytes_per_sec / 20).max(1) as usize;
            for chunk in body.chunks(slice) {
                if stop.load(Ordering::SeqCst) || Instant::now() > deadline {
                    break;
                }
                s.write_all(chunk)?;
                *sent += chunk.len() as u64;
                thread::sleep(Duration::from_millis(50));
            }
            Ok(())
        }
        Fault::StallAfter { bytes } => {
            let n = (bytes as usize).min(body.len());
            s.write_all(&body[..n])?;
            *sent += n as u64;
            s.flush()?;
            // Hold the connection open, sending nothing, until the client
            // closes it or the server stops.
            s.set_read_timeout(Some(Duration::from_millis(100)))?;
            let mut b = [0u8; 64];
            while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                match s.read(&mut b) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
            Ok(())
        }
        _ => {
            for chunk in body.chunks(64 * 1024) {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                s.write_all(chunk)?;
                *sent += chunk.len() as u64;
            }
            Ok(())
        }
    }
}

/// URL path → file under `root`; no `..`, no directories.
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let rel = Path::new(url_path.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let p = root.join(rel);
    p.is_file().then_some(p)
}

fn unix_secs(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 → (year, month 1-12, day 1-31) (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// IMF-fixdate, e.g. `Tue, 14 Nov 2023 22:13:20 GMT`.
pub fn http_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[m as usize - 1],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

pub fn parse_http_date(s: &str) -> Option<u64> {
    let f: Vec<&str> = s.split_whitespace().collect();
    let [_, d, mon, y, hms, "GMT"] = f[..] else {
        return None;
    };
    let m = MONTHS.iter().position(|x| *x == mon)? as u32 + 1;
    let t: Vec<u64> = hms
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [h, mi, sec] = t[..] else { return None };
    let days = days_from_civil(y.parse().ok()?, m, d.parse().ok()?);
    u64::try_from(days)
        .ok()
        .map(|days| days * 86_400 + h * 3600 + mi * 60 + sec)
}

#[test]
fn http_dates_round_trip() {
    assert_eq!(http_date(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
    assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    for t in [0, 951_782_400, 1_700_000_000, 4_102_444_800] {
        assert_eq!(parse_http_date(&http_date(t)), Some(t));
    }
}

/// A socket bound to a free port on 127.0.0.1 that never listens: a
/// connection to it is refused for as long as the socket lives.
fn refusing_port() -> (std::os::fd::OwnedFd, SocketAddr) {
    use nix::sys::socket::{
        bind, getsockname, socket, AddressFamily, SockFlag, SockType, SockaddrIn,
    };
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    bind(fd.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, 0)).expect("bind 127.0.0.1:0");
    let local: SockaddrIn = getsockname(fd.as_raw_fd()).expect("getsockname");
    (
        fd,
        SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, local.port())),
    )
}
