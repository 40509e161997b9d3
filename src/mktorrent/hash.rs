//! Hashing many packages on all cores. Files are cut into slices of whole
//! pieces (about 64 MiB each) and the slices of all files go to one rayon
//! pool, so a tree of one huge package keeps every core as busy as a tree of
//! many small ones.

use std::fs::File;
use std::ops::Range;

use indicatif::ProgressBar;
use pactor_fetch::torrent::{self, Info, TorrentError};
use rayon::prelude::*;

use super::walk::{mtime_ns, Package};

/// Bytes of pieces per slice handed to one thread.
const SLICE_BYTES: u64 = 64 * 1024 * 1024;

struct Slice {
    package: usize,
    pieces: Range<u64>,
    bytes: u64,
}

/// Hashes `packages` with `threads` threads (0: one per core), moving `bar`
/// by bytes hashed. Returns one result per package, in order. A package that
/// changed size or time while it was read is an error (it will be hashed
/// again next run), since its torrent could mix old and new bytes.
pub fn hash_packages(
    packages: &[&Package],
    threads: usize,
    bar: &ProgressBar,
) -> Vec<Result<Info, TorrentError>> {
    let piece_lengths: Vec<u64> = packages
        .iter()
        .map(|p| torrent::piece_length_for(p.size))
        .collect();
    let mut slices = Vec::new();
    for (i, p) in packages.iter().enumerate() {
        let pl = piece_lengths[i];
        let count = torrent::piece_count(p.size, pl);
        let per_slice = (SLICE_BYTES / pl).max(1);
        let mut start = 0;
        while start < count {
            let end = (start + per_slice).min(count);
            let bytes = (end * pl).min(p.size) - start * pl;
            slices.push(Slice {
                package: i,
                pieces: start..end,
                bytes,
            });
            start = end;
        }
    }

    let work = || {
        slices
            .par_iter()
            .map(|s| {
                let p = packages[s.package];
                let file = File::open(&p.path).map_err(|source| TorrentError::Io {
                    path: p.path.clone(),
                    source,
                })?;
                let r = torrent::hash_pieces(
                    &file,
                    &p.path,
                    p.size,
                    piece_lengths[s.package],
                    s.pieces.clone(),
                );
                bar.inc(s.bytes);
                r
            })
            .collect::<Vec<_>>()
    };
    let results = match rayon::ThreadPoolBuilder::new().num_threads(threads).build() {
        Ok(pool) => pool.install(work),
        // Cannot start threads: hash on the global pool rather than fail.
        Err(_) => work(),
    };

    let mut pieces: Vec<Result<Vec<[u8; 20]>, TorrentError>> =
        packages.iter().map(|_| Ok(Vec::new())).collect();
    for (slice, result) in slices.iter().zip(results) {
        let acc = &mut pieces[slice.package];
        match (acc.as_mut(), result) {
            (Ok(list), Ok(hashes)) => list.extend(hashes),
            (Ok(_), Err(e)) => *acc = Err(e),
            (Err(_), _) => {}
        }
    }
    packages
        .iter()
        .zip(pieces)
        .zip(piece_lengths)
        .map(|((p, hashes), pl)| {
            let hashes = hashes?;
            let unchanged = std::fs::metadata(&p.path)
                .is_ok_and(|md| md.len() == p.size && mtime_ns(&md) == p.mtime_ns);
            if !unchanged {
                return Err(TorrentError::Changed {
                    path: p.path.clone(),
                });
            }
            Ok(Info::single(&p.name, p.size, pl, hashes))
        })
        .collect()
}
