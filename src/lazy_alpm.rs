//! libalpm, loaded beside pactor's start instead of before it.
//!
//! libalpm and the ~40 libraries it links (curl, gpgme, libarchive and
//! theirs) took the dynamic loader 10-19 ms on every start, before `main`:
//! most of it page faults while relocating them. The `pactor` binary does
//! not link libalpm: every libalpm function alpm-sys declares is defined
//! here by a small trampoline that jumps through a slot, and a thread
//! started first thing in `main` opens libalpm (`dlopen`) and fills the
//! slots while pactor reads its command line and configuration and starts
//! the download process. A call that comes before the slots are filled
//! waits for the load (or makes it). A libalpm that cannot be opened, or
//! lacks one of the functions, ends pactor with the loader's kind of error
//! at its first call to libalpm, before libalpm has done anything.
//! That wait must not happen in a signal handler: src/signals.rs calls
//! libalpm only with a handle, which exists only after the load.
//!
//! The trampolines are hidden symbols of the executable: the linker binds
//! alpm-sys's references to them, `--as-needed` (rustc's default) then
//! leaves libalpm out of the binary's `NEEDED` entries, and nothing that
//! libalpm loads later can bind to them. tests/it/startup.rs checks that the
//! binary needs no libalpm. pactor's other binaries and its tests link
//! libalpm as usual.

use std::ffi::CStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// The libalpm pactor is built for (alpm-sys 5: libalpm 16).
const SONAME: &CStr = c"libalpm.so.16";

/// Starts loading libalpm on a thread of its own, at a lower priority
/// than pactor's other work: on a machine with few cores, the download
/// process's start and its first connections come first (libalpm is needed
/// only from the databases on, a few milliseconds later).
pub fn start() {
    let _ = std::thread::Builder::new()
        .name("libalpm".into())
        .spawn(|| {
            // SAFETY: plain system calls on this thread's own id; a nice
            // value per thread is Linux's (setpriority(2), NOTES).
            unsafe {
                let tid = libc::gettid();
                libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, LOADER_NICE);
            }
            let _ = loaded();
        });
}

/// The loading thread's nice value.
const LOADER_NICE: libc::c_int = 10;

/// Loads libalpm and fills the slots, once; every caller waits for that.
/// The loader's error if it could not: the thread started early only
/// records it, and pactor ends on it when it calls libalpm (a command that
/// never does, `-h`, runs).
fn loaded() -> Result<(), &'static str> {
    static LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    let loaded = LOADED.get_or_init(|| {
        let lib = open(SONAME).or_else(|e| {
            // Not found: under fakechroot, whose dlopen searches as its own
            // library does, without pactor's RUNPATH. The libalpm pactor
            // was built against, by its path. (One found that does not
            // load is an error, as for the dynamic loader.)
            if !e.contains("cannot open shared object file") {
                return Err(e);
            }
            let path = format!(
                "{}/{}",
                env!("PACTOR_ALPM_LIBDIR"),
                SONAME.to_string_lossy()
            );
            std::ffi::CString::new(path)
                .ok()
                .and_then(|p| open(&p).ok())
                .ok_or(e)
        })?;
        // Every one must be there, as for a binary bound at its start:
        // the first call to libalpm ends pactor otherwise, before libalpm
        // has done anything (no lock taken, nothing half-done).
        let mut missing = None;
        for (i, name) in NAMES.iter().enumerate() {
            // SAFETY: `lib` is an open handle, `name` a C string.
            let f = unsafe { libc::dlsym(lib, name.as_ptr()) };
            if f.is_null() && missing.is_none() {
                missing = Some(name);
            }
            slot(i).store(f as usize, Ordering::Release);
        }
        match missing {
            Some(name) => Err(format!(
                "{}: undefined symbol: {}",
                SONAME.to_string_lossy(),
                name.to_string_lossy()
            )),
            None => Ok(()),
        }
    });
    loaded.as_ref().map(|_| ()).map_err(String::as_str)
}

/// `dlopen(name)`, or the loader's error.
fn open(name: &CStr) -> Result<*mut libc::c_void, String> {
    // SAFETY: a C string; flags as dlopen(3) documents them.
    let lib = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if lib.is_null() {
        return Err(dl_error());
    }
    Ok(lib)
}

/// The last error of the dynamic loader.
fn dl_error() -> String {
    // SAFETY: dlerror returns null or a C string valid until the next call.
    let e = unsafe { libc::dlerror() };
    if e.is_null() {
        return "unknown error".to_owned();
    }
    // SAFETY: not null, so a C string (above).
    unsafe { CStr::from_ptr(e) }.to_string_lossy().into_owned()
}

/// Ends pactor as the dynamic loader ends a program whose library is
/// missing.
fn fail(what: &str) -> ! {
    eprintln!("pactor: error while loading shared libraries: {what}");
    // SAFETY: ends the process at once. Nothing that libalpm does has
    // begun (no lock, no database); a download process started early reads
    // the end of its input and exits.
    unsafe { libc::_exit(127) }
}

/// Slot `i`: the address of libalpm's function `NAMES[i]`, 0 until loaded.
fn slot(i: usize) -> &'static AtomicUsize {
    assert!(i < NAMES.len());
    // SAFETY: `pactor_alpm_slots` is an array of NAMES.len() 8-byte aligned
    // words (the assembly below), only ever accessed atomically.
    unsafe {
        &*std::ptr::addr_of!(pactor_alpm_slots)
            .cast::<AtomicUsize>()
            .add(i)
    }
}

extern "C" {
    /// The first slot (the assembly below).
    static pactor_alpm_slots: usize;
}

/// A trampoline whose slot was empty: loads libalpm (or waits for the
/// thread doing it) and returns the function's address for it to jump to.
#[no_mangle]
extern "C" fn pactor_alpm_resolve(at: *const usize) -> usize {
    if let Err(e) = loaded() {
        fail(e);
    }
    let base = std::ptr::addr_of!(pactor_alpm_slots) as usize;
    // Filled, all of them: `loaded` would have failed otherwise.
    slot((at as usize - base) / 8).load(Ordering::Acquire)
}

/// The trampolines: per function, jump through its slot when it is
/// filled, else through `pactor_alpm_slow` with the slot's address in r11.
/// The slow path keeps every register a C call may pass arguments in
/// (rdi, rsi, rdx, rcx, r8, r9, xmm0-7, and al for a variadic call) and
/// leaves the stack as the caller made it, so the function finds its
/// arguments as if called directly.
macro_rules! trampolines {
    ($($name:ident)*) => {
        static NAMES: &[&CStr] = &[$(
            match CStr::from_bytes_with_nul(concat!(stringify!($name), "\0").as_bytes()) {
                Ok(c) => c,
                Err(_) => panic!("a function name holds no NUL"),
            }
        ),*];

        std::arch::global_asm!(
            ".pushsection .bss.pactor_alpm_slots,\"aw\",@nobits",
            ".balign 8",
            ".globl pactor_alpm_slots",
            ".hidden pactor_alpm_slots",
            "pactor_alpm_slots:",
            $(concat!("pactor_alpm_slot_", stringify!($name), ": .zero 8"),)*
            ".popsection",
            ".pushsection .text.pactor_alpm,\"ax\",@progbits",
            $(
                concat!(".globl ", stringify!($name)),
                concat!(".hidden ", stringify!($name)),
                concat!(".type ", stringify!($name), ",@function"),
                concat!(stringify!($name), ":"),
                concat!("mov pactor_alpm_slot_", stringify!($name), "(%rip), %r11"),
                "test %r11, %r11",
                "jz 1f",
                "jmp *%r11",
                concat!("1: lea pactor_alpm_slot_", stringify!($name), "(%rip), %r11"),
                "jmp pactor_alpm_slow",
            )*
            // Entered with the stack as at the function's entry (8 mod 16):
            // seven pushes and 128 bytes make it 16-byte aligned for the call.
            "pactor_alpm_slow:",
            "push %rdi", "push %rsi", "push %rdx", "push %rcx",
            "push %r8", "push %r9", "push %rax",
            "sub $128, %rsp",
            "movdqu %xmm0, 0(%rsp)", "movdqu %xmm1, 16(%rsp)",
            "movdqu %xmm2, 32(%rsp)", "movdqu %xmm3, 48(%rsp)",
            "movdqu %xmm4, 64(%rsp)", "movdqu %xmm5, 80(%rsp)",
            "movdqu %xmm6, 96(%rsp)", "movdqu %xmm7, 112(%rsp)",
            "mov %r11, %rdi",
            "call pactor_alpm_resolve",
            "mov %rax, %r11",
            "movdqu 0(%rsp), %xmm0", "movdqu 16(%rsp), %xmm1",
            "movdqu 32(%rsp), %xmm2", "movdqu 48(%rsp), %xmm3",
            "movdqu 64(%rsp), %xmm4", "movdqu 80(%rsp), %xmm5",
            "movdqu 96(%rsp), %xmm6", "movdqu 112(%rsp), %xmm7",
            "add $128, %rsp",
            "pop %rax", "pop %r9", "pop %r8", "pop %rcx",
            "pop %rdx", "pop %rsi", "pop %rdi",
            "jmp *%r11",
            ".popsection",
            options(att_syntax)
        );
    };
}

// Every function alpm-sys 5.0.1 declares for libalpm 16 (its src/ffi.rs):
// all that libalpm 16.0 exports.
trampolines! {
    alpm_add_pkg alpm_capabilities alpm_checkconflicts alpm_checkdeps
    alpm_compute_md5sum alpm_compute_sha256sum alpm_conflict_free
    alpm_db_add_cache_server alpm_db_add_server alpm_db_check_pgp_signature
    alpm_db_get_cache_servers alpm_db_get_group alpm_db_get_groupcache
    alpm_db_get_handle alpm_db_get_name alpm_db_get_pkg alpm_db_get_pkgcache
    alpm_db_get_servers alpm_db_get_siglevel alpm_db_get_usage
    alpm_db_get_valid alpm_db_remove_cache_server alpm_db_remove_server
    alpm_db_search alpm_db_set_cache_servers alpm_db_set_servers
    alpm_db_set_usage alpm_db_unregister alpm_db_update alpm_decode_signature
    alpm_dep_compute_string alpm_dep_free alpm_dep_from_string
    alpm_depmissing_free alpm_errno alpm_extract_keyid alpm_fetch_pkgurl
    alpm_fileconflict_free alpm_filelist_contains alpm_find_dbs_satisfier
    alpm_find_group_pkgs alpm_find_satisfier alpm_get_localdb alpm_get_syncdbs
    alpm_initialize alpm_list_add alpm_list_add_sorted alpm_list_append
    alpm_list_append_strdup alpm_list_cmp_unsorted alpm_list_copy
    alpm_list_copy_data alpm_list_count alpm_list_diff alpm_list_diff_sorted
    alpm_list_find alpm_list_find_ptr alpm_list_find_str alpm_list_free
    alpm_list_free_inner alpm_list_join alpm_list_last alpm_list_mmerge
    alpm_list_msort alpm_list_next alpm_list_nth alpm_list_previous
    alpm_list_remove alpm_list_remove_dupes alpm_list_remove_item
    alpm_list_remove_str alpm_list_reverse alpm_list_strdup alpm_list_to_array
    alpm_logaction alpm_option_add_architecture alpm_option_add_assumeinstalled
    alpm_option_add_cachedir alpm_option_add_hookdir
    alpm_option_add_ignoregroup alpm_option_add_ignorepkg
    alpm_option_add_noextract alpm_option_add_noupgrade
    alpm_option_add_overwrite_file alpm_option_get_architectures
    alpm_option_get_assumeinstalled alpm_option_get_cachedirs
    alpm_option_get_checkspace alpm_option_get_dbext alpm_option_get_dbpath
    alpm_option_get_default_siglevel alpm_option_get_disable_dl_timeout
     alpm_option_get_disable_sandbox_filesystem
    alpm_option_get_disable_sandbox_syscalls alpm_option_get_dlcb
    alpm_option_get_dlcb_ctx alpm_option_get_eventcb
    alpm_option_get_eventcb_ctx alpm_option_get_fetchcb
    alpm_option_get_fetchcb_ctx alpm_option_get_gpgdir alpm_option_get_hookdirs
    alpm_option_get_ignoregroups alpm_option_get_ignorepkgs
    alpm_option_get_local_file_siglevel alpm_option_get_lockfile
    alpm_option_get_logcb alpm_option_get_logcb_ctx alpm_option_get_logfile
    alpm_option_get_noextracts alpm_option_get_noupgrades
    alpm_option_get_overwrite_files alpm_option_get_parallel_downloads
    alpm_option_get_progresscb alpm_option_get_progresscb_ctx
    alpm_option_get_questioncb alpm_option_get_questioncb_ctx
    alpm_option_get_remote_file_siglevel alpm_option_get_root
    alpm_option_get_sandboxuser alpm_option_get_usesyslog
    alpm_option_match_noextract alpm_option_match_noupgrade
    alpm_option_remove_architecture alpm_option_remove_assumeinstalled
    alpm_option_remove_cachedir alpm_option_remove_hookdir
    alpm_option_remove_ignoregroup alpm_option_remove_ignorepkg
    alpm_option_remove_noextract alpm_option_remove_noupgrade
    alpm_option_remove_overwrite_file alpm_option_set_architectures
    alpm_option_set_assumeinstalled alpm_option_set_cachedirs
    alpm_option_set_checkspace alpm_option_set_dbext
    alpm_option_set_default_siglevel alpm_option_set_disable_dl_timeout
     alpm_option_set_disable_sandbox_filesystem
    alpm_option_set_disable_sandbox_syscalls alpm_option_set_dlcb
    alpm_option_set_eventcb alpm_option_set_fetchcb alpm_option_set_gpgdir
    alpm_option_set_hookdirs alpm_option_set_ignoregroups
    alpm_option_set_ignorepkgs alpm_option_set_local_file_siglevel
    alpm_option_set_logcb alpm_option_set_logfile alpm_option_set_noextracts
    alpm_option_set_noupgrades alpm_option_set_overwrite_files
    alpm_option_set_parallel_downloads alpm_option_set_progresscb
    alpm_option_set_questioncb alpm_option_set_remote_file_siglevel
    alpm_option_set_sandboxuser alpm_option_set_usesyslog
    alpm_pkg_changelog_close alpm_pkg_changelog_open alpm_pkg_changelog_read
    alpm_pkg_check_pgp_signature alpm_pkg_checkmd5sum
    alpm_pkg_compute_optionalfor alpm_pkg_compute_requiredby
    alpm_pkg_download_size alpm_pkg_find alpm_pkg_free alpm_pkg_get_arch
    alpm_pkg_get_backup alpm_pkg_get_base alpm_pkg_get_base64_sig
    alpm_pkg_get_builddate alpm_pkg_get_checkdepends alpm_pkg_get_conflicts
    alpm_pkg_get_db alpm_pkg_get_depends alpm_pkg_get_desc
    alpm_pkg_get_filename alpm_pkg_get_files alpm_pkg_get_groups
    alpm_pkg_get_handle alpm_pkg_get_installdate alpm_pkg_get_isize
    alpm_pkg_get_licenses alpm_pkg_get_makedepends alpm_pkg_get_md5sum
    alpm_pkg_get_name alpm_pkg_get_optdepends alpm_pkg_get_origin
    alpm_pkg_get_packager alpm_pkg_get_provides alpm_pkg_get_reason
    alpm_pkg_get_replaces alpm_pkg_get_sha256sum alpm_pkg_get_sig
    alpm_pkg_get_size alpm_pkg_get_url alpm_pkg_get_validation
    alpm_pkg_get_version alpm_pkg_get_xdata alpm_pkg_has_scriptlet
    alpm_pkg_load alpm_pkg_mtree_close alpm_pkg_mtree_next alpm_pkg_mtree_open
    alpm_pkg_set_reason alpm_pkg_should_ignore alpm_pkg_vercmp
    alpm_register_syncdb alpm_release alpm_remove_pkg alpm_sandbox_setup_child
    alpm_siglist_cleanup alpm_strerror alpm_sync_get_new_version
    alpm_sync_sysupgrade alpm_trans_commit alpm_trans_get_add
    alpm_trans_get_flags alpm_trans_get_remove alpm_trans_init
    alpm_trans_interrupt alpm_trans_prepare alpm_trans_release alpm_unlock
    alpm_unregister_all_syncdbs alpm_version
}
