//! Resume: a run killed with SIGKILL (a child process running the engine) or
//! abandoned (its future dropped, as on Ctrl-C) keeps every completed block,
//! and the next run downloads little more than what was missing.

mod support;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pactor_fetch::reporter::{CollectingReporter, Event};
use pactor_fetch::resume::ResumeRecord;
use pactor_fetch::{fetch_all, Url};
use support::*;

const MIB: usize = 1024 * 1024;
const SIZE: usize = 40 * MIB;
const CHILD_ENV: &str = "PACTOR_FETCH_TEST_CHILD";

/// Not a test on its own: the engine run of the child process that
/// `kill_9_mid_download_resumes` starts and kills. Without the variable it
/// does nothing.
#[test]
fn child_runs_the_engine() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.split(' ');
    let dir = parts.next().unwrap().to_owned();
    let mirrors: Vec<Url> = parts.map(|u| Url::parse(u).unwrap()).collect();
    let files = Files::new(&[SIZE]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // Bounded even if nobody kills us.
        let _ = tokio::time::timeout(
            Duration::from_secs(60),
            fetch_all(
                plan(files.items(&mirrors), dir.as_ref()),
                Arc::new(CollectingReporter::default()),
            ),
        )
        .await;
    });
}

fn record_done(path: &std::path::Path) -> u64 {
    ResumeRecord::load(path).map_or(0, |r| r.done_bytes())
}

/// Bytes sent by `mirrors` beyond the file's size over both runs must stay
/// well under 10% of what the first run had done.
fn assert_little_redone(first_run: u64, second_run: u64) {
    let redone = (first_run + second_run).saturating_sub(SIZE as u64);
    eprintln!(
        "first run {first_run} B, second run {second_run} B, downloaded twice {redone} B ({:.1}%)",
        redone as f64 * 100.0 / first_run as f64
    );
    assert!(
        (redone as f64) < 0.10 * first_run as f64,
        "downloaded {redone} B twice of {first_run} B"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_download_resumes() {
    within(Duration::from_secs(60), async {
        let files = Files::new(&[SIZE]);
        let name = files.names[0].clone();
        let capped = Faults {
            rate: Some(6_000_000),
            ..Faults::default()
        };
        let a = spawn_mirror(files.map.clone(), capped.clone()).await;
        let b = spawn_mirror(files.map.clone(), capped).await;
        let dir = tempfile::tempdir().unwrap();
        let spec = format!("{} {} {}", dir.path().display(), a.url(), b.url());
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_runs_the_engine", "--test-threads=1"])
            .env(CHILD_ENV, spec)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let record = dir.path().join(format!("{name}.resume"));
        let start = Instant::now();
        // Kill once a good share is recorded as done.
        loop {
            if record_done(&record) >= (SIZE as u64) * 2 / 5 {
                break;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "child ended before it was killed"
            );
            assert!(start.elapsed() < Duration::from_secs(30), "child too slow");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let done = record_done(&record);
        assert!(!dir.path().join(&name).exists());
        let first_run = a.sent() + b.sent();

        let reporter = Arc::new(CollectingReporter::default());
        fetch_all(
            plan(files.items(&[a.url(), b.url()]), dir.path()),
            reporter.clone(),
        )
        .await
        .unwrap();
        assert_placed(&files, dir.path());
        let resumed = reporter.events().iter().find_map(|e| match e {
            Event::ItemStart { resumed, .. } => Some(*resumed),
            _ => None,
        });
        assert_eq!(resumed, Some(done));
        assert_little_redone(first_run, a.sent() + b.sent() - first_run);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_run_resumes() {
    within(Duration::from_secs(60), async {
        let files = Files::new(&[SIZE]);
        let name = files.names[0].clone();
        let capped = Faults {
            rate: Some(8_000_000),
            ..Faults::default()
        };
        let a = spawn_mirror(files.map.clone(), capped.clone()).await;
        let b = spawn_mirror(files.map.clone(), capped).await;
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join(format!("{name}.part"));
        let run = tokio::spawn(fetch_all(
            plan(files.items(&[a.url(), b.url()]), dir.path()),
            Arc::new(CollectingReporter::default()),
        ));
        // Drop the run at about half, like Ctrl-C dropping the future.
        while a.sent() + b.sent() < (SIZE as u64) / 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        run.abort();
        let _ = run.await;
        assert!(part.exists());
        let record = dir.path().join(format!("{name}.resume"));
        let done = record_done(&record);
        assert!(done > 0);
        let first_run = a.sent() + b.sent();
        fetch_all(
            plan(files.items(&[a.url(), b.url()]), dir.path()),
            Arc::new(CollectingReporter::default()),
        )
        .await
        .unwrap();
        assert_placed(&files, dir.path());
        assert_little_redone(first_run, a.sent() + b.sent() - first_run);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_package_starts_over() {
    within(Duration::from_secs(30), async {
        let files = Files::new(&[3 * MIB]);
        let name = files.names[0].clone();
        let mirror = spawn_mirror(files.map.clone(), Faults::default()).await;
        let dir = tempfile::tempdir().unwrap();
        // A record for another build of the same file name: all blocks done.
        let mut stale = ResumeRecord::new(
            3 * MIB as u64,
            Some([1; 32]),
            pactor_fetch::FetchOptions::default().block_size,
        );
        stale.done.iter_mut().for_each(|d| *d = true);
        stale
            .save(&dir.path().join(format!("{name}.resume")), false)
            .unwrap();
        std::fs::write(dir.path().join(format!("{name}.part")), vec![0u8; 3 * MIB]).unwrap();
        fetch_all(
            plan(files.items(&[mirror.url()]), dir.path()),
            Arc::new(CollectingReporter::default()),
        )
        .await
        .unwrap();
        assert_placed(&files, dir.path());
        assert_eq!(mirror.sent(), 3 * MIB as u64);
    })
    .await;
}
