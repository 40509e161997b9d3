//! `pactor -Sx` handing its downloads to the running daemon: op `fetch` on
//! the control socket, `{"op":"fetch","plan":<WirePlan>}`. The transaction
//! runs on the daemon's own librqbit session (warm DHT table, known peers,
//! open port) through [`pactor_fetch::fetch_transaction_on`], and its events
//! go back on the same connection as the [`WireEvent`] lines the sandboxed
//! download process writes (src/sandbox.rs), ending with `Finish` (or
//! `Error`). pactor reads them with the same code and re-verifies every
//! file before anything moves towards its cache, so the daemon can waste a
//! download but not plant a file.
//!
//! The daemon writes only into the download directory pactor handed it
//! (chowned to the daemon's user, as for pacman's `DownloadUser`): a plan
//! naming any other directory is refused. If pactor goes away, the
//! transaction is dropped; what is on disk stays for pactor's own engine to
//! resume from.

use std::path::Path;
use std::sync::Arc;

use pactor_fetch::FetchError;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use super::DaemonHandle;
use crate::sandbox::{EventReporter, WireEvent, WirePlan};

/// Serves one op `fetch` on `stream` (whose request line was read) for the
/// client `peer_uid`, until the transaction ends or the client leaves.
pub async fn serve(
    request: Value,
    stream: UnixStream,
    peer_uid: u32,
    daemon: DaemonHandle,
) -> anyhow::Result<()> {
    let (mut from_client, mut to_client) = stream.into_split();
    // The engine reports from its own threads, synchronously: its lines go
    // through a channel to one writer task. `None` ends the conversation.
    let (tx, mut lines) = mpsc::unbounded_channel::<Option<String>>();
    let writer = tokio::spawn(async move {
        while let Some(Some(mut line)) = lines.recv().await {
            line.push('\n');
            if to_client.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = to_client.shutdown().await;
    });
    let sink = tx.clone();
    let reporter = Arc::new(EventReporter::new(move |line| {
        let _ = sink.send(Some(line));
    }));

    match accept(&request, &daemon.settings().state_dir) {
        Err(why) => {
            eprintln!("handoff from uid {peer_uid} refused: {why}");
            reporter.send(&WireEvent::Error { message: why });
        }
        Ok(wire) => {
            let (plan, wanted) = crate::sandbox::from_wire(wire);
            eprintln!(
                "handoff from uid {peer_uid}: fetching {} file(s) into {}",
                plan.items.len(),
                plan.download_dir.display()
            );
            let settings = pactor_fetch::SwarmSettings {
                enabled: wanted.enabled,
                min_size: wanted.min_size,
                ..daemon.settings()
            };
            let run = pactor_fetch::fetch_transaction_on(
                plan,
                reporter.clone(),
                settings,
                Some(daemon.swarm()),
            );
            tokio::select! {
                result = run => match result {
                    // The finish event went out with the outcome.
                    Ok(_) | Err(FetchError::Failed { .. }) => {
                        eprintln!("handoff from uid {peer_uid}: done");
                    }
                    Err(e) => {
                        eprintln!("handoff from uid {peer_uid}: {e}");
                        reporter.send(&WireEvent::Error { message: e.to_string() });
                    }
                },
                () = client_gone(&mut from_client) => {
                    // Dropping the transaction stops it; pieces and resume
                    // records on disk stay for pactor's own engine.
                    eprintln!("handoff from uid {peer_uid}: client left, download dropped");
                }
            }
        }
    }
    let _ = tx.send(None);
    let _ = writer.await;
    Ok(())
}

/// The plan of an op `fetch`, if the daemon may run it: into a directory
/// handed to it, outside its own state directory `state`, and only package
/// files and their signatures, so that no plan can make it overwrite its
/// own files (trust ledger, DHT table) or write outside the directory.
fn accept(request: &Value, state: &Path) -> Result<WirePlan, String> {
    let plan = request
        .get("plan")
        .ok_or("op 'fetch' needs a \"plan\"")?
        .clone();
    let wire: WirePlan = serde_json::from_value(plan).map_err(|e| format!("invalid plan: {e}"))?;
    let dir = wire.download_dir();
    may_write(dir)?;
    if !state.as_os_str().is_empty() && dir.starts_with(state) {
        return Err(format!(
            "{} is inside pactor-seed's state directory",
            dir.display()
        ));
    }
    if let Some(bad) = wire.filenames().find(|f| !is_package_file(f)) {
        return Err(format!("'{bad}' is not a package file name"));
    }
    Ok(wire)
}

/// A package (`*.pkg.tar.*`) or its signature, as a plain file name.
fn is_package_file(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains('/')
        && !name.contains('\0')
        && name.contains(".pkg.tar")
        && !name.ends_with(".part")
        && !name.ends_with(".resume")
        && !name.ends_with(".torrent")
}

/// The daemon writes only into a directory handed to it: a real directory
/// (not a symlink) owned by the daemon's user, at an absolute path.
fn may_write(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if !dir.is_absolute() {
        return Err(format!("{} is not an absolute path", dir.display()));
    }
    let meta = std::fs::symlink_metadata(dir)
        .map_err(|e| format!("{}: {}", dir.display(), crate::ui::output::strerror(&e)))?;
    let me = nix::unistd::geteuid().as_raw();
    if !meta.file_type().is_dir() || meta.uid() != me {
        return Err(format!(
            "{} is not a directory owned by pactor-seed's user (uid {me})",
            dir.display()
        ));
    }
    Ok(())
}

/// Resolves when the client closes its end (or the connection breaks);
/// anything it writes meanwhile is ignored.
async fn client_gone(from_client: &mut tokio::net::unix::OwnedReadHalf) {
    let mut buf = [0u8; 256];
    loop {
        match from_client.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_directory_of_the_daemon_user_is_written() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(may_write(tmp.path()).is_ok());
        assert!(may_write(Path::new("relative/dir")).is_err());
        assert!(may_write(&tmp.path().join("missing")).is_err());
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(tmp.path(), &link).unwrap();
        assert!(may_write(&link).is_err(), "a symlink was accepted");
        let file = tmp.path().join("file");
        std::fs::write(&file, b"x").unwrap();
        assert!(may_write(&file).is_err(), "a file was accepted");
        if nix::unistd::geteuid().is_root() {
            // Owned by someone else (as /var/lib/pactor/partial before
            // pactor hands it over).
            let other = tmp.path().join("other");
            std::fs::create_dir(&other).unwrap();
            nix::unistd::chown(&other, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
            assert!(
                may_write(&other).is_err(),
                "another user's dir was accepted"
            );
        }
    }

    #[test]
    fn a_request_without_a_plan_is_refused() {
        let state = Path::new("/var/lib/pactor-seed");
        assert!(accept(&serde_json::json!({"op": "fetch"}), state).is_err());
        let bad = serde_json::json!({"op": "fetch", "plan": {"items": 3}});
        assert!(accept(&bad, state).is_err());
    }

    #[test]
    fn plans_naming_other_files_or_the_state_directory_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = |dir: &Path, name: &str| {
            serde_json::json!({"op": "fetch", "plan": {
                "items": [{"filename": name, "size": 3, "sha256": null,
                           "mirrors": ["http://127.0.0.1:1/x"], "signature": false}],
                "download_dir": dir, "max_download_rate": null,
            }})
        };
        let elsewhere = Path::new("/var/lib/pactor-seed");
        let ok = accept(&plan(tmp.path(), "a-1-1-any.pkg.tar.zst"), elsewhere);
        assert!(ok.is_ok(), "{:?}", ok.err());
        let sig = accept(&plan(tmp.path(), "a-1-1-any.pkg.tar.zst.sig"), elsewhere);
        assert!(sig.is_ok(), "{:?}", sig.err());
        for bad in [
            "trusted.json",
            "../a-1-1-any.pkg.tar.zst",
            ".pkg.tar.zst",
            "a-1-1-any.pkg.tar.zst.torrent",
            "",
        ] {
            let got = accept(&plan(tmp.path(), bad), elsewhere);
            assert!(got.is_err(), "{bad:?} accepted");
        }
        let inside = accept(&plan(tmp.path(), "a-1-1-any.pkg.tar.zst"), tmp.path());
        assert!(inside.is_err(), "the daemon's state directory was accepted");
    }
}
