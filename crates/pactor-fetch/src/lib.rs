//! pactor's download engine. It knows nothing of libalpm: the resolver hands it
//! an owned fetch plan (files, sizes, sha256, mirrors) and it returns verified
//! files in a download directory.
#![warn(missing_docs)]

pub mod torrent;
