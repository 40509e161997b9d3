//! Ctrl-C in the middle of `pactor -Sxw`, then the same command again: the
//! first run stops the way pacman does, leaves no partial file in the cache
//! and keeps what it verified; the second run finishes and fetches only what
//! was missing (the mirrors serve the packages about once in total).
//!
//! Two paths: segmented HTTP (no torrents published) and the swarm with the
//! mirrors as webseeds (torrents published; in a private network namespace).

use std::time::{Duration, Instant};

use crate::support::*;

fn big_sandbox(torrents: bool) -> Sandbox {
    let pkgs = big_set();
    let slow = Fault::Slow {
        bytes_per_sec: 96 * 1024,
    };
    let b = Sandbox::builder().mirrors(&[slow, slow]).repo("big", &pkgs);
    if torrents {
        b.torrents().build()
    } else {
        b.build()
    }
}

fn served(sb: &Sandbox) -> u64 {
    sb.served(".pkg.tar.zst")
}

/// [`served`] once the mirrors' books are closed
/// ([`Sandbox::served_in_the_end`]).
fn served_in_the_end(sb: &Sandbox) -> u64 {
    sb.served_in_the_end(".pkg.tar.zst")
}

/// Who gets the SIGINT.
#[derive(Clone, Copy, PartialEq)]
enum Target {
    /// pactor's process group, as a terminal's Ctrl-C (the download process
    /// as root is a child of pactor, in that group).
    Group,
    /// pactor alone, as `kill -INT <pid>`: pactor must pass it on.
    Pactor,
}

/// Runs `pactor -Sywx bigone bigtwo` in a process group of its own and, once
/// it has written `fraction` of the packages' bytes, sends SIGINT to
/// `target`. Returns (exit code, stderr).
fn run_interrupted(r: &Root, sb: &Sandbox, fraction: f64, target: Target) -> (i32, String) {
    let total = big_bytes(sb) as f64;
    let mut child = spawn_big(r, "-Sywx");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let deadline = Instant::now() + Duration::from_secs(60);
    while (r.written() as f64) < fraction * total {
        assert!(
            Instant::now() < deadline,
            "pactor wrote only {} of {total} bytes in 60 s",
            r.written()
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "pactor finished before it could be interrupted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    match target {
        Target::Group => nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGINT),
        Target::Pactor => nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT),
    }
    .unwrap();
    let out = stopped_after_sigint(child);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Waits for `child`, just sent a SIGINT, to end (at most 20 s; then it is
/// killed and the test fails), and returns its output.
fn stopped_after_sigint(mut child: std::process::Child) -> std::process::Output {
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("pactor did not stop within 20 s of SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

fn interrupt_then_resume(torrents: bool, target: Target) {
    let sb = big_sandbox(torrents);
    let r = sb.root("pactor");
    let total = big_bytes(&sb);

    let (code, stderr) = run_interrupted(&r, &sb, 0.3, target);
    assert_ne!(
        code, 0,
        "an interrupted download must not succeed:\n{stderr}"
    );
    assert!(
        stderr.contains("Interrupt signal received"),
        "no pacman-style interrupt message:\n{stderr}"
    );
    let before = served(&sb);
    let kept = r.written();
    assert!(kept > 0, "nothing of the interrupted download was kept");
    assert!(
        kept < total,
        "the download went on to the end after the interrupt ({kept} of {total} bytes)"
    );
    // Nothing unfinished in the cache, and whatever is there is complete.
    for f in r.cached() {
        assert!(!f.ends_with(".part"), "partial file {f} left in the cache");
        if f.ends_with(".pkg.tar.zst") {
            let cached = std::fs::read(r.cachedir().join(&f)).unwrap();
            assert_eq!(
                cached,
                std::fs::read(sb.repo_dir("big").join(&f)).unwrap(),
                "{f} in the cache differs from the repository's"
            );
        }
    }

    download_big(&sb, &r, "after the second run");
    let after = served_in_the_end(&sb);
    eprintln!(
        "packages {total} bytes; {kept} kept after the interrupt; mirrors served {before} \
         before it, {after} in all ({:.3} copies)",
        after as f64 / total as f64
    );
    // The resumed run needs only what the first did not finish: at most a
    // tenth of the packages' size is fetched twice.
    assert!(
        after <= total + total / 10,
        "the mirrors served {after} bytes for {total} bytes of packages \
         ({before} before the interrupt): the second run fetched too much again"
    );
}

/// Segmented HTTP from both mirrors (no torrents published).
#[test]
fn interrupted_http_download_resumes() {
    interrupt_then_resume(false, Target::Group);
}

/// SIGINT to pactor alone (not its group): as root the download runs in a
/// child, which must stop too instead of finishing the download.
#[test]
fn sigint_to_pactor_alone_stops_the_download() {
    interrupt_then_resume(false, Target::Pactor);
}

/// Given a small package beside two big ones on slow mirrors, when
/// `-Swx` runs, then the small one is in the cache, complete, while the big
/// ones still download (each file is moved there as soon as it is
/// verified), and a Ctrl-C then leaves it there.
#[test]
fn a_verified_package_is_cached_at_once_and_kept_after_ctrl_c() {
    let mut pkgs = big_set();
    let tiny = Pkg::new("tiny", "1.0-1").file("usr/share/tiny/note.txt", "small");
    let tiny_file = tiny.filename();
    pkgs.push(tiny);
    let slow = Fault::Slow {
        bytes_per_sec: 96 * 1024,
    };
    let sb = Sandbox::builder()
        .mirrors(&[slow, slow])
        .repo("big", &pkgs)
        .build();
    let r = sb.root("pactor");
    let mut child = spawn_pactor(&r, "-Sywx", &["bigone", "bigtwo", "tiny"]);
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let cached = r.cachedir().join(&tiny_file);
    let want = std::fs::read(sb.repo_dir("big").join(&tiny_file)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::read(&cached).ok().as_ref() != Some(&want) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "pactor ended before {tiny_file} was seen in the cache"
        );
        assert!(
            Instant::now() < deadline,
            "{tiny_file} not in the cache 30 s into the download"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        r.written() < big_bytes(&sb),
        "the big packages were done by then"
    );
    nix::sys::signal::killpg(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let out = stopped_after_sigint(child);
    assert_ne!(
        out.status.code(),
        Some(0),
        "an interrupted download must not succeed"
    );
    assert_eq!(
        std::fs::read(&cached).ok(),
        Some(want),
        "{tiny_file} left the cache"
    );
    for f in r.cached() {
        assert!(!f.ends_with(".part"), "partial file {f} left in the cache");
        assert!(!big_files().contains(&f), "{f} in the cache, unfinished");
    }
}

/// Given a download in progress as root, when pactor itself is killed
/// (SIGKILL, as a caller's timeout does), then its download process stops
/// too instead of downloading on, orphaned, holding pactor's pipes. (Not
/// root: there is no such process.)
#[test]
fn the_download_process_ends_with_pactor() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // The orphan becomes this process's child, to be reaped and seen gone.
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    // Slow enough that the download alone would take minutes.
    let slow = Fault::Slow {
        bytes_per_sec: 8 * 1024,
    };
    let sb = Sandbox::builder()
        .mirrors(&[slow, slow])
        .repo("big", &big_set())
        .build();
    let r = sb.root("pactor");
    let mut child = spawn_big(&r, "-Sywx");
    let deadline = Instant::now() + Duration::from_secs(60);
    let kids = loop {
        let kids = children_of(child.id());
        if r.written() > 0 && !kids.is_empty() {
            break kids;
        }
        assert!(
            Instant::now() < deadline,
            "no download 60 s after the start"
        );
        assert!(child.try_wait().unwrap().is_none(), "pactor ended too soon");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    for (kid, _) in kids {
        loop {
            match nix::sys::wait::waitpid(kid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
                Ok(nix::sys::wait::WaitStatus::StillAlive) => {}
                Ok(_) => break,
                // Not ours: reaped by pactor before it died, or never here.
                Err(_) if !std::path::Path::new(&format!("/proc/{kid}")).exists() => break,
                Err(e) => panic!("cannot wait for the download process {kid}: {e}"),
            }
            assert!(
                Instant::now() < deadline,
                "the download process {kid} still runs 20 s after pactor was killed"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The swarm with the mirrors as webseeds; run in a private network
/// namespace so nothing can leave the machine.
#[test]
fn interrupted_swarm_download_resumes() {
    if let Err(why) = netns::isolate_thread() {
        eprintln!("skipped: {why}");
        return;
    }
    interrupt_then_resume(true, Target::Group);
}
