//! Bakes build-time facts into pactor: the absolute path of the pacman binary
//! that non-downloading operations pass through to (never looked up through
//! PATH, since pacman's test suite runs pactor with an empty environment). With
//! setup.sh's local libalpm prefix that is the prefix's pacman, else
//! /usr/bin/pacman; PACTOR_PACMAN_BIN overrides both. Beside it, what that
//! pacman's pacman-conf prints for an empty file (its compiled-in paths), for
//! pactor's own reading of pacman.conf (src/pacman_conf.rs). And the directory
//! of the libalpm it is built against (src/lazy_alpm.rs).
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=PACTOR_ALPM_PREFIX");
    println!("cargo:rerun-if-env-changed=PACTOR_PACMAN_BIN");
    let prefix = std::env::var("PACTOR_ALPM_PREFIX")
        .ok()
        .filter(|p| Path::new(p).join("bin/pacman").exists());
    let pacman_bin = std::env::var("PACTOR_PACMAN_BIN")
        .ok()
        .unwrap_or_else(|| match &prefix {
            Some(prefix) => format!("{prefix}/bin/pacman"),
            None => "/usr/bin/pacman".to_owned(),
        });
    println!("cargo:rustc-env=PACTOR_DEFAULT_PACMAN_BIN={pacman_bin}");

    // Where the libalpm pactor is built against lives: the `pactor` binary
    // opens it at run time (src/lazy_alpm.rs) by its soname first, and from
    // this directory when that search finds nothing (under fakechroot, whose
    // dlopen searches for its own library's paths, not pactor's RUNPATH).
    let libdir = match &prefix {
        Some(prefix) => format!("{prefix}/lib"),
        None => std::process::Command::new("pkg-config")
            .args(["--variable=libdir", "libalpm"])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/usr/lib".to_owned()),
    };
    println!("cargo:rustc-env=PACTOR_ALPM_LIBDIR={libdir}");

    // An empty file when that pacman-conf cannot run here: pactor then always
    // asks pacman-conf at run time.
    let pacman_conf = Path::new(&pacman_bin).with_file_name("pacman-conf");
    if pacman_conf.exists() {
        println!("cargo:rerun-if-changed={}", pacman_conf.display());
    }
    let defaults = std::process::Command::new(&pacman_conf)
        .args(["--config", "/dev/null"])
        .env_clear()
        .output()
        .ok()
        .filter(|o| o.status.success() && o.stderr.is_empty())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .unwrap_or_default();
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    std::fs::write(Path::new(&out).join("pacman-conf-defaults"), defaults)
        .expect("OUT_DIR is writable");

    // `pactor --version` names the BitTorrent library it was built with: the
    // version Cargo.lock resolved, and whether it is the patched copy in
    // vendor/librqbit (a path dependency has no `source` in the lock file).
    println!("cargo:rerun-if-changed=Cargo.lock");
    let lock = std::fs::read_to_string("Cargo.lock").unwrap_or_default();
    let mut lines = lock.lines();
    let mut rqbit = "unknown".to_owned();
    while let Some(line) = lines.next() {
        if line == "name = \"librqbit\"" {
            if let Some(v) = lines.next().and_then(|l| l.strip_prefix("version = ")) {
                rqbit = v.trim_matches('"').to_owned();
                if !lines.next().is_some_and(|l| l.starts_with("source = ")) {
                    rqbit.push_str(" (patched)");
                }
            }
            break;
        }
    }
    println!("cargo:rustc-env=PACTOR_LIBRQBIT_VERSION={rqbit}");
}
