complete -c pactor-mktorrent -s o -l out -d 'Write torrents under DIR with the tree\'s layout instead of beside each package' -r -f -a "(__fish_complete_directories)"
complete -c pactor-mktorrent -s w -l webseed -d 'Mirror for the url-list (BEP 19); $repo and $arch expand as in pacman\'s Server (repeatable)' -r -f
complete -c pactor-mktorrent -s t -l tracker -d 'Tracker for announce / announce-list, each its own tier (repeatable)' -r -f
complete -c pactor-mktorrent -l dht-node -d 'DHT bootstrap node for the torrent\'s nodes list (repeatable)' -r
complete -c pactor-mktorrent -s c -l config -d 'Read options from FILE [default: /etc/pactor/mktorrent.conf if it exists]' -r -F
complete -c pactor-mktorrent -s j -l jobs -d 'Hashing threads [default: all cores]' -r
complete -c pactor-mktorrent -l prune -d 'Delete torrents whose package is gone (default)'
complete -c pactor-mktorrent -l no-prune -d 'Keep torrents whose package is gone'
complete -c pactor-mktorrent -s n -l dry-run -d 'Show what would be created, updated and removed; hash and write nothing'
complete -c pactor-mktorrent -l rehash -d 'Hash every package again, ignoring the state file'
complete -c pactor-mktorrent -s v -l verbose -d 'Name every torrent created, updated or removed'
complete -c pactor-mktorrent -s q -l quiet -d 'Print only warnings and errors'
complete -c pactor-mktorrent -l noprogressbar -d 'Do not show a progress bar (none is shown when stdout is not a terminal)'
complete -c pactor-mktorrent -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pactor-mktorrent -s V -l version -d 'Print version'
