//! pactor-seed, the built binary, with real parts: a sandbox with its own
//! pacman.conf (CacheDir in a temporary directory) and pactor.conf (`[seed]`
//! with StateDir, RuntimeDir, a fixed port, no DHT, no LSD), torrents made
//! by pactor-fetch's torrent code announcing to a real `opentracker` on
//! 127.0.0.1, and real `aria2c` leechers. No mirror exists anywhere: what a
//! leecher gets, the daemon uploaded.
//!
//! As root (CI) the daemon runs as the `daemon` user (`run --user daemon`),
//! and the permission tests connect as `nobody` (with or without the
//! daemon's group) through `setpriv` and python3's socket module. Tests whose tools are missing print
//! "skipped: …" and pass; setup.sh installs them all.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use pactor_fetch::torrent::{info_for_file, InfoHash, Metainfo};
use serde_json::Value;

const MIB: u64 = 1024 * 1024;
const BIN: &str = env!("CARGO_BIN_EXE_pactor-seed");
/// No program a test starts lives longer than this.
const LIFETIME_SECS: &str = "120";

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn have(program: &str) -> bool {
    ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        .iter()
        .any(|d| Path::new(d).join(program).exists())
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    if std::net::UdpSocket::bind(("127.0.0.1", port)).is_err() {
        return free_port();
    }
    port
}

/// Deterministic pseudo-random bytes.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        sleep(Duration::from_millis(100));
    }
    f()
}

/// A program under `timeout`, ended by PID when dropped.
struct Program {
    child: std::process::Child,
    name: String,
    log: PathBuf,
}

impl Program {
    fn start(cmd: &mut Command, name: &str, log: PathBuf) -> Program {
        let file = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        Program {
            child,
            name: name.to_owned(),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status();
    }

    fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            // timeout(1) passes SIGTERM on.
            self.signal("TERM");
            if self.wait(Duration::from_secs(10)).is_none() {
                self.signal("KILL");
                let _ = self.child.wait();
            }
        }
        if std::thread::panicking() {
            eprintln!("--- {} log ---\n{}", self.name, self.log());
        }
    }
}

/// pacman.conf, pactor.conf, a cache, pactor's torrents and the daemon's
/// directories, all in one temporary directory readable by the daemon user.
struct Sandbox {
    tmp: tempfile::TempDir,
    port: u16,
}

impl Sandbox {
    fn new(seed_conf: &str) -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let s = Sandbox {
            tmp,
            port: free_port(),
        };
        // db/local: libalpm creates it when missing, which the daemon user
        // may not (a real DBPath always has one).
        for d in ["cache", "db/local", "pactor/torrents"] {
            std::fs::create_dir_all(s.dir().join(d)).unwrap();
        }
        std::fs::write(s.dir().join("db/local/ALPM_DB_VERSION"), "9\n").unwrap();
        std::fs::write(
            s.dir().join("pacman.conf"),
            format!(
                "[options]\nCacheDir = {}/cache/\nDBPath = {}/db/\nArchitecture = x86_64\n",
                s.dir().display(),
                s.dir().display()
            ),
        )
        .unwrap();
        s.write_conf(seed_conf);
        s
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    fn cache(&self) -> PathBuf {
        self.dir().join("cache")
    }

    fn runtime(&self) -> PathBuf {
        self.dir().join("run")
    }

    fn state(&self) -> PathBuf {
        self.dir().join("seed-state")
    }

    /// pactor.conf with `extra` lines in `[seed]` after the sandbox's own.
    fn write_conf(&self, extra: &str) {
        std::fs::write(
            self.dir().join("pactor.conf"),
            format!(
                "[options]\nStateDir = {d}/pactor\n\n[seed]\nStateDir = {d}/seed-state\nRuntimeDir = {d}/run\nListenPort = {p}\nDHT = no\nLSD = no\n{extra}\n",
                d = self.dir().display(),
                p = self.port
            ),
        )
        .unwrap();
    }

    fn args(&self) -> Vec<String> {
        vec![
            "--pacman-config".into(),
            self.dir().join("pacman.conf").display().to_string(),
            "--config".into(),
            self.dir().join("pactor.conf").display().to_string(),
        ]
    }

    /// A package of `data` in the cache and its torrent (announcing to
    /// `tracker`) in pactor's torrents directory.
    fn add_package(&self, name: &str, data: &[u8], tracker: Option<&str>) -> (Vec<u8>, InfoHash) {
        let path = self.cache().join(name);
        std::fs::write(&path, data).unwrap();
        self.add_torrent(name, tracker)
    }

    fn add_torrent(&self, name: &str, tracker: Option<&str>) -> (Vec<u8>, InfoHash) {
        let path = self.cache().join(name);
        let mut meta = Metainfo::new(info_for_file(&path, name).unwrap());
        meta.announce = tracker.map(|t| format!("{t}/announce"));
        let bytes = meta.to_bytes();
        std::fs::write(
            self.dir().join(format!("pactor/torrents/{name}.torrent")),
            &bytes,
        )
        .unwrap();
        (bytes, meta.info_hash())
    }

    /// Starts the daemon (as `daemon` when root) and waits for its socket.
    fn start(&self) -> Program {
        let mut cmd = Command::new("timeout");
        cmd.args(["-s", "TERM", LIFETIME_SECS, BIN])
            .args(self.args());
        cmd.arg("run");
        if is_root() {
            cmd.args(["--user", "daemon"]);
        }
        cmd.env_clear()
            .env("LC_ALL", "C")
            .env("PATH", "/usr/bin:/bin");
        let log = self.dir().join(format!("daemon-{}.log", rand_tag()));
        let mut p = Program::start(&mut cmd, "pactor-seed", log);
        let sock = self.runtime().join("status.sock");
        let up = wait_until(Duration::from_secs(20), || {
            sock.exists() && self.try_status().is_some()
        });
        if !up {
            let status = p.wait(Duration::from_millis(100));
            panic!("pactor-seed did not come up ({status:?}):\n{}", p.log());
        }
        p
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(self.args())
            .args(args)
            .env_clear()
            .env("LC_ALL", "C")
            .output()
            .unwrap()
    }

    /// The daemon's status object, straight from status.sock (the
    /// `status` command is tested on its own; this works while pactor.conf
    /// is being rewritten).
    fn try_status(&self) -> Option<Value> {
        use std::io::BufRead;
        let sock =
            std::os::unix::net::UnixStream::connect(self.runtime().join("status.sock")).ok()?;
        sock.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        (&sock).write_all(b"{\"op\":\"status\"}\n").ok()?;
        let mut line = String::new();
        std::io::BufReader::new(&sock).read_line(&mut line).ok()?;
        serde_json::from_str(&line).ok()
    }

    fn status(&self) -> Value {
        self.try_status().expect("pactor-seed status --json")
    }

    /// Sends a signal to the daemon itself (`timeout` would turn a SIGHUP
    /// into its own stop signal).
    fn signal_daemon(&self, pid: u64, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// The state of each package in the status.
    fn states(&self) -> Vec<(String, String)> {
        self.status()["packages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["filename"].as_str().unwrap().to_owned(),
                    p["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn wait_seeding(&self, names: &[&str], limit: Duration) {
        let ok = wait_until(limit, || {
            let st = self.states();
            names
                .iter()
                .all(|n| st.iter().any(|(f, s)| f == n && s == "seeding"))
        });
        assert!(ok, "not all seeding after {limit:?}: {:?}", self.states());
    }
}

fn rand_tag() -> String {
    format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

/// `rchar` of /proc/PID/io: bytes the process read through read(2) and
/// its kin.
fn rchar(pid: u64) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("rchar:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

/// opentracker on 127.0.0.1 whitelisting `hashes` (it drops to nobody and
/// chroots into the directory, so that must be readable).
fn start_tracker(dir: &Path, hashes: &[InfoHash]) -> (Program, String) {
    let root = dir.join("tracker");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let list: String = hashes.iter().map(|h| format!("{}\n", h.to_hex())).collect();
    std::fs::write(root.join("whitelist"), list).unwrap();
    let port = free_port().to_string();
    let mut cmd = Command::new("timeout");
    cmd.args([LIFETIME_SECS, "opentracker", "-i", "127.0.0.1", "-p", &port])
        .args(["-P", &port, "-d"])
        .arg(&root)
        .args(["-w", "whitelist"]);
    let p = Program::start(&mut cmd, "opentracker", dir.join("tracker.log"));
    // opentracker reads its whitelist in the background.
    sleep(Duration::from_secs(1));
    (p, format!("http://127.0.0.1:{port}"))
}

/// Whether the tracker counts a seeder for `hash` (a scrape over plain
/// HTTP on 127.0.0.1).
fn tracker_has_seeder(tracker: &str, hash: InfoHash) -> bool {
    let addr = tracker.trim_start_matches("http://");
    let escaped: String = hash.0.iter().map(|b| format!("%{b:02x}")).collect();
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET /scrape?info_hash={escaped} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut body = Vec::new();
    let _ = s.read_to_end(&mut body);
    let text = String::from_utf8_lossy(&body);
    text.contains("8:completei") && !text.contains("8:completei0e")
}

/// aria2c leeching `torrent` with nothing but the tracker to find peers;
/// it ends once it has the file or after `stall_secs` without data.
fn start_leecher(dir: &Path, tag: &str, torrent: &[u8], stall_secs: u32) -> (Program, PathBuf) {
    let out = dir.join(format!("leech-{tag}"));
    std::fs::create_dir_all(&out).unwrap();
    let t = dir.join(format!("{tag}.torrent"));
    std::fs::write(&t, torrent).unwrap();
    let port = free_port().to_string();
    let mut cmd = Command::new("timeout");
    cmd.args([LIFETIME_SECS, "aria2c"])
        .args([
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--seed-time=0",
            "--file-allocation=none",
            "--allow-overwrite=true",
            "--auto-file-renaming=false",
            "--summary-interval=0",
            "--console-log-level=notice",
        ])
        .args(["--listen-port", &port])
        .args(["--bt-stop-timeout", &stall_secs.to_string()])
        .arg("--dir")
        .arg(&out)
        .arg(&t);
    let p = Program::start(&mut cmd, "aria2c", dir.join(format!("aria2-{tag}.log")));
    (p, out)
}

fn need(tools: &[&str]) -> bool {
    for t in tools {
        if !have(t) {
            eprintln!("skipped: {t} is not installed");
            return false;
        }
    }
    true
}

// ---- the tests ----------------------------------------------------------------

/// (a) A cached package reaches a real leecher from the daemon alone; then
/// (c) removing it from the cache stops its seeding within seconds, and a
/// new leecher gets nothing.
#[test]
fn seeds_to_aria2c_without_mirrors_and_stops_when_the_package_is_removed() {
    if !need(&["aria2c", "opentracker"]) {
        return;
    }
    let sb = Sandbox::new("");
    let name = "served-3.1-2-x86_64.pkg.tar.zst";
    let other = "kept-1.0-1-any.pkg.tar.zst";
    let data = content(7, (9 * MIB + 12345) as usize);
    std::fs::write(sb.cache().join(name), &data).unwrap();
    let hash = sb.add_torrent(name, None).1;
    let (_tracker, url) = start_tracker(sb.dir(), &[hash]);
    let (torrent, _) = sb.add_torrent(name, Some(&url));
    sb.add_package(other, &content(8, 300_000), None);
    let daemon = sb.start();
    sb.wait_seeding(&[name, other], Duration::from_secs(30));
    assert!(
        wait_until(Duration::from_secs(30), || tracker_has_seeder(&url, hash)),
        "the daemon never announced to the tracker:\n{}",
        daemon.log()
    );

    let (mut leecher, out) = start_leecher(sb.dir(), "first", &torrent, 20);
    let status = leecher.wait(Duration::from_secs(60));
    let got = std::fs::read(out.join(name)).unwrap_or_default();
    assert!(
        got == data,
        "aria2c got {} of {} bytes ({status:?}):\n{}\n--- daemon ---\n{}",
        got.len(),
        data.len(),
        leecher.log(),
        daemon.log()
    );
    let s = sb.status();
    let pkg = s["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["filename"] == name)
        .unwrap()
        .clone();
    eprintln!(
        "aria2c got {} bytes; the daemon reports {} uploaded for it, {} in all",
        got.len(),
        pkg["uploaded"],
        s["uploaded"]
    );
    assert!(pkg["uploaded"].as_u64().unwrap() >= data.len() as u64);
    assert!(s["uploaded_all_time"].as_u64().unwrap() >= data.len() as u64);

    // (c) paccache removes it.
    std::fs::remove_file(sb.cache().join(name)).unwrap();
    let t0 = Instant::now();
    let gone = wait_until(Duration::from_secs(3), || {
        !sb.states().iter().any(|(f, _)| f == name)
    });
    let took = t0.elapsed();
    assert!(gone, "still seeded 3 s after removal: {:?}", sb.states());
    eprintln!(
        "unseeded {:.2} s after the file was removed",
        took.as_secs_f64()
    );
    assert_eq!(
        sb.states(),
        vec![(other.to_owned(), "seeding".to_owned())],
        "the other package is still seeded"
    );
    let (mut leecher, out) = start_leecher(sb.dir(), "second", &torrent, 6);
    let status = leecher.wait(Duration::from_secs(40));
    let got = std::fs::metadata(out.join(name))
        .map(|m| m.len())
        .unwrap_or(0);
    let complete = std::fs::read(out.join(name)).is_ok_and(|b| b == data);
    assert!(
        !complete,
        "a leecher still got the removed package ({got} bytes, {status:?})"
    );
    // Stats survive: all-time upload is kept for the package.
    drop(daemon);
    let stats: Value =
        serde_json::from_slice(&std::fs::read(sb.state().join("stats.json")).unwrap()).unwrap();
    assert!(
        stats["packages"][name].as_u64().unwrap() >= data.len() as u64,
        "{stats}"
    );
}

/// A sparse file: a few MiB of pseudo-random data at start, middle and end.
fn sparse_file(path: &Path, len: u64, seed: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::create(path).unwrap();
    f.set_len(len).unwrap();
    for (i, at) in [0, len / 2, len - MIB].into_iter().enumerate() {
        f.write_all_at(&content(seed * 10 + i as u64, MIB as usize), at)
            .unwrap();
    }
}

/// (b) The first start over 3 GiB of packages it does not know checks
/// every byte and records them in the trust ledger; the next start seeds
/// them without reading them (measured with /proc/PID/io).
#[test]
fn restart_over_a_large_cache_seeds_without_reading_it() {
    let sb = Sandbox::new("");
    let names = [
        "big-a-1-1-x86_64.pkg.tar.zst",
        "big-b-1-1-x86_64.pkg.tar.zst",
        "big-c-1-1-x86_64.pkg.tar.zst",
    ];
    let total = 3 * 1024 * MIB;
    for (i, n) in names.iter().enumerate() {
        sparse_file(&sb.cache().join(n), 1024 * MIB, i as u64 + 1);
        sb.add_torrent(n, None);
    }
    // Untrusted: every piece is checked once.
    let d = sb.start();
    let t0 = Instant::now();
    sb.wait_seeding(&names, Duration::from_secs(120));
    let pid = sb.status()["pid"].as_u64().unwrap();
    let read_first = rchar(pid);
    eprintln!(
        "first start: {} MiB read to check {} MiB in {:.1} s",
        read_first / MIB,
        total / MIB,
        t0.elapsed().as_secs_f64()
    );
    assert!(
        read_first >= total * 9 / 10,
        "the untrusted start read only {read_first} of {total} bytes"
    );
    drop(d);
    let ledger: Value =
        serde_json::from_slice(&std::fs::read(sb.state().join("trusted.json")).unwrap()).unwrap();
    assert_eq!(ledger["files"].as_object().unwrap().len(), 3, "{ledger}");

    // Trusted: the restart reads almost nothing.
    let d = sb.start();
    let t0 = Instant::now();
    sb.wait_seeding(&names, Duration::from_secs(30));
    let took = t0.elapsed();
    let pid = sb.status()["pid"].as_u64().unwrap();
    let read = rchar(pid);
    eprintln!(
        "restart: seeding {} packages ({} MiB) after {:.2} s, {} KiB read ({:.3}% of the cache)",
        names.len(),
        total / MIB,
        took.as_secs_f64(),
        read / 1024,
        read as f64 * 100.0 / total as f64
    );
    assert!(
        read < total / 50,
        "the restart read {read} bytes of a {total}-byte cache:\n{}",
        d.log()
    );

    // A package rewritten in place (new mtime) is no longer trusted.
    drop(d);
    let p = sb.cache().join(names[0]);
    let f = std::fs::File::options().write(true).open(&p).unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(5))
        .unwrap();
    drop(f);
    let d = sb.start();
    sb.wait_seeding(&names, Duration::from_secs(120));
    let read = rchar(sb.status()["pid"].as_u64().unwrap());
    assert!(
        (1024 * MIB * 9 / 10..2 * 1024 * MIB).contains(&read),
        "a touched package should be checked alone: {read} bytes read\n{}",
        d.log()
    );
}

/// (d) The upload limit of pactor.conf holds within 10% over 20 s, and
/// (f) SIGHUP applies a new one.
#[test]
fn upload_limit_holds_and_sighup_changes_it() {
    if !need(&["aria2c", "opentracker"]) {
        return;
    }
    let limit = 1024 * 1024u64;
    let sb = Sandbox::new("UploadLimit = 1M");
    let name = "limited-1-1-x86_64.pkg.tar.zst";
    let data = content(11, (48 * MIB) as usize);
    std::fs::write(sb.cache().join(name), &data).unwrap();
    let hash = sb.add_torrent(name, None).1;
    let (_tracker, url) = start_tracker(sb.dir(), &[hash]);
    let (torrent, _) = sb.add_torrent(name, Some(&url));
    let daemon = sb.start();
    assert_eq!(sb.status()["upload_limit"], limit);
    sb.wait_seeding(&[name], Duration::from_secs(30));
    assert!(wait_until(Duration::from_secs(30), || tracker_has_seeder(
        &url, hash
    )));
    let (_leecher, _out) = start_leecher(sb.dir(), "limited", &torrent, 30);
    // Let the transfer and the limiter settle, then measure.
    assert!(wait_until(Duration::from_secs(20), || sb.status()
        ["uploaded"]
        .as_u64()
        .unwrap()
        > 2 * MIB));
    sleep(Duration::from_secs(2));
    let (b0, t0) = (sb.status()["uploaded"].as_u64().unwrap(), Instant::now());
    sleep(Duration::from_secs(20));
    let (b1, t1) = (sb.status()["uploaded"].as_u64().unwrap(), Instant::now());
    let rate = (b1 - b0) as f64 / (t1 - t0).as_secs_f64();
    eprintln!(
        "uploaded {} bytes in {:.2} s: {:.0} B/s against a limit of {limit} B/s ({:+.1}%)",
        b1 - b0,
        (t1 - t0).as_secs_f64(),
        rate,
        (rate / limit as f64 - 1.0) * 100.0
    );
    assert!(
        rate <= limit as f64 * 1.10 && rate >= limit as f64 * 0.90,
        "rate {rate:.0} B/s is not within 10% of {limit}\n{}",
        daemon.log()
    );

    // SIGHUP: a bad file keeps the old limit, a good one applies.
    // (The status command reads pactor.conf too: ask for the pid first.)
    let pid = sb.status()["pid"].as_u64().unwrap();
    sb.write_conf("UploadLimit = lots");
    sb.signal_daemon(pid, "HUP");
    sleep(Duration::from_secs(1));
    assert_eq!(sb.status()["upload_limit"], limit);
    assert!(
        daemon.log().contains("error: config file"),
        "{}",
        daemon.log()
    );
    sb.write_conf("UploadLimit = 300K");
    sb.signal_daemon(pid, "HUP");
    assert!(
        wait_until(Duration::from_secs(3), || sb.status()["upload_limit"]
            == 300 * 1024),
        "SIGHUP did not apply the new limit: {}\n{}",
        sb.status(),
        daemon.log()
    );
}

/// Runs a python3 socket client as `nobody`: sends `request` to `socket`
/// and prints the answer, or `ERRNO <name>` if connecting fails.
fn as_nobody(socket: &Path, request: &str) -> String {
    as_nobody_in(&[], socket, request)
}

/// [`as_nobody`] with supplementary groups (`setpriv --groups`).
fn as_nobody_in(groups: &[u32], socket: &Path, request: &str) -> String {
    let script = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except OSError as e:
    import errno
    print("ERRNO", errno.errorcode.get(e.errno, e.errno))
    sys.exit(0)
s.sendall(sys.argv[2].encode() + b"\n")
print(s.makefile().readline().strip())
"#;
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("setpriv");
    let groups = if groups.is_empty() {
        "--clear-groups".to_owned()
    } else {
        let list: Vec<String> = groups.iter().map(u32::to_string).collect();
        format!("--groups={}", list.join(","))
    };
    let o = Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", &groups, "--"])
        .args(["/usr/bin/python3", "-c", script])
        .arg(socket)
        .arg(request)
        .env_clear()
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

/// (e) Only root, the daemon's user and its group command the daemon; the
/// status socket is open to all.
#[test]
fn unprivileged_users_cannot_command_the_daemon() {
    if !is_root() {
        eprintln!("skipped: needs root (to run the daemon as daemon and the client as nobody)");
        return;
    }
    if !need(&["setpriv", "python3"]) {
        return;
    }
    let sb = Sandbox::new("");
    let name = "p-1-1-any.pkg.tar.zst";
    sb.add_package(name, &content(3, 100_000), None);
    let _d = sb.start();
    let control = sb.runtime().join("control.sock");
    let status = sb.runtime().join("status.sock");
    let mode = std::fs::metadata(&control).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660, "control.sock mode");
    let seed = format!(
        r#"{{"op":"seed","files":[{{"path":"{}","trusted":true}}]}}"#,
        sb.cache().join(name).display()
    );
    // The file mode keeps nobody out.
    assert_eq!(as_nobody(&control, &seed), "ERRNO EACCES");
    assert_eq!(as_nobody(&control, r#"{"op":"fetch"}"#), "ERRNO EACCES");
    // status.sock answers anyone, but takes no commands.
    let st: Value = serde_json::from_str(&as_nobody(&status, r#"{"op":"status"}"#)).unwrap();
    assert_eq!(st["torrents"], 1);
    let refused: Value = serde_json::from_str(&as_nobody(&status, &seed)).unwrap();
    assert!(refused["error"].as_str().unwrap().contains("control.sock"));
    // Opened up, the socket still checks who is calling (SO_PEERCRED).
    std::fs::set_permissions(&control, std::fs::Permissions::from_mode(0o666)).unwrap();
    for req in [seed.as_str(), r#"{"op":"fetch","items":[]}"#] {
        let a: Value = serde_json::from_str(&as_nobody(&control, req)).unwrap();
        assert_eq!(a["error"], "permission denied", "{req}");
    }
    // A member of the daemon's group may (nobody with `daemon` as a
    // supplementary group: the SO_PEERCRED check reads /proc/PID/status).
    let daemon_gid = nix::unistd::Group::from_name("daemon")
        .unwrap()
        .unwrap()
        .gid
        .as_raw();
    let a: Value = serde_json::from_str(&as_nobody_in(&[daemon_gid], &control, &seed)).unwrap();
    assert_eq!(a["ok"], true, "{a}");
    std::fs::set_permissions(&control, std::fs::Permissions::from_mode(0o660)).unwrap();
    let a: Value = serde_json::from_str(&as_nobody_in(&[daemon_gid], &control, &seed)).unwrap();
    assert_eq!(a["ok"], true, "through the 0660 socket: {a}");
    // Root may.
    let o = sb.run(&["seed", "--trusted", sb.cache().join(name).to_str().unwrap()]);
    assert!(o.status.success(), "{o:?}");
    // And nobody may ask for the status through the command too.
    let o = sb.run(&["status"]);
    assert!(o.status.success(), "{o:?}");
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("Torrents seeded   : 1"), "{text}");
    assert!(text.contains(name), "{text}");
}

/// (f) Bad settings are pacman-style errors with exit 1; (g) a second
/// instance is refused; status without a daemon says so; root without
/// --user is refused.
#[test]
fn errors_are_pacman_style_and_a_second_instance_is_refused() {
    let sb = Sandbox::new("MaxTorrents = many");
    let o = sb.run(&["run"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err,
        format!(
            "error: config file {}, line 10: invalid number 'many' for MaxTorrents\n",
            sb.dir().join("pactor.conf").display()
        )
    );
    sb.write_conf("Schedule = Mon-Fri 08:00-18:00 256K\nBogus = 1");
    let o = sb.run(&["status"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("line 11: directive 'Bogus' in section 'seed' not recognized"));

    sb.write_conf("");
    let o = sb.run(&["status"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "error: pactor-seed is not running (no socket at {})\n",
            sb.runtime().join("status.sock").display()
        )
    );
    if is_root() {
        let o = sb.run(&["run"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&o.stderr)
            .starts_with("error: pactor-seed does not run as root"));
    }
    let mut d = sb.start();
    let pid = sb.status()["pid"].as_u64().unwrap();
    let mut second = vec!["run"];
    if is_root() {
        second.extend(["--user", "daemon"]);
    }
    let o = sb.run(&second);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!("error: pactor-seed is already running (pid {pid})\n")
    );
    // SIGTERM: a clean stop, sockets removed, statistics written.
    sb.signal_daemon(pid, "TERM");
    let status = d.wait(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        d.log()
    );
    assert!(!sb.runtime().join("control.sock").exists());
    assert!(!sb.runtime().join("status.sock").exists());
    assert!(sb.state().join("stats.json").exists());
}

/// The unit file is valid for systemd (when systemd-analyze is there).
#[test]
fn systemd_unit_verifies() {
    if !need(&["systemd-analyze"]) {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let unit = std::fs::read_to_string(root.join("etc/systemd/pactor-seed.service")).unwrap();
    for want in [
        "User=pactor-seed",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "StateDirectory=pactor-seed",
        "RuntimeDirectory=pactor-seed",
    ] {
        assert!(unit.contains(want), "the unit lacks {want:?}");
    }
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("pactor-seed.service");
    std::fs::write(&path, unit.replace("/usr/bin/pactor-seed", BIN)).unwrap();
    let o = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    let problems: Vec<&str> = err
        .lines()
        .filter(|l| !l.contains("Failed to open") && !l.trim().is_empty())
        .collect();
    assert!(
        o.status.success() && problems.is_empty(),
        "systemd-analyze verify: {o:?}"
    );
}

/// `MaxTorrents` seeds the newest packages only; `ShareRatio` stops a
/// package once it uploaded its share (checked on the next scan, which a
/// change in the cache starts at once).
#[test]
fn max_torrents_and_share_ratio_are_enforced() {
    if !need(&["aria2c", "opentracker"]) {
        return;
    }
    let sb = Sandbox::new("MaxTorrents = 1\nShareRatio = 1");
    let (old, new) = ("old-1-1-any.pkg.tar.zst", "new-1-1-any.pkg.tar.zst");
    let data = content(21, (3 * MIB + 99) as usize);
    std::fs::write(sb.cache().join(old), content(20, 200_000)).unwrap();
    let f = std::fs::File::options()
        .write(true)
        .open(sb.cache().join(old))
        .unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    drop(f);
    sb.add_torrent(old, None);
    std::fs::write(sb.cache().join(new), &data).unwrap();
    let hash = sb.add_torrent(new, None).1;
    let (_tracker, url) = start_tracker(sb.dir(), &[hash]);
    let (torrent, _) = sb.add_torrent(new, Some(&url));
    let daemon = sb.start();
    sb.wait_seeding(&[new], Duration::from_secs(30));
    assert_eq!(
        sb.states(),
        vec![(new.to_owned(), "seeding".to_owned())],
        "MaxTorrents = 1 seeds the newest package only"
    );
    assert!(wait_until(Duration::from_secs(30), || tracker_has_seeder(
        &url, hash
    )));
    let (mut leecher, out) = start_leecher(sb.dir(), "ratio", &torrent, 20);
    leecher.wait(Duration::from_secs(60));
    assert_eq!(std::fs::read(out.join(new)).unwrap_or_default(), data);
    // Any change in the cache starts a scan: `new` reached ratio 1, so the
    // one slot goes to `old`.
    std::fs::write(sb.cache().join("unrelated.txt"), b"x").unwrap();
    let moved = wait_until(Duration::from_secs(5), || {
        sb.states() == vec![(old.to_owned(), "seeding".to_owned())]
    });
    assert!(moved, "after ratio 1: {:?}\n{}", sb.status(), daemon.log());
}

/// A sync db by hand: libalpm reads a plain tar of `<name>-<ver>/desc`.
fn write_sync_db(dbpath: &Path, repo: &str, pkgs: &[(&str, &str, u64, String)]) {
    let work = dbpath.join(format!("{repo}.work"));
    for (name, filename, size, sha) in pkgs {
        let d = work.join(format!("{name}-1-1"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("desc"),
            format!(
                "%FILENAME%\n{filename}\n\n%NAME%\n{name}\n\n%VERSION%\n1-1\n\n%CSIZE%\n{size}\n\n%SHA256SUM%\n{sha}\n\n%ARCH%\nany\n\n"
            ),
        )
        .unwrap();
    }
    let sync = dbpath.join("sync");
    std::fs::create_dir_all(&sync).unwrap();
    let ok = Command::new("tar")
        .arg("-cf")
        .arg(sync.join(format!("{repo}.db")))
        .arg("-C")
        .arg(&work)
        .args(pkgs.iter().map(|(name, ..)| format!("{name}-1-1")))
        .status()
        .unwrap();
    assert!(ok.success());
}

fn sha256_hex(path: &Path) -> String {
    let o = Command::new("sha256sum").arg(path).output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// A cached package pactor holds no torrent for gets one from its
/// repository's mirror (`<Server>/<file>.torrent`) when the sync db vouches
/// for the cached file; one whose bytes differ from the db is not seeded,
/// and one the db does not list is not looked up.
#[test]
fn torrents_are_looked_up_for_packages_the_sync_db_vouches_for() {
    if !need(&["python3", "tar", "sha256sum"]) {
        return;
    }
    let sb = Sandbox::new("");
    let www = sb.dir().join("www/core");
    std::fs::create_dir_all(&www).unwrap();
    let (found, lying, nodb) = (
        "found-1-1-any.pkg.tar.zst",
        "lying-1-1-any.pkg.tar.zst",
        "nodb-1-1-any.pkg.tar.zst",
    );
    let mut db = Vec::new();
    for (i, name) in [found, lying, nodb].iter().enumerate() {
        let path = sb.cache().join(name);
        std::fs::write(&path, content(40 + i as u64, 700_000)).unwrap();
        let meta = Metainfo::new(info_for_file(&path, name).unwrap());
        std::fs::write(www.join(format!("{name}.torrent")), meta.to_bytes()).unwrap();
        db.push((
            name.split('-').next().unwrap(),
            *name,
            700_000,
            sha256_hex(&path),
        ));
    }
    db.pop(); // nodb is not in the db
              // The cached copy of `lying` is not what the db lists.
    std::fs::write(sb.cache().join(lying), content(99, 700_000)).unwrap();
    write_sync_db(&sb.dir().join("db"), "core", &db);
    let port = free_port();
    let mut cmd = Command::new("timeout");
    cmd.args([LIFETIME_SECS, "/usr/bin/python3", "-m", "http.server"])
        .arg(port.to_string())
        .args(["--bind", "127.0.0.1", "--directory"])
        .arg(sb.dir().join("www"));
    let http = Program::start(&mut cmd, "http.server", sb.dir().join("http.log"));
    let pacman_conf = sb.dir().join("pacman.conf");
    let mut text = std::fs::read_to_string(&pacman_conf).unwrap();
    text.push_str(&format!(
        "\n[core]\nServer = http://127.0.0.1:{port}/core\n"
    ));
    std::fs::write(&pacman_conf, text).unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    }));

    let daemon = sb.start();
    sb.wait_seeding(&[found], Duration::from_secs(30));
    sleep(Duration::from_secs(1));
    assert_eq!(
        sb.states(),
        vec![(found.to_owned(), "seeding".to_owned())],
        "{}",
        daemon.log()
    );
    assert!(sb
        .state()
        .join(format!("torrents/{found}.torrent"))
        .is_file());
    assert!(!sb
        .state()
        .join(format!("torrents/{lying}.torrent"))
        .exists());
    drop(daemon);
    let ledger = std::fs::read_to_string(sb.state().join("trusted.json")).unwrap();
    assert!(
        ledger.contains(found) && !ledger.contains(lying),
        "{ledger}"
    );
    let requests = http.log();
    assert!(
        requests.contains(&format!("GET /core/{found}.torrent")),
        "{requests}"
    );
    assert!(!requests.contains(nodb), "{requests}");
}

/// A `Schedule` window holding now sets the limit in force; outside every
/// window `UploadLimit` applies.
#[test]
fn schedule_window_sets_the_upload_limit() {
    let sb = Sandbox::new("UploadLimit = 1M\nSchedule = * 00:00-24:00 300K");
    let d = sb.start();
    assert_eq!(sb.status()["upload_limit"], 300 * 1024, "{}", d.log());
    drop(d);
    // A window of tomorrow only (tm_wday counts from Sunday, the list from
    // Monday: index tm_wday is the day after).
    // SAFETY: time(NULL) and localtime_r with valid pointers.
    let t = unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        tm
    };
    let tomorrow = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][t.tm_wday as usize];
    sb.write_conf(&format!(
        "UploadLimit = 1M\nSchedule = {tomorrow} 00:00-24:00 300K"
    ));
    let d = sb.start();
    assert_eq!(sb.status()["upload_limit"], 1024 * 1024, "{}", d.log());
}
