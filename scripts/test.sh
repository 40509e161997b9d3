#!/usr/bin/env bash
# The whole pactor test suite, in the order a failure is cheapest to read:
#
#   1. cargo build --release --locked        (the binary pactest drives)
#   2. cargo nextest run / cargo test         (unit + integration tests, tests/it)
#   3. scripts/pactest.sh                     (pacman's own suite: pacman, pactor,
#                                              pactor -x; fails on a parity gap)
#   4. scripts/makepkg-test.sh                (the PKGBUILD built by makepkg as an
#                                              unprivileged user, installed with
#                                              pactor -U into a sandbox, file list)
#
#   scripts/test.sh [--lint] [--release-tests] [--no-pactest] [--no-cargo-test]
#                    [--no-makepkg] [-- PACTEST ARGS]
#
#   --lint   also run `cargo fmt --all --check` and
#            `cargo clippy --workspace --all-targets --locked -- -D warnings`
#   --release-tests
#            build and run the cargo tests with the release profile, reusing
#            step 1's build instead of compiling everything a second time
#            (CI does this: PACTOR_TEST_PROFILE=release has the same effect)
#
# Every step runs even when an earlier one failed (except that nothing runs
# without a build); the exit status is non-zero when any step failed.
# Expects the environment of `./setup.sh env` (./setup.sh test provides it).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"

lint=0
pactest=1
cargo_test=1
makepkg=1
pactest_args=()
while (($#)); do
    case "$1" in
        --lint) lint=1 ;;
        --no-pactest) pactest=0 ;;
        --no-cargo-test) cargo_test=0 ;;
        --no-makepkg) makepkg=0 ;;
        --release-tests) PACTOR_TEST_PROFILE=release ;;
        --) shift; pactest_args=("$@"); break ;;
        -h | --help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) printf 'test.sh: unknown option %s\n' "$1" >&2; exit 2 ;;
    esac
    shift
done

profile_args=()
[[ "${PACTOR_TEST_PROFILE:-}" == release ]] && profile_args=(--release)

# Upper bounds, so that a hung test cannot keep CI busy for hours.
CARGO_TEST_TIMEOUT="${PACTOR_CARGO_TEST_TIMEOUT:-1800}"
PACTEST_TIMEOUT="${PACTOR_PACTEST_TIMEOUT:-1200}"
MAKEPKG_TIMEOUT="${PACTOR_MAKEPKG_TIMEOUT:-1800}"

results=()
failed=0
step() { # name command...
    local name="$1" start=$SECONDS rc
    shift
    printf '\n==> %s\n' "$name" >&2
    "$@"
    rc=$?
    local took=$((SECONDS - start))
    if ((rc == 0)); then
        results+=("ok      $name (${took}s)")
    else
        results+=("FAILED  $name (exit $rc, ${took}s)")
        failed=1
    fi
    return "$rc"
}

report() {
    printf '\n==> summary\n'
    printf '  %s\n' "${results[@]}"
    if ((failed)); then printf 'test suite: FAILED\n'; else printf 'test suite: OK\n'; fi
}

if ((lint)); then
    step "cargo fmt --check" cargo fmt --all --check
    step "cargo clippy" cargo clippy --workspace --all-targets --locked -- -D warnings
fi

# With --release-tests, step 1 builds the test targets too: the same feature
# set (dev-dependencies unify features) so the test step compiles nothing.
build_args=(--release --locked)
((${#profile_args[@]})) && build_args+=(--workspace --lib --bins --tests)
if ! step "cargo build ${build_args[*]}" cargo build "${build_args[@]}"; then
    report
    exit 1
fi

if ((cargo_test)); then
    if cargo nextest --version >/dev/null 2>&1; then
        step "cargo nextest run" timeout --foreground -k 30 "$CARGO_TEST_TIMEOUT" \
            cargo nextest run --workspace --locked --no-fail-fast \
            ${profile_args[@]+--cargo-profile release}
        # nextest does not run doctests.
        step "cargo test --doc" timeout --foreground -k 30 "$CARGO_TEST_TIMEOUT" \
            cargo test --workspace --locked --doc "${profile_args[@]}"
    else
        step "cargo test" timeout --foreground -k 30 "$CARGO_TEST_TIMEOUT" \
            cargo test --workspace --locked --no-fail-fast "${profile_args[@]}"
    fi
fi

if ((pactest)); then
    step "pactest parity (pacman, pactor, pactor -x)" timeout --foreground -k 30 "$PACTEST_TIMEOUT" \
        "$ROOT/scripts/pactest.sh" --pactor "$TARGET_DIR/release/pactor" "${pactest_args[@]}"
fi

# Last, since it builds pactor once more from a source tarball the way an
# Arch user's makepkg does (about 3 minutes on 2 cores); without the
# PKGBUILD's check(), as steps 2 and 3 ran the tests already.
if ((makepkg)); then
    step "makepkg package build + pactor -U install" timeout --foreground -k 30 "$MAKEPKG_TIMEOUT" \
        "$ROOT/scripts/makepkg-test.sh"
fi

report
exit "$failed"
