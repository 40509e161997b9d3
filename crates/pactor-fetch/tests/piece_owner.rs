//! Which client fetches a piece no peer holds (`vendor/librqbit/src/piece_owner.rs`,
//! included here: the vendored crate's own unit tests are not built).

#[path = "../../../vendor/librqbit/src/piece_owner.rs"]
mod piece_owner;

use piece_owner::owner_score;

/// splitmix64: a fixed sequence of random-looking numbers, so that the
/// test sees the same peer ids every run.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A peer id as librqbit makes them: its fingerprint, then 12 random bytes.
fn peer_id(state: &mut u64) -> [u8; 20] {
    let mut id = [0; 20];
    id[..8].copy_from_slice(b"-rQ9100-");
    id[8..16].copy_from_slice(&splitmix(state).to_le_bytes());
    id[16..].copy_from_slice(&splitmix(state).to_le_bytes()[..4]);
    id
}

#[test]
fn every_client_owns_about_its_share_of_the_groups() {
    // 200 swarms of eight clients; 80 groups of 256 KiB (a 20 MiB package).
    // The owner of a group is the client with the lowest score. A fair
    // draw gives each client 10 +- 3; FNV-1a alone left clients with none
    // and others with up to 40.
    let mut state = 1;
    for swarm in 0..200 {
        let ids: Vec<[u8; 20]> = (0..8).map(|_| peer_id(&mut state)).collect();
        let mut owned = [0u32; 8];
        for group in 0..80 {
            let owner = (0..8).min_by_key(|&i| owner_score(&ids[i], group)).unwrap();
            owned[owner] += 1;
        }
        let (least, most) = (owned.iter().min().unwrap(), owned.iter().max().unwrap());
        assert!(
            *least >= 1 && *most <= 24,
            "swarm {swarm}: groups owned {owned:?}"
        );
    }
}

#[test]
fn a_clients_score_is_the_same_everywhere_and_differs_by_group() {
    let mut state = 7;
    let id = peer_id(&mut state);
    assert_eq!(owner_score(&id, 3), owner_score(&id, 3));
    let scores: std::collections::HashSet<u64> = (0..64).map(|g| owner_score(&id, g)).collect();
    assert_eq!(scores.len(), 64);
}
