//! The end of a transaction: libalpm's prepare and commit errors turned into
//! pacman's lines (`src/pacman/sync.c`), and pacman's `XferCommand`
//! downloader (`src/pacman/conf.c`, `download_with_xfercommand`).

use std::path::Path;
use std::process::Command;

use alpm::{Alpm, CommitData, FetchResult, PrepareData};

use crate::ui::output;

/// Prints why `trans_prepare` failed, as pacman does.
pub fn report_prepare_error(handle: *mut alpm_sys::alpm_handle_t, e: &alpm::PrepareError) {
    output::error(&format!("failed to prepare transaction ({})", e.error()));
    match e.data() {
        Some(PrepareData::PkgInvalidArch(pkgs)) => {
            for p in pkgs {
                // libalpm's list holds "name-version-arch" strings here, not
                // packages (alpm.rs types it wrongly); read the C string.
                // SAFETY: the element pointer is the char* libalpm stored.
                let name = unsafe {
                    std::ffi::CStr::from_ptr(p as *const alpm::Package as *const std::ffi::c_char)
                };
                output::colon(&format!(
                    "package {} does not have a valid architecture\n",
                    name.to_string_lossy()
                ));
            }
        }
        Some(PrepareData::UnsatisfiedDeps(misses)) => {
            for miss in misses {
                let dep = miss.depend().to_string();
                match miss.causing_pkg() {
                    None => output::colon(&format!(
                        "unable to satisfy dependency '{dep}' required by {}\n",
                        miss.target()
                    )),
                    Some(causing) => match trans_add_version(handle, causing) {
                        Some(version) => output::colon(&format!(
                            "installing {causing} ({version}) breaks dependency '{dep}' required by {}\n",
                            miss.target()
                        )),
                        None => output::colon(&format!(
                            "removing {causing} breaks dependency '{dep}' required by {}\n",
                            miss.target()
                        )),
                    },
                }
            }
        }
        Some(PrepareData::ConflictingDeps(conflicts)) => {
            for c in conflicts {
                let (p1, p2) = (c.package1(), c.package2());
                if c.reason().depmod() == alpm::DepMod::Any {
                    output::colon(&format!(
                        "{}-{} and {}-{} are in conflict\n",
                        p1.name(),
                        p1.version(),
                        p2.name(),
                        p2.version()
                    ));
                } else {
                    output::colon(&format!(
                        "{}-{} and {}-{} are in conflict ({})\n",
                        p1.name(),
                        p1.version(),
                        p2.name(),
                        p2.version(),
                        c.reason()
                    ));
                }
            }
        }
        None => {}
    }
}

/// The version of the package named `name` among the transaction's
/// additions. Read through the raw handle: a failed `trans_prepare` still
/// borrows the `Alpm` handle while its error is printed.
fn trans_add_version(handle: *mut alpm_sys::alpm_handle_t, name: &str) -> Option<String> {
    // SAFETY: the handle is alive for the whole transaction; the list and its
    // packages belong to libalpm and are only read here.
    unsafe {
        let mut node = alpm_sys::alpm_trans_get_add(handle);
        while !node.is_null() {
            let pkg = (*node).data as *mut alpm_sys::alpm_pkg_t;
            let pname = std::ffi::CStr::from_ptr(alpm_sys::alpm_pkg_get_name(pkg));
            if pname.to_bytes() == name.as_bytes() {
                let v = std::ffi::CStr::from_ptr(alpm_sys::alpm_pkg_get_version(pkg));
                return Some(v.to_string_lossy().into_owned());
            }
            node = (*node).next;
        }
    }
    None
}

/// Prints why `trans_commit` failed, as pacman does. With `-x` pactor's
/// downloader answers libalpm's fetch callback, whose failures libalpm
/// calls an external downloader's; they read as pacman's own downloader's
/// (`torrent::download_error`).
pub fn report_commit_error(e: &alpm::CommitError) {
    let why = match e.error() {
        alpm::Error::ExternalDownload => {
            crate::torrent::download_error().unwrap_or(alpm::Error::ExternalDownload)
        }
        other => other,
    };
    output::error(&format!("failed to commit transaction ({why})"));
    match e.data() {
        Some(CommitData::FileConflict(conflicts)) => {
            for c in conflicts {
                // The list holds alpm_fileconflict_t, which alpm.rs types as
                // a package conflict; read the C struct directly.
                // SAFETY: element pointers are libalpm's fileconflict structs.
                let raw = c as *const alpm::Conflict as *const alpm_sys::alpm_fileconflict_t;
                let text = |p: *const std::ffi::c_char| {
                    if p.is_null() {
                        String::new()
                    } else {
                        unsafe { std::ffi::CStr::from_ptr(p) }
                            .to_string_lossy()
                            .into_owned()
                    }
                };
                let (target, file, ctarget, kind) = unsafe {
                    (
                        text((*raw).target),
                        text((*raw).file),
                        text((*raw).ctarget),
                        (*raw).type_,
                    )
                };
                let line = if kind == alpm_sys::_alpm_fileconflicttype_t::ALPM_FILECONFLICT_TARGET {
                    format!("{file} exists in both '{target}' and '{ctarget}'\n")
                } else if !ctarget.is_empty() {
                    format!("{target}: {file} exists in filesystem (owned by {ctarget})\n")
                } else {
                    format!("{target}: {file} exists in filesystem\n")
                };
                output::print_err(&line);
            }
        }
        Some(CommitData::PkgInvalid(files)) => {
            for f in files {
                output::print_err(&format!("{f} is invalid or corrupted\n"));
            }
        }
        None => {}
    }
    output::print("Errors occurred, no packages were upgraded.\n");
}

/// pacman's XferCommand: `%u` is the URL, `%o` the output file (a `.part`
/// beside the target, renamed after success); without `%o` the command runs in
/// the download directory.
pub fn install_xfercommand(handle: &Alpm, command: &str) {
    handle.set_fetch_cb(command.to_owned(), |url, localpath, force, command| {
        xfer(command, url, Path::new(localpath), force)
    });
}

fn xfer(command: &str, url: &str, localpath: &Path, force: bool) -> FetchResult {
    let filename = url.rsplit('/').next().unwrap_or(url);
    let destfile = localpath.join(filename);
    let tempfile = localpath.join(format!("{filename}.part"));
    if force && destfile.exists() {
        let _ = std::fs::remove_file(&destfile);
    }
    if force && tempfile.exists() {
        let _ = std::fs::remove_file(&tempfile);
    }
    let uses_output = command.contains("%o");
    let mut cmd = command.to_owned();
    if uses_output {
        cmd = cmd.replace("%o", &tempfile.to_string_lossy());
    }
    cmd = cmd.replace("%u", url);
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let Some((prog, rest)) = words.split_first() else {
        return FetchResult::Err;
    };
    let status = Command::new(prog)
        .args(rest)
        .current_dir(localpath)
        .status();
    match status {
        Ok(s) if s.success() => {
            if uses_output && std::fs::rename(&tempfile, &destfile).is_err() {
                output::error(&format!(
                    "could not rename {} to {}",
                    tempfile.display(),
                    destfile.display()
                ));
                return FetchResult::Err;
            }
            FetchResult::Ok
        }
        Ok(s) => {
            output::warning(&format!(
                "running XferCommand: download failed (exit {})",
                s.code().unwrap_or(-1)
            ));
            FetchResult::Err
        }
        Err(e) => {
            output::error(&format!(
                "running XferCommand: fork failed!: {}",
                output::strerror(&e)
            ));
            FetchResult::Err
        }
    }
}
