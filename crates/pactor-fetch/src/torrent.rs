//! BitTorrent v1 metainfo for packages: parse, create, infohash, and the
//! checks a torrent must pass before pactor trusts it for a package.
//!
//! A torrent is an untrusted hint (DESIGN.md, "Torrents"): the sync db's size
//! and sha256 stay the authority. [`validate_for_package`] is the gate every
//! torrent from the network passes: one file, named exactly as the package,
//! exactly as long as the db says, with a sane piece length and a piece list
//! that fits, and a small `.torrent` file. Anything else is a
//! [`TorrentError`] that the caller turns into a warning and an HTTP fallback.
//!
//! Creation is deterministic so that every mirror operator produces the same
//! infohash for the same package and all clients meet in one swarm: the info
//! dictionary holds only `length`, `name`, `piece length` and `pieces`, with
//! the piece length a pure function of the file size ([`piece_length_for`]),
//! and no creation date or creator anywhere in the file.

pub mod bencode;

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};

use bencode::Value;

/// Smallest piece length a package torrent may use (BEP 3 block size).
pub const MIN_PIECE_LENGTH: u64 = 16 * 1024;
/// Largest piece length a package torrent may use.
pub const MAX_PIECE_LENGTH: u64 = 16 * 1024 * 1024;
/// Largest `.torrent` file accepted for a package. pactor's own torrents stay
/// under 30 KiB (about 1024 pieces plus the mirror list); 2 MiB leaves room for
/// other tools' smaller pieces and long mirror lists while keeping a hostile
/// server from feeding us megabytes.
pub const MAX_TORRENT_BYTES: usize = 2 * 1024 * 1024;

/// Smallest piece length [`piece_length_for`] chooses. Below 64 KiB a webseed
/// spends more time on HTTP round trips than on data.
pub const CREATE_MIN_PIECE_LENGTH: u64 = 64 * 1024;
/// [`piece_length_for`] aims at no more than this many pieces per file.
pub const CREATE_TARGET_PIECES: u64 = 1024;

/// The piece length pactor-mktorrent uses for a file of `size` bytes: the
/// smallest power of two that keeps the file within
/// [`CREATE_TARGET_PIECES`] pieces, clamped to
/// [`CREATE_MIN_PIECE_LENGTH`]..=[`MAX_PIECE_LENGTH`] (64 KiB..16 MiB).
///
/// So a 1 MiB package has 16 pieces of 64 KiB, 100 MiB has 800 of 128 KiB and
/// 1 GiB has 1024 of 1 MiB; past 16 GiB the pieces stay at 16 MiB. Changing
/// this function changes every infohash and splits the swarm: don't.
pub fn piece_length_for(size: u64) -> u64 {
    let wanted = size.div_ceil(CREATE_TARGET_PIECES).max(1);
    wanted
        .checked_next_power_of_two()
        .unwrap_or(MAX_PIECE_LENGTH)
        .clamp(CREATE_MIN_PIECE_LENGTH, MAX_PIECE_LENGTH)
}

/// Number of pieces a file of `length` bytes has at `piece_length`.
pub fn piece_count(length: u64, piece_length: u64) -> u64 {
    length.div_ceil(piece_length)
}

/// Everything that can be wrong with a torrent, or with reading a file to
/// make one. Messages name the package file where one is known.
#[derive(Debug, thiserror::Error)]
pub enum TorrentError {
    /// The `.torrent` file itself is too big.
    #[error("torrent file is {size} bytes, more than the {max} accepted")]
    TooLarge {
        /// Its size.
        size: usize,
        /// [`MAX_TORRENT_BYTES`].
        max: usize,
    },
    /// Not strict bencode.
    #[error("malformed torrent: {0}")]
    Bencode(#[from] bencode::DecodeError),
    /// A required key is absent.
    #[error("malformed torrent: no '{0}' key")]
    Missing(&'static str),
    /// A key has the wrong type or an impossible value.
    #[error("malformed torrent: invalid '{field}': {reason}")]
    Invalid {
        /// The key.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A directory (multi-file) torrent where one file was expected.
    #[error("torrent for {filename} is not a single-file torrent")]
    NotSingleFile {
        /// The package file expected.
        filename: String,
    },
    /// The torrent names another file.
    #[error("torrent for {expected} is for another file: {found}")]
    NameMismatch {
        /// The package file expected.
        expected: String,
        /// The torrent's `name`.
        found: String,
    },
    /// The torrent's length differs from the package size.
    #[error("torrent for {filename} has length {found}, expected {expected}")]
    LengthMismatch {
        /// The package file.
        filename: String,
        /// Size from the sync db.
        expected: u64,
        /// The torrent's `length`.
        found: u64,
    },
    /// Piece length not a power of two in 16 KiB..=16 MiB.
    #[error(
        "torrent for {filename} has piece length {found}, \
         not a power of two from 16 KiB to 16 MiB"
    )]
    BadPieceLength {
        /// The package file.
        filename: String,
        /// The torrent's `piece length`.
        found: u64,
    },
    /// The piece list does not match length / piece length.
    #[error("torrent for {filename} has {found} piece hashes, expected {expected}")]
    PieceCount {
        /// The package file.
        filename: String,
        /// What length and piece length imply.
        expected: u64,
        /// What `pieces` holds.
        found: u64,
    },
    /// Reading the file to hash failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file got shorter or longer while it was being hashed.
    #[error("{}: file changed while it was being hashed", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
    },
}

/// A v1 infohash: SHA-1 of the bencoded info dictionary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

impl InfoHash {
    /// SHA-1 of the given encoded info dictionary.
    pub fn of_info_bytes(info: &[u8]) -> InfoHash {
        InfoHash(Sha1::digest(info).into())
    }

    /// Lower-case hex, as trackers' whitelists and magnet links use it.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses 40 hex digits.
    pub fn from_hex(s: &str) -> Option<InfoHash> {
        if s.len() != 40 || !s.is_ascii() {
            return None;
        }
        let mut out = [0u8; 20];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
        }
        Some(InfoHash(out))
    }
}

impl fmt::Display for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for InfoHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InfoHash({self})")
    }
}

/// One file of a multi-file torrent (parsed only to be rejected clearly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Path components.
    pub path: Vec<String>,
    /// Size in bytes.
    pub length: u64,
}

/// Single-file or directory torrent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// `length` in the info dict: the torrent is one file named `name`.
    Single {
        /// Size in bytes.
        length: u64,
    },
    /// `files` in the info dict: a directory named `name`.
    Multi {
        /// Its files.
        files: Vec<FileEntry>,
    },
}

/// The info dictionary: what the infohash covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// File (or directory) name.
    pub name: String,
    /// Bytes per piece (the last piece may be shorter).
    pub piece_length: u64,
    /// SHA-1 of each piece.
    pub pieces: Vec<[u8; 20]>,
    /// One file or many.
    pub layout: Layout,
    /// BEP 27 private flag (no DHT/PEX): never set by pactor.
    pub private: bool,
}

impl Info {
    /// A single-file info dictionary.
    pub fn single(name: &str, length: u64, piece_length: u64, pieces: Vec<[u8; 20]>) -> Info {
        Info {
            name: name.to_owned(),
            piece_length,
            pieces,
            layout: Layout::Single { length },
            private: false,
        }
    }

    /// Total bytes in the torrent.
    pub fn total_length(&self) -> u64 {
        match &self.layout {
            Layout::Single { length } => *length,
            Layout::Multi { files } => files.iter().map(|f| f.length).sum(),
        }
    }

    /// Canonical bencoding: only the keys BEP 3 defines, so that the same
    /// file always gives the same bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut d = BTreeMap::new();
        match &self.layout {
            Layout::Single { length } => {
                d.insert(b"length".to_vec(), Value::Int(to_i64(*length)));
            }
            Layout::Multi { files } => {
                let files = files
                    .iter()
                    .map(|f| {
                        let mut fd = BTreeMap::new();
                        fd.insert(b"length".to_vec(), Value::Int(to_i64(f.length)));
                        fd.insert(
                            b"path".to_vec(),
                            Value::List(f.path.iter().map(Value::bytes).collect()),
                        );
                        Value::Dict(fd)
                    })
                    .collect();
                d.insert(b"files".to_vec(), Value::List(files));
            }
        }
        d.insert(b"name".to_vec(), Value::bytes(&self.name));
        d.insert(
            b"piece length".to_vec(),
            Value::Int(to_i64(self.piece_length)),
        );
        d.insert(b"pieces".to_vec(), Value::Bytes(self.pieces.concat()));
        if self.private {
            d.insert(b"private".to_vec(), Value::Int(1));
        }
        Value::Dict(d).encode()
    }

    /// The infohash of [`Info::encode`].
    pub fn info_hash(&self) -> InfoHash {
        InfoHash::of_info_bytes(&self.encode())
    }
}

fn to_i64(n: u64) -> i64 {
    // File sizes beyond i64::MAX do not exist; saturate rather than wrap.
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A whole `.torrent`: the info dictionary plus where to find peers and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metainfo {
    /// The parsed info dictionary; private so it cannot drift from
    /// `info_bytes` (make a new [`Metainfo`] for new info).
    info: Info,
    /// `announce`: the first tracker.
    pub announce: Option<String>,
    /// `announce-list` (BEP 12): tiers of trackers.
    pub announce_list: Vec<Vec<String>>,
    /// `url-list` (BEP 19): webseeds. For a single-file torrent an entry
    /// ending in `/` gets the file name appended by the client.
    pub url_list: Vec<String>,
    /// `nodes` (BEP 5): DHT bootstrap nodes as host and port.
    pub nodes: Vec<(String, u16)>,
    /// The info dictionary exactly as read or made: the infohash covers these
    /// bytes, and writing the torrent again keeps them.
    info_bytes: Vec<u8>,
    /// Size of the `.torrent` this was parsed from, or of its encoding.
    encoded_len: usize,
}

impl Metainfo {
    /// A torrent with this info and no trackers, webseeds or nodes.
    pub fn new(info: Info) -> Metainfo {
        let info_bytes = info.encode();
        let mut m = Metainfo {
            info,
            announce: None,
            announce_list: Vec::new(),
            url_list: Vec::new(),
            nodes: Vec::new(),
            info_bytes,
            encoded_len: 0,
        };
        m.encoded_len = m.to_bytes().len();
        m
    }

    /// The info dictionary.
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// The v1 infohash.
    pub fn info_hash(&self) -> InfoHash {
        InfoHash::of_info_bytes(&self.info_bytes)
    }

    /// The info dictionary's bytes, as hashed.
    pub fn info_bytes(&self) -> &[u8] {
        &self.info_bytes
    }

    /// Size in bytes of the `.torrent` this was parsed from (or, for a
    /// torrent made here, of its encoding when made).
    pub fn encoded_len(&self) -> usize {
        self.encoded_len
    }

    /// Parses a `.torrent`, strictly. Refuses files over
    /// [`MAX_TORRENT_BYTES`] before reading them.
    pub fn from_bytes(bytes: &[u8]) -> Result<Metainfo, TorrentError> {
        if bytes.len() > MAX_TORRENT_BYTES {
            return Err(TorrentError::TooLarge {
                size: bytes.len(),
                max: MAX_TORRENT_BYTES,
            });
        }
        let decoded = bencode::decode(bytes)?;
        let top = decoded.value.as_dict().ok_or(TorrentError::Invalid {
            field: "torrent",
            reason: "not a dictionary",
        })?;
        let info_value = top.get(&b"info"[..]).ok_or(TorrentError::Missing("info"))?;
        let info = parse_info(info_value)?;
        let info_span = decoded.top_level_spans[&b"info"[..]].clone();

        let announce = match top.get(&b"announce"[..]) {
            None => None,
            Some(v) => Some(utf8(v, "announce")?),
        };
        let announce_list = match top.get(&b"announce-list"[..]) {
            None => Vec::new(),
            Some(v) => list(v, "announce-list")?
                .iter()
                .map(|tier| {
                    list(tier, "announce-list")?
                        .iter()
                        .map(|u| utf8(u, "announce-list"))
                        .collect()
                })
                .collect::<Result<_, _>>()?,
        };
        // BEP 19 allows a single string as well as a list.
        let url_list = match top.get(&b"url-list"[..]) {
            None => Vec::new(),
            Some(v @ Value::Bytes(_)) => vec![utf8(v, "url-list")?],
            Some(v) => list(v, "url-list")?
                .iter()
                .map(|u| utf8(u, "url-list"))
                .collect::<Result<_, _>>()?,
        };
        let nodes = match top.get(&b"nodes"[..]) {
            None => Vec::new(),
            Some(v) => list(v, "nodes")?
                .iter()
                .map(|n| match n.as_list() {
                    Some([host, port]) => {
                        let port = port.as_int().and_then(|p| u16::try_from(p).ok()).ok_or(
                            TorrentError::Invalid {
                                field: "nodes",
                                reason: "port is not a number from 0 to 65535",
                            },
                        )?;
                        Ok((utf8(host, "nodes")?, port))
                    }
                    _ => Err(TorrentError::Invalid {
                        field: "nodes",
                        reason: "entry is not a [host, port] pair",
                    }),
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Metainfo {
            info,
            announce,
            announce_list,
            url_list,
            nodes,
            info_bytes: bytes[info_span].to_vec(),
            encoded_len: bytes.len(),
        })
    }

    /// Reads and parses a `.torrent` file, refusing big files without reading
    /// them whole.
    pub fn from_file(path: &Path) -> Result<Metainfo, TorrentError> {
        let io = |source| TorrentError::Io {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if size > MAX_TORRENT_BYTES as u64 {
            return Err(TorrentError::TooLarge {
                size: usize::try_from(size).unwrap_or(usize::MAX),
                max: MAX_TORRENT_BYTES,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, MAX_TORRENT_BYTES as u64 + 1),
            &mut bytes,
        )
        .map_err(io)?;
        Metainfo::from_bytes(&bytes)
    }

    /// The canonical `.torrent` bytes. Keys are sorted; there is no
    /// `creation date` or `created by`, so the same inputs give the same file.
    pub fn to_bytes(&self) -> Vec<u8> {
        // The info dictionary goes in verbatim; everything else is built as
        // values. Splice by hand so foreign info bytes survive unchanged.
        let mut outer: BTreeMap<&[u8], Value> = BTreeMap::new();
        if let Some(a) = &self.announce {
            outer.insert(b"announce", Value::bytes(a));
        }
        if !self.announce_list.is_empty() {
            outer.insert(
                b"announce-list",
                Value::List(
                    self.announce_list
                        .iter()
                        .map(|tier| Value::List(tier.iter().map(Value::bytes).collect()))
                        .collect(),
                ),
            );
        }
        if !self.nodes.is_empty() {
            outer.insert(
                b"nodes",
                Value::List(
                    self.nodes
                        .iter()
                        .map(|(h, p)| Value::List(vec![Value::bytes(h), Value::Int(i64::from(*p))]))
                        .collect(),
                ),
            );
        }
        if !self.url_list.is_empty() {
            outer.insert(
                b"url-list",
                Value::List(self.url_list.iter().map(Value::bytes).collect()),
            );
        }
        let mut out = vec![b'd'];
        let mut info_written = false;
        for (k, v) in &outer {
            if !info_written && *k > &b"info"[..] {
                push_info(&mut out, &self.info_bytes);
                info_written = true;
            }
            out.extend_from_slice(k.len().to_string().as_bytes());
            out.push(b':');
            out.extend_from_slice(k);
            v.encode_into(&mut out);
        }
        if !info_written {
            push_info(&mut out, &self.info_bytes);
        }
        out.push(b'e');
        out
    }
}

fn push_info(out: &mut Vec<u8>, info: &[u8]) {
    out.extend_from_slice(b"4:info");
    out.extend_from_slice(info);
}

fn utf8(v: &Value, field: &'static str) -> Result<String, TorrentError> {
    let b = v.as_bytes().ok_or(TorrentError::Invalid {
        field,
        reason: "not a string",
    })?;
    String::from_utf8(b.to_vec()).map_err(|_| TorrentError::Invalid {
        field,
        reason: "not UTF-8",
    })
}

fn list<'v>(v: &'v Value, field: &'static str) -> Result<&'v [Value], TorrentError> {
    v.as_list().ok_or(TorrentError::Invalid {
        field,
        reason: "not a list",
    })
}

fn non_negative(v: &Value, field: &'static str) -> Result<u64, TorrentError> {
    v.as_int()
        .and_then(|i| u64::try_from(i).ok())
        .ok_or(TorrentError::Invalid {
            field,
            reason: "not a non-negative integer",
        })
}

fn parse_info(v: &Value) -> Result<Info, TorrentError> {
    let d = v.as_dict().ok_or(TorrentError::Invalid {
        field: "info",
        reason: "not a dictionary",
    })?;
    let get = |k: &'static str| d.get(k.as_bytes()).ok_or(TorrentError::Missing(k));
    let name = utf8(get("name")?, "name")?;
    let piece_length = non_negative(get("piece length")?, "piece length")?;
    if piece_length == 0 {
        return Err(TorrentError::Invalid {
            field: "piece length",
            reason: "zero",
        });
    }
    // A v2-only torrent has no `pieces`: it is reported as missing, since
    // pactor speaks v1.
    let raw = get("pieces")?.as_bytes().ok_or(TorrentError::Invalid {
        field: "pieces",
        reason: "not a string",
    })?;
    if raw.len() % 20 != 0 {
        return Err(TorrentError::Invalid {
            field: "pieces",
            reason: "length is not a multiple of 20",
        });
    }
    let pieces = raw
        .chunks_exact(20)
        .map(|c| {
            let mut h = [0u8; 20];
            h.copy_from_slice(c);
            h
        })
        .collect();
    let layout = match (d.get(&b"length"[..]), d.get(&b"files"[..])) {
        (Some(l), None) => Layout::Single {
            length: non_negative(l, "length")?,
        },
        (None, Some(files)) => Layout::Multi {
            files: list(files, "files")?
                .iter()
                .map(|f| {
                    let fd = f.as_dict().ok_or(TorrentError::Invalid {
                        field: "files",
                        reason: "entry is not a dictionary",
                    })?;
                    let length = non_negative(
                        fd.get(&b"length"[..])
                            .ok_or(TorrentError::Missing("length"))?,
                        "length",
                    )?;
                    let path = list(
                        fd.get(&b"path"[..]).ok_or(TorrentError::Missing("path"))?,
                        "path",
                    )?
                    .iter()
                    .map(|c| utf8(c, "path"))
                    .collect::<Result<_, _>>()?;
                    Ok(FileEntry { path, length })
                })
                .collect::<Result<_, TorrentError>>()?,
        },
        (Some(_), Some(_)) => {
            return Err(TorrentError::Invalid {
                field: "info",
                reason: "has both 'length' and 'files'",
            })
        }
        (None, None) => return Err(TorrentError::Missing("length")),
    };
    let private = d.get(&b"private"[..]).and_then(Value::as_int) == Some(1);
    Ok(Info {
        name,
        piece_length,
        pieces,
        layout,
        private,
    })
}

/// Checks that `meta` may be used to download the package file
/// `expected_filename` of `expected_size` bytes (from the sync db): a small
/// single-file torrent with that name and length, a power-of-two piece length
/// from 16 KiB to 16 MiB, and exactly one piece hash per piece.
pub fn validate_for_package(
    meta: &Metainfo,
    expected_filename: &str,
    expected_size: u64,
) -> Result<(), TorrentError> {
    if meta.encoded_len > MAX_TORRENT_BYTES {
        return Err(TorrentError::TooLarge {
            size: meta.encoded_len,
            max: MAX_TORRENT_BYTES,
        });
    }
    let info = &meta.info;
    let filename = || expected_filename.to_owned();
    let Layout::Single { length } = info.layout else {
        return Err(TorrentError::NotSingleFile {
            filename: filename(),
        });
    };
    if info.name != expected_filename {
        return Err(TorrentError::NameMismatch {
            expected: filename(),
            found: info.name.clone(),
        });
    }
    if length != expected_size {
        return Err(TorrentError::LengthMismatch {
            filename: filename(),
            expected: expected_size,
            found: length,
        });
    }
    let pl = info.piece_length;
    if !pl.is_power_of_two() || !(MIN_PIECE_LENGTH..=MAX_PIECE_LENGTH).contains(&pl) {
        return Err(TorrentError::BadPieceLength {
            filename: filename(),
            found: pl,
        });
    }
    let expected = piece_count(length, pl);
    let found = info.pieces.len() as u64;
    if found != expected {
        return Err(TorrentError::PieceCount {
            filename: filename(),
            expected,
            found,
        });
    }
    Ok(())
}

/// Parses `bytes` and runs [`validate_for_package`]: the one call for a
/// torrent fetched from the network.
pub fn parse_for_package(
    bytes: &[u8],
    expected_filename: &str,
    expected_size: u64,
) -> Result<Metainfo, TorrentError> {
    let meta = Metainfo::from_bytes(bytes)?;
    validate_for_package(&meta, expected_filename, expected_size)?;
    Ok(meta)
}

/// SHA-1 of the pieces `pieces` of an open file of `length` bytes, read with
/// positioned reads so that several threads can hash one file at once.
/// `path` only names the file in errors. A short read means the file shrank
/// under us and is reported as [`TorrentError::Changed`].
pub fn hash_pieces(
    file: &File,
    path: &Path,
    length: u64,
    piece_length: u64,
    pieces: Range<u64>,
) -> Result<Vec<[u8; 20]>, TorrentError> {
    let mut buf = vec![0u8; usize::try_from(piece_length).unwrap_or(usize::MAX)];
    let mut out = Vec::with_capacity((pieces.end - pieces.start) as usize);
    for index in pieces {
        let start = index * piece_length;
        let len = piece_length.min(length.saturating_sub(start)) as usize;
        let chunk = &mut buf[..len];
        let mut filled = 0;
        while filled < len {
            match file.read_at(&mut chunk[filled..], start + filled as u64) {
                Ok(0) => {
                    return Err(TorrentError::Changed {
                        path: path.to_owned(),
                    })
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(TorrentError::Io {
                        path: path.to_owned(),
                        source,
                    })
                }
            }
        }
        out.push(Sha1::digest(&*chunk).into());
    }
    Ok(out)
}

/// Hashes a whole file on this thread into a single-file [`Info`] named
/// `name`, with the piece length from [`piece_length_for`].
pub fn info_for_file(path: &Path, name: &str) -> Result<Info, TorrentError> {
    let io = |source| TorrentError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let length = file.metadata().map_err(io)?.len();
    let piece_length = piece_length_for(length);
    let pieces = hash_pieces(
        &file,
        path,
        length,
        piece_length,
        0..piece_count(length, piece_length),
    )?;
    // Longer now than when we started: its tail is not covered.
    if file.metadata().map_err(io)?.len() != length {
        return Err(TorrentError::Changed {
            path: path.to_owned(),
        });
    }
    Ok(Info::single(name, length, piece_length, pieces))
}

#[cfg(test)]
mod tests;
