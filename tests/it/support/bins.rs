//! Where the programs are: the binary under test, the reference pacman and
//! repo-add. The reference comes from the local libalpm prefix that setup.sh
//! builds (`PACTOR_ALPM_PREFIX`, set for cargo by `.cargo/config.toml`), else
//! the system's /usr/bin.

use std::path::{Path, PathBuf};

fn prefix() -> Option<PathBuf> {
    std::env::var_os("PACTOR_ALPM_PREFIX")
        .map(PathBuf::from)
        .or_else(|| option_env!("PACTOR_ALPM_PREFIX").map(PathBuf::from))
        .filter(|p| p.join("bin/pacman").exists())
}

/// The binary under test: `PACTOR_IT_BIN`, else the `pactor` cargo built.
pub fn pactor() -> PathBuf {
    match std::env::var_os("PACTOR_IT_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_pactor")),
    }
}

/// The torrent maker built with pactor.
pub fn pactor_mktorrent() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_pactor-mktorrent"))
}

/// The reference pacman.
pub fn pacman() -> PathBuf {
    prefix()
        .map(|p| p.join("bin/pacman"))
        .unwrap_or_else(|| PathBuf::from("/usr/bin/pacman"))
}

pub fn repo_add() -> PathBuf {
    prefix()
        .map(|p| p.join("bin/repo-add"))
        .unwrap_or_else(|| PathBuf::from("/usr/bin/repo-add"))
}

/// Not root: pacman refuses to install, so run under fakeroot (as pactest does).
pub fn fakeroot() -> Option<&'static Path> {
    if nix::unistd::geteuid().is_root() {
        return None;
    }
    ["/usr/bin/fakeroot", "/bin/fakeroot"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
}
