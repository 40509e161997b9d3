//! Connections opened before the plan: a download process that learns its
//! mirrors early ([`warm_up`]) opens its first connections to them (TCP, and
//! TLS for an HTTPS mirror) while pactor still prepares the transaction, so
//! that the first requests find a connection ready instead of waiting one
//! or two round trips for a handshake.
//!
//! reqwest cannot open a connection without a request, so every client of
//! the engine connects through [`KeepLayer`]: a request made by [`warm_up`]
//! (marked by a task-local) has its connection made and kept aside, and
//! fails without a byte sent; the next connection the engine makes to the
//! same origin takes a kept one instead, if the server has not closed it and
//! it is younger than [`KEEP_FOR`]. Nothing else changes: a kept connection
//! that is gone, or none, means a new one, as before.

use std::collections::VecDeque;
use std::future::Future;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use url::Url;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a kept connection waits for its first request. Servers give a
/// new connection far longer for it (nginx 60 s, Apache's request-timeout
/// 20 s); a plan that takes longer than this (a question to the user) gets
/// new connections.
pub const KEEP_FOR: Duration = Duration::from_secs(10);

/// The error a warm-up request ends with, its connection kept.
const KEPT: &str = "connection kept for the download";

tokio::task_local! {
    /// Set while a warm-up request runs: its connection is kept, not used.
    static WARMING: ();
}

/// A connection made (or still being made) for a later request.
struct Entry {
    /// The connector's name of the destination (`scheme://authority/`).
    origin: String,
    opened: Instant,
    conn: oneshot::Receiver<Box<dyn std::any::Any + Send>>,
}

static KEPT_CONNECTIONS: Mutex<VecDeque<Entry>> = Mutex::new(VecDeque::new());

/// The oldest kept connection to `origin` still in time, if any.
fn take(origin: &str) -> Option<Entry> {
    let mut kept = crate::lock(&KEPT_CONNECTIONS);
    kept.retain(|e| e.opened.elapsed() < KEEP_FOR);
    let at = kept.iter().position(|e| e.origin == origin)?;
    kept.remove(at)
}

/// Opens `count` connections to each origin in `origins` (any URL of it)
/// on the engine's runtime, which the next [`crate::fetch_transaction_blocking`]
/// then runs on, and returns at once. Meant for a process that waits for its
/// plan: the connections go to the first requests of that plan.
pub fn warm_up(origins: &[(Url, usize)]) {
    let mut slot = crate::lock(&RUNTIME);
    if slot.is_none() {
        *slot = crate::engine::engine_runtime().ok();
    }
    let Some(runtime) = slot.as_ref() else {
        return;
    };
    // The client a waiting download process built, else one built now and
    // left for the run the same way (its lookups and bridges share it).
    let (options, limits) = (Default::default(), Default::default());
    if crate::http::prebuilt_client_shared(&options, &limits).is_none() {
        crate::http::prebuild_client(&options, &limits);
    }
    let Some(client) = crate::http::prebuilt_client_shared(&options, &limits) else {
        return;
    };
    for (url, count) in origins {
        for _ in 0..*count {
            let request = client.head(url.clone()).send();
            runtime.spawn(WARMING.scope((), async move {
                let _ = request.await;
            }));
        }
    }
}

/// The runtime [`warm_up`] started, for the run that follows it.
static RUNTIME: Mutex<Option<tokio::runtime::Runtime>> = Mutex::new(None);

/// The engine's runtime: the one a warm-up runs on (its connections are
/// that runtime's), or a new one.
pub fn runtime() -> Result<tokio::runtime::Runtime, crate::FetchError> {
    match crate::lock(&RUNTIME).take() {
        Some(runtime) => Ok(runtime),
        None => crate::engine::engine_runtime(),
    }
}

/// The layer every engine client connects through (see the module's
/// documentation).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct KeepLayer;

impl<S> tower_layer::Layer<S> for KeepLayer {
    type Service = Keep<S>;

    fn layer(&self, inner: S) -> Keep<S> {
        Keep { inner }
    }
}

/// [`KeepLayer`]'s connector.
#[derive(Clone, Debug)]
pub(crate) struct Keep<S> {
    inner: S,
}

impl<S, D, C> tower_service::Service<D> for Keep<S>
where
    S: tower_service::Service<D, Response = C, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
    D: std::fmt::Debug + Send + 'static,
    C: hyper::rt::Read + Unpin + Send + 'static,
{
    type Response = C;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, dst: D) -> Self::Future {
        // reqwest's destination type is not nameable; its Debug form names
        // the scheme and authority, the same for every request to them.
        let origin = format!("{dst:?}");
        if WARMING.try_with(|_| ()).is_ok() {
            let (tx, rx) = oneshot::channel();
            crate::lock(&KEPT_CONNECTIONS).push_back(Entry {
                origin,
                opened: Instant::now(),
                conn: rx,
            });
            let connecting = self.inner.call(dst);
            return Box::pin(async move {
                if let Ok(conn) = connecting.await {
                    let _ = tx.send(Box::new(conn));
                }
                Err(KEPT.into())
            });
        }
        let Some(entry) = take(&origin) else {
            return Box::pin(self.inner.call(dst));
        };
        let mut inner = self.inner.clone();
        Box::pin(async move {
            if let Some(conn) = usable::<C>(entry).await {
                return Ok(conn);
            }
            std::future::poll_fn(|cx| inner.poll_ready(cx)).await?;
            inner.call(dst).await
        })
    }
}

/// A kept connection, once made, if it is still open: a read finds nothing
/// yet (the server said nothing, nor closed it).
async fn usable<C: hyper::rt::Read + Unpin + 'static>(entry: Entry) -> Option<C> {
    let mut conn = *entry.conn.await.ok()?.downcast::<C>().ok()?;
    let open = std::future::poll_fn(|cx| {
        let mut byte = [MaybeUninit::uninit()];
        let mut buf = hyper::rt::ReadBuf::uninit(&mut byte);
        Poll::Ready(
            Pin::new(&mut conn)
                .poll_read(cx, buf.unfilled())
                .is_pending(),
        )
    })
    .await;
    open.then_some(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_connection_is_taken_once_and_only_for_its_origin() {
        let (_tx, rx) = oneshot::channel();
        crate::lock(&KEPT_CONNECTIONS).push_back(Entry {
            origin: "Unnameable(http://127.0.0.9:1/)".into(),
            opened: Instant::now(),
            conn: rx,
        });
        assert!(take("Unnameable(http://127.0.0.9:2/)").is_none());
        assert!(take("Unnameable(http://127.0.0.9:1/)").is_some());
        assert!(take("Unnameable(http://127.0.0.9:1/)").is_none());
    }

    #[test]
    fn a_kept_connection_past_its_time_is_dropped() {
        let (_tx, rx) = oneshot::channel();
        crate::lock(&KEPT_CONNECTIONS).push_back(Entry {
            origin: "Unnameable(http://127.0.0.9:3/)".into(),
            opened: Instant::now() - KEEP_FOR,
            conn: rx,
        });
        assert!(take("Unnameable(http://127.0.0.9:3/)").is_none());
    }
}
