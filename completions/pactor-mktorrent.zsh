#compdef pactor-mktorrent

autoload -U is-at-least

_pactor-mktorrent() {
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
'-o+[Write torrents under DIR with the tree'\''s layout instead of beside each package]:DIR:_files -/' \
'--out=[Write torrents under DIR with the tree'\''s layout instead of beside each package]:DIR:_files -/' \
'*-w+[Mirror for the url-list (BEP 19); \$repo and \$arch expand as in pacman'\''s Server (repeatable)]:URL:_urls' \
'*--webseed=[Mirror for the url-list (BEP 19); \$repo and \$arch expand as in pacman'\''s Server (repeatable)]:URL:_urls' \
'*-t+[Tracker for announce / announce-list, each its own tier (repeatable)]:URL:_urls' \
'*--tracker=[Tracker for announce / announce-list, each its own tier (repeatable)]:URL:_urls' \
'*--dht-node=[DHT bootstrap node for the torrent'\''s nodes list (repeatable)]:HOST:PORT:_default' \
'-c+[Read options from FILE \[default\: /etc/pactor/mktorrent.conf if it exists\]]:FILE:_files' \
'--config=[Read options from FILE \[default\: /etc/pactor/mktorrent.conf if it exists\]]:FILE:_files' \
'-j+[Hashing threads \[default\: all cores\]]:N:_default' \
'--jobs=[Hashing threads \[default\: all cores\]]:N:_default' \
'--prune[Delete torrents whose package is gone (default)]' \
'--no-prune[Keep torrents whose package is gone]' \
'-n[Show what would be created, updated and removed; hash and write nothing]' \
'--dry-run[Show what would be created, updated and removed; hash and write nothing]' \
'--rehash[Hash every package again, ignoring the state file]' \
'-v[Name every torrent created, updated or removed]' \
'--verbose[Name every torrent created, updated or removed]' \
'-q[Print only warnings and errors]' \
'--quiet[Print only warnings and errors]' \
'--noprogressbar[Do not show a progress bar (none is shown when stdout is not a terminal)]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'--version[Print version]' \
':tree -- Root of the mirror tree:_files -/' \
&& ret=0
}

(( $+functions[_pactor-mktorrent_commands] )) ||
_pactor-mktorrent_commands() {
    local commands; commands=()
    _describe -t commands 'pactor-mktorrent commands' commands "$@"
}

if [ "$funcstack[1]" = "_pactor-mktorrent" ]; then
    _pactor-mktorrent "$@"
else
    compdef _pactor-mktorrent pactor-mktorrent
fi
