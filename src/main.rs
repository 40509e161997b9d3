mod lazy_alpm;

fn main() {
    // The download process (pactor started as the engine) needs no libalpm.
    if std::env::var_os(pactor::sandbox::CHILD_ENV).is_none() {
        lazy_alpm::start();
    }
    std::process::exit(pactor::run());
}
