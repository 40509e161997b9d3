//! pactor: which client fetches a piece no peer holds from the mirrors
//! (`SwarmView::rank`, `piece_tracker.rs`). Plain numbers, no librqbit
//! type, so that pactor's own tests can include this file
//! (`crates/pactor-fetch/tests/piece_owner.rs`): the vendored crate's unit
//! tests are not built.

/// A client's score for a group of pieces; of the clients that lack a
/// piece, the one with the lowest score owns it. Every client computes the
/// same scores from the peer ids it sees, so each piece is fetched from the
/// mirrors by about one of them.
///
/// FNV-1a of the peer id and the group's number, then MurmurHash3's 64-bit
/// finalizer. FNV-1a alone mixes its last bytes (the group) only into the
/// bits above them, so which id scored lowest hardly changed from group to
/// group: over 80 groups and eight random ids, 1.8 of the eight owned
/// nothing on average and others two or three times their share, and on
/// patch day those few fetched most of the mirror's pieces through their
/// own connections while the mirror's rate fell to 3-5 MB/s of 9.6.
pub fn owner_score(peer_id: &[u8; 20], group: u32) -> u64 {
    let fnv = peer_id
        .iter()
        .chain(group.to_le_bytes().iter())
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        });
    let mut h = fnv;
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}
