//! pactor-seed: seeds pacman's package cache to the BitTorrent swarm. All
//! the work is in `pactor::seed`; this only hands over the arguments and
//! returns the exit code.
fn main() {
    std::process::exit(pactor::seed::main(std::env::args_os()));
}
