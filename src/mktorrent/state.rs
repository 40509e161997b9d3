//! The state file that makes re-runs cheap: for each package (by path
//! relative to the tree) the size and modification time it had when it was
//! hashed, and the infohash of its torrent. A package whose size and time
//! still match is not read again; its torrent's info dictionary is reused.
//!
//! Format: a `pactor-mktorrent-state 1` line, then one line per package,
//! `size<TAB>mtime_ns<TAB>infohash<TAB>relative path`, sorted by path. A
//! missing, foreign or damaged file just means everything is hashed again.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use pactor_fetch::torrent::InfoHash;

/// File name of the state file in the output root.
pub const STATE_FILE: &str = ".pactor-mktorrent.state";
const HEADER: &str = "pactor-mktorrent-state 1";

/// What was true of a package when its torrent was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Size in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the epoch.
    pub mtime_ns: i128,
    /// Infohash of the torrent made from it.
    pub info_hash: InfoHash,
}

/// Relative package path → entry.
pub type State = BTreeMap<PathBuf, Entry>;

/// Reads the state; `Err` carries a reason to warn about (the caller then
/// starts from an empty state). A missing file is an empty state.
pub fn load(path: &Path) -> Result<State, String> {
    let text = match fs_err::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::new()),
        Err(e) => return Err(e.to_string()),
    };
    parse(&text).ok_or_else(|| format!("{}: not a pactor-mktorrent state file", path.display()))
}

fn parse(text: &str) -> Option<State> {
    let mut lines = text.lines();
    if lines.next()? != HEADER {
        return None;
    }
    let mut state = State::new();
    for line in lines {
        let mut f = line.splitn(4, '\t');
        let size = f.next()?.parse().ok()?;
        let mtime_ns = f.next()?.parse().ok()?;
        let info_hash = InfoHash::from_hex(f.next()?)?;
        let rel = PathBuf::from(f.next()?);
        state.insert(
            rel,
            Entry {
                size,
                mtime_ns,
                info_hash,
            },
        );
    }
    Some(state)
}

/// The file's text. Paths that are not UTF-8 or hold a newline are left
/// out (they are simply hashed every run).
pub fn render(state: &State) -> String {
    let mut out = format!("{HEADER}\n");
    for (rel, e) in state {
        let Some(rel) = rel.to_str().filter(|r| !r.contains('\n')) else {
            continue;
        };
        out.push_str(&format!(
            "{}\t{}\t{}\t{rel}\n",
            e.size, e.mtime_ns, e.info_hash
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let mut s = State::new();
        s.insert(
            PathBuf::from("core/os/x86_64/a b\tc.pkg.tar.zst"),
            Entry {
                size: 12,
                mtime_ns: -5,
                info_hash: InfoHash([3; 20]),
            },
        );
        s.insert(
            PathBuf::from("x.pkg.tar.xz"),
            Entry {
                size: 0,
                mtime_ns: 1_700_000_000_123_456_789,
                info_hash: InfoHash([0xfe; 20]),
            },
        );
        assert_eq!(parse(&render(&s)), Some(s));
    }

    #[test]
    fn damaged_files_are_refused() {
        assert_eq!(parse(""), None);
        assert_eq!(parse("something else\n"), None);
        assert_eq!(parse(&format!("{HEADER}\n1\t2\tnothex\tp\n")), None);
        assert_eq!(parse(&format!("{HEADER}\n")), Some(State::new()));
    }
}
