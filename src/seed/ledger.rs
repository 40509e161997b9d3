//! What pactor-seed keeps in its state directory between runs, as JSON
//! written atomically (a temporary file renamed over the old one):
//!
//! - `trusted.json`, the trust ledger: each package file whose every piece
//!   was found good (by the daemon's own full check, or by pactor, which
//!   verified it against the sync db before placing it), with the size and
//!   modification time it had then. A file still matching both is seeded
//!   without being read again; any change to it (a rewrite keeps neither)
//!   sends it through a full check.
//! - `stats.json`: bytes uploaded per package and in total, all-time.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A file's identity for the ledger: size and mtime in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stamp {
    /// Bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i128,
}

impl Stamp {
    /// The stamp of `meta`.
    pub fn of(meta: &std::fs::Metadata) -> Stamp {
        Stamp {
            size: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }
}

/// The trust ledger, by the file's full path.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Ledger {
    files: BTreeMap<PathBuf, Stamp>,
    #[serde(skip)]
    dirty: bool,
}

impl Ledger {
    /// Whether `path` is vouched for with exactly this stamp.
    pub fn trusts(&self, path: &Path, stamp: Stamp) -> bool {
        self.files.get(path) == Some(&stamp)
    }

    /// Records that `path` with `stamp` is good.
    pub fn record(&mut self, path: &Path, stamp: Stamp) {
        if self.files.get(path) != Some(&stamp) {
            self.files.insert(path.to_path_buf(), stamp);
            self.dirty = true;
        }
    }

    /// Forgets files that are no longer in the cache.
    pub fn retain(&mut self, keep: impl Fn(&Path) -> bool) {
        let before = self.files.len();
        self.files.retain(|p, _| keep(p));
        self.dirty |= self.files.len() != before;
    }

    /// Number of files vouched for.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the ledger is empty.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// All-time upload totals.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Totals {
    /// Bytes uploaded in all runs before this one, all packages.
    pub uploaded: u64,
    /// Bytes uploaded in all runs before this one, per package file name.
    pub packages: BTreeMap<String, u64>,
}

/// Reads a JSON file of the state directory; a missing or unreadable one
/// starts empty (with a warning when it exists but is damaged).
pub fn load<T: for<'de> Deserialize<'de> + Default>(path: &Path) -> T {
    match fs_err::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
            crate::ui::output::warning(&format!(
                "{} is damaged, starting afresh: {e}",
                path.display()
            ));
            T::default()
        }),
        Err(_) => T::default(),
    }
}

/// Writes a JSON file of the state directory atomically.
pub fn save<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    {
        let mut f = fs_err::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    fs_err::rename(&tmp, path)
}

impl Ledger {
    /// Saves the ledger if it changed since the last save.
    pub fn flush(&mut self, path: &Path) -> std::io::Result<()> {
        if self.dirty {
            save(path, self)?;
            self.dirty = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_round_trips_and_trusts_only_the_same_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trusted.json");
        let mut l = Ledger::default();
        let s = Stamp {
            size: 10,
            mtime_ns: 1_700_000_000_123_456_789,
        };
        l.record(Path::new("/c/a.pkg.tar.zst"), s);
        l.flush(&path).unwrap();
        let l: Ledger = load(&path);
        assert!(l.trusts(Path::new("/c/a.pkg.tar.zst"), s));
        assert!(!l.trusts(Path::new("/c/a.pkg.tar.zst"), Stamp { size: 11, ..s }));
        assert!(!l.trusts(
            Path::new("/c/a.pkg.tar.zst"),
            Stamp {
                mtime_ns: s.mtime_ns + 1,
                ..s
            }
        ));
        assert!(!l.trusts(Path::new("/c/b.pkg.tar.zst"), s));
    }

    #[test]
    fn damaged_state_starts_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stats.json");
        std::fs::write(&path, b"{not json").unwrap();
        let t: Totals = load(&path);
        assert_eq!(t.uploaded, 0);
    }
}
