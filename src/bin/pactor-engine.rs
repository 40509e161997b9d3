//! pactor-engine: pactor's sandboxed download process (`pactor::sandbox`).
//! pactor starts it as root; it waits for its plan on stdin, drops to the
//! plan's user, confines its writes and downloads, reporting on stdout.
//! A binary of its own because it needs neither libalpm nor the libraries
//! libalpm loads: it starts in about 3 ms where pactor's own binary takes
//! about 9, on the way to the first downloaded byte.
fn main() {
    std::process::exit(pactor::sandbox::engine_main());
}
