//! Walking the mirror tree: every package file at any depth, following
//! symlinks (Arch mirrors link `any` packages and pool files into each arch
//! directory, and such a link is a package like any other). A dangling link
//! or a symlink loop is a warning, an unreadable directory an error for that
//! directory only.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

/// Package file suffixes (pacman's PKGEXT values in use); `.sig` never matches.
const PACKAGE_SUFFIXES: [&str; 4] = [".pkg.tar.zst", ".pkg.tar.xz", ".pkg.tar.gz", ".pkg.tar.bz2"];

/// Suffix of every torrent we write.
pub const TORRENT_SUFFIX: &str = ".torrent";

/// Whether `name` is a package file name.
pub fn is_package_name(name: &str) -> bool {
    PACKAGE_SUFFIXES
        .iter()
        .any(|s| name.len() > s.len() && name.ends_with(s))
}

/// Whether `name` is the name of a torrent we would write for a package.
pub fn is_package_torrent_name(name: &str) -> bool {
    name.strip_suffix(TORRENT_SUFFIX)
        .is_some_and(is_package_name)
}

/// A package found in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// Path relative to the tree root (through links, as a client sees it).
    pub rel: PathBuf,
    /// Path to open.
    pub path: PathBuf,
    /// File name, which becomes the torrent's name.
    pub name: String,
    /// Size in bytes (of the file the link points to).
    pub size: u64,
    /// Modification time in nanoseconds.
    pub mtime_ns: i128,
}

/// Something the walk met that the user should hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A symlink whose target is missing (warning).
    Dangling(PathBuf),
    /// A directory symlink pointing at one of its own ancestors (warning).
    Loop(PathBuf),
    /// A directory or file that could not be read (error).
    Unreadable(PathBuf, String),
    /// A package whose name is not UTF-8 (warning; skipped).
    BadName(PathBuf),
}

/// Everything one walk found.
#[derive(Debug, Default)]
pub struct Found {
    /// Packages, sorted by relative path.
    pub packages: Vec<Package>,
    /// Package torrents seen in the tree (relative paths), for pruning when
    /// torrents live beside the packages.
    pub torrents: Vec<PathBuf>,
    /// Leftover temporary files of an interrupted run.
    pub temps: Vec<PathBuf>,
    /// Warnings and errors, in walk order.
    pub problems: Vec<Problem>,
}

/// Temporary name used while writing `final_name` atomically.
pub fn temp_name(final_name: &str) -> String {
    format!(".{final_name}.pactor-tmp")
}

fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".pactor-tmp")
}

/// Walks `root`. `follow` follows symlinks (the mirror tree); the output tree
/// is walked without. The root itself must have been checked by the caller.
pub fn walk(root: &Path, follow: bool) -> Found {
    let mut found = Found::default();
    let walker = WalkDir::new(root)
        .follow_links(follow)
        .sort_by_file_name()
        .into_iter()
        // Never descend into hidden directories (our temp files aside, mirrors
        // keep `.~tmp~` rsync partials and such there).
        .filter_entry(|e| {
            e.depth() == 0
                || !(e.file_type().is_dir() && e.file_name().to_string_lossy().starts_with('.'))
        });
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(err) => {
                found.problems.push(classify(&err));
                continue;
            }
        };
        let Ok(rel) = entry.path().strip_prefix(root).map(Path::to_path_buf) else {
            continue;
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            if is_package_name(&file_name.to_string_lossy()) {
                found
                    .problems
                    .push(Problem::BadName(entry.path().to_owned()));
            }
            continue;
        };
        if is_package_name(name) {
            // With follow_links the entry's metadata is the target's.
            match entry.metadata() {
                Ok(md) => found.packages.push(Package {
                    rel,
                    path: entry.path().to_owned(),
                    name: name.to_owned(),
                    size: md.len(),
                    mtime_ns: mtime_ns(&md),
                }),
                Err(e) => found
                    .problems
                    .push(Problem::Unreadable(entry.path().to_owned(), e.to_string())),
            }
        } else if is_package_torrent_name(name) {
            found.torrents.push(rel);
        } else if is_temp_name(name) {
            found.temps.push(rel);
        }
    }
    found.packages.sort_by(|a, b| a.rel.cmp(&b.rel));
    found
}

/// Modification time of `md` in nanoseconds since the epoch.
pub fn mtime_ns(md: &std::fs::Metadata) -> i128 {
    i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec())
}

fn classify(err: &walkdir::Error) -> Problem {
    let path = err.path().map(Path::to_path_buf).unwrap_or_default();
    if err.loop_ancestor().is_some() {
        return Problem::Loop(path);
    }
    let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
    let target_missing = std::fs::metadata(&path)
        .err()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::NotFound);
    if is_link && target_missing {
        return Problem::Dangling(path);
    }
    // A chain of links that never ends (a -> b -> a) is a loop too.
    if is_link
        && std::fs::metadata(&path)
            .err()
            .and_then(|e| e.raw_os_error())
            == Some(libc::ELOOP)
    {
        return Problem::Loop(path);
    }
    let reason = err
        .io_error()
        .map(ToString::to_string)
        .unwrap_or_else(|| err.to_string());
    Problem::Unreadable(path, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names() {
        for yes in [
            "a-1-1-x86_64.pkg.tar.zst",
            "a-1-1-any.pkg.tar.xz",
            "a.pkg.tar.gz",
            "a.pkg.tar.bz2",
        ] {
            assert!(is_package_name(yes), "{yes}");
            assert!(is_package_torrent_name(&format!("{yes}.torrent")));
        }
        for no in [
            "a-1-1-x86_64.pkg.tar.zst.sig",
            ".pkg.tar.zst",
            "core.db.tar.gz",
            "a.pkg.tar.zst.torrent",
            "a.pkg.tar",
        ] {
            assert!(!is_package_name(no), "{no}");
        }
        assert!(!is_package_torrent_name("a.pkg.tar.zst.sig.torrent"));
    }
}
