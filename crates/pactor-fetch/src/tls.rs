//! TLS for pactor's HTTP clients: the system's CA certificates are read at
//! the first HTTPS handshake, not when a client is built.
//!
//! reqwest reads them (every file of `/etc/ssl/certs` and the bundle, about
//! 300 certificates parsed) in `ClientBuilder::build`: ~8 ms of CPU that
//! pactor's download process spent after its plan arrived, before its first
//! request, even when every mirror is plain HTTP. Here the client verifies
//! with [`SystemRoots`], which loads them once per process when a server
//! first shows a certificate (or ahead of it, [`preload_roots`]), and then
//! verifies exactly as reqwest's own configuration would (webpki, the same
//! roots, the same crypto provider).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The verifier over the system's roots, once loaded. A load that failed
/// (no readable certificate, say while ca-certificates is being replaced)
/// is not kept: the next handshake tries again, which a long-running
/// `pactor-seed` needs.
static ROOTS: Mutex<Option<Arc<WebPkiServerVerifier>>> = Mutex::new(None);

/// Whether this process tried to read the system's roots.
static TRIED: AtomicBool = AtomicBool::new(false);

/// Whether [`preload_roots`] started its read: a transaction calls it for
/// its plan and again for each HTTP leg, one thread is enough.
static PRELOADING: AtomicBool = AtomicBool::new(false);

/// A `reqwest::ClientBuilder` whose TLS verifies against the system's roots,
/// read when first needed.
pub fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().use_preconfigured_tls(client_config())
}

/// Reads the system's roots now, on a thread of its own, when `urls` holds
/// an HTTPS one: the first handshake then finds them ready, or waits only
/// for the rest. Without one nothing is read (a redirect to HTTPS still
/// reads them at its handshake).
pub fn preload_roots<'a>(mut urls: impl Iterator<Item = &'a url::Url>) {
    if !TRIED.load(Ordering::Relaxed)
        && urls.any(|u| u.scheme() == "https")
        && !PRELOADING.swap(true, Ordering::Relaxed)
    {
        std::thread::spawn(|| {
            let _ = roots();
        });
    }
}

/// [`preload_roots`] for the mirrors and torrent URLs of `plan`.
pub(crate) fn preload_for(plan: &crate::plan::FetchPlan) {
    preload_roots(plan.items.iter().flat_map(|item| {
        let torrents = match &item.torrent {
            Some(crate::plan::TorrentSource::Urls(urls)) => urls.as_slice(),
            _ => &[],
        };
        item.mirrors.iter().chain(torrents)
    }));
}

/// Whether this process tried to read the system's roots (tests).
pub fn roots_tried() -> bool {
    TRIED.load(Ordering::Relaxed)
}

/// rustls's configuration as reqwest builds its own (safe defaults, ALPN
/// for HTTP/2 and 1.1), with [`SystemRoots`] as the verifier.
fn client_config() -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(SystemRoots { provider }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    config
}

/// The verifier over the system's roots, read now if not yet (a caller
/// that comes meanwhile waits for that read).
fn roots() -> Result<Arc<WebPkiServerVerifier>, rustls::Error> {
    let mut slot = crate::lock(&ROOTS);
    if let Some(verifier) = slot.as_ref() {
        return Ok(verifier.clone());
    }
    TRIED.store(true, Ordering::Relaxed);
    let verifier = load_roots().map_err(rustls::Error::General)?;
    *slot = Some(verifier.clone());
    Ok(verifier)
}

/// The system's roots (as reqwest's `rustls-tls-native-roots` finds them:
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`, else the system's bundle and
/// directory) in a webpki verifier.
fn load_roots() -> Result<Arc<WebPkiServerVerifier>, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut store = RootCertStore::empty();
    let (valid, _) = store.add_parsable_certificates(found.certs);
    if valid == 0 {
        let why = found
            .errors
            .first()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        return Err(format!("no CA certificates found{why}"));
    }
    WebPkiServerVerifier::builder_with_provider(
        Arc::new(store),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .map_err(|e| format!("CA certificates: {e}"))
}

/// Verifies a server's certificate chain against the system's roots,
/// loaded at the first call; handshake signatures need no roots.
#[derive(Debug)]
struct SystemRoots {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for SystemRoots {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        roots()?.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Given roots that cannot be parsed (`SSL_CERT_FILE`, which both
    /// reqwest and pactor read), when a client of [`client_builder`] is
    /// built and fetches from a plain HTTP server, then it works and the
    /// roots were never read (reqwest's own build reads them, and fails on
    /// these); [`preload_roots`] reads them only for a list with an HTTPS
    /// URL; a read that found no certificate is tried again at the next
    /// handshake.
    #[tokio::test]
    async fn plain_http_never_reads_the_system_roots() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.pem");
        std::fs::write(
            &bad,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        // No other test of this crate makes a TLS client (and nextest runs
        // each test in a process of its own).
        std::env::set_var("SSL_CERT_FILE", &bad);
        std::env::set_var("SSL_CERT_DIR", dir.path());
        assert!(
            reqwest::Client::builder().build().is_err(),
            "reqwest's own build should refuse these roots"
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let app = axum::Router::new().route("/f", axum::routing::get(|| async { "body" }));
            axum::serve(listener, app).await.unwrap();
        });
        let client = client_builder().build().unwrap();
        let body = client
            .get(format!("http://{addr}/f"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "body");
        assert!(!roots_tried());
        let plain = url::Url::parse("http://mirror/x").unwrap();
        preload_roots([&plain].into_iter());
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!roots_tried());
        let secure = url::Url::parse("https://mirror/x").unwrap();
        preload_roots([&plain, &secure].into_iter());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !roots_tried() {
            assert!(std::time::Instant::now() < deadline, "roots never read");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        // These roots hold no certificate: the handshake fails with that,
        // and the next one reads them again.
        let err = roots().unwrap_err().to_string();
        assert!(err.contains("no CA certificates found"), "{err}");
        let good = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(good.path(), ROOT_FOR_TESTS).unwrap();
        std::env::set_var("SSL_CERT_FILE", good.path());
        roots().expect("roots read again once they are there");
        server.abort();
    }

    /// A self-signed CA certificate (P-256, made with openssl for this test).
    const ROOT_FOR_TESTS: &str = concat!(
        "-----BEGIN CERTIFICATE-----\n",
        "MIIBkzCCATmgAwIBAgIUeBgEC8HK7PS+PzPL5g54fp5V1UswCgYIKoZIzj0EAwIw\n",
        "HjEcMBoGA1UEAwwTcGFjdG9yIHVuaXQgdGVzdCBDQTAgFw0yNjEyMDYxNjQ0MzRa\n",
        "GA8yMTI2MTExMjE2NDQzNFowHjEcMBoGA1UEAwwTcGFjdG9yIHVuaXQgdGVzdCBD\n",
        "QTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABGhWTypMQ/CO6GgEhkm3TLsbtqjN\n",
        "LpYVoqqvZj27vGL7chMS4eDnO40+8B1YBu1DIWHDfkdT+gRwzkfk9HdC8+KjUzBR\n",
        "MB0GA1UdDgQWBBTJImWIkMKEnem+PKErFKrByJQt6jAfBgNVHSMEGDAWgBTJImWI\n",
        "kMKEnem+PKErFKrByJQt6jAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0gA\n",
        "MEUCIQCNmnQtAxF6Ge04laSHP2NI8jbyiWuyuh67m1cfhbmD/QIgLDPw4LRo//Ex\n",
        "EtKNlyJ9K0wIAHDqNzpFT1eD3rYMl3o=\n",
        "-----END CERTIFICATE-----\n",
    );
}
