//! The Arch package: PKGBUILD and .SRCINFO agree (`makepkg --printsrcinfo`,
//! run as an unprivileged user since makepkg refuses root), the PKGBUILD
//! matches Cargo.toml, installs every binary target, and — with
//! `PACTOR_TEST_MAKEPKG=1`, since it builds pactor in release mode from
//! scratch — makepkg builds it and `pactor -U` installs it into a sandboxed
//! root (`scripts/makepkg-test.sh`; `PACTOR_TEST_MAKEPKG=check` runs the
//! PKGBUILD's check() too).
//!
//! `PACTOR_BLESS=1` rewrites .SRCINFO from the PKGBUILD.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// makepkg: the local libalpm prefix's (./setup.sh deps), else the system's.
fn makepkg() -> Option<PathBuf> {
    let prefix = std::env::var_os("PACTOR_ALPM_PREFIX")
        .map(PathBuf::from)
        .or_else(|| option_env!("PACTOR_ALPM_PREFIX").map(PathBuf::from));
    prefix
        .map(|p| p.join("bin/makepkg"))
        .into_iter()
        .chain([PathBuf::from("/usr/bin/makepkg")])
        .find(|p| p.exists())
}

fn pkgbuild() -> String {
    fs::read_to_string(root().join("PKGBUILD")).unwrap()
}

/// A `name=value` line of the PKGBUILD.
fn pkgbuild_var(name: &str) -> String {
    pkgbuild()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= in PKGBUILD"))
        .trim_matches(['\'', '"'])
        .to_owned()
}

#[test]
fn srcinfo_is_what_makepkg_prints() {
    let Some(makepkg) = makepkg() else {
        eprintln!("skipped: makepkg not found (run ./setup.sh deps)");
        return;
    };
    // makepkg refuses root and wants to write to the PKGBUILD's directory.
    let dir = tempfile::tempdir().unwrap();
    fs::copy(root().join("PKGBUILD"), dir.path().join("PKGBUILD")).unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let path = format!("{}:/usr/bin:/bin", makepkg.parent().unwrap().display());
    let mut cmd = if nix::unistd::geteuid().is_root() {
        let runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("runuser (util-linux), to run makepkg as nobody");
        let mut c = Command::new(runuser);
        c.args(["-u", "nobody", "--"]).arg(&makepkg);
        c
    } else {
        Command::new(&makepkg)
    };
    let out = cmd
        .arg("--printsrcinfo")
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", path)
        .env("HOME", dir.path())
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    assert!(out.status.success(), "makepkg --printsrcinfo: {out:?}");
    let want = String::from_utf8(out.stdout).unwrap();
    if std::env::var_os("PACTOR_BLESS").is_some() {
        fs::write(root().join(".SRCINFO"), &want).unwrap();
    }
    let have = fs::read_to_string(root().join(".SRCINFO")).unwrap_or_default();
    assert!(
        have == want,
        ".SRCINFO is out of date: run PACTOR_BLESS=1 cargo test --test pkgbuild\n--- makepkg prints:\n{want}"
    );
}

#[test]
fn pkgbuild_matches_cargo_toml() {
    assert_eq!(pkgbuild_var("pkgver"), env!("CARGO_PKG_VERSION"));
    assert_eq!(pkgbuild_var("pkgname"), env!("CARGO_PKG_NAME"));
    let license = pkgbuild_var("license");
    assert_eq!(
        license.trim_matches(['(', ')', '\'']),
        env!("CARGO_PKG_LICENSE")
    );
    assert!(pkgbuild().contains("backup=('etc/pactor.conf')"));
    assert!(pkgbuild().contains("cargo build --release --locked"));
}

/// Every binary target (src/main.rs and src/bin/*.rs) is installed: the
/// commands by the `for bin in` loop, pactor-engine where pactor finds it.
#[test]
fn pkgbuild_installs_every_binary() {
    let mut bins = vec![env!("CARGO_PKG_NAME").to_owned()];
    for e in fs::read_dir(root().join("src/bin")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "rs") {
            bins.push(p.file_stem().unwrap().to_string_lossy().into_owned());
        }
    }
    let text = pkgbuild();
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("for bin in "))
        .expect("a 'for bin in ...' loop in package()");
    let listed: Vec<&str> = line
        .trim_start()
        .trim_start_matches("for bin in ")
        .trim_end_matches("; do")
        .split_whitespace()
        .collect();
    // Or installed on a line of its own (pactor-engine, not a command).
    let alone = |b: &str| {
        text.lines().any(|l| {
            l.trim_start().starts_with("install ") && l.contains(&format!("target/release/{b} "))
        })
    };
    for b in &bins {
        assert!(
            listed.contains(&b.as_str()) || alone(b),
            "PKGBUILD does not install the binary {b}: {line}"
        );
    }
}

#[test]
fn makepkg_builds_and_pactor_installs_the_package() {
    let Some(mode) = std::env::var_os("PACTOR_TEST_MAKEPKG") else {
        eprintln!(
            "skipped: scripts/test.sh (./setup.sh test) runs scripts/makepkg-test.sh as a step \
             of its own; set PACTOR_TEST_MAKEPKG=1 (or =check) to run it from cargo"
        );
        return;
    };
    let mut cmd = Command::new(root().join("scripts/makepkg-test.sh"));
    if mode == "check" {
        cmd.arg("--check");
    }
    let status = cmd.status().unwrap();
    assert!(status.success(), "scripts/makepkg-test.sh failed: {status}");
}

/// pactor-seed's systemd unit, sysusers.d and tmpfiles.d files exist and
/// the PKGBUILD installs each to its place under /usr/lib.
#[test]
fn pkgbuild_installs_the_seed_unit_files() {
    let text = pkgbuild();
    for (file, dest) in [
        (
            "etc/systemd/pactor-seed.service",
            "usr/lib/systemd/system/pactor-seed.service",
        ),
        (
            "etc/sysusers.d/pactor-seed.conf",
            "usr/lib/sysusers.d/pactor-seed.conf",
        ),
        (
            "etc/tmpfiles.d/pactor-seed.conf",
            "usr/lib/tmpfiles.d/pactor-seed.conf",
        ),
    ] {
        assert!(root().join(file).is_file(), "{file} is missing");
        let line = format!("install -Dm644 {file} \"$pkgdir/{dest}\"");
        assert!(
            text.contains(&line),
            "PKGBUILD does not install {file}: want `{line}`"
        );
    }
    let sysusers = fs::read_to_string(root().join("etc/sysusers.d/pactor-seed.conf")).unwrap();
    assert!(sysusers
        .lines()
        .any(|l| l.starts_with("u pactor-seed - ") && l.ends_with(" /var/lib/pactor-seed")));
    let tmpfiles = fs::read_to_string(root().join("etc/tmpfiles.d/pactor-seed.conf")).unwrap();
    assert!(tmpfiles
        .lines()
        .any(|l| l == "d /var/lib/pactor-seed 0750 pactor-seed pactor-seed -"));
}
