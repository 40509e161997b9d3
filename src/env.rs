//! Default paths and the environment variables pactor reads, in one place.

/// The pacman binary that non-downloading operations pass through to, fixed
/// at build time (`build.rs`): the local libalpm prefix's pacman on a
/// development machine, else `/usr/bin/pacman`. `PacmanBin` in pactor.conf
/// overrides it. Never looked up through `PATH`.
pub const DEFAULT_PACMAN_BIN: &str = env!("PACTOR_DEFAULT_PACMAN_BIN");

/// pacman.conf when `--config` is not given.
pub const DEFAULT_PACMAN_CONF: &str = "/etc/pacman.conf";

/// pactor.conf's file name; it lives in pacman.conf's directory.
pub const PACTOR_CONF_NAME: &str = "pactor.conf";

/// pacman's compiled-in CacheDir (pacman-conf prints it when none is set).
pub const DEFAULT_CACHE_DIR: &str = "/var/cache/pacman/pkg/";

/// pacman's compiled-in HookDir.
pub const DEFAULT_HOOK_DIR: &str = "/etc/pacman.d/hooks/";

/// pactor's state: stored torrents, DHT routing table, partial downloads.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/pactor";

/// `PACTOR_CONFIG=path`: read pactor.conf from here (like `--pactor-config`).
pub const PACTOR_CONFIG: &str = "PACTOR_CONFIG";

/// pactor-seed's state: resume data, DHT table, statistics, trust ledger.
pub const DEFAULT_SEED_STATE_DIR: &str = "/var/lib/pactor-seed";

/// pactor-seed's sockets and lock file.
pub const DEFAULT_SEED_RUNTIME_DIR: &str = "/run/pactor-seed";

/// pactor-seed's BitTorrent port (fixed, so that a firewall can open it).
pub const DEFAULT_SEED_PORT: u16 = 6881;
