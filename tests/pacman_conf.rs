//! pactor's own reading of pacman.conf (src/pacman_conf.rs) against the
//! real `pacman-conf` of the pacman pactor is built for: on every config
//! here, with and without `--rootdir` and `--sysroot`, it must print the same
//! text byte for byte, or step aside (`None`) exactly where pacman-conf warns
//! or fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use pactor::pacman_conf::dump;

fn pacman_conf() -> PathBuf {
    Path::new(pactor::env::DEFAULT_PACMAN_BIN).with_file_name("pacman-conf")
}

struct Ran {
    stdout: String,
    stderr: String,
    ok: bool,
}

fn run(file: &Path, root: Option<&str>, sysroot: Option<&str>) -> Ran {
    let mut cmd = Command::new(pacman_conf());
    cmd.arg("--config").arg(file).env_clear();
    if let Some(r) = root {
        cmd.args(["--rootdir", r]);
    }
    if let Some(s) = sysroot {
        cmd.args(["--sysroot", s]);
    }
    let out = cmd.output().expect("pacman-conf runs");
    Ran {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        ok: out.status.success(),
    }
}

/// A directory of config files; `@D@` in their text stands for the
/// directory itself.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new(files: &[(&str, &str)]) -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_str().unwrap().to_owned();
        for sub in ["root", "db", "cache one", "hooks", "gpg", "link-target"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        std::os::unix::fs::symlink(dir.path().join("link-target"), dir.path().join("link"))
            .unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text.replace("@D@", &d)).unwrap();
        }
        Tree { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn d(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }
}

/// pactor's reading gives pacman-conf's text exactly, for these option sets.
fn same(tree: &Tree, file: &str, root: Option<&str>, sysroot: Option<&str>) {
    let conf = match sysroot {
        Some(_) => PathBuf::from(file),
        None => tree.path(file),
    };
    let real = run(&conf, root, sysroot);
    assert!(
        real.ok && real.stderr.is_empty(),
        "pacman-conf on {file} (root {root:?}, sysroot {sysroot:?}): {}",
        real.stderr
    );
    let ours = dump(&conf, root, sysroot);
    assert_eq!(
        ours.as_deref(),
        Some(real.stdout.as_str()),
        "{file} (root {root:?}, sysroot {sysroot:?})"
    );
}

/// pactor's reading steps aside where pacman-conf has something to say.
fn steps_aside(tree: &Tree, file: &str) {
    let conf = tree.path(file);
    let real = run(&conf, None, None);
    assert!(
        !real.ok || !real.stderr.is_empty(),
        "pacman-conf took {file} without a word:\n{}",
        real.stdout
    );
    assert_eq!(dump(&conf, None, None), None, "{file}: {}", real.stderr);
}

const ARCH_LIKE: &str = "#
# /etc/pacman.conf
#
[options]
#RootDir     = /
#DBPath      = /var/lib/pacman/
HoldPkg     = pacman glibc
#XferCommand = /usr/bin/curl -L -C - -f -o %o %u
Architecture = auto
#IgnorePkg   =
IgnorePkg   = linux  linux-headers
IgnoreGroup = gnome
NoUpgrade   = etc/passwd etc/group
NoExtract   = usr/share/help/* !usr/share/help/en*
Color
CheckSpace
VerbosePkgLists
ParallelDownloads = 5
DownloadUser = alpm
ILoveCandy
SigLevel    = Required DatabaseOptional
LocalFileSigLevel = Optional
#RemoteFileSigLevel = Required

#[core-testing]
#Include = /etc/pacman.d/mirrorlist

[core]
Include = @D@/etc/pacman.d/mirrorlist

[extra]
Include = @D@/etc/pacman.d/mirrorlist

[custom]
SigLevel = Optional TrustAll
Server = file:///home/custompkgs
Usage = Sync Search
";

const MIRRORLIST: &str = "## Worldwide
Server = https://mirror.example/$repo/os/$arch
#Server = https://other.example/$repo/os/$arch
Server = http://10.0.0.1:8080/arch/$repo/os/$arch/$arch
CacheServer = http://cache.example/$repo/$arch
";

#[test]
fn an_arch_like_config_reads_the_same() {
    let tree = Tree::new(&[
        ("etc/pacman.conf", ARCH_LIKE),
        ("etc/pacman.d/mirrorlist", MIRRORLIST),
    ]);
    let root = tree.path("root");
    let root = root.to_str().unwrap();
    same(&tree, "etc/pacman.conf", None, None);
    same(&tree, "etc/pacman.conf", Some(root), None);
    same(&tree, "etc/pacman.conf", Some(&format!("{root}/")), None);
    same(&tree, "etc/pacman.conf", Some("/"), None);
}

#[test]
fn includes_glob_nest_and_carry_their_section_on() {
    let tree = Tree::new(&[
        (
            "pacman.conf",
            "[options]\nArchitecture = x86_64 i686\nInclude = @D@/conf.d/*.conf\n\
             Server = http://after.example/$repo/$arch\n[last]\nInclude = @D@/nest/one\n",
        ),
        ("conf.d/20-b.conf", "[b]\nServer = http://b.example/$repo\n"),
        (
            "conf.d/10-a.conf",
            "[options]\nNoProgressBar\n[a]\nUsage = Install Upgrade\nServer = http://a.example/$arch\n",
        ),
        ("conf.d/.hidden.conf", "[hidden]\nServer = http://hidden.example/\n"),
        ("conf.d/30-c.conf.off", "[off]\n"),
        ("nest/one", "Include = @D@/nest/two\nServer = http://one.example/\n"),
        ("nest/two", "SigLevel = PackageNever\nServer = http://two.example/\n"),
    ]);
    same(&tree, "pacman.conf", None, None);
}

#[test]
fn path_options_resolve_like_realpath() {
    let tree = Tree::new(&[(
        "pacman.conf",
        "[options]\nRootDir = @D@/root/\nDBPath = @D@/link/\nCacheDir = @D@/cache one/\n\
         CacheDir = @D@/hooks/../gpg\nHookDir = @D@/hooks\nGPGDir = @D@/gpg/\n\
         LogFile = relative/pacman.log\nRootDir = @D@/ignored-second\n",
    )]);
    same(&tree, "pacman.conf", None, None);
    let root = tree.path("root");
    same(&tree, "pacman.conf", Some(root.to_str().unwrap()), None);
    // A root from the command line puts DBPath and LogFile under it.
    let tree = Tree::new(&[("pacman.conf", "[options]\nCacheDir = @D@/gpg\n")]);
    let root = tree.path("root");
    same(&tree, "pacman.conf", Some(root.to_str().unwrap()), None);
}

#[test]
fn a_sysroot_prefixes_paths_includes_and_file_servers() {
    let tree = Tree::new(&[
        (
            "etc/pacman.conf",
            "[options]\nArchitecture = aarch64\nRootDir = /\nInclude = /etc/pacman.d/*.conf\n\
             [local]\nServer = file:///srv/repo/$repo\nServer = http://x.example/$arch\n\
             CacheServer = file:///srv/cache\n",
        ),
        (
            "etc/pacman.d/opt.conf",
            "[options]\nCacheDir = /tmp\nHookDir = /\n",
        ),
    ]);
    same(&tree, "/etc/pacman.conf", None, Some(tree.d()));
    same(
        &tree,
        "/etc/pacman.conf",
        None,
        Some(&format!("{}/", tree.d())),
    );
    same(&tree, "/etc/pacman.conf", Some("/altroot"), Some(tree.d()));
}

#[test]
fn signature_levels_merge_like_pacman_s() {
    let tree = Tree::new(&[(
        "pacman.conf",
        "[options]\nSigLevel = PackageOptional DatabaseTrustAll\nSigLevel = TrustedOnly\n\
         LocalFileSigLevel = Never TrustAll\nRemoteFileSigLevel = PackageRequired\n\
         [a]\nSigLevel = PackageNever\n[b]\nSigLevel = DatabaseOptional PackageTrustAll\n\
         [c]\n[d]\nSigLevel = Never\nSigLevel = Required\n[e]\nSigLevel = DatabaseNever\n",
    )]);
    same(&tree, "pacman.conf", None, None);
    let tree = Tree::new(&[(
        "pacman.conf",
        "[options]\nSigLevel = Never\n[a]\nSigLevel = PackageOptional\n",
    )]);
    same(&tree, "pacman.conf", None, None);
}

#[test]
fn flags_lists_and_spacing_read_the_same() {
    let tree = Tree::new(&[(
        "pacman.conf",
        "  [options]  \r\n\tUseSyslog\r\nDisableSandbox\nDisableDownloadTimeout\n\
         DisableSandboxSyscalls\nDisableSandboxFilesystem\nCleanMethod = KeepCurrent KeepInstalled\n\
         XferCommand = /usr/bin/wget --passive-ftp -c -O %o %u\nXferCommand = /usr/bin/curl -o %o %u\n\
         IgnorePkg=a\tb   c\nIgnorePkg =\nHoldPkg = x = y\nLogFile = \nDownloadUser = first\n\
         DownloadUser = second\nParallelDownloads = 2147483647\n# trailing comment = x\n\
         [r1]\nUsage = All\nUsage = Sync\n[r2]\nUsage = Search\n[r1]\nServer = http://dup.example/\n\
         [options]\nNoExtract = last\n",
    )]);
    same(&tree, "pacman.conf", None, None);
    let empty = Tree::new(&[("pacman.conf", ""), ("comments.conf", "# only\n\n   \n")]);
    same(&empty, "pacman.conf", None, None);
    same(&empty, "comments.conf", None, None);
}

#[test]
fn steps_aside_wherever_pacman_conf_warns_or_fails() {
    let cases: &[(&str, &str)] = &[
        ("unknown-option", "[options]\nFrobnicate = yes\n"),
        ("unknown-flag", "[options]\nFrobnicate\n"),
        ("flag-with-value", "[options]\nColor = yes\n"),
        ("value-without", "[options]\nIgnorePkg\n"),
        ("unknown-repo-directive", "[r]\nMirror = http://x/\n"),
        ("outside-section", "Server = http://x/\n"),
        ("missing-include", "[options]\nInclude = @D@/nowhere\n"),
        ("include-without-value", "[options]\nInclude\n"),
        ("include-loop", "[options]\nInclude = @D@/include-loop\n"),
        ("bad-siglevel", "[options]\nSigLevel = Sometimes\n"),
        ("bad-repo-siglevel", "[r]\nSigLevel = PackageSometimes\n"),
        ("arch-unset", "[r]\nServer = http://x/$arch\n"),
        ("missing-rootdir", "[options]\nRootDir = @D@/no/such/dir\n"),
        (
            "missing-cachedir",
            "[options]\nCacheDir = @D@/no/such/dir\n",
        ),
        ("parallel-zero", "[options]\nParallelDownloads = 0\n"),
        ("parallel-word", "[options]\nParallelDownloads = five\n"),
        (
            "parallel-huge",
            "[options]\nParallelDownloads = 99999999999\n",
        ),
        ("server-without-value", "[r]\nServer\n"),
        ("bad-usage", "[r]\nUsage = Sometimes\n"),
        ("bad-clean", "[options]\nCleanMethod = KeepAll\n"),
        (
            "unclosed-quote",
            "[options]\nXferCommand = /bin/sh -c 'echo\n",
        ),
    ];
    let tree = Tree::new(cases);
    for (file, _) in cases {
        steps_aside(&tree, file);
    }
    // A file that is not there at all.
    let conf = tree.path("absent.conf");
    assert!(!run(&conf, None, None).ok);
    assert_eq!(dump(&conf, None, None), None);
}
