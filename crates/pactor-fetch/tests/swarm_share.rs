//! Several pactor sessions on loopback sharing one torrent and its mirror,
//! as on a patch day: what librqbit's patches (vendor/librqbit,
//! PACTOR-PATCHES.md) change. Clients that start together must tell each
//! other what they got, ask the mirror only for pieces no peer holds, and
//! still use a fast mirror when their peers are slow. Every test runs under
//! a time limit and its servers stop by themselves.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use pactor_fetch::swarm::{SeedItem, SeedState, Swarm, SwarmItem, SwarmOptions};
use pactor_fetch::torrent::{info_for_file, Metainfo};
use support::{content, loopback_swarm, sha256, spawn_mirror, within, Faults, Mirror};

const NAME: &str = "pkg-1.0-1-x86_64.pkg.tar.zst";

/// A session listening on loopback, with no DHT, LSD or tracker.
fn options(state: &Path, max_upload_rate: Option<u64>) -> SwarmOptions {
    SwarmOptions {
        max_upload_rate,
        ..loopback_swarm(state)
    }
}

/// A mirror of `data` as `NAME` that sends 2 MB/s in all.
async fn mirror_at_2mbs(data: &Bytes) -> Mirror {
    let files = Arc::new(HashMap::from([(NAME.to_owned(), data.clone())]));
    let faults = Faults {
        rate: Some(2_000_000),
        ..Default::default()
    };
    spawn_mirror(files, faults).await
}

/// pactor-mktorrent's torrent for `data` named `NAME`.
fn torrent_of(dir: &Path, data: &[u8]) -> Vec<u8> {
    let path = dir.join("src");
    std::fs::write(&path, data).unwrap();
    let info = info_for_file(&path, NAME).unwrap();
    std::fs::remove_file(&path).unwrap();
    Metainfo::new(info).to_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_start_together_trade_and_share_the_mirror() {
    const CLIENTS: usize = 4;
    let tmp = tempfile::tempdir().unwrap();
    let data = content(31, 6 * 1024 * 1024 + 4321);
    let torrent = torrent_of(tmp.path(), &data);
    // One copy takes the mirror 3 s: long enough for the clients to trade.
    let mirror = mirror_at_2mbs(&data).await;

    let mut swarms = Vec::new();
    for k in 0..CLIENTS {
        let dir = tmp.path().join(format!("c{k}"));
        std::fs::create_dir_all(dir.join("out")).unwrap();
        swarms.push((Swarm::start(options(&dir, None)).await.unwrap(), dir));
    }
    let addrs: Vec<_> = swarms
        .iter()
        .map(|(s, _)| s.listen_addr().expect("listening"))
        .collect();
    // All at once, each knowing the others (as a tracker would tell them).
    let mut transfers = Vec::new();
    for (k, (swarm, dir)) in swarms.iter().enumerate() {
        let others = addrs.iter().copied().filter(|a| *a != addrs[k]).collect();
        transfers.push(
            swarm
                .add(SwarmItem {
                    filename: NAME.into(),
                    size: data.len() as u64,
                    metainfo: torrent.clone(),
                    output_dir: dir.join("out"),
                    mirrors: vec![mirror.url()],
                    initial_peers: others,
                    head: None,
                })
                .await
                .unwrap(),
        );
    }
    let start = Instant::now();
    for t in &transfers {
        let path = within(Duration::from_secs(90), t.wait()).await.unwrap();
        assert_eq!(sha256(&std::fs::read(&path).unwrap()), sha256(&data));
    }
    let copies = mirror.sent() as f64 / data.len() as f64;
    let mut from_peers = Vec::new();
    for t in &transfers {
        let p = t.progress();
        assert_eq!(p.from_peers + p.from_mirrors, data.len() as u64, "{p:?}");
        from_peers.push(p.from_peers);
    }
    eprintln!(
        "{CLIENTS} clients in {:?}: mirror sent {copies:.2} copies; bytes from peers {from_peers:?}",
        start.elapsed()
    );
    // Unpatched librqbit 9.1.0: every client took the whole file from the
    // mirror (clients that connect while empty never send `have`, and all
    // ask the mirror for the same pieces), about CLIENTS copies.
    assert!(
        copies <= 1.5,
        "the mirror sent {copies:.2} copies for {CLIENTS} clients"
    );
    assert!(
        from_peers.iter().all(|b| *b > 0),
        "a client got nothing from its peers: {from_peers:?}"
    );
    for (swarm, _) in swarms {
        swarm.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_peer_does_not_hold_back_a_fast_mirror() {
    let tmp = tempfile::tempdir().unwrap();
    let data = content(32, 8 * 1024 * 1024);
    let torrent = torrent_of(tmp.path(), &data);
    // 4 s for the file from the mirror alone.
    let mirror = mirror_at_2mbs(&data).await;

    // A seeder that uploads at 100 kB/s: 80 s for the file on its own.
    let seed_dir = tmp.path().join("seeder");
    std::fs::create_dir_all(&seed_dir).unwrap();
    let seed_path = seed_dir.join(NAME);
    std::fs::write(&seed_path, &data).unwrap();
    let seeder = Swarm::start(options(&seed_dir.join("state"), Some(100_000)))
        .await
        .unwrap();
    let seed = seeder
        .seed(SeedItem {
            path: seed_path,
            metainfo: torrent.clone(),
            trusted: false,
        })
        .await
        .unwrap();
    within(Duration::from_secs(30), async {
        while seed.stats().state != SeedState::Seeding {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;

    let dir = tmp.path().join("client");
    std::fs::create_dir_all(dir.join("out")).unwrap();
    let client = Swarm::start(options(&dir, None)).await.unwrap();
    let start = Instant::now();
    let t = client
        .add(SwarmItem {
            filename: NAME.into(),
            size: data.len() as u64,
            metainfo: torrent,
            output_dir: dir.join("out"),
            mirrors: vec![mirror.url()],
            initial_peers: vec![seeder.listen_addr().expect("listening")],
            head: None,
        })
        .await
        .unwrap();
    let path = within(Duration::from_secs(60), t.wait()).await.unwrap();
    let took = start.elapsed();
    assert_eq!(sha256(&std::fs::read(&path).unwrap()), sha256(&data));
    let p = t.progress();
    eprintln!("in {took:?}: {p:?}");
    // Peers before mirrors must not mean waiting on a peer slower than the
    // mirror: the mirror takes the pieces the seeder holds too.
    assert!(
        p.from_mirrors >= data.len() as u64 * 3 / 4,
        "the mirror gave only {} of {} bytes",
        p.from_mirrors,
        data.len()
    );
    // Without that, 16.9 s (the mirror only stealing from the seeder).
    assert!(took < Duration::from_secs(12), "took {took:?}");
    assert!(p.from_peers > 0, "the seeder was not used: {p:?}");
    client.stop().await;
    seeder.stop().await;
}
