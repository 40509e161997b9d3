//! pactor: args → config → operation.
pub mod mktorrent;

pub fn run() -> i32 {
    0
}
