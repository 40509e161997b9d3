//! Benchmark of the multi-mirror HTTP engine against aria2c on the same
//! loopback mirrors (rate-capped servers with a fixed delay before each
//! reply). Prints a table; never fails on time. Run with
//! `cargo bench -p pactor-fetch --bench mirrors` (aria2c optional: its column
//! stays empty when it is not installed). `PACTOR_BENCH_ONLY=<name part>`
//! runs matching scenarios only.

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pactor_fetch::verify::hex;
use pactor_fetch::{fetch_all, FetchOptions, NoopReporter, Url};
use support::*;

const MB: u64 = 1_000_000;
const MIB: usize = 1024 * 1024;

struct Scenario {
    name: &'static str,
    sizes: Vec<usize>,
    /// Per mirror: rate cap (bytes/s) and fault.
    mirrors: Vec<(u64, MirrorKind)>,
    latency: Duration,
}

#[derive(Clone, Copy, PartialEq)]
enum MirrorKind {
    Good,
    StallsAfter1MiB,
    /// Accepts connections and never answers.
    Hangs,
    /// Connection refused.
    Dead,
}

fn scenarios() -> Vec<Scenario> {
    let packages = vec![60 * MIB, 30 * MIB, 15 * MIB, 8 * MIB, 4 * MIB, 3 * MIB];
    let caps = |first: (u64, MirrorKind)| {
        vec![
            first,
            (20 * MB, MirrorKind::Good),
            (10 * MB, MirrorKind::Good),
            (5 * MB, MirrorKind::Good),
        ]
    };
    vec![
        Scenario {
            name: "4 mirrors 20/10/5/5 MB/s",
            sizes: packages.clone(),
            mirrors: vec![
                (20 * MB, MirrorKind::Good),
                (10 * MB, MirrorKind::Good),
                (5 * MB, MirrorKind::Good),
                (5 * MB, MirrorKind::Good),
            ],
            latency: Duration::from_millis(30),
        },
        Scenario {
            name: "first mirror 1 MB/s",
            sizes: packages.clone(),
            mirrors: caps((MB, MirrorKind::Good)),
            latency: Duration::from_millis(30),
        },
        Scenario {
            name: "first mirror stalls after 1 MiB",
            sizes: packages.clone(),
            mirrors: caps((20 * MB, MirrorKind::StallsAfter1MiB)),
            latency: Duration::from_millis(30),
        },
        Scenario {
            name: "first mirror hangs, second dead",
            sizes: packages.clone(),
            mirrors: vec![
                (0, MirrorKind::Hangs),
                (0, MirrorKind::Dead),
                (20 * MB, MirrorKind::Good),
                (10 * MB, MirrorKind::Good),
            ],
            latency: Duration::from_millis(30),
        },
        Scenario {
            name: "300 small packages",
            sizes: (0..300).map(|i| 20_000 + (i * 7919) % 400_000).collect(),
            mirrors: vec![
                (20 * MB, MirrorKind::Good),
                (10 * MB, MirrorKind::Good),
                (5 * MB, MirrorKind::Good),
                (5 * MB, MirrorKind::Good),
            ],
            latency: Duration::from_millis(30),
        },
    ]
}

/// Starts the scenario's mirrors; they live as long as the runtime.
async fn start_mirrors(files: &Files, scenario: &Scenario) -> Vec<Url> {
    let mut out = Vec::new();
    for (rate, kind) in &scenario.mirrors {
        let url = match kind {
            MirrorKind::Hangs => spawn_hang().await,
            MirrorKind::Dead => dead_url(),
            MirrorKind::Good | MirrorKind::StallsAfter1MiB => {
                let faults = Faults {
                    rate: Some(*rate),
                    latency: scenario.latency,
                    stall_after: (*kind == MirrorKind::StallsAfter1MiB).then_some(MIB as u64),
                    ..Faults::default()
                };
                spawn_mirror(files.map.clone(), faults).await.url()
            }
        };
        out.push(url);
    }
    out
}

/// The best any client can do: all bytes over the working mirrors' caps.
fn physical_limit(total: u64, scenario: &Scenario) -> f64 {
    let caps: u64 = scenario
        .mirrors
        .iter()
        .filter(|(_, k)| *k == MirrorKind::Good)
        .map(|(r, _)| r)
        .sum();
    total as f64 / caps as f64
}

async fn run_pactor(files: &Files, urls: &[Url]) -> Result<Duration, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut plan = plan(files.items(urls), dir.path());
    if let Some(n) = std::env::var("PACTOR_BENCH_CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        plan.limits.max_connections_per_mirror = n;
    }
    plan.options = FetchOptions {
        fsync: false,
        ..FetchOptions::default()
    };
    let start = Instant::now();
    let run = fetch_all(plan, Arc::new(NoopReporter));
    match tokio::time::timeout(Duration::from_secs(120), run).await {
        Ok(Ok(_)) => Ok(start.elapsed()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

/// aria2c with settings a user would pick for mirrors: 4 connections per
/// server, split over all URIs, adaptive URI choice, sha-256 checked.
async fn run_aria2c(files: &Files, urls: &[Url]) -> Result<Duration, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut input = String::new();
    for name in &files.names {
        let uris: Vec<String> = urls.iter().map(|u| format!("{u}/{name}")).collect();
        input.push_str(&uris.join("\t"));
        input.push('\n');
        input.push_str(&format!("  out={name}\n"));
        input.push_str(&format!(
            "  checksum=sha-256={}\n",
            hex(&sha256(files.get(name)))
        ));
    }
    let list = dir.path().join("input.txt");
    std::fs::write(&list, input).map_err(|e| e.to_string())?;
    let start = Instant::now();
    let mut child = tokio::process::Command::new("aria2c")
        .arg(format!("--input-file={}", list.display()))
        .arg(format!("--dir={}", dir.path().display()))
        .args([
            "--max-concurrent-downloads=8",
            "--max-connection-per-server=4",
            "--split=4",
            "--min-split-size=1M",
            "--uri-selector=adaptive",
            "--file-allocation=none",
            "--connect-timeout=5",
            "--timeout=10",
            "--console-log-level=error",
            "--summary-interval=0",
            "--allow-overwrite=true",
            "--auto-file-renaming=false",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(Duration::from_secs(120), child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(start.elapsed()),
        Ok(Ok(status)) => Err(format!("exit {status}")),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out after 120 s".into()),
    }
}

fn show(result: &Result<Duration, String>, limit: f64) -> String {
    match result {
        Ok(t) => format!(
            "{:6.2} s ({:3.0}%)",
            t.as_secs_f64(),
            limit / t.as_secs_f64() * 100.0
        ),
        Err(e) => format!("failed: {e}"),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let only = std::env::var("PACTOR_BENCH_ONLY").ok();
    let have_aria2c = Command::new("aria2c")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "{:34} {:>9} {:>8}  {:>16}  {:>16}",
        "scenario", "MB", "limit s", "pactor-fetch", "aria2c"
    );
    for scenario in scenarios() {
        if only.as_deref().is_some_and(|o| !scenario.name.contains(o)) {
            continue;
        }
        let files = Files::new(&scenario.sizes);
        let total: u64 = scenario.sizes.iter().map(|s| *s as u64).sum();
        let limit = physical_limit(total, &scenario);
        runtime.block_on(async {
            // Fresh servers per client: a stalled server stays stalled.
            let urls = start_mirrors(&files, &scenario).await;
            let pactor = run_pactor(&files, &urls).await;
            let aria2c = if have_aria2c {
                let urls = start_mirrors(&files, &scenario).await;
                show(&run_aria2c(&files, &urls).await, limit)
            } else {
                "not installed".into()
            };
            println!(
                "{:34} {:>9.1} {:>8.2}  {:>16}  {:>16}",
                scenario.name,
                total as f64 / MB as f64,
                limit,
                show(&pactor, limit),
                aria2c
            );
        });
    }
}
