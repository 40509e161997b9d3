//! Random mixes of faulty mirrors (fixed seeds): with at least one good
//! mirror every run must deliver every file, with none it must fail; never
//! hang. A liveness net under the targeted tests in `fetch.rs`.

mod support;

use std::sync::Arc;
use std::time::Duration;

use pactor_fetch::reporter::CollectingReporter;
use pactor_fetch::{fetch_all, FetchError, Url};
use support::*;

const MIB: usize = 1024 * 1024;

/// xorshift, enough for picking faults.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Good,
    Slow,
    Dead,
    Hang,
    StallAfter,
    Corrupt,
    NotFound,
    Error500,
    NoRanges,
    OtherVersion,
}

const BAD: [Kind; 8] = [
    Kind::Dead,
    Kind::Hang,
    Kind::StallAfter,
    Kind::Corrupt,
    Kind::NotFound,
    Kind::Error500,
    Kind::OtherVersion,
    Kind::Slow,
];

async fn start(kind: Kind, files: &Files) -> Url {
    let faults = match kind {
        Kind::Dead => return dead_url(),
        Kind::Hang => return spawn_hang().await,
        Kind::Good => Faults::default(),
        Kind::Slow => Faults {
            rate: Some(300_000),
            ..Faults::default()
        },
        Kind::StallAfter => Faults {
            stall_after: Some(300_000),
            ..Faults::default()
        },
        Kind::Corrupt => Faults {
            corrupt: true,
            ..Faults::default()
        },
        Kind::NotFound => Faults {
            not_found: true,
            ..Faults::default()
        },
        Kind::Error500 => Faults {
            status: Some(500),
            ..Faults::default()
        },
        Kind::NoRanges => Faults {
            no_ranges: true,
            ..Faults::default()
        },
        Kind::OtherVersion => Faults {
            other_version: true,
            ..Faults::default()
        },
    };
    spawn_mirror(files.map.clone(), faults).await.url()
}

async fn run(seed: u64) {
    let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
    let sizes: Vec<usize> = (0..1 + rng.below(5))
        .map(|_| match rng.below(3) {
            0 => 1 + rng.below(60_000) as usize,
            1 => 100_000 + rng.below(MIB as u64) as usize,
            _ => 2 * MIB + rng.below(3 * MIB as u64) as usize,
        })
        .collect();
    let files = if rng.below(2) == 0 {
        Files::new(&sizes).with_sig()
    } else {
        Files::new(&sizes)
    };
    let mirrors = 1 + rng.below(4) as usize;
    let with_good = seed % 4 != 3;
    let mut kinds: Vec<Kind> = (0..mirrors)
        .map(|_| BAD[rng.below(BAD.len() as u64) as usize])
        .collect();
    if with_good {
        let at = rng.below(mirrors as u64 + 1) as usize;
        let good = if rng.below(3) == 0 {
            Kind::NoRanges
        } else {
            Kind::Good
        };
        kinds.insert(at, good);
    }
    let mut urls = Vec::new();
    for kind in &kinds {
        urls.push(start(*kind, &files).await);
    }
    let dir = tempfile::tempdir().unwrap();
    let start = std::time::Instant::now();
    let result = tokio::time::timeout(
        Duration::from_secs(40),
        fetch_all(
            plan(files.items(&urls), dir.path()),
            Arc::new(CollectingReporter::default()),
        ),
    )
    .await
    .unwrap_or_else(|_| panic!("seed {seed}: hung with {kinds:?}, sizes {sizes:?}"));
    eprintln!(
        "seed {seed}: {kinds:?}, {} files: {:?} in {:.1?}",
        files.names.len(),
        result.as_ref().map(|_| "ok").map_err(|_| "failed"),
        start.elapsed()
    );
    // A slow mirror alone still delivers, just slowly: it counts as good
    // when it is the only kind of working mirror.
    let works = |k: &Kind| matches!(k, Kind::Good | Kind::NoRanges | Kind::Slow);
    match result {
        Ok(_) => {
            assert!(kinds.iter().any(works), "seed {seed}: {kinds:?} succeeded?");
            // A signature has no size or hash to check: like pacman, pactor
            // takes it from the first mirror that serves one (alpm then
            // rejects a bad one). Packages must be exact.
            let liars = kinds
                .iter()
                .any(|k| matches!(k, Kind::Corrupt | Kind::OtherVersion));
            if liars {
                files
                    .names
                    .iter()
                    .filter(|n| !n.ends_with(".sig"))
                    .for_each(|n| {
                        let on_disk = std::fs::read(dir.path().join(n)).unwrap();
                        assert!(on_disk == files.get(n)[..], "seed {seed}: {n} differs");
                    });
            } else {
                assert_placed(&files, dir.path());
            }
        }
        Err(FetchError::Failed { failures, .. }) => {
            assert!(
                !with_good,
                "seed {seed}: failed with {kinds:?}, sizes {sizes:?}: {failures:?}"
            );
            for failure in &failures {
                assert!(!dir.path().join(&failure.filename).exists());
            }
        }
        Err(e) => panic!("seed {seed}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_fault_mixes_complete_or_fail_cleanly() {
    within(Duration::from_secs(240), async {
        let seeds: Vec<u64> = match std::env::var("PACTOR_MIXED_SEEDS") {
            Ok(v) => v.split(',').filter_map(|s| s.parse().ok()).collect(),
            Err(_) => (1..=16).collect(),
        };
        for seed in seeds {
            run(seed).await;
        }
    })
    .await;
}
