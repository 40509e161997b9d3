//! Connections opened before the plan ([`pactor_fetch::warm::warm_up`]): a
//! loopback mirror behind a proxy that records every connection (when it
//! came, what the client sent on it), so that the tests see which
//! connections carried the plan's requests. Each test is a process of its
//! own under nextest; the warm-up's runtime is the process's.

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pactor_fetch::{NoopReporter, SwarmSettings, Url};
use support::{assert_placed, plan, spawn_mirror, Faults, Files, Mirror};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A connection through the proxy.
#[derive(Default)]
struct Conn {
    /// Bytes the client sent on it.
    from_client: AtomicU64,
}

/// A TCP proxy in front of a mirror that records each connection; the first
/// `close_first` it accepts it closes before anything is sent on them.
struct Proxy {
    addr: std::net::SocketAddr,
    conns: Arc<Mutex<Vec<Arc<Conn>>>>,
}

impl Proxy {
    async fn start(upstream: std::net::SocketAddr, close_first: usize) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns: Arc<Mutex<Vec<Arc<Conn>>>> = Arc::default();
        let seen = conns.clone();
        let deadline = Instant::now() + Duration::from_secs(60);
        tokio::spawn(async move {
            while let Ok(Ok((client, _))) =
                tokio::time::timeout_at(deadline.into(), listener.accept()).await
            {
                let conn = Arc::new(Conn::default());
                let n = {
                    let mut all = seen.lock().unwrap();
                    all.push(conn.clone());
                    all.len()
                };
                if n <= close_first {
                    drop(client);
                    continue;
                }
                tokio::spawn(tokio::time::timeout_at(
                    deadline.into(),
                    relay(client, upstream, conn),
                ));
            }
        });
        Proxy { addr, conns }
    }

    fn url(&self) -> Url {
        Url::parse(&format!("http://{}/repo/os/x86_64", self.addr)).unwrap()
    }

    fn accepted(&self) -> usize {
        self.conns.lock().unwrap().len()
    }

    /// Of the first `n` connections, those the client sent something on.
    fn used_of_first(&self, n: usize) -> usize {
        let conns = self.conns.lock().unwrap();
        conns
            .iter()
            .take(n)
            .filter(|c| c.from_client.load(Ordering::SeqCst) > 0)
            .count()
    }
}

async fn relay(client: TcpStream, upstream: std::net::SocketAddr, conn: Arc<Conn>) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        while let Ok(n) = cr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            conn.from_client.fetch_add(n as u64, Ordering::SeqCst);
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = sw.shutdown().await;
    };
    let down = async {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
        let _ = cw.shutdown().await;
    };
    tokio::join!(up, down);
}

/// Waits (at most 5 s) until `proxy` has accepted `n` connections.
fn wait_accepted(proxy: &Proxy, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.accepted() < n {
        assert!(
            Instant::now() < deadline,
            "only {} connections",
            proxy.accepted()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Serves `files` from a mirror behind a proxy, on a runtime of the test's.
/// The mirror answers 100 ms late, so that the engine asks for every file
/// at once (on loopback a file could be done before the next is asked for).
fn mirror_behind_proxy(
    files: &Files,
    close_first: usize,
) -> (tokio::runtime::Runtime, Mirror, Proxy) {
    let servers = tokio::runtime::Runtime::new().unwrap();
    let (mirror, proxy) = servers.block_on(async {
        let faults = Faults {
            latency: Duration::from_millis(100),
            ..Faults::default()
        };
        let mirror = spawn_mirror(files.map.clone(), faults).await;
        let proxy = Proxy::start(mirror.addr, close_first).await;
        (mirror, proxy)
    });
    (servers, mirror, proxy)
}

fn http_only() -> SwarmSettings {
    SwarmSettings {
        enabled: false,
        ..Default::default()
    }
}

#[test]
fn connections_opened_before_the_plan_carry_its_first_requests() {
    let files = Files::new(&[120_000, 90_000, 150_000]);
    let (_servers, mirror, proxy) = mirror_behind_proxy(&files, 0);

    pactor_fetch::warm::warm_up(&[(proxy.url(), 3)]);
    wait_accepted(&proxy, 3);
    // Opened, and nothing asked on them.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(proxy.used_of_first(3), 0);
    assert_eq!(mirror.requests.load(Ordering::SeqCst), 0);

    let dir = tempfile::tempdir().unwrap();
    let outcome = pactor_fetch::fetch_transaction_blocking(
        plan(files.items(&[proxy.url()]), dir.path()),
        Arc::new(NoopReporter),
        http_only(),
    )
    .unwrap();
    assert_eq!(outcome.files.len(), 3);
    assert_placed(&files, dir.path());
    // The three requests went out on the connections opened before.
    assert_eq!(proxy.used_of_first(3), 3);
    assert_eq!(proxy.accepted(), 3, "no new connection was needed");
    // The warm-up itself asked the mirror nothing: every request it
    // answered was one of the plan's.
    assert_eq!(
        mirror.requests.load(Ordering::SeqCst),
        mirror.bodies.lock().unwrap().len() as u64
    );
}

#[test]
fn a_connection_the_server_closed_meanwhile_is_replaced() {
    let files = Files::new(&[120_000, 90_000]);
    let (_servers, mirror, proxy) = mirror_behind_proxy(&files, 2);

    pactor_fetch::warm::warm_up(&[(proxy.url(), 2)]);
    wait_accepted(&proxy, 2);
    std::thread::sleep(Duration::from_millis(100));

    let dir = tempfile::tempdir().unwrap();
    let reporter = Arc::new(pactor_fetch::reporter::CollectingReporter::default());
    // One error would give the only mirror up: a request sent on a closed
    // connection fails the file.
    let mut p = plan(files.items(&[proxy.url()]), dir.path());
    p.options.max_errors_per_mirror = 1;
    p.options.max_mirror_errors = 1;
    let outcome =
        pactor_fetch::fetch_transaction_blocking(p, reporter.clone(), http_only()).unwrap();
    assert_eq!(outcome.files.len(), 2);
    assert_placed(&files, dir.path());
    // New connections carried the requests, and the mirror was never
    // taken for a bad one.
    assert_eq!(proxy.accepted(), 4);
    assert_eq!(proxy.used_of_first(2), 0);
    assert_eq!(mirror.requests.load(Ordering::SeqCst), 2);
    let benched: Vec<_> = reporter
        .events()
        .into_iter()
        .filter(|e| matches!(e, pactor_fetch::reporter::Event::MirrorBenched { .. }))
        .collect();
    assert!(benched.is_empty(), "{benched:?}");
}
