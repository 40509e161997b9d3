//! Everything pactor prints: pacman's line prefixes and colours
//! ([`output`]), its prompts ([`prompt`]), transaction display
//! ([`display`]), libalpm callbacks ([`callbacks`]) and progress bars
//! ([`bars`]).
pub mod bars;
pub mod callbacks;
pub mod display;
pub mod output;
pub mod prompt;
