//! Finding what to seed: every package file in the CacheDirs that has a
//! torrent in pactor's torrents directory (`<state>/torrents/<file>.torrent`,
//! stored by `pactor -Sx` when it accepted the torrent), and a watcher that
//! tells the daemon when any of those directories changes.
//!
//! A scan only lists directories and stats files; it never reads a package.

use std::collections::HashSet;
use std::path::PathBuf;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::sync::mpsc;

use super::ledger::Stamp;

/// A cached package that can be seeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Bare file name.
    pub filename: String,
    /// Full path in its CacheDir.
    pub path: PathBuf,
    /// Size and mtime now.
    pub stamp: Stamp,
    /// Its torrent.
    pub torrent: PathBuf,
    /// The torrent's size and mtime (a new torrent is worth a new try).
    pub torrent_stamp: Stamp,
}

/// Whether `name` is a package file (not a signature, not a partial).
pub fn is_package(name: &str) -> bool {
    name.contains(".pkg.tar")
        && !name.ends_with(".sig")
        && !name.ends_with(".part")
        && !name.starts_with('.')
        && !name.contains('/')
}

/// Every package of `cachedirs` with a torrent in one of `torrent_dirs`
/// (the first that has one), newest first; a file name found in two
/// CacheDirs is taken from the first. Also returns the packages without a
/// torrent (name and path).
pub fn scan(
    cachedirs: &[PathBuf],
    torrent_dirs: &[PathBuf],
) -> (Vec<Candidate>, Vec<(String, PathBuf)>) {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for dir in cachedirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if !is_package(&name) || seen.contains(&name) {
                continue;
            }
            let path = dir.join(&name);
            // Follow a symlink (as pacman does), but only to a regular file.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            seen.insert(name.clone());
            let found = torrent_dirs.iter().find_map(|d| {
                let t = d.join(format!("{name}.torrent"));
                let m = std::fs::metadata(&t).ok().filter(|m| m.is_file())?;
                Some((t, m))
            });
            let Some((torrent, torrent_meta)) = found else {
                missing.push((name, path));
                continue;
            };
            out.push(Candidate {
                filename: name,
                path,
                stamp: Stamp::of(&meta),
                torrent,
                torrent_stamp: Stamp::of(&torrent_meta),
            });
        }
    }
    out.sort_by(|a, b| {
        b.stamp
            .mtime_ns
            .cmp(&a.stamp.mtime_ns)
            .then(a.filename.cmp(&b.filename))
    });
    (out, missing)
}

/// Starts watching `dirs` with inotify on a thread of its own; each batch of
/// events sends one `()`. Directories that do not exist are skipped (the
/// periodic scan still covers them once they appear). Returns `None` when
/// inotify is not available.
pub fn watch(dirs: &[PathBuf]) -> Option<mpsc::Receiver<()>> {
    let inotify = match Inotify::init(InitFlags::IN_CLOEXEC) {
        Ok(i) => i,
        Err(e) => {
            crate::ui::output::warning(&format!(
                "inotify is not available ({e}); the cache is scanned every 30 seconds only"
            ));
            return None;
        }
    };
    let flags = AddWatchFlags::IN_CREATE
        | AddWatchFlags::IN_DELETE
        | AddWatchFlags::IN_MOVED_FROM
        | AddWatchFlags::IN_MOVED_TO
        | AddWatchFlags::IN_CLOSE_WRITE
        | AddWatchFlags::IN_ATTRIB
        | AddWatchFlags::IN_DELETE_SELF
        | AddWatchFlags::IN_MOVE_SELF;
    let mut watched = 0;
    for d in dirs {
        match inotify.add_watch(d.as_path(), flags) {
            Ok(_) => watched += 1,
            Err(e) => crate::ui::output::warning(&format!(
                "cannot watch {}: {e}; it is scanned every 30 seconds",
                d.display()
            )),
        }
    }
    if watched == 0 {
        return None;
    }
    let (tx, rx) = mpsc::channel(1);
    std::thread::Builder::new()
        .name("pactor-seed-inotify".into())
        .spawn(move || loop {
            match inotify.read_events() {
                Ok(_) => {
                    // A full channel already holds a wake-up.
                    if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(()) {
                        return;
                    }
                }
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return,
            }
        })
        .ok()?;
    Some(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_are_told_from_signatures_and_partials() {
        assert!(is_package("a-1-1-x86_64.pkg.tar.zst"));
        assert!(is_package("a-1-1-any.pkg.tar.xz"));
        assert!(!is_package("a-1-1-x86_64.pkg.tar.zst.sig"));
        assert!(!is_package("a-1-1-x86_64.pkg.tar.zst.part"));
        assert!(!is_package(".a-1-1-x86_64.pkg.tar.zst"));
        assert!(!is_package("core.db"));
    }

    #[test]
    fn scan_needs_a_torrent_and_sorts_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        let torrents = dir.path().join("torrents");
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::create_dir_all(&torrents).unwrap();
        for (name, secs) in [
            ("old-1-1-any.pkg.tar.zst", 100),
            ("new-1-1-any.pkg.tar.zst", 200),
        ] {
            let p = cache.join(name);
            std::fs::write(&p, b"x").unwrap();
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(t)
                .unwrap();
            std::fs::write(torrents.join(format!("{name}.torrent")), b"d").unwrap();
        }
        std::fs::write(cache.join("none-1-1-any.pkg.tar.zst"), b"x").unwrap();
        std::fs::write(cache.join("new-1-1-any.pkg.tar.zst.sig"), b"x").unwrap();
        let (found, missing) = scan(&[cache], &[torrents]);
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].0, "none-1-1-any.pkg.tar.zst");
        let found: Vec<String> = found.into_iter().map(|c| c.filename).collect();
        assert_eq!(
            found,
            ["new-1-1-any.pkg.tar.zst", "old-1-1-any.pkg.tar.zst"]
        );
    }
}
