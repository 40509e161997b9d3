#!/usr/bin/env bash
# pactor development set-up.
#
#   ./setup.sh demo   build pactor and run it in a sandboxed root against a
#                     local repo served by several local mirrors
#   ./setup.sh test   build pactor and run the whole test suite
#   ./setup.sh deps   only install system packages and build libalpm 16
#   ./setup.sh env    print the environment lines (eval "$(./setup.sh env)")
#
# Works on Debian (root, apt) and on Arch. Where the system has no libalpm >= 16
# (Debian), pacman 7.1 / libalpm 16 is built from the source bundled in the
# alpm-sys crate into .deps/pacman-<version>/, once; later runs reuse it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PACMAN_VERSION=7.1.0
ALPM_SYS_VERSION=5.0.1
PREFIX="${PACTOR_ALPM_PREFIX:-$ROOT/.deps/pacman-$PACMAN_VERSION}"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_arch() { [[ -f /etc/arch-release ]]; }

as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# System packages: the libalpm build deps and the real parts tests drive
# (and GNU time, which scripts/bench-x.sh runs every tool under; openssl makes
# the HTTPS tests' certificates).
DEBIAN_PKGS=(
    meson ninja-build pkg-config gcc libarchive-dev libcurl4-openssl-dev
    libgpgme-dev libssl-dev libarchive-tools fakeroot fakechroot zstd gettext
    python3 gnupg curl iproute2 nginx aria2 opentracker mktorrent
    transmission-cli transmission-daemon qbittorrent-nox deluged zsh fish systemd
    time openssl
)
ARCH_PKGS=(
    pacman base-devel python fakechroot gnupg curl iproute2 nginx aria2
    mktorrent transmission-cli qbittorrent-nox deluge zsh fish time openssl
)

install_system_packages() {
    if is_arch; then
        local missing=()
        for p in "${ARCH_PKGS[@]}"; do pacman -Qq "$p" >/dev/null 2>&1 || missing+=("$p"); done
        if ((${#missing[@]})); then
            log "installing ${missing[*]}"
            as_root pacman -S --needed --noconfirm "${missing[@]}"
        fi
    elif command -v apt-get >/dev/null; then
        local missing=()
        for p in "${DEBIAN_PKGS[@]}"; do
            dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
        done
        if ((${#missing[@]})); then
            log "installing ${missing[*]}"
            as_root apt-get update -qq
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        fi
    else
        die "neither apt-get nor pacman found: install the build dependencies by hand"
    fi
    command -v cargo >/dev/null || die "cargo not found: install a Rust toolchain (rustup)"
}

system_has_libalpm16() {
    pkg-config --exists 'libalpm >= 16' 2>/dev/null
}

# Build pacman/libalpm from the alpm-sys crate's bundled source.
build_libalpm() {
    if system_has_libalpm16 && [[ -z "${PACTOR_ALPM_PREFIX:-}" ]]; then
        log "using the system libalpm $(pkg-config --modversion libalpm)"
        return
    fi
    if [[ -x "$PREFIX/bin/pacman" && -f "$PREFIX/.stamp" ]]; then
        return
    fi
    log "building pacman $PACMAN_VERSION / libalpm 16 into $PREFIX"
    (cd "$ROOT" && cargo fetch --locked >/dev/null 2>&1 || cargo fetch >/dev/null)
    local src
    src="$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -maxdepth 2 -type d -name "alpm-sys-$ALPM_SYS_VERSION" | head -n1)"
    [[ -n "$src" && -f "$src/pacman/meson.build" ]] || die "alpm-sys $ALPM_SYS_VERSION source not found after cargo fetch"
    local build="$ROOT/.deps/build-pacman-$PACMAN_VERSION"
    rm -rf "$build"
    mkdir -p "$build"
    # meson wants a writable source tree for some generated files: copy it.
    cp -a "$src/pacman" "$build/src"
    chmod -R u+w "$build/src"
    (
        cd "$build/src"
        LDFLAGS="-Wl,-rpath,$PREFIX/lib ${LDFLAGS:-}" meson setup ../out --prefix="$PREFIX" --libdir=lib --buildtype=release \
            -Ddoc=disabled -Di18n=false -Dscriptlet-shell=/bin/sh \
            -Dldconfig=/sbin/ldconfig >"$build/meson.log" 2>&1 ||
            { cat "$build/meson.log" >&2; exit 1; }
        ninja -C ../out >"$build/ninja.log" 2>&1 || { tail -50 "$build/ninja.log" >&2; exit 1; }
        ninja -C ../out install >>"$build/ninja.log" 2>&1 || { tail -50 "$build/ninja.log" >&2; exit 1; }
    )
    # pactest lives in the source tree; keep it beside the prefix.
    rm -rf "$PREFIX/share/pactest"
    mkdir -p "$PREFIX/share"
    cp -a "$build/src/test/pacman" "$PREFIX/share/pactest"
    date -u +%FT%TZ >"$PREFIX/.stamp"
    log "pacman $("$PREFIX/bin/pacman" --version | grep -o 'v[0-9.]*' | head -n1) built"
}

# Point cargo at the local prefix: pkg-config for the alpm-sys build, and an
# rpath so that build scripts (alpm's checks libalpm's version), tests and the
# pactor binaries load libalpm 16 with an empty environment (pactest runs pactor
# with LC_ALL=C only). Generated, because the paths are absolute.
write_cargo_config() {
    [[ -x "$PREFIX/bin/pacman" ]] || return 0
    mkdir -p "$ROOT/.cargo"
    cat >"$ROOT/.cargo/config.toml" <<CONF
# generated by setup.sh: libalpm 16 from $PREFIX
[build]
rustflags = ["-C", "link-arg=-Wl,-rpath,$PREFIX/lib"]

[env]
PKG_CONFIG_PATH = "$PREFIX/lib/pkgconfig"
PACTOR_ALPM_PREFIX = "$PREFIX"
CONF
}

print_env() {
    if [[ -x "$PREFIX/bin/pacman" ]]; then
        echo "export PACTOR_ALPM_PREFIX='$PREFIX'"
        echo "export PKG_CONFIG_PATH='$PREFIX/lib/pkgconfig'\${PKG_CONFIG_PATH:+:\$PKG_CONFIG_PATH}"
        echo "export LD_LIBRARY_PATH='$PREFIX/lib'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
        echo "export PATH='$PREFIX/bin':\$PATH"
    fi
}

deps() {
    install_system_packages
    build_libalpm
    write_cargo_config
}

cmd="${1:-demo}"
shift || true
case "$cmd" in
    deps) deps ;;
    env) print_env ;;
    demo)
        deps
        eval "$(print_env)"
        cd "$ROOT"
        cargo build --release --locked --bins
        exec "$ROOT/scripts/demo.sh" "$@"
        ;;
    test)
        deps
        eval "$(print_env)"
        cd "$ROOT"
        exec "$ROOT/scripts/test.sh" "$@"
        ;;
    *) die "unknown command '$cmd' (demo, test, deps, env)" ;;
esac
