#compdef pactor-seed

autoload -U is-at-least

_pactor-seed() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'-c+[Read pactor.conf from FILE \[default\: pactor.conf beside pacman.conf\]]:FILE:_files' \
'--config=[Read pactor.conf from FILE \[default\: pactor.conf beside pacman.conf\]]:FILE:_files' \
'--pacman-config=[Read pacman'\''s CacheDirs from FILE \[default\: /etc/pacman.conf\]]:FILE:_files' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_pactor-seed_commands" \
"*::: :->pactor-seed" \
&& ret=0
    case $state in
    (pactor-seed)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:pactor-seed-command-$line[1]:"
        case $line[1] in
            (run)
_arguments "${_arguments_options[@]}" : \
'-u+[When started as root\: create the state and runtime directories for NAME, then run as NAME]:NAME:_users' \
'--user=[When started as root\: create the state and runtime directories for NAME, then run as NAME]:NAME:_users' \
'-c+[Read pactor.conf from FILE \[default\: pactor.conf beside pacman.conf\]]:FILE:_files' \
'--config=[Read pactor.conf from FILE \[default\: pactor.conf beside pacman.conf\]]:FILE:_files' \
'--pacman-config=[Read pacman'\''s CacheDirs from FILE \[default\: /etc/pacman.conf\]]:FILE:_files' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(status)
_arguments "${_arguments_options[@]}" : \
'-c+[Read pactor.conf from FILE \[default\: pactor.conf beside pacman.conf\]]:FILE:_files' \
'--config=[Read pactor.conf from FILE \[default\: pactor.conf beside pacman.conf\]]:FILE:_files' \
'--pacman-config=[Read pacman'\''s CacheDirs from FILE \[default\: /etc/pacman.conf\]]:FILE:_files' \
'--json[Print the daemon'\''s status object as JSON]' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(seed)
_arguments "${_arguments_options[@]}" : \
'-c+[Read pactor.conf from FILE \[default\: pactor.conf beside pacman.conf\]]:FILE:_files' \
'--config=[Read pactor.conf from FILE \[default\: pactor.conf beside pacman.conf\]]:FILE:_files' \
'--pacman-config=[Read pacman'\''s CacheDirs from FILE \[default\: /etc/pacman.conf\]]:FILE:_files' \
'--trusted[The files were verified against the sync database\: skip the full check]' \
'-h[Print help]' \
'--help[Print help]' \
'*::files -- Package files in a CacheDir:_files' \
&& ret=0
;;
        esac
    ;;
esac
}

(( $+functions[_pactor-seed_commands] )) ||
_pactor-seed_commands() {
    local commands; commands=(
'run:Run the daemon in the foreground (the default)' \
'status:Show what the running daemon seeds, its peers, rates and totals' \
'seed:Ask the running daemon to seed cached packages now (root or the daemon'\''s group)' \
    )
    _describe -t commands 'pactor-seed commands' commands "$@"
}
(( $+functions[_pactor-seed__subcmd__run_commands] )) ||
_pactor-seed__subcmd__run_commands() {
    local commands; commands=()
    _describe -t commands 'pactor-seed run commands' commands "$@"
}
(( $+functions[_pactor-seed__subcmd__seed_commands] )) ||
_pactor-seed__subcmd__seed_commands() {
    local commands; commands=()
    _describe -t commands 'pactor-seed seed commands' commands "$@"
}
(( $+functions[_pactor-seed__subcmd__status_commands] )) ||
_pactor-seed__subcmd__status_commands() {
    local commands; commands=()
    _describe -t commands 'pactor-seed status commands' commands "$@"
}

if [ "$funcstack[1]" = "_pactor-seed" ]; then
    _pactor-seed "$@"
else
    compdef _pactor-seed pactor-seed
fi
