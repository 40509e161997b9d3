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
    ///
    /// When the second copy cannot be written (a full disk: the file system
    /// has no block left for it), an earlier record at `path` of the same
    /// length (the same file, cut the same way) is overwritten in place,
    /// which needs no new block. A write torn by a crash then mixes this
    /// record with the last one; a block wrongly marked done costs a failed
    /// checksum and a fresh download, never a bad install.
    pub fn save(&self, path: &Path, fsync: bool) -> io::Result<()> {
        let text = self.render();
        let tmp = path.with_extension("resume-tmp");
        let written = (|| {
            let mut file = fs_err::File::create(&tmp)?;
            file.write_all(text.as_bytes())?;
            if fsync {
                file.sync_all()?;
            }
            Ok::<_, io::Error>(())
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Self::overwrite(path, &text, fsync).map_err(|_| e);
        }
        fs_err::rename(&tmp, path)?;
        if fsync {
            crate::verify::sync_dir(path)?;
        }
        Ok(())
    }

    /// Writes `text` over the record at `path`, which must exist and be as
    /// long ([`ResumeRecord::save`]).
    fn overwrite(path: &Path, text: &str, fsync: bool) -> io::Result<()> {
        let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
        if file.metadata()?.len() != text.len() as u64 {
            return Err(io::Error::other("a record of another length"));
        }
        file.write_all(text.as_bytes())?;
        if fsync {
            file.sync_all()?;
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
    fn without_room_for_a_second_copy_the_record_is_written_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.resume");
        let mut rec = ResumeRecord::new(4 * 1024, None, 1024);
        rec.save(&path, false).unwrap();
        // The temporary copy cannot be made (here: a directory in its way).
        let tmp = path.with_extension("resume-tmp");
        std::fs::create_dir(&tmp).unwrap();
        rec.done[1] = true;
        rec.save(&path, true).unwrap();
        assert_eq!(ResumeRecord::load(&path).unwrap(), rec);
        // A record of another file, or none at all: the error stands.
        let other = dir.path().join("y.resume");
        std::fs::create_dir(other.with_extension("resume-tmp")).unwrap();
        assert!(rec.save(&other, false).is_err());
        assert!(!other.exists());
        ResumeRecord::new(40 * 1024, None, 1024)
            .save(&dir.path().join("z.resume"), false)
            .unwrap();
        std::fs::rename(dir.path().join("z.resume"), &other).unwrap();
        assert!(rec.save(&other, false).is_err());
        assert_eq!(ResumeRecord::load(&other).unwrap().size, 40 * 1024);
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
