//! `pactor -Sx` with `pactor-seed` running: the plan goes to the daemon
//! over its control socket, the daemon's session downloads (the mirrors as
//! webseeds), pactor re-verifies and installs, and the new packages are
//! seeded by the daemon at once. And when the daemon is killed midway,
//! pactor warns, finishes with its own engine from the pieces already on
//! disk, and the mirrors serve the packages about once in all.
//!
//! Both run as root (the daemon drops to `nobody`) in a private network
//! namespace, with torrents published beside the packages. Without a daemon
//! nothing changes (every other `-x` test).

use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use crate::support::seed::{write_pactor_conf, SeedDaemon};
use crate::support::*;

/// Root, a private network namespace, and the daemon's user.
fn can_run() -> Result<(), String> {
    netns::isolate_thread()?;
    if nix::unistd::User::from_name("nobody")
        .ok()
        .flatten()
        .is_none()
    {
        return Err("no user nobody for the daemon".into());
    }
    Ok(())
}

/// A root whose pacman.conf names its CacheDir and DBPath, so that the
/// daemon (which reads pacman.conf, not pactor's command line) watches the
/// same cache and finds the torrents pactor keeps beside the database.
fn seeded_root(sb: &Sandbox) -> Root {
    let r = sb.root("pactor");
    let conf = sb.conf_with(
        "pacman-seed.conf",
        &format!(
            "CacheDir = {}/\nDBPath = {}/\n",
            r.cachedir().display(),
            r.dbpath().display()
        ),
    );
    write_pactor_conf(sb.path());
    r.with_conf(conf)
}

fn same_as_repo(sb: &Sandbox, r: &Root, repo: &str, f: &str) -> bool {
    std::fs::read(r.cachedir().join(f)).ok() == std::fs::read(sb.repo_dir(repo).join(f)).ok()
}

/// given pactor-seed running and torrents published, when `pactor -Syx
/// hello`, then the daemon downloads the three packages (its log and its
/// counters say so), pactor installs them, and the daemon seeds them.
#[test]
fn sync_goes_through_the_daemon_and_new_packages_are_seeded() {
    if let Err(why) = can_run() {
        eprintln!("skipped: {why}");
        return;
    }
    let sb = greet_torrent_sandbox(&[Fault::None, Fault::None]);
    let r = seeded_root(&sb);
    let daemon = SeedDaemon::start(&r.conf);
    let files: Vec<String> = greet_set()
        .into_iter()
        .filter(|p| p.name != "hello-doc")
        .map(|p| p.filename())
        .collect();

    let a = r
        .pactor(Mode::Torrent)
        .args(["-Sy", "--noconfirm", "hello"])
        .run();

    a.assert_code(0);
    let log = daemon.log();
    assert!(
        log.contains("handoff from uid 0: fetching 3 file(s)") && log.contains(": done"),
        "pactor-seed did not run the download; its log:\n{log}\n{a}"
    );
    assert!(
        !a.stderr.contains("pactor-seed"),
        "pactor warned about the daemon:\n{a}"
    );
    assert_eq!(
        r.local_summary(),
        [
            "greet-data 1.0-1 dependency",
            "hello 2.0-1 explicit",
            "libgreet 1.1-1 dependency"
        ]
    );
    // The partial directory was handed to the daemon's user.
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap();
    let partial = std::fs::metadata(r.statedir().join("partial")).unwrap();
    assert_eq!(partial.uid(), nobody.uid.as_raw());
    for f in &files {
        assert!(
            same_as_repo(&sb, &r, "demo", f),
            "{f} missing from the cache or different"
        );
        let size = std::fs::metadata(sb.repo_dir("demo").join(f))
            .unwrap()
            .len();
        let got = sb.served(f);
        assert!(
            got >= size && got <= size + size / 4 + 64 * 1024,
            "{f}: mirrors served {got} bytes for a {size}-byte package\n{a}\npactor-seed's log:\n{}",
            daemon.log()
        );
    }
    // Their torrents, fetched by the daemon, are kept as pactor's own.
    for f in &files {
        let kept = r.statedir().join("torrents").join(format!("{f}.torrent"));
        let meta = std::fs::metadata(&kept).unwrap_or_else(|e| panic!("{}: {e}", kept.display()));
        assert_eq!(meta.uid(), 0, "{} is not root's", kept.display());
        assert_eq!(meta.mode() & 0o777, 0o644, "{}", kept.display());
    }
    // The daemon's session received them, and seeds them now.
    let seeding = |s: &serde_json::Value| {
        files.iter().all(|f| {
            s["packages"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["filename"] == f.as_str() && p["state"] == "seeding")
            })
        })
    };
    let status = daemon.wait_status(Duration::from_secs(20), seeding);
    assert!(
        seeding(&status),
        "pactor-seed does not seed the new packages: {status:#}\nits log:\n{}",
        daemon.log()
    );
    assert!(
        status["downloaded"].as_u64().unwrap_or(0) > 0,
        "the daemon's session received nothing: {status:#}"
    );
}

/// given pactor-seed running and two slow mirrors, when the daemon is
/// killed (SIGKILL) while it downloads for `pactor -Syx`, then pactor warns,
/// finishes with its own engine, installs both packages, and the mirrors
/// serve little more than the packages' size in all: the pieces the daemon
/// wrote were kept.
#[test]
fn daemon_killed_mid_download_pactor_finishes_from_its_pieces() {
    if let Err(why) = can_run() {
        eprintln!("skipped: {why}");
        return;
    }
    let slow = Fault::Slow {
        bytes_per_sec: 96 * 1024,
    };
    let sb = Sandbox::builder()
        .mirrors(&[slow, slow])
        .repo("big", &big_set())
        .torrents()
        .build();
    let r = seeded_root(&sb);
    let mut daemon = SeedDaemon::start(&r.conf);
    let files = big_files();
    let total = big_bytes(&sb);
    let mut pactor = spawn_big(&r, "-Syx");
    let deadline = Instant::now() + Duration::from_secs(60);
    while (r.written() as f64) < 0.3 * total as f64 {
        assert!(
            Instant::now() < deadline,
            "only {} of {total} bytes written in 60 s; pactor-seed's log:\n{}",
            r.written(),
            daemon.log()
        );
        assert!(
            pactor.try_wait().unwrap().is_none(),
            "pactor finished before the daemon could be killed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = daemon.log();
    assert!(
        log.contains("handoff from uid 0: fetching"),
        "the download is not the daemon's; its log:\n{log}"
    );
    let kept = r.written();
    daemon.kill_hard();
    let served_at_kill = sb.served(".pkg.tar.zst");

    let deadline = Instant::now() + Duration::from_secs(120);
    while pactor.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = pactor.kill();
            panic!("pactor did not finish within 120 s of the daemon's death");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = pactor.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "pactor failed after the daemon died:\n{stdout}{stderr}"
    );
    assert!(
        stderr.contains("warning: pactor-seed stopped during the download; continuing without it"),
        "no warning about the daemon's death:\n{stderr}"
    );
    assert_eq!(
        r.local_summary(),
        ["bigone 1.0-1 explicit", "bigtwo 1.0-1 explicit"]
    );
    for f in &files {
        assert!(
            same_as_repo(&sb, &r, "big", f),
            "{f} missing from the cache or different"
        );
    }
    let served = sb.served(".pkg.tar.zst");
    eprintln!(
        "packages {total} bytes; {kept} written when the daemon was killed, mirrors had \
         served {served_at_kill}; {served} served in all ({:.3} copies)",
        served as f64 / total as f64
    );
    assert!(
        served <= total + total / 4,
        "the mirrors served {served} bytes for {total} bytes of packages: the pieces \
         the daemon wrote were fetched again"
    );
}

/// given pactor-seed running and two slow mirrors, when `pactor -Sywx` is
/// interrupted (SIGINT to its process group, as Ctrl-C) while the daemon
/// downloads for it, then the daemon drops that download (and stops
/// fetching) but keeps running, and the same command again finishes through
/// the daemon from the pieces on disk: the mirrors serve about one copy.
#[test]
fn interrupted_pactor_leaves_the_daemon_which_resumes_next_time() {
    if let Err(why) = can_run() {
        eprintln!("skipped: {why}");
        return;
    }
    let slow = Fault::Slow {
        bytes_per_sec: 96 * 1024,
    };
    let sb = Sandbox::builder()
        .mirrors(&[slow, slow])
        .repo("big", &big_set())
        .torrents()
        .build();
    let r = seeded_root(&sb);
    let daemon = SeedDaemon::start(&r.conf);
    let files = big_files();
    let total = big_bytes(&sb);
    let mut pactor = spawn_big(&r, "-Sywx");
    let deadline = Instant::now() + Duration::from_secs(60);
    while (r.written() as f64) < 0.3 * total as f64 {
        assert!(
            Instant::now() < deadline,
            "only {} of {total} bytes written in 60 s; pactor-seed's log:\n{}",
            r.written(),
            daemon.log()
        );
        assert!(
            pactor.try_wait().unwrap().is_none(),
            "pactor finished before it could be interrupted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pgid = nix::unistd::Pid::from_raw(pactor.id() as i32);
    nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while pactor.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = pactor.kill();
            panic!("pactor did not stop within 20 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = pactor.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(out.status.code(), Some(0), "an interrupted run succeeded");
    assert!(
        stderr.contains("Interrupt signal received"),
        "no pacman-style interrupt message:\n{stderr}"
    );

    // The daemon noticed and stopped fetching for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !daemon.log().contains("client left, download dropped") {
        assert!(
            Instant::now() < deadline,
            "pactor-seed did not drop the download; its log:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let dropped_at = sb.served(".pkg.tar.zst");
    std::thread::sleep(Duration::from_secs(2));
    let later = sb.served(".pkg.tar.zst");
    assert!(
        later - dropped_at < 256 * 1024,
        "the daemon went on downloading after pactor left: {dropped_at} then {later} bytes served"
    );
    let status = daemon.status();
    assert!(status["pid"].as_u64().is_some(), "{status:#}");

    let again = r
        .pactor(Mode::Torrent)
        .args(["-Sw", "--noconfirm", "bigone", "bigtwo"])
        .run();
    again.assert_code(0);
    assert_eq!(
        daemon.log().matches("handoff from uid 0: fetching").count(),
        2,
        "the second run did not go through the daemon; its log:\n{}",
        daemon.log()
    );
    for f in &files {
        assert!(
            same_as_repo(&sb, &r, "big", f),
            "{f} missing from the cache or different\n{again}"
        );
    }
    let served = sb.served(".pkg.tar.zst");
    eprintln!(
        "packages {total} bytes; {dropped_at} served when the daemon dropped the download, \
         {served} in all ({:.3} copies)",
        served as f64 / total as f64
    );
    assert!(
        served <= total + total / 10,
        "the mirrors served {served} bytes for {total} bytes of packages"
    );
}
