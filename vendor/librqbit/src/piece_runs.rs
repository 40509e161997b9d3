//! pactor: where a source goes next when the torrent has no peer to share
//! with. Plain numbers, no librqbit type, so that pactor's own tests can
//! include this file (`crates/pactor-fetch/tests/piece_runs.rs`): the
//! vendored crate's unit tests are not built.

use std::collections::HashSet;

/// The piece a source with no peer to share with takes next, of `queued`
/// (the pieces it may take, in any order): the one at its `cursor` (the
/// piece after the last one it took) while that is queued, so its run goes
/// on; else the start of the longest stretch of consecutive queued pieces,
/// or, where another source's cursor sits at a stretch's start (it works
/// through that stretch), the middle of it, which leaves both halves as
/// long as they can be. Among stretches, the one that gives this source
/// the most pieces, the first of equals.
///
/// This is how the HTTP engine splits its largest segment, and it keeps a
/// mirror's range requests long to the end. In file order from wherever a
/// run ended (librqbit 9.1.0, and pactor before this), a source that reached
/// another's run went on just past it, and from then on the two took turns
/// at the pieces ahead: runs of one or two pieces, each range request with a
/// round trip of its own.
pub(crate) fn next_run(queued: &[u32], cursor: u32, others: &[u32]) -> Option<u32> {
    if queued.contains(&cursor) {
        return Some(cursor);
    }
    let mut sorted = queued.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let others: HashSet<u32> = others.iter().copied().collect();
    // (pieces this source gets from the stretch, the piece it starts at)
    let mut best: Option<(usize, u32)> = None;
    let mut start = 0;
    for end in 1..=sorted.len() {
        if end < sorted.len() && sorted[end] == sorted[end - 1] + 1 {
            continue;
        }
        let len = end - start;
        let (gets, at) = if others.contains(&sorted[start]) {
            (len - len / 2, start + len / 2)
        } else {
            (len, start)
        };
        if best.is_none_or(|(most, _)| gets > most) {
            best = Some((gets, sorted[at]));
        }
        start = end;
    }
    best.map(|(_, piece)| piece)
}
