//! pactor-mktorrent: one deterministic `.torrent` per package of a mirror
//! tree. All the work is in `pactor::mktorrent`; this only hands over the
//! arguments and returns the exit code.
fn main() {
    std::process::exit(pactor::mktorrent::main(std::env::args_os()));
}
