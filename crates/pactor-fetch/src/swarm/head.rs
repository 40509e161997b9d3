//! A head start for a package on its way to the swarm. While its `.torrent`
//! is looked up (a round trip, and then librqbit's add and the bridges'
//! first requests, another), the mirrors would sit idle; instead one range
//! request per package fetches a stretch of the file ([`HEAD_BYTES`]) at the
//! same time as the lookup. Once the torrent is known, librqbit asks its
//! webseeds for the pieces inside that stretch first
//! (`AddTorrentOptions::webseed_first`, vendor/librqbit/PACTOR-PATCHES.md
//! 19), and a bridge serves them from here, each piece checked against the
//! torrent's SHA-1 like any other ([`super::webseed`]). A stretch that
//! fails, or a piece of it that fails its hash, gives its pieces back to
//! the mirrors' range requests; a package whose torrent does not come
//! loses the stretch (at most [`HEAD_BYTES`]).
//!
//! Where the stretch starts is drawn at random (piece-aligned for the piece
//! length pactor's own torrents use): eight clients that upgrade together
//! then fetch different stretches, which they can trade, rather than the
//! same first bytes eight times.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use reqwest::Client;
use tokio::sync::watch;
use url::Url;

use crate::http::{self, RateLimiter};
use crate::lock;

/// How much of a package one head start fetches: a few pieces, about what
/// a mirror 30 ms away delivers on a new connection in the ~100 ms between
/// the lookup's answer and the bridges' first bytes.
pub const HEAD_BYTES: u64 = 256 * 1024;

/// Packages below this size get no head start: a stretch would be a large
/// share of them, fetched blind.
pub const HEAD_MIN_SIZE: u64 = 4 * HEAD_BYTES;

/// How far the stretch has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// Bytes from its start that arrived.
    Received(u64),
    /// Every byte is here.
    Done,
    /// It will not come (an error, a stall, a lying piece).
    Failed,
}

/// One stretch of a package's file, fetched ahead of its torrent.
#[derive(Debug)]
pub struct Head {
    /// Offset of the stretch in the file.
    offset: u64,
    /// Its length.
    len: u64,
    data: Mutex<BytesMut>,
    progress: watch::Sender<Progress>,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl Head {
    /// Starts fetching a stretch of the `size`-byte file at `url` on the
    /// current runtime, its bytes paid from `limiter` as they arrive.
    /// `None` for a file below [`HEAD_MIN_SIZE`].
    pub(crate) fn start(
        client: &Client,
        url: Url,
        size: u64,
        limiter: Option<Arc<RateLimiter>>,
        stall: std::time::Duration,
    ) -> Option<Arc<Head>> {
        let align = crate::torrent::piece_length_for(size).max(1);
        // Large packages have pieces too long for a stretch to hold two.
        if size < HEAD_MIN_SIZE || 2 * align > HEAD_BYTES {
            return None;
        }
        let slots = (size - HEAD_BYTES) / align;
        let offset = random_u64() % (slots + 1) * align;
        let head = Arc::new(Head {
            offset,
            len: HEAD_BYTES,
            data: Mutex::new(BytesMut::with_capacity(HEAD_BYTES as usize)),
            progress: watch::Sender::new(Progress::Received(0)),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(fetch(
            Arc::downgrade(&head),
            client.clone(),
            url,
            size,
            limiter,
            stall,
        ));
        *lock(&head.task) = Some(task.abort_handle());
        Some(head)
    }

    /// The pieces of `piece_length` (of `count`) that lie wholly inside the
    /// stretch.
    pub(crate) fn pieces(&self, piece_length: u64, count: u32) -> Range<u32> {
        let piece_length = piece_length.max(1);
        let first = self.offset.div_ceil(piece_length);
        let end = (self.offset + self.len) / piece_length;
        let clamp = |p: u64| p.min(u64::from(count)) as u32;
        clamp(first)..clamp(end).max(clamp(first))
    }

    /// Bytes `start..start + len` of the file, once they are here; `None`
    /// when they will not come, or lie outside the stretch.
    pub(crate) async fn bytes(&self, start: u64, len: u64) -> Option<Bytes> {
        if start < self.offset || start + len > self.offset + self.len {
            return None;
        }
        let from = start - self.offset;
        let mut rx = self.progress.subscribe();
        let ok = rx
            .wait_for(|p| match p {
                Progress::Received(n) => *n >= from + len,
                Progress::Done | Progress::Failed => true,
            })
            .await
            .is_ok_and(|p| *p != Progress::Failed);
        if !ok {
            return None;
        }
        let data = lock(&self.data);
        let end = (from + len) as usize;
        (data.len() >= end).then(|| Bytes::copy_from_slice(&data[from as usize..end]))
    }

    /// The stretch's offset and the bytes of it that arrived, once it is
    /// complete or failed, or `limit` passed (then it is given up).
    pub(crate) async fn settled(&self, limit: std::time::Duration) -> (u64, Bytes) {
        let mut rx = self.progress.subscribe();
        let waited = tokio::time::timeout(
            limit,
            rx.wait_for(|p| matches!(p, Progress::Done | Progress::Failed)),
        )
        .await;
        if waited.is_err() {
            self.fail();
        }
        (self.offset, Bytes::copy_from_slice(&lock(&self.data)))
    }

    /// Gives up on the stretch: its pieces go to the mirrors' requests.
    pub(crate) fn fail(&self) {
        self.progress.send_replace(Progress::Failed);
        self.stop_fetching();
    }

    /// Ends the stretch's request, if it still runs.
    fn stop_fetching(&self) {
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
    }

    /// Whether it failed.
    pub(crate) fn failed(&self) -> bool {
        *self.progress.borrow() == Progress::Failed
    }

    /// Counts `got` bytes of the stretch as here, unless it failed: a
    /// failure is final. [`Head::fail`] aborts the fetch, which may still be
    /// between two awaits on another thread and come here; it used to
    /// overwrite the failure, and a head start given up for a bad piece
    /// came back (`webseed`'s `head_start_pieces_are_served_from_it_unless_they_lie`
    /// failed so, once, under CI's load).
    fn arrived(&self, got: u64) {
        self.progress.send_if_modified(|p| {
            if *p == Progress::Failed {
                return false;
            }
            *p = if got >= self.len {
                Progress::Done
            } else {
                Progress::Received(got)
            };
            true
        });
    }
}

impl Drop for Head {
    fn drop(&mut self) {
        self.stop_fetching();
    }
}

/// A random number (std's per-process hash keys; nothing here needs more).
fn random_u64() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now())
}

/// The stretch's range request, into `head` while it is wanted.
async fn fetch(
    head: std::sync::Weak<Head>,
    client: Client,
    url: Url,
    size: u64,
    limiter: Option<Arc<RateLimiter>>,
    stall: std::time::Duration,
) {
    let Some((offset, len)) = head.upgrade().map(|h| (h.offset, h.len)) else {
        return;
    };
    let failed = |head: &std::sync::Weak<Head>| {
        if let Some(h) = head.upgrade() {
            h.progress.send_replace(Progress::Failed);
        }
    };
    let opened = tokio::time::timeout(
        stall,
        http::open(&client, &url, Some((offset, offset + len)), Some(size)),
    )
    .await;
    let Ok(Ok(opened)) = opened else {
        return failed(&head);
    };
    let mut response = opened.response;
    // A server that ignores ranges sends the whole file from 0.
    let mut skip = offset - opened.offset;
    let mut got = 0;
    while got < len {
        let chunk = tokio::time::timeout(stall, http::next_chunk(&mut response)).await;
        let Ok(Ok(Some(mut chunk))) = chunk else {
            return failed(&head);
        };
        if skip > 0 {
            let n = skip.min(chunk.len() as u64);
            let _ = chunk.split_to(n as usize);
            skip -= n;
        }
        let take = (len - got).min(chunk.len() as u64);
        if take == 0 {
            continue;
        }
        if let Some(limiter) = &limiter {
            limiter.consume(take).await;
        }
        let Some(h) = head.upgrade() else { return };
        lock(&h.data).extend_from_slice(&chunk[..take as usize]);
        got += take;
        h.arrived(got);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(offset: u64, len: u64) -> Head {
        Head {
            offset,
            len,
            data: Mutex::new(BytesMut::new()),
            progress: watch::Sender::new(Progress::Received(0)),
            task: Mutex::new(None),
        }
    }

    #[test]
    fn a_failure_is_final() {
        let h = head(0, 100);
        h.arrived(50);
        assert!(!h.failed());
        h.fail();
        h.arrived(100);
        assert!(h.failed(), "bytes that came after the failure undid it");
    }

    #[test]
    fn pieces_are_those_wholly_inside() {
        assert_eq!(head(0, 256).pieces(64, 100), 0..4);
        assert_eq!(head(10, 256).pieces(64, 100), 1..4);
        assert_eq!(head(64, 256).pieces(64, 100), 1..5);
        assert_eq!(head(0, 256).pieces(100, 100), 0..2);
        assert_eq!(head(0, 256).pieces(512, 100), 0..0);
        assert_eq!(head(6400, 256).pieces(64, 100), 100..100);
    }

    #[tokio::test]
    async fn bytes_wait_for_their_stretch_and_fail_with_it() {
        let h = Arc::new(head(100, 8));
        let waiter = {
            let h = h.clone();
            tokio::spawn(async move { h.bytes(102, 4).await })
        };
        lock(&h.data).extend_from_slice(b"abcd");
        h.progress.send_replace(Progress::Received(4));
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "served before its bytes came");
        lock(&h.data).extend_from_slice(b"efgh");
        h.progress.send_replace(Progress::Done);
        assert_eq!(waiter.await.unwrap().as_deref(), Some(&b"cdef"[..]));
        assert_eq!(h.bytes(96, 8).await, None, "outside the stretch");

        let g = Arc::new(head(0, 8));
        let waiter = {
            let g = g.clone();
            tokio::spawn(async move { g.bytes(0, 4).await })
        };
        g.fail();
        assert_eq!(waiter.await.unwrap(), None);
        assert!(g.failed());
    }
}
