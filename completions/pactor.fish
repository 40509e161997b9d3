# fish completion for pactor(8)
# Generated from src/cli/flags.rs by tests/docs.rs; do not edit.
# Regenerate with: PACTOR_BLESS=1 cargo test --test docs

# The operation letter of the command line, if one was given.
function __pactor_op
    set -l tokens (commandline -opc) (commandline -ct)
    for w in $tokens[2..-1]
        switch $w
            case --
                return 1
            case --database
                echo D
                return 0
            case --files
                echo F
                return 0
            case --query
                echo Q
                return 0
            case --remove
                echo R
                return 0
            case --sync
                echo S
                return 0
            case --deptest
                echo T
                return 0
            case --upgrade
                echo U
                return 0
            case '--*'
            case '-?*'
                for c in (string split '' -- (string sub -s 2 -- $w))
                    if string match -q -r -- '^[DFQRSTU]$' $c
                        echo $c
                        return 0
                    else if string match -q -r -- '^[br]$' $c
                        break
                    end
                end
        end
    end
    return 1
end

# Whether the operation is one of the letters in $argv[1].
function __pactor_op_in
    set -l op (__pactor_op)
    or return 1
    string match -q -- "*$op*" $argv[1]
end

# Whether an option (letter, long name) appears before the current token.
function __pactor_given
    set -l tokens (commandline -opc)
    for w in $tokens[2..-1]
        switch $w
            case --
                return 1
            case --$argv[2]
                return 0
            case '--*'
            case '-?*'
                for c in (string split '' -- (string sub -s 2 -- $w))
                    test $c = $argv[1]
                    and return 0
                    string match -q -r -- '^[br]$' $c
                    and break
                end
        end
    end
    return 1
end

# Names from the databases, asked for at completion time: sync (repo/name
# once the token has a slash), installed, groups, installed-groups, repos.
function __pactor_names
    switch $argv[1]
        case sync
            if string match -q -- '*/*' (commandline -ct)
                command pactor -Sl 2>/dev/null | string replace -r -- '^(\S+) (\S+).*' '$1/$2'
            else
                command pactor -Slq 2>/dev/null
            end
        case installed
            command pactor -Qq 2>/dev/null
        case groups
            command pactor -Sg 2>/dev/null
        case installed-groups
            command pactor -Qg 2>/dev/null | string replace -r -- ' .*' '' | sort -u
        case repos
            command pacman-conf --repo-list 2>/dev/null
    end
end

complete -c pactor -f

# Operations.
complete -c pactor -n 'not __pactor_op' -s D -l database -d 'operate on the package database'
complete -c pactor -n 'not __pactor_op' -s F -l files -d 'query the files database'
complete -c pactor -n 'not __pactor_op' -s Q -l query -d 'query the package database'
complete -c pactor -n 'not __pactor_op' -s R -l remove -d 'remove packages from the system'
complete -c pactor -n 'not __pactor_op' -s S -l sync -d 'synchronize packages'
complete -c pactor -n 'not __pactor_op' -s T -l deptest -d 'check dependencies'
complete -c pactor -n 'not __pactor_op' -s U -l upgrade -d 'upgrade or add packages to the system'
complete -c pactor -n 'not __pactor_op' -s V -l version -d 'show version information'
complete -c pactor -s h -l help -d 'show help for an operation'

# Options, with the operations they apply to.
complete -c pactor -s b -l dbpath -x -a '(__fish_complete_directories)' -d 'set an alternate database location'
complete -c pactor -n '__pactor_op_in R' -s c -l cascade -d 'remove packages and all packages that depend on them'
complete -c pactor -n '__pactor_op_in Q' -s c -l changelog -d 'view the changelog of a package'
complete -c pactor -n '__pactor_op_in S' -s c -l clean -d 'remove old packages from cache directory (-cc for all)'
complete -c pactor -n '__pactor_op_in FRSU' -s d -l nodeps -d 'skip dependency version checks (-dd to skip all checks)'
complete -c pactor -n '__pactor_op_in Q' -s d -l deps -d 'list packages installed as dependencies [filter]'
complete -c pactor -n '__pactor_op_in Q' -s e -l explicit -d 'list packages explicitly installed [filter]'
complete -c pactor -n '__pactor_op_in QS' -s g -l groups -d 'view all members of a package group'
complete -c pactor -n '__pactor_op_in QS' -s i -l info -d 'view package information (-ii for extended information)'
complete -c pactor -n '__pactor_op_in DQ' -s k -l check -d 'check that package files exist (-kk for file properties)'
complete -c pactor -n '__pactor_op_in FQS' -s l -l list -d 'list the contents of the queried package or repository'
complete -c pactor -n '__pactor_op_in Q' -s m -l foreign -d 'list installed packages not found in sync db(s) [filter]'
complete -c pactor -n '__pactor_op_in Q' -s n -l native -d 'list installed packages only found in sync db(s) [filter]'
complete -c pactor -n '__pactor_op_in R' -s n -l nosave -d 'remove configuration files'
complete -c pactor -n '__pactor_op_in Q' -s o -l owns -d 'query the package that owns <file>'
complete -c pactor -n '__pactor_op_in Q' -s p -l file -d 'query a package file instead of the database'
complete -c pactor -n '__pactor_op_in FRSU' -s p -l print -d 'print the targets instead of performing the operation'
complete -c pactor -n '__pactor_op_in DFQS' -s q -l quiet -d 'show less information for query and search'
complete -c pactor -s r -l root -x -a '(__fish_complete_directories)' -d 'set an alternate installation root'
complete -c pactor -l sysroot -x -a '(__fish_complete_directories)' -d 'operate on a mounted guest system (root-only)'
complete -c pactor -n '__pactor_op_in R' -s s -l recursive -d 'remove unnecessary dependencies (-ss includes explicitly installed dependencies)'
complete -c pactor -n '__pactor_op_in QS' -s s -l search -d 'search installed or remote packages for matching strings'
complete -c pactor -n '__pactor_op_in F' -s x -l regex -d 'enable searching using regular expressions'
complete -c pactor -n '__pactor_op_in F' -l machinereadable -d 'produce machine-readable output'
complete -c pactor -n '__pactor_op_in Q' -s t -l unrequired -d 'list packages not (optionally) required by any package (-tt to ignore optdepends) [filter]'
complete -c pactor -n '__pactor_op_in Q' -s u -l upgrades -d 'list outdated packages [filter]'
complete -c pactor -n '__pactor_op_in S' -s u -l sysupgrade -d 'upgrade installed packages (-uu enables downgrades)'
complete -c pactor -n '__pactor_op_in R' -s u -l unneeded -d 'remove unneeded packages'
complete -c pactor -s v -l verbose -d 'be verbose'
complete -c pactor -n '__pactor_op_in SU' -s w -l downloadonly -d 'download packages but do not install/upgrade anything'
complete -c pactor -n '__pactor_op_in FS' -s y -l refresh -d 'download fresh package databases from the server (-yy to force a refresh even if up to date)'
complete -c pactor -l noconfirm -d 'do not ask for any confirmation'
complete -c pactor -l confirm -d 'always ask for confirmation'
complete -c pactor -l config -r -F -d 'set an alternate configuration file'
complete -c pactor -n '__pactor_op_in SU' -l ignore -x -a '(__pactor_names installed)' -d 'ignore a package upgrade (can be used more than once)'
complete -c pactor -n '__pactor_op_in FRSU' -l assume-installed -x -d 'add a virtual package to satisfy dependencies'
complete -c pactor -l debug -d 'display debug messages'
complete -c pactor -n '__pactor_op_in SU' -l overwrite -r -F -d 'overwrite conflicting files (can be used more than once)'
complete -c pactor -n '__pactor_op_in FRSU' -l noprogressbar -d 'do not show a progress bar when downloading files'
complete -c pactor -n '__pactor_op_in FRSU' -l noscriptlet -d 'do not execute the install scriptlet if one exists'
complete -c pactor -l ask -x -d 'answer questions automatically (bit mask of question types)'
complete -c pactor -l cachedir -x -a '(__fish_complete_directories)' -d 'set an alternate package cache location'
complete -c pactor -l hookdir -x -a '(__fish_complete_directories)' -d 'set an alternate hook location'
complete -c pactor -n '__pactor_op_in DSU' -l asdeps -d 'install packages as non-explicitly installed'
complete -c pactor -l logfile -r -F -d 'set an alternate log file'
complete -c pactor -n '__pactor_op_in SU' -l ignoregroup -x -a '(__pactor_names groups)' -d 'ignore a group upgrade (can be used more than once)'
complete -c pactor -n '__pactor_op_in SU' -l needed -d 'do not reinstall up to date packages'
complete -c pactor -n '__pactor_op_in DSU' -l asexplicit -d 'install packages as explicitly installed'
complete -c pactor -l arch -x -d 'set an alternate architecture'
complete -c pactor -n '__pactor_op_in FRSU' -l print-format -x -d 'specify how the targets should be printed'
complete -c pactor -l gpgdir -x -a '(__fish_complete_directories)' -d 'set an alternate home directory for GnuPG'
complete -c pactor -n '__pactor_op_in FRSU' -l dbonly -d 'only modify database entries, not package files'
complete -c pactor -l color -x -a 'always never auto' -d 'colorize the output'
complete -c pactor -l disable-download-timeout -d 'use relaxed timeouts for download'
complete -c pactor -l disable-sandbox -d 'disable the sandbox used for the downloader process'
complete -c pactor -n '__pactor_op_in SU' -s x -l torrent -d 'download every package in parallel from the BitTorrent swarm and all mirrors'
complete -c pactor -n '__pactor_op_in SU' -l no-torrent -d 'download like pacman even if pactor.conf enables torrent mode'
complete -c pactor -n '__pactor_op_in SU' -l download-limit -x -d 'with -x: limit the total download rate (e.g. 2M, 500K; 0 for none)'
complete -c pactor -n '__pactor_op_in SU' -l upload-limit -x -d 'with -x: limit the upload rate to peers (e.g. 1M; 0 for none)'
complete -c pactor -l pactor-config -r -F -d 'read pactor\'s own settings from this file instead of pactor.conf beside pacman.conf'

# Targets.
complete -c pactor -n '__pactor_op_in S; and not __pactor_given g groups; and not __pactor_given l list; and not __pactor_given s search' -a '(__pactor_names sync)'
complete -c pactor -n '__pactor_op_in S; and __pactor_given g groups' -a '(__pactor_names groups)'
complete -c pactor -n '__pactor_op_in S; and __pactor_given l list' -a '(__pactor_names repos)'
complete -c pactor -n '__pactor_op_in Q; and not __pactor_given p file; and not __pactor_given o owns; and not __pactor_given g groups; and not __pactor_given s search' -a '(__pactor_names installed)'
complete -c pactor -n '__pactor_op_in Q; and __pactor_given g groups' -a '(__pactor_names installed-groups)'
complete -c pactor -n '__pactor_op_in Q; and __pactor_given p file' -F
complete -c pactor -n '__pactor_op_in Q; and __pactor_given o owns' -F
complete -c pactor -n '__pactor_op_in RDT' -a '(__pactor_names installed)'
complete -c pactor -n '__pactor_op_in U' -F
complete -c pactor -n '__pactor_op_in F; and __pactor_given l list' -a '(__pactor_names sync)'
complete -c pactor -n '__pactor_op_in F; and not __pactor_given l list' -F
