//! The swarm against real BitTorrent software on 127.0.0.1: Debian's
//! `transmission-daemon` seeds a package-sized file, Debian's `opentracker`
//! (whitelist-only, chrooted, as `nobody`) introduces the peers, and pactor's
//! librqbit session downloads from the seeder alone, or from the seeder and a
//! mirror together.
//!
//! Every program runs under `timeout(1)` so that it ends by itself even if
//! the test dies, and is stopped by PID at the end. Without the programs
//! (`apt-get install transmission-daemon opentracker`) the tests say so and
//! pass.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pactor_fetch::swarm::{Swarm, SwarmItem};
use pactor_fetch::torrent::{info_for_file, Metainfo};
use support::programs::{free_port, have, seeder_announced, start_tracker, Program};
use support::{content, loopback_swarm, sha256, spawn_mirror, within, Faults};

const NAME: &str = "seeded-2.0-1-x86_64.pkg.tar.zst";

/// transmission-daemon seeding `data` as `torrent`; returns its peer address.
fn start_seeder(dir: &Path, torrent: &[u8], data: &[u8]) -> (Program, SocketAddr) {
    let base = dir.join("transmission");
    let (cfg, watch, dl) = (base.join("cfg"), base.join("watch"), base.join("dl"));
    for d in [&cfg, &watch, &dl] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(dl.join(NAME), data).unwrap();
    std::fs::write(watch.join(format!("{NAME}.torrent")), torrent).unwrap();
    let peer_port = free_port();
    let rpc_port = free_port().to_string();
    let log = base.join("log");
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let p = Program::start(
        "transmission-daemon",
        &[
            "-f",
            "-g",
            &s(&cfg),
            "-c",
            &s(&watch),
            "-w",
            &s(&dl),
            "-p",
            &rpc_port,
            "-r",
            "127.0.0.1",
            "-P",
            &peer_port.to_string(),
            "-i",
            "127.0.0.1",
            "--no-dht",
            "--no-lpd",
            "--no-portmap",
            "--no-utp",
            // librqbit does not speak MSE encryption.
            "--encryption-tolerated",
            "--no-auth",
            "--log-info",
            "-e",
            &s(&log),
        ],
        Some(log),
    );
    (p, SocketAddr::from(([127, 0, 0, 1], peer_port)))
}

struct Setup {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    data: bytes::Bytes,
    torrent: Vec<u8>,
    tracker: Program,
    seeder: Program,
}

async fn setup(seed: u64, len: usize) -> Option<Setup> {
    if !have("transmission-daemon") || !have("opentracker") {
        eprintln!("skipped: transmission-daemon or opentracker is not installed");
        return None;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let data = content(seed, len);
    let src = dir.join("src");
    std::fs::write(&src, &data).unwrap();
    let mut meta = Metainfo::new(info_for_file(&src, NAME).unwrap());
    let hash = meta.info_hash();
    let (tracker, tracker_url) = start_tracker(&dir, &[hash]);
    meta.announce = Some(format!("{tracker_url}/announce"));
    let torrent = meta.to_bytes();
    // opentracker reads its whitelist in the background.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (seeder, _) = start_seeder(&dir, &torrent, &data);
    within(
        Duration::from_secs(30),
        seeder_announced(&tracker_url, hash),
    )
    .await;
    Some(Setup {
        _tmp: tmp,
        dir,
        data,
        torrent,
        tracker,
        seeder,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_alone_deliver_the_file() {
    let Some(s) = setup(11, 5 * 1024 * 1024 + 4321).await else {
        return;
    };
    let out = s.dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let swarm = Swarm::start(loopback_swarm(&s.dir)).await.unwrap();
    let start = Instant::now();
    let t = swarm
        .add(SwarmItem {
            filename: NAME.into(),
            size: s.data.len() as u64,
            metainfo: s.torrent.clone(),
            output_dir: out.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let path = within(Duration::from_secs(60), t.wait()).await.unwrap();
    eprintln!(
        "from transmission via opentracker: {} bytes in {:?}",
        s.data.len(),
        start.elapsed()
    );
    assert_eq!(path, out.join(NAME));
    assert_eq!(sha256(&std::fs::read(&path).unwrap()), sha256(&s.data));
    let p = t.progress();
    assert_eq!(p.from_mirrors, 0);
    assert!(p.from_peers >= s.data.len() as u64, "{p:?}");
    assert!(t.webseeds().is_empty());
    swarm.stop().await;
    drop((s.seeder, s.tracker));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_and_a_mirror_share_the_file() {
    let Some(s) = setup(12, 8 * 1024 * 1024).await else {
        return;
    };
    let files = Arc::new(HashMap::from([(NAME.to_owned(), s.data.clone())]));
    // A slow mirror: transmission unchokes a new peer only at its next
    // rechoke (up to 10 s), and the seeder should get a share.
    let mirror = spawn_mirror(
        files,
        Faults {
            rate: Some(400 * 1024),
            ..Default::default()
        },
    )
    .await;
    let out = s.dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let swarm = Swarm::start(loopback_swarm(&s.dir)).await.unwrap();
    let t = swarm
        .add(SwarmItem {
            filename: NAME.into(),
            size: s.data.len() as u64,
            metainfo: s.torrent.clone(),
            output_dir: out.clone(),
            mirrors: vec![mirror.url()],
            ..Default::default()
        })
        .await
        .unwrap();
    let path = within(Duration::from_secs(60), t.wait()).await.unwrap();
    assert_eq!(sha256(&std::fs::read(&path).unwrap()), sha256(&s.data));
    let p = t.progress();
    eprintln!("{p:?}");
    assert_eq!(p.have, s.data.len() as u64);
    assert!(p.from_peers > 0 && p.from_mirrors > 0, "{p:?}");
    assert_eq!(p.resumed, 0);
    assert_eq!(p.from_peers + p.from_mirrors, p.have);
    swarm.stop().await;
    drop((s.seeder, s.tracker));
}
