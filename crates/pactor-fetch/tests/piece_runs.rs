//! pactor's piece choice for webseeds with no peer around
//! (`vendor/librqbit/src/piece_runs.rs`, included here: the vendored
//! crate's own unit tests are not built).

#[path = "../../../vendor/librqbit/src/piece_runs.rs"]
mod piece_runs;

use piece_runs::next_run;

#[test]
fn a_run_goes_on_while_its_next_piece_is_free() {
    let queued: Vec<u32> = (5..8).chain(20..30).collect();
    assert_eq!(next_run(&queued, 6, &[20]), Some(6));
}

#[test]
fn a_stretch_another_works_through_is_split_in_the_middle() {
    let queued: Vec<u32> = (10..30).collect();
    assert_eq!(next_run(&queued, 40, &[10]), Some(20));
    // Odd lengths leave the longer half to the newcomer.
    let queued: Vec<u32> = (10..15).collect();
    assert_eq!(next_run(&queued, 40, &[10]), Some(12));
    // The last piece of a stretch someone is at goes to whoever asks.
    assert_eq!(next_run(&[10], 40, &[10]), Some(10));
}

#[test]
fn a_stretch_nobody_works_on_is_taken_from_its_start() {
    // 0..8 gives eight pieces; half of 20..34 (someone is at 20) gives seven.
    let queued: Vec<u32> = (0..8).chain(20..34).collect();
    assert_eq!(next_run(&queued, 50, &[20]), Some(0));
    // Without anyone at 20, all fourteen.
    assert_eq!(next_run(&queued, 50, &[3]), Some(20));
    // Order of the input does not matter.
    let reversed: Vec<u32> = queued.iter().rev().copied().collect();
    assert_eq!(next_run(&reversed, 50, &[20]), Some(0));
}

#[test]
fn nothing_queued_gives_nothing() {
    assert_eq!(next_run(&[], 0, &[]), None);
}

/// Two sources on a 64-piece file, one three times as fast as the other,
/// the slow one from piece 0 and the fast one from piece 32: every piece is
/// taken once, in at most six runs over both (here: the slow one's one;
/// the fast one's 32 pieces to the end, then 11, 3, 1 and 1, each from the
/// middle of what the slow one had left before it). In file order
/// from where a run ended (the rule before), the fast one, at the file's
/// end, went on at the slow one's next piece, and the two took turns from
/// there: 13 runs, the slow one's last five of one piece each and the fast
/// one's of three.
#[test]
fn two_sources_take_the_file_in_few_long_runs() {
    let mut queued: Vec<u32> = (0..64).collect();
    // (cursor, pieces taken) of the slow and the fast source
    let mut sources = [(0u32, Vec::new()), (32u32, Vec::new())];
    let mut turn = 0usize;
    while !queued.is_empty() {
        // The fast source asks three times for each time the slow one does.
        let who = usize::from(!turn.is_multiple_of(4));
        turn += 1;
        let others = [sources[1 - who].0];
        let piece = next_run(&queued, sources[who].0, &others).unwrap();
        queued.retain(|p| *p != piece);
        sources[who].0 = piece + 1;
        sources[who].1.push(piece);
    }
    let mut all: Vec<u32> = sources.iter().flat_map(|s| s.1.clone()).collect();
    all.sort_unstable();
    assert_eq!(all, (0..64).collect::<Vec<_>>());
    let runs: usize = sources
        .iter()
        .map(|(_, taken)| 1 + taken.windows(2).filter(|w| w[1] != w[0] + 1).count())
        .sum();
    assert!(runs <= 6, "{runs} runs: {sources:?}");
}
