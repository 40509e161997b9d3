//! Failures with pacman's words and exit codes: a held database lock, a
//! broken pacman.conf, an unknown option, a missing target, no reachable
//! mirror. Each runs plain and with `-x`, compared with the reference pacman;
//! a full disk under `-x`'s download directory with `-x` alone.

use crate::support::*;

both_modes!(
    db_lock_held,
    broken_config,
    missing_pactor_conf,
    unknown_option,
    target_not_found,
    every_mirror_dead
);

fn greet_sandbox(mirrors: &[Fault]) -> Sandbox {
    Sandbox::builder()
        .mirrors(mirrors)
        .repo("demo", &greet_set())
        .build()
}

/// given another instance holds `$dbpath/db.lck`, when `-S hello`, then exit
/// 1 with "unable to lock database", and the lock stays.
fn db_lock_held(mode: Mode) {
    let sb = greet_sandbox(&[Fault::None]);
    let lock = |r: &Root| {
        r.given_synced();
        std::fs::write(r.dbpath().join("db.lck"), b"").unwrap();
    };
    let (ra, a, _rb, _b) = side_by_side(&sb, mode, lock, &["-S", "--noconfirm", "hello"], "");
    a.assert_code(1);
    a.assert_lines(&["error: failed to init transaction (unable to lock database)"]);
    a.assert_contains("db.lck");
    assert!(
        ra.dbpath().join("db.lck").exists(),
        "the other instance's lock was removed"
    );
    assert!(ra.local().is_empty());
}

/// given a pacman.conf with a directive outside any section, when `-S hello`,
/// then exit 1 with pacman's config error naming file and line.
fn broken_config(mode: Mode) {
    let sb = greet_sandbox(&[Fault::None]);
    let bad = sb.path().join("broken.conf");
    std::fs::write(&bad, "Architecture = auto\n[options]\nSigLevel = Never\n").unwrap();
    let (ra, rb) = (
        sb.root("pactor").with_conf(bad.clone()),
        sb.root("pacman").with_conf(bad),
    );
    let b = rb.pacman().args(["-S", "--noconfirm", "hello"]).run();
    let a = ra.pactor(mode).args(["-S", "--noconfirm", "hello"]).run();
    assert_parity(mode, &ra, &a, &rb, &b);
    a.assert_code(1);
    a.assert_lines(&[
        "error: config file [SB]/broken.conf, line 1: All directives must belong to a section.",
    ]);
}

/// given `--pactor-config` naming a file that does not exist, when `-S
/// hello`, then exit 1 with the file and the system's words, and nothing
/// installed.
fn missing_pactor_conf(mode: Mode) {
    let sb = greet_sandbox(&[Fault::None]);
    let ra = sb.root("pactor");
    ra.given_synced();
    let missing = sb.path().join("nosuch.conf");
    let a = ra
        .pactor(mode)
        .args([
            "--pactor-config",
            missing.to_str().unwrap(),
            "-S",
            "--noconfirm",
            "hello",
        ])
        .run();
    a.assert_code(1);
    a.assert_lines(&[
        "error: config file [SB]/nosuch.conf could not be read: No such file or directory",
    ]);
    assert!(ra.local().is_empty());
}

/// when `-S --bogus hello`, then exit 1 and getopt's complaint, as pacman.
fn unknown_option(mode: Mode) {
    let sb = greet_sandbox(&[Fault::None]);
    let (_ra, a, _rb, _b) = side_by_side(&sb, mode, |_| {}, &["-S", "--bogus", "hello"], "");
    a.assert_code(1);
    a.assert_contains("option '--bogus'");
}

/// given synced databases, when `-S nosuch`, then exit 1 with
/// "target not found: nosuch".
fn target_not_found(mode: Mode) {
    let sb = greet_sandbox(&[Fault::None]);
    let (ra, a, _rb, _b) = side_by_side(
        &sb,
        mode,
        Root::given_synced,
        &["-S", "--noconfirm", "nosuch"],
        "",
    );
    a.assert_code(1);
    a.assert_lines(&["error: target not found: nosuch"]);
    assert!(ra.local().is_empty());
}

/// given only dead mirrors, when `-Sy hello`, then exit 1 with pacman's
/// database sync failure, and nothing installed.
fn every_mirror_dead(mode: Mode) {
    let sb = greet_sandbox(&[Fault::Dead, Fault::Dead]);
    let (ra, a, _rb, _b) = side_by_side(&sb, mode, |_| {}, &["-Sy", "--noconfirm", "hello"], "");
    a.assert_code(1);
    a.assert_contains("error: failed to synchronize all databases");
    assert!(ra.local().is_empty());
}

/// `-Sw --noconfirm hello` on synced roots of `sb`, by the reference pacman
/// and by `pactor -x`: both fail (exit 1) with the same commit error.
/// Returns pactor's root and both outcomes (pactor's, then pacman's).
fn download_hello_fails_alike(sb: &Sandbox) -> (Root, Outcome, Outcome) {
    let (ra, rb) = (sb.root("pactor"), sb.root("pacman"));
    ra.given_synced();
    rb.given_synced();
    let args = ["-Sw", "--noconfirm", "hello"];
    let b = rb.pacman().args(args).run();
    let a = ra.pactor(Mode::Torrent).args(args).run();
    b.assert_code(1);
    a.assert_code(1);
    assert_same_commit_error(&a, &b);
    (ra, a, b)
}

/// Given a mirror that answers 404 for every package, when `-Sxw hello`,
/// then pactor fails as the reference pacman does: exit 1, "failed
/// retrieving file" with curl's words for the status, and pacman's commit
/// error (not libalpm's words for an external downloader).
#[test]
fn packages_missing_on_the_mirror_fail_in_pacmans_words() {
    let sb = greet_sandbox(&[Fault::NotFound]);
    let (ra, a, b) = download_hello_fails_alike(&sb);
    for o in [&a, &b] {
        o.assert_contains("The requested URL returned error: 404");
    }
    assert!(ra.cached().is_empty(), "{a}");
}

/// Given a download directory on a file system too small for the packages
/// (a 4 MiB tmpfs over pactor's state directory, in a private mount
/// namespace; two 6 MiB packages), when `-Sxw bigone bigtwo`, then pactor
/// fails with pacman's words and the system's reason, and nothing partial
/// lands in the cache; once there is room again (the same tmpfs, grown),
/// the same command completes both packages, resuming from what the first
/// run wrote: its resume records, rewritten in place once the disk was full,
/// vouch for it. Through the swarm, the package falls back to the mirrors
/// when librqbit cannot write, and the next run's swarm takes the part the
/// mirrors left over (librqbit checks every piece of it).
#[test]
fn full_disk_fails_cleanly_then_recovers() {
    full_disk_then_room(false);
}

/// [`full_disk_fails_cleanly_then_recovers`] through the swarm: torrents
/// published, the mirrors as webseeds, in a private network namespace.
#[test]
fn full_disk_under_the_swarm_fails_cleanly_then_recovers() {
    if let Err(why) = netns::isolate_thread() {
        eprintln!("skipped: {why}");
        return;
    }
    full_disk_then_room(true);
}

fn full_disk_then_room(torrents: bool) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root for a private mount namespace");
        return;
    }
    // SAFETY: unshare and mount take flags and C strings only; they change
    // this test process's own mount namespace.
    unsafe {
        assert_eq!(libc::unshare(libc::CLONE_NEWNS), 0, "unshare(CLONE_NEWNS)");
        let none = std::ptr::null();
        let root = c"/".as_ptr();
        assert_eq!(
            libc::mount(
                none,
                root,
                none,
                libc::MS_REC | libc::MS_PRIVATE,
                none.cast()
            ),
            0,
            "make / private"
        );
    }
    let b = Sandbox::builder()
        .mirrors(&[Fault::None, Fault::None])
        .repo("big", &big_set());
    let sb = if torrents {
        b.torrents().build()
    } else {
        b.build()
    };
    let r = sb.root("pactor");
    r.given_synced();
    std::fs::create_dir_all(r.statedir()).unwrap();
    let tmpfs = |opts: &str, flags: libc::c_ulong| {
        let dir = std::ffi::CString::new(r.statedir().to_str().unwrap()).unwrap();
        let data = std::ffi::CString::new(opts).unwrap();
        // SAFETY: as above; all strings live across the call.
        let rc = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                dir.as_ptr(),
                c"tmpfs".as_ptr(),
                flags,
                data.as_ptr().cast(),
            )
        };
        assert_eq!(
            rc,
            0,
            "mount tmpfs {opts}: {}",
            std::io::Error::last_os_error()
        );
    };
    tmpfs("size=4m,mode=755", 0);
    // Unmounted before the sandbox is removed (dropped first), so that no
    // directory stays behind busy.
    let _unmount = Unmount(r.statedir());

    let a = r
        .pactor(Mode::Torrent)
        .args(["-Sw", "--noconfirm", "bigone", "bigtwo"])
        .run();
    a.assert_code(1);
    a.assert_contains("error: failed retrieving file 'bigone-1.0-1-any.pkg.tar.zst'");
    a.assert_contains("No space left on device");
    // The system's words, as pacman prints them; not Rust's "(os error 28)",
    // and each message on one line (librqbit's error came as anyhow's
    // "Caused by:" list over several).
    assert!(!a.all_n().contains("os error"), "{a}");
    assert!(!a.all_n().contains("Caused by"), "{a}");
    a.assert_contains("error: failed to commit transaction");
    for f in r.cached() {
        assert!(
            !f.starts_with("big"),
            "{f} is in the cache after a failed download\n{a}"
        );
    }

    // What was written before the disk filled stays for the next run.
    let before = sb.served_in_the_end(".pkg.tar.zst");
    let kept = dir_bytes(&r.statedir());
    tmpfs("size=64m", libc::MS_REMOUNT);
    download_big(&sb, &r, "once there was room");
    let again = sb.served_in_the_end(".pkg.tar.zst") - before;
    let total = big_bytes(&sb);
    eprintln!("kept {kept} bytes after the full disk; fetched {again} of {total} again");
    assert!(
        kept > 1024 * 1024 && again + kept / 2 <= total,
        "{kept} bytes kept in the state directory after the failure; the next run \
         fetched {again} of the packages' {total} bytes again"
    );
}

/// Bytes stored in the files under `dir`, all levels (blocks, not sizes:
/// a partial download may be a sparse file of the package's full size).
fn dir_bytes(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.blocks() * 512),
            Err(_) => 0,
        })
        .sum()
}

/// Unmounts its directory when dropped.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        if let Ok(dir) = std::ffi::CString::new(self.0.to_string_lossy().as_bytes()) {
            // SAFETY: a C string that lives across the call.
            unsafe { libc::umount2(dir.as_ptr(), libc::MNT_DETACH) };
        }
    }
}

/// Given torrents and two mirrors that serve every package with its bytes
/// flipped, when `-Sxw hello`: every package falls back from the swarm to
/// an HTTP engine of its own, then to libalpm's download, and pactor fails
/// as the reference pacman does (corrupted packages deleted, the same
/// commit error). Each package's engine drops both mirrors again; each
/// mirror's "dropped" warning still comes once.
#[test]
fn lying_mirrors_under_the_swarm_are_reported_once() {
    if let Err(why) = netns::isolate_thread() {
        eprintln!("skipped: {why}");
        return;
    }
    let sb = greet_torrent_sandbox(&[Fault::WrongBytes, Fault::WrongBytes]);
    let (ra, a, _b) = download_hello_fails_alike(&sb);
    for m in &sb.mirrors {
        let warning = format!("warning: mirror {} dropped: ", m.base_url());
        let times = a.stderr.lines().filter(|l| l.starts_with(&warning)).count();
        assert_eq!(times, 1, "{warning}... {times} times\n{a}");
    }
    assert!(
        !ra.cached().iter().any(|f| f.ends_with(".pkg.tar.zst")),
        "a corrupted package stayed in the cache\n{a}"
    );
}
