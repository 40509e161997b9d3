//! Failures with pacman's words and exit codes: a held database lock, a
//! broken pacman.conf, an unknown option, a missing target, no reachable
//! mirror. Each runs plain and with `-x`, compared with the reference pacman.

use crate::support::*;

both_modes!(
    db_lock_held,
    broken_config,
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
