//! One module per operation. `-S` is native (the download is the point);
//! operations that never download run the system pacman.
pub mod passthrough;
pub mod sync;
