# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_pactor_seed_global_optspecs
    string join \n c/config= pacman-config= h/help V/version
end

function __fish_pactor_seed_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_pactor_seed_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_pactor_seed_using_subcommand
    set -l cmd (__fish_pactor_seed_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c pactor-seed -n "__fish_pactor_seed_needs_command" -s c -l config -d 'Read pactor.conf from FILE [default: pactor.conf beside pacman.conf]' -r -F
complete -c pactor-seed -n "__fish_pactor_seed_needs_command" -l pacman-config -d 'Read pacman\'s CacheDirs from FILE [default: /etc/pacman.conf]' -r -F
complete -c pactor-seed -n "__fish_pactor_seed_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pactor-seed -n "__fish_pactor_seed_needs_command" -s V -l version -d 'Print version'
complete -c pactor-seed -n "__fish_pactor_seed_needs_command" -f -a "run" -d 'Run the daemon in the foreground (the default)'
complete -c pactor-seed -n "__fish_pactor_seed_needs_command" -f -a "status" -d 'Show what the running daemon seeds, its peers, rates and totals'
complete -c pactor-seed -n "__fish_pactor_seed_needs_command" -f -a "seed" -d 'Ask the running daemon to seed cached packages now (root or the daemon\'s group)'
complete -c pactor-seed -n "__fish_pactor_seed_using_subcommand run" -s u -l user -d 'When started as root: create the state and runtime directories for NAME, then run as NAME' -r -f -a "(__fish_complete_users)"
complete -c pactor-seed -n "__fish_pactor_seed_using_subcommand run" -s c -l config -d 'Read pactor.conf from FILE [default: pactor.conf beside pacman.conf]' -r -F
complete -c pactor-seed -n "__fish_pactor_seed_using_subcommand run" -l pacman-config -d 'Read pacman\'s CacheDirs from FILE [default: /etc/pacman.conf]' -r -F
complete -c pactor-seed -n "__fish_pactor_seed_using_subcommand run" -s h -l help -d 'Print help'
complete -c pactor-seed -n "__fish_pactor_seed_using_subcommand status" -s c -l config -d 'Read pactor.conf from FILE [default: pactor.conf beside pacman.conf]' -r -F
complete -c pactor-seed -n "__fish_pactor_seed_using_subcommand status" -l pacman-config -d 'Read pacman\'s CacheDirs from FILE [default: /etc/pacman.conf]' -r -F
complete -c pactor-seed -n "__fish_pactor_seed_using_subcommand status" -l json -d 'Print the daemon\'s status object as JSON'
complete -c pactor-seed -n "__fish_pactor_seed_using_subcommand status" -s h -l help -d 'Print help'
complete -c pactor-seed -n "__fish_pactor_seed_using_subcommand seed" -s c -l config -d 'Read pactor.conf from FILE [default: pactor.conf beside pacman.conf]' -r -F
complete -c pactor-seed -n "__fish_pactor_seed_using_subcommand seed" -l pacman-config -d 'Read pacman\'s CacheDirs from FILE [default: /etc/pacman.conf]' -r -F
complete -c pactor-seed -n "__fish_pactor_seed_using_subcommand seed" -l trusted -d 'The files were verified against the sync database: skip the full check'
complete -c pactor-seed -n "__fish_pactor_seed_using_subcommand seed" -s h -l help -d 'Print help'
