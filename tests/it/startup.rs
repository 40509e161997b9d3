//! pactor's start: libalpm is opened beside it (src/lazy_alpm.rs), not by
//! the dynamic loader before `main`.

use std::process::Command;

use crate::support::bins;

/// The binary does not link libalpm: every libalpm function it calls is
/// bound to its own trampolines, or the dynamic loader would load libalpm
/// and its ~40 libraries before `main` again. (A function missing from
/// the trampolines' list binds to libalpm.so at link time and brings the
/// entry back.)
#[test]
fn the_binary_does_not_link_libalpm() {
    let out = Command::new("readelf")
        .arg("--dynamic")
        .arg(bins::pactor())
        .output()
        .expect("readelf (binutils) runs");
    assert!(out.status.success(), "{out:?}");
    let dynamic = String::from_utf8_lossy(&out.stdout);
    let needed: Vec<&str> = dynamic.lines().filter(|l| l.contains("(NEEDED)")).collect();
    assert!(
        needed.iter().any(|l| l.contains("libc.so")),
        "no NEEDED entries read: {dynamic}"
    );
    assert!(
        !needed.iter().any(|l| l.contains("libalpm")),
        "pactor links libalpm: {needed:#?}"
    );
}

/// Given a libalpm.so.16 that is not a library found first (an empty file
/// on LD_LIBRARY_PATH), when pactor needs libalpm, then it ends as the
/// dynamic loader ends a program that cannot load its library: the
/// loader's words, exit code 127. When it needs none (`-h`), it runs.
#[test]
fn a_libalpm_that_cannot_load_ends_pactor_like_the_loader() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("libalpm.so.16"), b"").unwrap();
    let run = |arg: &str| pactor_with_libs_from(tmp.path(), arg);
    let out = run("--version");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(
        stderr.starts_with("pactor: error while loading shared libraries: ")
            && stderr.contains("libalpm.so.16"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "{out:?}");
    let help = run("-h");
    assert_eq!(help.status.code(), Some(0), "{help:?}");
    assert!(
        String::from_utf8_lossy(&help.stdout).contains("usage:"),
        "{help:?}"
    );
}

/// Given a libalpm.so.16 that loads but has none of libalpm's functions (a
/// shared library built here from an empty C file), when pactor needs
/// libalpm, then it ends at its first call as a binary bound at its start
/// would: "undefined symbol", exit 127, nothing done.
#[test]
fn a_libalpm_without_its_functions_ends_pactor_at_the_first_call() {
    let tmp = tempfile::tempdir().unwrap();
    let source = tmp.path().join("empty.c");
    std::fs::write(&source, "int pactor_test_nothing;\n").unwrap();
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(tmp.path().join("libalpm.so.16"))
        .arg(&source)
        .output()
        .expect("a C compiler (cc) runs");
    assert!(built.status.success(), "{built:?}");
    let out = pactor_with_libs_from(tmp.path(), "--version");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    assert!(
        stderr.starts_with(
            "pactor: error while loading shared libraries: libalpm.so.16: undefined symbol: alpm_"
        ),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "{out:?}");
}

/// `pactor arg` with only `LC_ALL=C` and `dir` first on the library path.
fn pactor_with_libs_from(dir: &std::path::Path, arg: &str) -> std::process::Output {
    Command::new(bins::pactor())
        .arg(arg)
        .env_clear()
        .env("LC_ALL", "C")
        .env("LD_LIBRARY_PATH", dir)
        .output()
        .unwrap()
}
