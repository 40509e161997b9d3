fn main() {
    std::process::exit(pactor::run());
}
