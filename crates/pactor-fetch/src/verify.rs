//! Checking a finished download against the sync db (size and sha256) and
//! moving it into place. The sync db is the authority: mirrors, webseeds and
//! peers are all untrusted, and a file that does not match is never renamed
//! to its final name. (Package signatures are libalpm's job, after this.)

use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

/// Why a file did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The file has another size than the db says.
    #[error("size is {found}, expected {expected}")]
    Size {
        /// Size on disk.
        found: u64,
        /// Size in the plan.
        expected: u64,
    },
    /// The sha256 differs.
    #[error("sha256 is {}, expected {}", hex(.found), hex(.expected))]
    Sha256 {
        /// Hash of the file on disk.
        found: [u8; 32],
        /// Hash in the plan.
        expected: [u8; 32],
    },
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: io::Error,
    },
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// sha256 of a whole file, read in large blocks. Blocking: call it from
/// `spawn_blocking` in async code (a 1 GiB package takes a few seconds).
pub fn sha256_file(path: &Path) -> io::Result<[u8; 32]> {
    sha256_of(&mut fs_err::File::open(path)?)
}

/// Whether no one has `file` open for writing: a read lease is granted
/// only then (`F_SETLEASE`, `F_RDLCK`; it counts the descriptors and the
/// shared writable mappings of every process), and is given back at once.
/// `file` must be open for reading only, and owned by this process's user
/// (or the process may take leases).
pub fn no_writer_left(file: &std::fs::File) -> bool {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor this function borrows; no memory passed.
    let granted = unsafe { libc::fcntl(fd, libc::F_SETLEASE, libc::F_RDLCK) } == 0;
    if granted {
        // SAFETY: as above.
        unsafe { libc::fcntl(fd, libc::F_SETLEASE, libc::F_UNLCK) };
    }
    granted
}

/// sha256 of everything `reader` gives, read in large blocks (blocking,
/// like [`sha256_file`]).
pub fn sha256_of(reader: &mut impl Read) -> io::Result<[u8; 32]> {
    // One zeroed 1 MiB buffer per thread, not one per file: for 300 small
    // packages a fresh buffer each time cost more in memset than the
    // hashing itself (small300: ~40 ms of CPU in the engine and ~25 ms in
    // the parent, which checks every file again).
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let mut hasher = Sha256::new();
    BUF.with_borrow_mut(|buf| {
        if buf.is_empty() {
            buf.resize(1 << 20, 0);
        }
        loop {
            let n = reader.read(buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok::<_, io::Error>(())
    })?;
    Ok(hasher.finalize().into())
}

/// Checks `path` against the plan's size and sha256 (each only when known).
pub fn verify_file(
    path: &Path,
    size: Option<u64>,
    sha256: Option<[u8; 32]>,
) -> Result<(), VerifyError> {
    let io_err = |source| VerifyError::Io {
        path: path.display().to_string(),
        source,
    };
    let found = fs_err::metadata(path).map_err(io_err)?.len();
    if let Some(expected) = size {
        if found != expected {
            return Err(VerifyError::Size { found, expected });
        }
    }
    if let Some(expected) = sha256 {
        let found = sha256_file(path).map_err(io_err)?;
        if found != expected {
            return Err(VerifyError::Sha256 { found, expected });
        }
    }
    Ok(())
}

/// Renames a verified `part` file to `dest` (same directory), and with
/// `fsync` makes the rename durable, so a crash never leaves a final name on
/// unverified or missing data.
pub fn place(part: &Path, dest: &Path, fsync: bool) -> io::Result<()> {
    if fsync {
        sync_file(part)?;
    }
    rename_durably(part, dest, fsync)
}

/// fsyncs a file's data and size: the first half of [`place`], for a caller
/// that runs it alongside the hash ([`verify_file`]) and then
/// [`rename_durably`].
pub fn sync_file(path: &Path) -> io::Result<()> {
    fs_err::File::open(path)?.sync_all()
}

/// Renames `part` to `dest` (same directory), with `fsync` durably: the
/// second half of [`place`], for a file already [`sync_file`]d.
pub fn rename_durably(part: &Path, dest: &Path, fsync: bool) -> io::Result<()> {
    fs_err::rename(part, dest)?;
    if fsync {
        sync_dir(dest)?;
    }
    Ok(())
}

/// fsyncs the directory holding `path`, so a rename or create in it survives a
/// crash.
pub(crate) fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => fs_err::File::open(dir)?.sync_all(),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_compares() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"abc").unwrap();
        let abc: [u8; 32] = Sha256::digest(b"abc").into();
        assert_eq!(
            hex(&abc),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        verify_file(&path, Some(3), Some(abc)).unwrap();
        assert!(matches!(
            verify_file(&path, Some(4), Some(abc)),
            Err(VerifyError::Size {
                found: 3,
                expected: 4
            })
        ));
        assert!(matches!(
            verify_file(&path, None, Some([0; 32])),
            Err(VerifyError::Sha256 { .. })
        ));
        place(&path, &dir.path().join("g"), true).unwrap();
        assert!(dir.path().join("g").exists());
    }
}
