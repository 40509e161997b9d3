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

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The verifier over the system's roots, once loaded; the error text when
/// none could be loaded.
static ROOTS: OnceLock<Result<Arc<WebPkiServerVerifier>, String>> = OnceLock::new();

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
    if ROOTS.get().is_none() && urls.any(|u| u.scheme() == "https") {
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

/// Whether the system's roots were read in this process (tests).
pub fn roots_loaded() -> bool {
    ROOTS.get().is_some()
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

fn roots() -> Result<Arc<WebPkiServerVerifier>, rustls::Error> {
    ROOTS
        .get_or_init(load_roots)
        .clone()
        .map_err(rustls::Error::General)
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
    /// URL.
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
        assert!(!roots_loaded());
        let plain = url::Url::parse("http://mirror/x").unwrap();
        preload_roots([&plain].into_iter());
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!roots_loaded());
        let secure = url::Url::parse("https://mirror/x").unwrap();
        preload_roots([&plain, &secure].into_iter());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !roots_loaded() {
            assert!(std::time::Instant::now() < deadline, "roots never read");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        server.abort();
    }
}
