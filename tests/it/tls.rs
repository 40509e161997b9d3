//! Mirrors over HTTPS, as Arch's are: a real nginx on 127.0.0.1 with a
//! certificate from a certificate authority made for the test (openssl).
//! `pactor -Sx` trusts what the system trusts; `SSL_CERT_FILE` names other
//! roots (read by the engine when it runs in pactor's own process, so these
//! runs pass `--disable-sandbox`: the sandboxed engine gets an empty
//! environment).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::nginx;
use crate::support::*;

/// A CA, and a certificate it signed for 127.0.0.1; returns the CA's
/// certificate (PEM) and the server's certificate and key.
fn make_certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    fs::create_dir_all(dir).unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=pactor test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// nginx serving `root` over HTTPS on 127.0.0.1; stopped (by PID) when
/// dropped, and by `timeout` after two minutes whatever happens.
struct HttpsMirror {
    child: Child,
    port: u16,
    work: PathBuf,
}

impl HttpsMirror {
    fn start(root: &Path, work: &Path, cert: &Path, key: &Path) -> HttpsMirror {
        fs::create_dir_all(work).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = nginx::conf(
            work,
            &format!("127.0.0.1:{port} ssl"),
            root,
            &format!(
                "ssl_certificate {}; ssl_certificate_key {};",
                cert.display(),
                key.display()
            ),
        );
        fs::write(work.join("nginx.conf"), conf).unwrap();
        let child = Command::new("timeout")
            .args(["120", "nginx", "-p"])
            .arg(work)
            .arg("-c")
            .arg(work.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx");
        let mirror = HttpsMirror {
            child,
            port,
            work: work.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not listen on {port}: {}",
                fs::read_to_string(work.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        mirror
    }

    fn server_line(&self) -> String {
        format!("https://127.0.0.1:{}/$repo/os/$arch", self.port)
    }

    /// nginx's PID, from the file it writes.
    fn nginx_pid(&self) -> u32 {
        let text = fs::read_to_string(self.work.join("nginx.pid")).unwrap_or_default();
        text.trim().parse().expect("nginx.pid")
    }

    /// The access log's lines whose request names `file`.
    fn requests_for(&self, file: &str) -> Vec<String> {
        fs::read_to_string(self.work.join("access.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&format!("/{file} ")))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for HttpsMirror {
    fn drop(&mut self) {
        // SIGTERM to timeout(1), which passes it on to nginx. A SIGKILL
        // would end timeout alone and leave nginx running with no bound.
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

/// The greet set published with torrents, synced over plain HTTP into root
/// `name` and a second root for the reference pacman, then a pacman.conf
/// for both whose only mirror is an HTTPS nginx (the HTTP mirror is
/// stopped, so the torrents' webseed URLs pointing at it lead nowhere).
fn https_only(name: &str) -> Option<(Sandbox, Root, Root, HttpsMirror, PathBuf)> {
    if let Err(why) = netns::isolate_thread() {
        eprintln!("skipped: {why}");
        return None;
    }
    if Command::new("nginx").arg("-v").output().is_err() {
        eprintln!("skipped: no nginx");
        return None;
    }
    let mut sb = greet_torrent_sandbox(&[Fault::None]);
    let r = sb.root(name);
    r.given_synced();
    let reference = sb.root(&format!("{name}-reference"));
    reference.given_synced();
    let (ca, cert, key) = make_certificates(&sb.path().join(format!("{name}-tls")));
    let https = HttpsMirror::start(
        &sb.path().join("mirror"),
        &sb.path().join(format!("{name}-nginx")),
        &cert,
        &key,
    );
    sb.mirrors.clear();
    let conf = sb.conf_with_servers(&format!("{name}.conf"), &[https.server_line()]);
    Some((
        sb,
        r.with_conf(conf.clone()),
        reference.with_conf(conf),
        https,
        ca,
    ))
}

const HELLO_FILES: [&str; 3] = ["greet-data", "hello", "libgreet"];

/// Given an HTTPS mirror whose certificate a CA in `SSL_CERT_FILE` signed,
/// when `pactor -Sxw hello`, then the torrents are looked up and the
/// packages fetched over TLS from it, and the cache holds them intact.
#[test]
fn an_https_mirror_with_a_trusted_certificate_serves_the_transaction() {
    let Some((sb, r, _, https, ca)) = https_only("trusted") else {
        return;
    };
    let a = r
        .pactor(Mode::Torrent)
        .env("SSL_CERT_FILE", ca.to_str().unwrap())
        .args(["-Sw", "--noconfirm", "--disable-sandbox", "hello"])
        .run();
    a.assert_code(0);
    for name in HELLO_FILES {
        let f = pkg_file(name);
        let cached = fs::read(r.cachedir().join(&f)).unwrap_or_default();
        assert!(
            cached == fs::read(sb.repo_dir("demo").join(&f)).unwrap(),
            "{f} in the cache differs from the repository's\n{a}"
        );
        let torrent = https.requests_for(&format!("{f}.torrent"));
        assert!(
            !torrent.is_empty(),
            "{f}.torrent never asked over HTTPS\n{a}"
        );
        let package = https.requests_for(&f);
        assert!(
            package
                .iter()
                .any(|l| l.contains("\" 200 ") || l.contains("\" 206 ")),
            "{f} never served over HTTPS: {package:?}\n{a}"
        );
    }
    // Dropped, the mirror takes nginx with it, not only its timeout(1).
    let nginx = https.nginx_pid();
    drop(https);
    assert!(
        !Path::new(&format!("/proc/{nginx}")).exists(),
        "nginx ({nginx}) still runs after its mirror was dropped"
    );
}

/// Given an HTTPS mirror whose certificate no trusted CA signed (the
/// system's roots, the sandboxed engine), when `pactor -Sxw hello`, then it
/// fails as the reference pacman does on the same mirror: "failed
/// retrieving file" naming the certificate, pacman's commit error, exit 1,
/// and nothing in the cache.
#[test]
fn an_https_mirror_with_an_untrusted_certificate_fails_cleanly() {
    let Some((_sb, r, reference, _https, _ca)) = https_only("untrusted") else {
        return;
    };
    let a = r
        .pactor(Mode::Torrent)
        .args(["-Sw", "--noconfirm", "hello"])
        .run();
    let b = reference
        .pacman()
        .args(["-Sw", "--noconfirm", "hello"])
        .run();
    b.assert_code(1);
    a.assert_code(1);
    assert_same_commit_error(&a, &b);
    for o in [&a, &b] {
        o.assert_contains("error: failed retrieving file '");
    }
    // The sandboxed engine read the system's roots (its confinement lets it
    // read them) and found no issuer there; without roots it would say "no
    // CA certificates found".
    assert!(
        a.stderr.contains("invalid peer certificate: UnknownIssuer"),
        "the failure does not name the certificate's issuer\n{a}"
    );
    for name in HELLO_FILES {
        let f = pkg_file(name);
        assert!(!r.cachedir().join(&f).exists(), "{f} in the cache\n{a}");
    }
}
