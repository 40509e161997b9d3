# bash completion for pactor(8)                          -*- shell-script -*-
# Generated from src/cli/flags.rs by tests/docs.rs; do not edit.
# Regenerate with: PACTOR_BLESS=1 cargo test --test docs

# Long options offered under an operation ('' before one).
_pactor_longs() {
    case $1 in
        D) echo '--help --dbpath --check --quiet --root --sysroot --verbose --noconfirm --confirm --config --debug --ask --cachedir --hookdir --asdeps --logfile --asexplicit --arch --gpgdir --color --disable-download-timeout --disable-sandbox --pactor-config' ;;
        F) echo '--help --dbpath --nodeps --list --print --quiet --root --sysroot --regex --machinereadable --verbose --refresh --noconfirm --confirm --config --assume-installed --debug --noprogressbar --noscriptlet --ask --cachedir --hookdir --logfile --arch --print-format --gpgdir --dbonly --color --disable-download-timeout --disable-sandbox --pactor-config' ;;
        Q) echo '--help --dbpath --changelog --deps --explicit --groups --info --check --list --foreign --native --owns --file --quiet --root --sysroot --search --unrequired --upgrades --verbose --noconfirm --confirm --config --debug --ask --cachedir --hookdir --logfile --arch --gpgdir --color --disable-download-timeout --disable-sandbox --pactor-config' ;;
        R) echo '--help --dbpath --cascade --nodeps --nosave --print --root --sysroot --recursive --unneeded --verbose --noconfirm --confirm --config --assume-installed --debug --noprogressbar --noscriptlet --ask --cachedir --hookdir --logfile --arch --print-format --gpgdir --dbonly --color --disable-download-timeout --disable-sandbox --pactor-config' ;;
        S) echo '--help --dbpath --clean --nodeps --groups --info --list --print --quiet --root --sysroot --search --sysupgrade --verbose --downloadonly --refresh --noconfirm --confirm --config --ignore --assume-installed --debug --overwrite --noprogressbar --noscriptlet --ask --cachedir --hookdir --asdeps --logfile --ignoregroup --needed --asexplicit --arch --print-format --gpgdir --dbonly --color --disable-download-timeout --disable-sandbox --torrent --no-torrent --download-limit --upload-limit --pactor-config' ;;
        T) echo '--help --dbpath --root --sysroot --verbose --noconfirm --confirm --config --debug --ask --cachedir --hookdir --logfile --arch --gpgdir --color --disable-download-timeout --disable-sandbox --pactor-config' ;;
        U) echo '--help --dbpath --nodeps --print --root --sysroot --verbose --downloadonly --noconfirm --confirm --config --ignore --assume-installed --debug --overwrite --noprogressbar --noscriptlet --ask --cachedir --hookdir --asdeps --logfile --ignoregroup --needed --asexplicit --arch --print-format --gpgdir --dbonly --color --disable-download-timeout --disable-sandbox --torrent --no-torrent --download-limit --upload-limit --pactor-config' ;;
        *) echo '--database --files --query --remove --sync --deptest --upgrade --version --help --dbpath --root --sysroot --verbose --noconfirm --confirm --config --debug --ask --cachedir --hookdir --logfile --arch --gpgdir --color --disable-download-timeout --disable-sandbox --pactor-config' ;;
    esac
}

# Short letters offered under an operation ('' before one).
_pactor_shorts() {
    case $1 in
        D) echo 'hbkqrv' ;;
        F) echo 'hbdlpqrxvy' ;;
        Q) echo 'hbcdegiklmnopqrstuv' ;;
        R) echo 'hbcdnprsuv' ;;
        S) echo 'hbcdgilpqrsuvwyx' ;;
        T) echo 'hbrv' ;;
        U) echo 'hbdprvwx' ;;
        *) echo 'DFQRSTUVhbrv' ;;
    esac
}

# Letters that count when repeated (-yy, -cc).
_pactor_repeatable='cdikstuy'

# The operation letter of the words up to and including the current one.
_pactor_operation() {
    local i j w
    for ((i = 1; i <= COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        case $w in
            --) return ;;
            --database) echo D; return ;;
            --files) echo F; return ;;
            --query) echo Q; return ;;
            --remove) echo R; return ;;
            --sync) echo S; return ;;
            --deptest) echo T; return ;;
            --upgrade) echo U; return ;;
            --*) ;;
            -?*)
                for ((j = 1; j < ${#w}; j++)); do
                    case ${w:j:1} in
                        [DFQRSTU]) echo "${w:j:1}"; return ;;
                        [br]) break ;;
                    esac
                done
                ;;
        esac
    done
}

# Whether an option (letter, long name) appears before the current word.
_pactor_given() {
    local i j w
    for ((i = 1; i < COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        case $w in
            --) return 1 ;;
            "--$2") return 0 ;;
            --*) ;;
            -?*)
                for ((j = 1; j < ${#w}; j++)); do
                    [[ ${w:j:1} == "$1" ]] && return 0
                    [[ ${w:j:1} == [br] ]] && break
                done
                ;;
        esac
    done
    return 1
}

# Completes the value of option $1 from $2; fails when $1 takes no value.
_pactor_value() {
    case $1 in
        --dbpath | -b | --root | -r | --sysroot | --cachedir | --hookdir | --gpgdir) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -d -- "$2") ;;
        --config | --overwrite | --logfile | --pactor-config) compopt -o filenames 2>/dev/null; mapfile -t COMPREPLY < <(compgen -f -- "$2") ;;
        --ignore) _pactor_complete_names "$2" installed ;;
        --assume-installed | --ask | --arch | --print-format | --download-limit | --upload-limit) : ;;
        --ignoregroup) _pactor_complete_names "$2" groups ;;
        --color) mapfile -t COMPREPLY < <(compgen -W 'always never auto' -- "$2") ;;
        *) return 1 ;;
    esac
}

# Names from the databases, asked for at completion time: $2 is sync
# (packages of the sync repositories, repo/name once $1 has a slash),
# installed, groups (of the sync repositories), installed-groups or repos.
_pactor_complete_names() {
    local names
    case $2 in
        sync)
            if [[ $1 == */* ]]; then
                names=$(command pactor -Sl 2>/dev/null | while read -r repo name _; do printf '%s/%s\n' "$repo" "$name"; done)
            else
                names=$(command pactor -Slq 2>/dev/null)
            fi
            ;;
        installed) names=$(command pactor -Qq 2>/dev/null) ;;
        groups) names=$(command pactor -Sg 2>/dev/null) ;;
        installed-groups) names=$(command pactor -Qg 2>/dev/null | while read -r group _; do printf '%s\n' "$group"; done | sort -u) ;;
        repos) names=$(command pacman-conf --repo-list 2>/dev/null) ;;
    esac
    mapfile -t COMPREPLY < <(compgen -W "$names" -- "$1")
}

# Package files for -U and -Qp: *.pkg.tar* and directories.
_pactor_complete_pkgfiles() {
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -X '!*.pkg.tar*' -- "$1"; compgen -d -- "$1")
}

_pactor_complete_files() {
    compopt -o filenames 2>/dev/null
    mapfile -t COMPREPLY < <(compgen -f -- "$1")
}

_pactor_targets() {
    case $1 in
        S)
            if _pactor_given g groups; then _pactor_complete_names "$2" groups
            elif _pactor_given l list; then _pactor_complete_names "$2" repos
            elif ! _pactor_given s search; then _pactor_complete_names "$2" sync
            fi
            ;;
        Q)
            if _pactor_given p file; then _pactor_complete_pkgfiles "$2"
            elif _pactor_given o owns; then _pactor_complete_files "$2"
            elif _pactor_given g groups; then _pactor_complete_names "$2" installed-groups
            elif ! _pactor_given s search; then _pactor_complete_names "$2" installed
            fi
            ;;
        R | D | T) _pactor_complete_names "$2" installed ;;
        U) _pactor_complete_pkgfiles "$2" ;;
        F)
            if _pactor_given l list; then _pactor_complete_names "$2" sync
            else _pactor_complete_files "$2"
            fi
            ;;
    esac
}

_pactor() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} op c i letters
    COMPREPLY=()
    op=$(_pactor_operation)

    # The value of an option: '--key value', '--key=value' (bash splits the
    # word at '=', unless COMP_WORDBREAKS lacks it), '-b value', '-Syb value'.
    if [[ $cur == --*=* ]]; then
        local key=${cur%%=*}
        _pactor_value "$key" "${cur#*=}" && {
            for i in "${!COMPREPLY[@]}"; do COMPREPLY[i]="$key=${COMPREPLY[i]}"; done
            return 0
        }
    elif [[ $cur == = ]]; then
        _pactor_value "$prev" "" && return 0
    elif [[ $prev == = ]] && ((COMP_CWORD >= 2)); then
        _pactor_value "${COMP_WORDS[COMP_CWORD - 2]}" "$cur" && return 0
    elif [[ $prev == --?* ]]; then
        _pactor_value "$prev" "$cur" && return 0
    elif [[ $prev =~ ^-[A-Za-z]+$ ]]; then
        _pactor_value "-${prev: -1}" "$cur" && return 0
    fi

    if [[ $cur == --* ]]; then
        mapfile -t COMPREPLY < <(compgen -W "$(_pactor_longs "$op")" -- "$cur")
    elif [[ $cur == -* ]]; then
        if [[ -z $op ]]; then
            letters=$(_pactor_shorts "")
            for ((i = 0; i < ${#letters}; i++)); do COMPREPLY+=("$cur${letters:i:1}"); done
        elif [[ $cur == - ]]; then
            letters=$(_pactor_shorts "$op")
            for ((i = 0; i < ${#letters}; i++)); do COMPREPLY+=("-${letters:i:1}"); done
            mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -W "$(_pactor_longs "$op")" -- "$cur")
        else
            # Extend the cluster: every letter of the operation not used yet
            # (or one that counts when repeated).
            COMPREPLY=("$cur")
            letters=$(_pactor_shorts "$op")
            for ((i = 0; i < ${#letters}; i++)); do
                c=${letters:i:1}
                if [[ ${cur:1} != *"$c"* || $_pactor_repeatable == *"$c"* ]]; then
                    COMPREPLY+=("$cur$c")
                fi
            done
        fi
    else
        _pactor_targets "$op" "$cur"
    fi
    return 0
}

complete -F _pactor pactor
