#!/usr/bin/env bash
# Builds the pactor package the way an Arch user would, and installs it:
#
#   1. a source tarball of HEAD (git archive) beside a copy of the PKGBUILD;
#   2. the crates of its Cargo.lock vendored (cargo vendor) and a CARGO_HOME
#      that uses them offline, since prepare()/build() get no network here;
#   3. makepkg --nodeps as an unprivileged user (makepkg refuses root), with
#      a makepkg.conf of its own (zstd packages, no debug package);
#   4. the packaged pactor installs the package with `pactor -U` into a
#      sandboxed root (--root/--dbpath/--config), then the file list, the
#      backup entry and the installed binary are checked.
#
#   scripts/makepkg-test.sh [--check] [--keep] [--user USER]
#
#   --check      run the PKGBUILD's check() too (the whole cargo test suite
#                in release mode; long)
#   --keep       keep the work directory (printed at the end)
#   --user USER  build as USER when started as root (default: nobody)
#
# On a machine without a system libalpm 16 (Debian), the local prefix of
# ./setup.sh deps supplies makepkg, pacman and libalpm: PKG_CONFIG_PATH and an
# rpath point the build at it, and the sandbox's pactor.conf names its pacman
# as PacmanBin. When started as root, the Rust toolchain (under /root, which
# the build user cannot enter) is bind-mounted into the work directory in a
# private mount namespace.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
check=0
keep=0
user=nobody
while (($#)); do
    case "$1" in
        --check) check=1 ;;
        --keep) keep=1 ;;
        --user) user="$2"; shift ;;
        -h | --help) sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) printf 'makepkg-test.sh: unknown option %s\n' "$1" >&2; exit 2 ;;
    esac
    shift
done

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'makepkg-test.sh: error: %s\n' "$*" >&2; exit 1; }
start=$SECONDS

prefix="${PACTOR_ALPM_PREFIX:-}"
if [[ -z "$prefix" ]]; then
    prefix="$(sed -n 's/^PACTOR_ALPM_PREFIX = "\(.*\)"$/\1/p' "$ROOT/.cargo/config.toml" 2>/dev/null || true)"
fi
[[ -n "$prefix" && -x "$prefix/bin/makepkg" ]] || prefix=""
if [[ -n "$prefix" ]]; then
    makepkg="$prefix/bin/makepkg"
    pacman_bin="$prefix/bin/pacman"
else
    makepkg="$(command -v makepkg)" || die "makepkg not found (run ./setup.sh deps)"
    pacman_bin=/usr/bin/pacman
fi
sysroot="$(rustc --print sysroot)"
host="$(rustc -vV | sed -n 's/^host: //p')"
pkgver="$(sed -n 's/^pkgver=//p' "$ROOT/PKGBUILD")"
pkgrel="$(sed -n 's/^pkgrel=//p' "$ROOT/PKGBUILD")"
carch="${host%%-*}"

work="$(mktemp -d /tmp/pactor-makepkg.XXXXXX)"
chmod 755 "$work"
cleanup() {
    if ((keep)); then
        log "kept $work"
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT
mkdir -p "$work"/{build,out,home,cargo-home,toolchain,src,root/var/lib/pacman,extract}

log "source: git archive of $(git -C "$ROOT" rev-parse --short HEAD)"
git -C "$ROOT" archive --prefix="pactor-$pkgver/" -o "$work/build/pactor-$pkgver.tar.gz" HEAD
cp "$ROOT/PKGBUILD" "$work/build/"
tar -xzf "$work/build/pactor-$pkgver.tar.gz" -C "$work/src"
src="$work/src/pactor-$pkgver"

log "vendoring crates for an offline build"
(cd "$src" && cargo vendor --locked --quiet "$work/vendor" >/dev/null)
cat >"$work/cargo-home/config.toml" <<CONF
[source.crates-io]
replace-with = "vendored-sources"

[source.vendored-sources]
directory = "$work/vendor"

[net]
offline = true
CONF

cat >"$work/makepkg.conf" <<CONF
source /etc/makepkg.conf
PKGEXT='.pkg.tar.zst'
CARCH='$carch'
OPTIONS=(strip docs !libtool !staticlibs emptydirs zipman purge !debug !lto)
BUILDENV=(!distcc !color !ccache check !sign)
CONF
[[ -f /etc/makepkg.conf ]] || sed -i '/^source /d' "$work/makepkg.conf"
if [[ -n "$prefix" ]]; then
    # libalpm 16 from the local prefix, for the build and at run time.
    printf 'RUSTFLAGS="-C link-arg=-Wl,-rpath,%s/lib"\n' "$prefix" >>"$work/makepkg.conf"
fi

makepkg_args=(--nodeps --noconfirm --config "$work/makepkg.conf")
((check)) || makepkg_args+=(--nocheck)
toolchain="$sysroot"
run_as=()
if ((EUID == 0)); then
    toolchain="$work/toolchain"
    run_as=(runuser -u "$user" --)
    chown -R "$user" "$work/build" "$work/out" "$work/home" "$work/cargo-home"
    chmod -R a+rX "$work/vendor"
fi
build_env=(
    env -i
    HOME="$work/home"
    PATH="$toolchain/bin:${prefix:+$prefix/bin:}/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
    CARGO_HOME="$work/cargo-home"
    PKGDEST="$work/out"
    SRCDEST="$work/build"
    BUILDDIR="$work/build"
    LC_ALL=C
)
if [[ -n "$prefix" ]]; then
    build_env+=(
        PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
        LD_LIBRARY_PATH="$prefix/lib"
        PACTOR_ALPM_PREFIX="$prefix"
    )
    # check() runs the binary against the reference pacman: bake the
    # prefix's (without --check the package keeps /usr/bin/pacman, and the
    # sandbox's pactor.conf names the prefix's as PacmanBin).
    ((check)) && build_env+=(PACTOR_PACMAN_BIN="$pacman_bin")
fi

log "makepkg ${makepkg_args[*]} (as ${run_as[2]:-$(id -un)})"
build_start=$SECONDS
cd "$work/build"
if ((EUID == 0)); then
    # /root is closed to the build user: show it the toolchain through a bind
    # mount that only this mount namespace sees.
    unshare --mount --propagation private -- bash -c '
        mount --bind "$1" "$2" && shift 2 && exec "$@"
    ' bash "$sysroot" "$toolchain" "${run_as[@]}" "${build_env[@]}" "$makepkg" "${makepkg_args[@]}" \
        >"$work/makepkg.log" 2>&1 || { tail -n 60 "$work/makepkg.log" >&2; die "makepkg failed (log: $work/makepkg.log)"; }
else
    "${build_env[@]}" "$makepkg" "${makepkg_args[@]}" >"$work/makepkg.log" 2>&1 ||
        { tail -n 60 "$work/makepkg.log" >&2; die "makepkg failed (log: $work/makepkg.log)"; }
fi
build_took=$((SECONDS - build_start))
pkg="$work/out/pactor-$pkgver-$pkgrel-$carch.pkg.tar.zst"
[[ -f "$pkg" ]] || die "no package at $pkg: $(ls "$work/out")"
log "built $(basename "$pkg") ($(du -h "$pkg" | cut -f1)) in ${build_took}s"

# The packaged pactor installs its own package into a sandboxed root.
bsdtar -xf "$pkg" -C "$work/extract"
pactor="$work/extract/usr/bin/pactor"
"$pactor" --version
cat >"$work/pacman.conf" <<CONF
[options]
Architecture = auto
SigLevel = Never
LocalFileSigLevel = Never
CONF
printf '[options]\nPacmanBin = %s\n' "$pacman_bin" >"$work/pactor.conf"
sandbox=(--root "$work/root" --dbpath "$work/root/var/lib/pacman" --config "$work/pacman.conf"
    --cachedir "$work/root/var/cache/pacman/pkg" --logfile "$work/root/var/log/pacman.log")
mkdir -p "$work/root/var/cache/pacman/pkg" "$work/root/var/log"
log "pactor -U into $work/root"
# -dd: the sandbox has no pacman package to satisfy 'depends'.
env -i LC_ALL=C PATH=/usr/bin:/bin "$pactor" -U --noconfirm -dd "${sandbox[@]}" "$pkg"

# What must be there: every binary target (pactor-engine in /usr/lib/pactor),
# man page and completion of the archived tree, the config file and the
# README.
expected="$work/expected"
{
    printf '/etc/\n/etc/pactor.conf\n/usr/\n/usr/bin/\n/usr/share/\n'
    printf '/usr/bin/pactor\n'
    for f in "$src"/src/bin/*.rs; do
        [[ -f "$f" ]] || continue
        case "$(basename "$f" .rs)" in
            # the download process pactor starts, not a command
            pactor-engine) printf '/usr/lib/pactor/\n/usr/lib/pactor/pactor-engine\n' ;;
            *) printf '/usr/bin/%s\n' "$(basename "$f" .rs)" ;;
        esac
    done
    printf '/usr/share/doc/\n/usr/share/doc/pactor/\n/usr/share/doc/pactor/README.md\n'
    printf '/usr/lib/\n/usr/lib/systemd/\n/usr/lib/systemd/system/\n/usr/lib/systemd/system/pactor-seed.service\n'
    printf '/usr/lib/sysusers.d/\n/usr/lib/sysusers.d/pactor-seed.conf\n/usr/lib/tmpfiles.d/\n/usr/lib/tmpfiles.d/pactor-seed.conf\n'
    found_man=0
    for f in "$src"/man/*.[1-8]; do
        [[ -f "$f" ]] || continue
        found_man=1
        sec="${f##*.}"
        printf '/usr/share/man/man%s/\n/usr/share/man/man%s/%s.gz\n' "$sec" "$sec" "$(basename "$f")"
    done
    ((found_man)) && printf '/usr/share/man/\n'
    for f in "$src"/completions/*; do
        name="$(basename "$f")"
        case "$name" in
            *.bash) printf '/usr/share/bash-completion/\n/usr/share/bash-completion/completions/\n/usr/share/bash-completion/completions/%s\n' "${name%.bash}" ;;
            _*) printf '/usr/share/zsh/\n/usr/share/zsh/site-functions/\n/usr/share/zsh/site-functions/%s\n' "$name" ;;
            *.zsh) printf '/usr/share/zsh/\n/usr/share/zsh/site-functions/\n/usr/share/zsh/site-functions/_%s\n' "${name%.zsh}" ;;
            *.fish) printf '/usr/share/fish/\n/usr/share/fish/vendor_completions.d/\n/usr/share/fish/vendor_completions.d/%s\n' "$name" ;;
        esac
    done
} | sed "s|^|$work/root|" | sort -u >"$expected"
env -i LC_ALL=C "$pactor" -Qlq "${sandbox[@]}" pactor | sort >"$work/installed"
if ! diff -u "$expected" "$work/installed"; then
    die "the package's file list differs from the expected one (- expected, + installed)"
fi
log "file list: $(wc -l <"$work/installed") entries as expected"

env -i LC_ALL=C "$pactor" -Qii "${sandbox[@]}" pactor >"$work/info"
sed -n '/^Backup Files/,/^$/p' "$work/info" | grep -q 'etc/pactor.conf' ||
    { cat "$work/info" >&2; die "/etc/pactor.conf is not a backup file"; }
env -i LC_ALL=C "$pactor" -Qk "${sandbox[@]}" pactor
"$work/root/usr/bin/pactor" -Sh | grep -q -- '-x, --torrent' || die "the installed pactor does not know -x"
cmp "$work/root/etc/pactor.conf" "$src/etc/pactor.conf" || die "/etc/pactor.conf differs from etc/pactor.conf"

log "makepkg build + pactor -U install: OK (build ${build_took}s, total $((SECONDS - start))s)"
