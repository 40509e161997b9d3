//! Seeding complete files with `Swarm::seed`, as `pactor-seed` does: from a
//! read-only cache directory, with librqbit's fastresume trusting files the
//! caller vouches for, to real leechers (`aria2c`) found through a real
//! tracker (`opentracker`) on 127.0.0.1. No mirror anywhere.
//!
//! Every external program runs under `timeout(1)` and is stopped by PID at
//! the end. Without them (`apt-get install aria2 opentracker`) the tests that
//! need them say "skipped" and pass.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use pactor_fetch::swarm::{Seed, SeedItem, SeedState, Swarm, SwarmOptions};
use pactor_fetch::torrent::{info_for_file, InfoHash, Metainfo};
use support::programs::{free_port, have, seeder_announced, start_tracker, Program};
use support::{content, loopback_swarm, sha256, within};

const MIB: u64 = 1024 * 1024;

/// A session that talks only on 127.0.0.1: no DHT, no LSD.
fn options(state: &Path, resume: Option<PathBuf>) -> SwarmOptions {
    SwarmOptions {
        resume_dir: resume,
        ..loopback_swarm(state)
    }
}

/// The torrent pactor-mktorrent makes for the file at `path`, announcing to
/// `tracker` if given.
fn torrent_for(path: &Path, tracker: Option<&str>) -> (Vec<u8>, InfoHash) {
    let name = path.file_name().unwrap().to_str().unwrap();
    let mut meta = Metainfo::new(info_for_file(path, name).unwrap());
    meta.announce = tracker.map(|t| format!("{t}/announce"));
    (meta.to_bytes(), meta.info_hash())
}

/// What must not change while a file is seeded.
#[derive(Debug, PartialEq)]
struct Untouched {
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
    sha256: [u8; 32],
}

fn untouched(path: &Path) -> Untouched {
    let m = std::fs::metadata(path).unwrap();
    Untouched {
        size: m.len(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
        sha256: sha256(&std::fs::read(path).unwrap()),
    }
}

/// Access modes (`O_RDONLY` 0, `O_WRONLY` 1, `O_RDWR` 2) of this process's
/// open descriptors of `path`.
fn open_modes(path: &Path) -> Vec<u32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/fd").unwrap().flatten() {
        if std::fs::read_link(e.path()).ok().as_deref() != Some(path) {
            continue;
        }
        let info = std::fs::read_to_string(Path::new("/proc/self/fdinfo").join(e.file_name()))
            .unwrap_or_default();
        let flags = info
            .lines()
            .find_map(|l| l.strip_prefix("flags:"))
            .map(|f| u32::from_str_radix(f.trim(), 8).unwrap())
            .unwrap();
        out.push(flags & 0o3);
    }
    out
}

/// Makes `dir` and the files in it read-only; undone on drop so that the
/// temporary directory can go.
struct ReadOnlyDir(PathBuf);

impl ReadOnlyDir {
    fn new(dir: &Path) -> ReadOnlyDir {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(0o444)).unwrap();
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        ReadOnlyDir(dir.to_owned())
    }
}

impl Drop for ReadOnlyDir {
    fn drop(&mut self) {
        let _ = std::fs::set_permissions(&self.0, std::fs::Permissions::from_mode(0o755));
    }
}

/// Bytes this process has read through read(2)-like calls so far.
fn rchar() -> u64 {
    std::fs::read_to_string("/proc/self/io")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("rchar:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

async fn ready(seeds: &[Seed]) {
    for s in seeds {
        within(Duration::from_secs(120), s.wait_ready())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", s.filename()));
    }
}

/// A sparse file of `len` bytes with a few MiB of pseudo-random data at its
/// start, middle and end, so that its pieces are not all alike.
fn sparse_file(path: &Path, len: u64, seed: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::create(path).unwrap();
    f.set_len(len).unwrap();
    for (i, at) in [0, len / 2, len - MIB].into_iter().enumerate() {
        f.write_all_at(&content(seed * 10 + i as u64, MIB as usize), at)
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_over_a_large_cache_reads_almost_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let resume = tmp.path().join("resume");
    std::fs::create_dir(&cache).unwrap();
    // 2.5 GiB of trusted packages (sparse: what is measured is what the
    // seeder reads, not what the disk holds), one untrusted package of
    // real data, and one that is corrupt in its first piece but claimed
    // to be trusted.
    let trusted_sizes = [1024 * MIB, 1024 * MIB, 384 * MIB + 12345, 128 * MIB + 7];
    let mut trusted = Vec::new();
    for (i, len) in trusted_sizes.iter().enumerate() {
        let p = cache.join(format!("big{i}-1.0-1-x86_64.pkg.tar.zst"));
        sparse_file(&p, *len, i as u64 + 1);
        trusted.push(p);
    }
    let untrusted = cache.join("plain-1.0-1-x86_64.pkg.tar.zst");
    std::fs::write(&untrusted, content(77, (96 * MIB + 3) as usize)).unwrap();
    let corrupt = cache.join("corrupt-1.0-1-x86_64.pkg.tar.zst");
    std::fs::write(&corrupt, content(78, (16 * MIB) as usize)).unwrap();

    let t0 = Instant::now();
    let torrents: Vec<Vec<u8>> = trusted.iter().map(|p| torrent_for(p, None).0).collect();
    let untrusted_torrent = torrent_for(&untrusted, None).0;
    let corrupt_torrent = torrent_for(&corrupt, None).0;
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&corrupt)
            .unwrap();
        f.write_all_at(b"not what the torrent says", 100).unwrap();
    }
    eprintln!("torrents made in {:?}", t0.elapsed());
    let trusted_bytes: u64 = trusted_sizes.iter().sum();
    let untrusted_bytes = std::fs::metadata(&untrusted).unwrap().len();
    let _ro = ReadOnlyDir::new(&cache);
    let before: Vec<Untouched> = trusted
        .iter()
        .chain([&untrusted, &corrupt])
        .map(|p| untouched(p))
        .collect();

    let item = |path: &PathBuf, torrent: &Vec<u8>, trusted: bool| SeedItem {
        path: path.clone(),
        metainfo: torrent.clone(),
        trusted,
    };
    for run in ["first start", "restart"] {
        let rchar0 = rchar();
        let t0 = Instant::now();
        let swarm = Swarm::start(options(tmp.path(), Some(resume.clone())))
            .await
            .unwrap();
        let mut seeds = Vec::new();
        for (p, t) in trusted.iter().zip(&torrents) {
            // On restart this also shows that librqbit did not re-add last
            // run's torrents by itself: it would say "already managed".
            seeds.push(swarm.seed(item(p, t, true)).await.unwrap());
        }
        ready(&seeds).await;
        let twice = swarm
            .seed(item(&trusted[0], &torrents[0], true))
            .await
            .unwrap_err()
            .to_string();
        assert!(twice.contains("already in the session"), "{twice}");
        let plain = swarm
            .seed(item(&untrusted, &untrusted_torrent, false))
            .await
            .unwrap();
        ready(std::slice::from_ref(&plain)).await;
        let bad = swarm
            .seed(item(&corrupt, &corrupt_torrent, true))
            .await
            .unwrap();
        let err = within(Duration::from_secs(60), bad.wait_ready())
            .await
            .unwrap_err()
            .to_string();
        let elapsed = t0.elapsed();

        let read: u64 = seeds.iter().map(|s| s.stats().read).sum();
        let plain_read = plain.stats().read;
        let bad_stats = bad.stats();
        eprintln!(
            "{run}: {} trusted files, {} MiB: read {} KiB ({:.3}%); untrusted {} MiB: read {} KiB; \
             corrupt: read {} KiB, have {} of {}; {:?} in all, rchar delta {} MiB",
            seeds.len(),
            trusted_bytes / MIB,
            read / 1024,
            read as f64 * 100.0 / trusted_bytes as f64,
            untrusted_bytes / MIB,
            plain_read / 1024,
            bad_stats.read / 1024,
            bad_stats.have,
            bad_stats.size,
            elapsed,
            rchar().saturating_sub(rchar0) / MIB,
        );
        for s in &seeds {
            let st = s.stats();
            assert_eq!(st.state, SeedState::Seeding, "{}", s.filename());
            assert_eq!(st.have, st.size, "{}", s.filename());
        }
        assert!(
            read * 50 < trusted_bytes,
            "{run}: read {read} of {trusted_bytes} trusted bytes"
        );
        if run == "first start" {
            // Untrusted: hashed whole, so that a bad file cannot slip by.
            assert!(plain_read >= untrusted_bytes, "{plain_read}");
        } else {
            // librqbit stored the first run's result.
            assert!(plain_read * 10 < untrusted_bytes, "{plain_read}");
        }
        assert_eq!(plain.stats().state, SeedState::Seeding);
        // Trust is spot-checked: the bad first piece is found, the file is
        // hashed whole, and it is not seeded.
        assert!(err.contains("does not match its torrent"), "{err}");
        assert!(matches!(bad_stats.state, SeedState::Error(_)));
        assert!(bad_stats.have < bad_stats.size);
        assert!(bad_stats.read >= bad_stats.size, "{bad_stats:?}");
        for s in seeds.iter().chain([&plain, &bad]) {
            let modes = open_modes(s.path());
            assert!(!modes.is_empty(), "{} is not open", s.filename());
            assert!(
                modes.iter().all(|m| *m == 0),
                "{} opened with modes {modes:?}",
                s.filename()
            );
        }
        swarm.stop().await;
    }
    let after: Vec<Untouched> = trusted
        .iter()
        .chain([&untrusted, &corrupt])
        .map(|p| untouched(p))
        .collect();
    assert_eq!(before, after);
}

/// aria2c leeching `torrent` into `out`, nothing but the tracker to find
/// peers; it exits once it has the file, or after `stall_secs` without data.
fn start_leecher(dir: &Path, tag: &str, torrent: &[u8], stall_secs: u32) -> (Program, PathBuf) {
    let out = dir.join(format!("leech-{tag}"));
    std::fs::create_dir_all(&out).unwrap();
    let torrent_path = dir.join(format!("{tag}.torrent"));
    std::fs::write(&torrent_path, torrent).unwrap();
    let log = dir.join(format!("aria2-{tag}.log"));
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let port = free_port().to_string();
    let p = Program::start(
        "aria2c",
        &[
            "--enable-dht=false",
            "--enable-dht6=false",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--seed-time=0",
            "--listen-port",
            &port,
            "--bt-stop-timeout",
            &stall_secs.to_string(),
            "--file-allocation=none",
            "--allow-overwrite=true",
            "--auto-file-renaming=false",
            "--summary-interval=0",
            "--log-level=info",
            "--log",
            &s(&log),
            "--dir",
            &s(&out),
            &s(&torrent_path),
        ],
        Some(log),
    );
    (p, out)
}

/// A file in a read-only cache directory, its torrent announcing to a
/// local opentracker, and a session seeding it.
struct Fixture {
    tmp: tempfile::TempDir,
    data: bytes::Bytes,
    torrent: Vec<u8>,
    hash: InfoHash,
    tracker_url: String,
    tracker: Program,
    swarm: Swarm,
    seed: Seed,
    ro: ReadOnlyDir,
}

const NAME: &str = "served-3.1-2-x86_64.pkg.tar.zst";

async fn fixture(seed: u64, len: usize) -> Option<Fixture> {
    if !have("aria2c") || !have("opentracker") {
        eprintln!("skipped: aria2c or opentracker is not installed");
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    let data = content(seed, len);
    let path = cache.join(NAME);
    std::fs::write(&path, &data).unwrap();
    let hash = torrent_for(&path, None).1;
    let (tracker, tracker_url) = start_tracker(tmp.path(), &[hash]);
    let torrent = torrent_for(&path, Some(&tracker_url)).0;
    let ro = ReadOnlyDir::new(&cache);
    // opentracker reads its whitelist in the background.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let swarm = Swarm::start(options(tmp.path(), None)).await.unwrap();
    let seed = swarm
        .seed(SeedItem {
            path,
            metainfo: torrent.clone(),
            trusted: true,
        })
        .await
        .unwrap();
    ready(std::slice::from_ref(&seed)).await;
    within(
        Duration::from_secs(30),
        seeder_announced(&tracker_url, hash),
    )
    .await;
    Some(Fixture {
        tmp,
        data,
        torrent,
        hash,
        tracker_url,
        tracker,
        swarm,
        seed,
        ro,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aria2c_downloads_a_seed_until_it_is_unseeded() {
    let Some(f) = fixture(21, (24 * MIB + 777) as usize).await else {
        return;
    };
    let path = f.seed.path().to_owned();
    let before = untouched(&path);
    assert_eq!(open_modes(&path), [0], "opened other than read-only");

    let start = Instant::now();
    let (mut leecher, out) = start_leecher(f.tmp.path(), "one", &f.torrent, 20);
    let status = leecher.wait(Duration::from_secs(60)).await;
    let got = std::fs::read(out.join(NAME)).unwrap_or_default();
    let st = f.seed.stats();
    eprintln!(
        "aria2c got {} bytes in {:?} ({status:?}); seed uploaded {}, read {}, peers now {}; \
         session uploaded {}",
        got.len(),
        start.elapsed(),
        st.uploaded,
        st.read,
        st.peers,
        f.swarm.totals().uploaded,
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "aria2c: {status:?}\n{}",
        leecher.log()
    );
    assert_eq!(sha256(&got), sha256(&f.data));
    let size = f.data.len() as u64;
    assert!(
        st.uploaded >= size && st.uploaded <= size + size / 20,
        "uploaded {} of {size}",
        st.uploaded
    );
    assert!(f.swarm.totals().uploaded >= st.uploaded);
    assert_eq!(st.state, SeedState::Seeding);

    f.swarm.unseed(&f.seed).await.unwrap();
    assert!(matches!(f.seed.stats().state, SeedState::Error(_)));
    let uploaded = f.swarm.totals().uploaded;
    let start = Instant::now();
    let (mut leecher, out) = start_leecher(f.tmp.path(), "two", &f.torrent, 4);
    let status = leecher.wait(Duration::from_secs(30)).await;
    let got = std::fs::read(out.join(NAME)).unwrap_or_default();
    eprintln!(
        "after unseed: aria2c ended in {:?} ({status:?}) with {} bytes on disk, session uploaded {} more",
        start.elapsed(),
        got.len(),
        f.swarm.totals().uploaded - uploaded,
    );
    assert!(!status.is_some_and(|s| s.success()), "{}", leecher.log());
    assert_ne!(sha256(&got), sha256(&f.data));
    assert_eq!(f.swarm.totals().uploaded, uploaded);
    assert_eq!(untouched(&path), before);
    assert!(open_modes(&path).is_empty(), "still open after unseed");

    // Gone from the session: it can be added again.
    let again = f
        .swarm
        .seed(SeedItem {
            path: path.clone(),
            metainfo: f.torrent.clone(),
            trusted: true,
        })
        .await
        .unwrap();
    ready(std::slice::from_ref(&again)).await;
    f.swarm.stop().await;
    drop((f.tracker, f.ro));
    let _ = (f.hash, f.tracker_url);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_limit_set_at_runtime_holds() {
    const LIMIT: u64 = 2 * MIB;
    let Some(f) = fixture(22, (80 * MIB) as usize).await else {
        return;
    };
    f.swarm.set_upload_limit(Some(LIMIT));
    let (_leecher, _out) = start_leecher(f.tmp.path(), "slow", &f.torrent, 20);
    // From the first byte on, skip the bucket's initial burst.
    within(Duration::from_secs(20), async {
        while f.seed.stats().uploaded == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (t0, u0) = (Instant::now(), f.seed.stats().uploaded);
    tokio::time::sleep(Duration::from_secs(18)).await;
    let (t1, u1) = (Instant::now(), f.seed.stats().uploaded);
    let rate = (u1 - u0) as f64 / (t1 - t0).as_secs_f64();
    let totals = f.swarm.totals();
    eprintln!(
        "upload limit {LIMIT} B/s: measured {rate:.0} B/s ({:+.1}%) over {:?}, {} bytes; \
         librqbit's estimate {} B/s, session {totals:?}",
        (rate / LIMIT as f64 - 1.0) * 100.0,
        t1 - t0,
        u1 - u0,
        f.seed.stats().upload_rate,
    );
    assert!(
        (rate - LIMIT as f64).abs() <= LIMIT as f64 * 0.10,
        "{rate} B/s against {LIMIT}"
    );
    assert!(u1 < f.data.len() as u64, "the leecher finished: no limit");
    f.swarm.stop().await;
    drop((f.tracker, f.ro));
}

/// A pacman cache holds thousands of packages: seeding them all, and again
/// after a restart, must not take long (librqbit's JSON store rewrites its
/// whole list on every add).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_packages_start_quickly() {
    const COUNT: usize = 1000;
    let tmp = tempfile::tempdir().unwrap();
    let cache = tmp.path().join("cache");
    let resume = tmp.path().join("resume");
    std::fs::create_dir(&cache).unwrap();
    let mut items = Vec::new();
    for i in 0..COUNT {
        let p = cache.join(format!("pkg{i}-1.0-1-any.pkg.tar.zst"));
        std::fs::write(&p, content(1000 + i as u64, 64 * 1024 + i * 97)).unwrap();
        let torrent = torrent_for(&p, None).0;
        items.push(SeedItem {
            path: p,
            metainfo: torrent,
            trusted: true,
        });
    }
    let _ro = ReadOnlyDir::new(&cache);
    for run in ["first start", "restart"] {
        let t0 = Instant::now();
        let swarm = Swarm::start(options(tmp.path(), Some(resume.clone())))
            .await
            .unwrap();
        let mut seeds = Vec::new();
        for item in &items {
            seeds.push(swarm.seed(item.clone()).await.unwrap());
        }
        let added = t0.elapsed();
        ready(&seeds).await;
        eprintln!(
            "{run}: {COUNT} packages added in {added:?}, all seeding after {:?}",
            t0.elapsed()
        );
        assert!(t0.elapsed() < Duration::from_secs(60), "{:?}", t0.elapsed());
        swarm.stop().await;
    }
}

/// Set for the child run of [`seeds_as_an_unprivileged_user_child`]: the
/// directory holding `cache/` (read-only) and `state/` (the child's own).
const CHILD_ENV: &str = "PACTOR_SEED_TEST_CHILD_DIR";

/// Seeding needs no write access to the cache. Run as `nobody` (when this
/// runs as root, whose `CAP_DAC_OVERRIDE` would write to a `0444` file
/// anyway) or as the user running the tests: librqbit's own storage cannot
/// open the file, `Swarm::seed` seeds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_as_an_unprivileged_user() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let cache = root.join("cache");
    let state = root.join("state");
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    let path = cache.join(NAME);
    std::fs::write(&path, content(31, (3 * MIB + 5) as usize)).unwrap();
    std::fs::write(root.join("torrent"), torrent_for(&path, None).0).unwrap();
    let _ro = ReadOnlyDir::new(&cache);
    let before = untouched(&path);
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let is_root = std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false);
    let mut cmd = if is_root {
        if !have("setpriv") {
            eprintln!("skipped: running as root and setpriv is not installed");
            return;
        }
        let nobody = std::process::Command::new("setpriv")
            .args([
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                "true",
            ])
            .status();
        if !nobody.is_ok_and(|s| s.success()) {
            eprintln!("skipped: running as root and cannot become nobody");
            return;
        }
        std::process::Command::new("chown")
            .args(["nobody:nogroup", state.to_str().unwrap()])
            .status()
            .unwrap();
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(std::env::current_exe().unwrap());
        c
    } else {
        std::process::Command::new(std::env::current_exe().unwrap())
    };
    let out = cmd
        .args([
            "--exact",
            "seeds_as_an_unprivileged_user_child",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_ENV, root)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("child (root: {is_root}):\n{text}");
    assert!(out.status.success(), "child failed");
    assert!(text.contains("1 passed"), "the child test did not run");
    assert!(text.contains("child: seeded"), "{text}");
    assert_eq!(untouched(&path), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the child half of seeds_as_an_unprivileged_user, which runs it"]
async fn seeds_as_an_unprivileged_user_child() {
    let Some(root) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        eprintln!("skipped: only seeds_as_an_unprivileged_user runs this");
        return;
    };
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    let path = root.join("cache").join(NAME);
    let state = root.join("state");
    let torrent = std::fs::read(root.join("torrent")).unwrap();
    // Writing is refused to this user.
    let err = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap_err();
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::PermissionDenied,
        "uid {uid}"
    );

    let swarm = Swarm::start(options(&state, Some(state.join("resume"))))
        .await
        .unwrap();
    // librqbit's own storage, as a download would use it, cannot open it.
    let size = std::fs::metadata(&path).unwrap().len();
    let refused = swarm
        .add(pactor_fetch::swarm::SwarmItem {
            filename: NAME.into(),
            size,
            metainfo: torrent.clone(),
            output_dir: root.join("cache"),
            ..Default::default()
        })
        .await
        .err()
        .expect("librqbit's storage opened a read-only file")
        .to_string();
    eprintln!("child: uid {uid}: librqbit's storage: {refused}");
    assert!(refused.contains("ermission denied"), "{refused}");
    let seed = swarm
        .seed(SeedItem {
            path: path.clone(),
            metainfo: torrent,
            trusted: false,
        })
        .await
        .unwrap();
    within(Duration::from_secs(30), seed.wait_ready())
        .await
        .unwrap();
    let st = seed.stats();
    assert_eq!(st.state, SeedState::Seeding);
    assert_eq!(st.have, size);
    eprintln!("child: seeded as uid {uid}: {st:?}");
    swarm.stop().await;
}
