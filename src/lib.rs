//! pactor: args → config → operation.
pub fn run() -> i32 {
    0
}
