//! Resume records: which blocks of a `<file>.part` are complete, so that a run
//! killed by Ctrl-C or `kill -9` loses only what was in flight.
//!
//! A record sits beside its partial file as `<file>.resume` and is keyed by
//! the plan's size, sha256 and block size: a package rebuilt under the same
//! name, or a record from another pactor version, simply starts over. It is
//! rewritten atomically (temp file + rename), so a reader sees the old or the
//! new record, never half of one. Written data is fsynced before the record
//! that vouches for it when [`crate::FetchOptions::fsync`] is on; a record
//! that still lies after a power loss costs a failed checksum and a fresh
//! download, never a bad install.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::verify::hex;

const MAGIC: &str = "pactor-resume 1";

/// The record of one partial file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeRecord {
    /// Size of the complete file.
    pub size: u64,
    /// sha256 of the complete file, when the plan has one.
    pub sha256: Option<[u8; 32]>,
    /// Block size the bitmap counts in.
    pub block_size: u64,
    /// One flag per block: written completely.
    pub done: Vec<bool>,
}

/// Paths of the partial file and its record for `filename` in `dir`.
pub fn part_paths(dir: &Path, filename: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{filename}.part")),
        dir.join(format!("{filename}.resume")),
    )
}

impl ResumeRecord {
    /// An empty record for a file of `size` bytes.
    pub fn new(size: u64, sha256: Option<[u8; 32]>, block_size: u64) -> Self {
        ResumeRecord {
            size,
            sha256,
            block_size,
            done: vec![false; size.div_ceil(block_size) as usize],
        }
    }

    /// Whether this record describes the same file, cut the same way.
    pub fn matches(&self, size: u64, sha256: Option<[u8; 32]>, block_size: u64) -> bool {
        self.size == size
            && self.sha256 == sha256
            && self.block_size == block_size
            && self.done.len() as u64 == size.div_ceil(block_size)
    }

    /// Bytes covered by completed blocks.
    pub fn done_bytes(&self) -> u64 {
        self.done
            .iter()
            .enumerate()
            .filter(|(_, d)| **d)
            .map(|(i, _)| {
                let start = i as u64 * self.block_size;
                (start + self.block_size).min(self.size) - start
            })
            .sum()
    }

    /// Reads a record; `None` when it is missing, unreadable or from another
    /// format (the caller then starts the file over).
    pub fn load(path: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(path).ok()?;
        Self::parse(&text)
    }

    fn parse(text: &str) -> Option<Self> {
        let mut lines = text.lines();
        if lines.next()? != MAGIC {
            return None;
        }
        let mut field = |name: &str| -> Option<String> {
            let line = lines.next()?;
            line.strip_prefix(name)?
                .strip_prefix(' ')
                .map(str::to_owned)
        };
        let size: u64 = field("size")?.parse().ok()?;
        let sha256 = match field("sha256")?.as_str() {
            "-" => None,
            h => Some(unhex(h)?.try_into().ok()?),
        };
        let block_size: u64 = field("block-size")?.parse().ok()?;
        let bits = unhex(&field("done")?)?;
        if block_size == 0 {
            return None;
        }
        let blocks = size.div_ceil(block_size) as usize;
        if bits.len() != blocks.div_ceil(8) {
            return None;
        }
        let done = (0..blocks)
            .map(|i| bits[i / 8] & (1 << (i % 8)) != 0)
            .collect();
        Some(ResumeRecord {
            size,
            sha256,
            block_size,
            done,
        })
    }

    fn render(&self) -> String {
        let mut bits = vec![0u8; self.done.len().div_ceil(8)];
        for (i, _) in self.done.iter().enumerate().filter(|(_, d)| **d) {
            bits[i / 8] |= 1 << (i % 8);
        }
        format!(
            "{MAGIC}\nsize {}\nsha256 {}\nblock-size {}\ndone {}\n",
            self.size,
            self.sha256.map_or_else(|| "-".to_owned(), |h| hex(&h)),
            self.block_size,
            hex(&bits)
        )
    }

    /// Writes the record atomically to `path`; with `fsync`, durably.
    pub fn save(&self, path: &Path, fsync: bool) -> io::Result<()> {
        let tmp = path.with_extension("resume-tmp");
        {
            let mut file = fs_err::File::create(&tmp)?;
            file.write_all(self.render().as_bytes())?;
            if fsync {
                file.sync_all()?;
            }
        }
        fs_err::rename(&tmp, path)?;
        if fsync {
            crate::verify::sync_dir(path)?;
        }
        Ok(())
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.resume");
        let mut rec = ResumeRecord::new(10 * 1024 + 5, Some([7; 32]), 1024);
        assert_eq!(rec.done.len(), 11);
        rec.done[0] = true;
        rec.done[9] = true;
        rec.done[10] = true;
        rec.save(&path, true).unwrap();
        let back = ResumeRecord::load(&path).unwrap();
        assert_eq!(back, rec);
        assert_eq!(back.done_bytes(), 2 * 1024 + 5);
        assert!(back.matches(10 * 1024 + 5, Some([7; 32]), 1024));
        assert!(!back.matches(10 * 1024 + 5, Some([8; 32]), 1024));
        assert!(!back.matches(10 * 1024 + 6, Some([7; 32]), 1024));
        assert!(!back.matches(10 * 1024 + 5, Some([7; 32]), 512));
    }

    #[test]
    fn garbage_is_ignored() {
        assert_eq!(ResumeRecord::parse("nonsense"), None);
        assert_eq!(
            ResumeRecord::parse("pactor-resume 1\nsize 10\nsha256 -\nblock-size 0\ndone 00\n"),
            None
        );
        assert_eq!(
            ResumeRecord::parse("pactor-resume 1\nsize 100\nsha256 -\nblock-size 10\ndone 00\n"),
            None
        );
    }
}
