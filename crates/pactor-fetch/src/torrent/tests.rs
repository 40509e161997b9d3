//! Unit tests for metainfo parsing, creation and package validation.

use super::*;

const NAME: &str = "zstd-1.5.6-1-x86_64.pkg.tar.zst";

fn sha1(data: &[u8]) -> [u8; 20] {
    Sha1::digest(data).into()
}

/// A well-formed torrent for a `len`-byte file with the given piece length.
fn good_info(len: u64, piece_length: u64) -> Info {
    let n = piece_count(len, piece_length);
    Info::single(NAME, len, piece_length, vec![[7u8; 20]; n as usize])
}

fn meta(info: Info) -> Metainfo {
    Metainfo::new(info)
}

/// Round-trips through bytes so validation sees what the network would give.
fn reparse(m: &Metainfo) -> Metainfo {
    Metainfo::from_bytes(&m.to_bytes()).unwrap()
}

#[test]
fn piece_length_is_a_documented_function_of_size() {
    let k = 1024;
    let m = 1024 * k;
    let cases = [
        (0, 64 * k),
        (1, 64 * k),
        (m, 64 * k),
        (64 * m, 64 * k),
        (64 * m + 1, 128 * k),
        (100 * m, 128 * k),
        (1024 * m, m),
        (16 * 1024 * m, 16 * m),
        (100 * 1024 * m, 16 * m),
        (u64::MAX, 16 * m),
    ];
    for (size, want) in cases {
        assert_eq!(piece_length_for(size), want, "size {size}");
        assert!(piece_length_for(size).is_power_of_two());
    }
}

#[test]
fn info_encoding_is_exactly_bep3_with_nothing_else() {
    let info = Info::single("a", 5, 65536, vec![sha1(b"hello")]);
    let mut want = b"d6:lengthi5e4:name1:a12:piece lengthi65536e6:pieces20:".to_vec();
    want.extend_from_slice(&sha1(b"hello"));
    want.push(b'e');
    assert_eq!(info.encode(), want);
    assert_eq!(info.info_hash(), InfoHash::of_info_bytes(&want));
}

#[test]
fn torrent_bytes_are_canonical_and_round_trip() {
    let mut m = meta(good_info(100_000, 65536));
    m.announce = Some("http://127.0.0.1:6969/announce".into());
    m.announce_list = vec![
        vec!["http://127.0.0.1:6969/announce".into()],
        vec!["udp://127.0.0.1:6969".into()],
    ];
    m.url_list = vec!["http://127.0.0.1/core/os/x86_64/".into()];
    m.nodes = vec![("127.0.0.1".into(), 6881)];
    let bytes = m.to_bytes();
    // Must be strict bencode, which includes sorted keys.
    let decoded = bencode::decode(&bytes).unwrap();
    let keys: Vec<_> = decoded.value.as_dict().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            &b"announce"[..],
            b"announce-list",
            b"info",
            b"nodes",
            b"url-list"
        ]
    );
    let back = Metainfo::from_bytes(&bytes).unwrap();
    assert_eq!(back.to_bytes(), bytes);
    assert_eq!(back.info_hash(), m.info_hash());
    assert_eq!(back.info(), m.info());
    assert_eq!(back.url_list, m.url_list);
    assert_eq!(back.nodes, m.nodes);
    assert_eq!(back.announce_list, m.announce_list);
    assert_eq!(back.encoded_len(), bytes.len());
    assert!(!String::from_utf8_lossy(&bytes).contains("creation date"));
}

#[test]
fn info_only_torrent_has_info_key_alone() {
    let m = meta(good_info(10, 65536));
    let bytes = m.to_bytes();
    assert!(bytes.starts_with(b"d4:infod"));
    assert_eq!(
        Metainfo::from_bytes(&bytes).unwrap().info_hash(),
        m.info_hash()
    );
}

#[test]
fn foreign_info_keys_are_kept_and_hashed_as_read() {
    // mktorrent -s adds `source` inside info; the hash must cover it.
    let mut raw = b"d4:infod6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces20:".to_vec();
    raw.extend_from_slice(&sha1(b"hello"));
    raw.extend_from_slice(b"6:source3:fooe8:url-list7:http://e");
    let m = Metainfo::from_bytes(&raw).unwrap();
    let info_span = &raw[7..raw.len() - "8:url-list7:http://e".len()];
    assert_eq!(m.info_hash(), InfoHash::of_info_bytes(info_span));
    assert_ne!(m.info_hash(), m.info().info_hash());
    // A single string url-list is accepted (BEP 19) and written as a list;
    // the info bytes survive verbatim.
    assert_eq!(m.url_list, ["http://"]);
    let mut want = raw[..raw.len() - "7:http://e".len()].to_vec();
    want.extend_from_slice(b"l7:http://ee");
    assert_eq!(m.to_bytes(), want);
}

#[test]
fn infohash_hex_round_trips() {
    let h = InfoHash([0xab; 20]);
    assert_eq!(h.to_hex(), "ab".repeat(20));
    assert_eq!(InfoHash::from_hex(&h.to_hex()), Some(h));
    assert_eq!(InfoHash::from_hex("zz"), None);
    assert_eq!(InfoHash::from_hex(&"g".repeat(40)), None);
}

#[test]
fn accepts_a_good_package_torrent() {
    for len in [0, 1, 16384, 65536, 65537, 3_000_000] {
        let m = reparse(&meta(good_info(len, piece_length_for(len))));
        validate_for_package(&m, NAME, len).unwrap();
    }
    // Other tools' piece lengths at the bounds are fine too.
    for pl in [MIN_PIECE_LENGTH, MAX_PIECE_LENGTH] {
        let m = reparse(&meta(good_info(1_000_000, pl)));
        validate_for_package(&m, NAME, 1_000_000).unwrap();
    }
}

#[test]
fn rejects_multi_file() {
    let mut info = good_info(10, 65536);
    info.layout = Layout::Multi {
        files: vec![FileEntry {
            path: vec![NAME.into()],
            length: 10,
        }],
    };
    let m = reparse(&meta(info));
    let e = validate_for_package(&m, NAME, 10).unwrap_err();
    assert!(matches!(e, TorrentError::NotSingleFile { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        format!("torrent for {NAME} is not a single-file torrent")
    );
}

#[test]
fn rejects_other_name() {
    let m = reparse(&meta(good_info(10, 65536)));
    let e = validate_for_package(&m, "zstd-1.5.7-1-x86_64.pkg.tar.zst", 10).unwrap_err();
    assert!(matches!(e, TorrentError::NameMismatch { .. }), "{e}");
    // Path tricks in the name are just another mismatch.
    let mut info = good_info(10, 65536);
    info.name = format!("../{NAME}");
    let e = validate_for_package(&reparse(&meta(info)), NAME, 10).unwrap_err();
    assert!(matches!(e, TorrentError::NameMismatch { .. }), "{e}");
}

#[test]
fn rejects_other_length() {
    let m = reparse(&meta(good_info(100, 65536)));
    let e = validate_for_package(&m, NAME, 101).unwrap_err();
    assert!(
        matches!(
            e,
            TorrentError::LengthMismatch {
                expected: 101,
                found: 100,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn rejects_piece_length_not_power_of_two() {
    let m = reparse(&meta(good_info(100_000, 65536 + 1)));
    let e = validate_for_package(&m, NAME, 100_000).unwrap_err();
    assert!(
        matches!(e, TorrentError::BadPieceLength { found: 65537, .. }),
        "{e}"
    );
}

#[test]
fn rejects_piece_length_too_small() {
    let m = reparse(&meta(good_info(100_000, 8192)));
    let e = validate_for_package(&m, NAME, 100_000).unwrap_err();
    assert!(
        matches!(e, TorrentError::BadPieceLength { found: 8192, .. }),
        "{e}"
    );
}

#[test]
fn rejects_piece_length_too_big() {
    let m = reparse(&meta(good_info(100_000, 32 * 1024 * 1024)));
    let e = validate_for_package(&m, NAME, 100_000).unwrap_err();
    assert!(matches!(e, TorrentError::BadPieceLength { .. }), "{e}");
}

#[test]
fn rejects_zero_piece_length_at_parse() {
    let raw = b"d4:infod6:lengthi5e4:name1:a12:piece lengthi0e6:pieces0:ee";
    let e = Metainfo::from_bytes(raw).unwrap_err();
    assert!(
        matches!(
            e,
            TorrentError::Invalid {
                field: "piece length",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn rejects_too_few_or_too_many_pieces() {
    for delta in [-1i64, 1] {
        let mut info = good_info(200_000, 65536);
        let n = (info.pieces.len() as i64 + delta) as usize;
        info.pieces = vec![[1; 20]; n];
        let e = validate_for_package(&reparse(&meta(info)), NAME, 200_000).unwrap_err();
        assert!(
            matches!(e, TorrentError::PieceCount { expected: 4, .. }),
            "{e}"
        );
    }
}

#[test]
fn rejects_pieces_not_multiple_of_20() {
    let raw = b"d4:infod6:lengthi5e4:name1:a12:piece lengthi16384e6:pieces19:0123456789012345678ee";
    let e = parse_for_package(raw, "a", 5).unwrap_err();
    assert!(
        matches!(
            e,
            TorrentError::Invalid {
                field: "pieces",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn rejects_oversized_torrent_file() {
    let mut m = meta(good_info(10, 65536));
    m.url_list = vec!["http://127.0.0.1/".repeat(1000); 200];
    let bytes = m.to_bytes();
    assert!(bytes.len() > MAX_TORRENT_BYTES);
    let e = parse_for_package(&bytes, NAME, 10).unwrap_err();
    assert!(matches!(e, TorrentError::TooLarge { .. }), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.torrent");
    std::fs::write(&p, &bytes).unwrap();
    let e = Metainfo::from_file(&p).unwrap_err();
    assert!(matches!(e, TorrentError::TooLarge { .. }), "{e}");
}

#[test]
fn rejects_oversized_torrent_made_in_memory() {
    // A Metainfo built (not parsed) over the cap is caught by validation too.
    let n = 110_000u64;
    let len = n * MIN_PIECE_LENGTH;
    let info = Info::single(NAME, len, MIN_PIECE_LENGTH, vec![[0; 20]; n as usize]);
    let m = meta(info);
    let e = validate_for_package(&m, NAME, len).unwrap_err();
    assert!(matches!(e, TorrentError::TooLarge { .. }), "{e}");
}

#[test]
fn rejects_malformed_torrents() {
    let cases: &[(&[u8], &str)] = &[
        (b"not bencode", "bencode"),
        (b"le", "top level list"),
        (b"de", "no info"),
        (b"d4:infoi1ee", "info not a dict"),
        (
            b"d4:infod4:name1:a12:piece lengthi16384e6:pieces0:ee",
            "no length",
        ),
        (
            b"d4:infod6:lengthi1e12:piece lengthi16384e6:pieces0:ee",
            "no name",
        ),
        (
            b"d4:infod6:lengthi1e4:name1:a6:pieces0:ee",
            "no piece length",
        ),
        (
            b"d4:infod6:lengthi1e4:name1:a12:piece lengthi16384ee",
            "no pieces (v2-only)",
        ),
        (
            b"d4:infod6:lengthi-1e4:name1:a12:piece lengthi16384e6:pieces0:ee",
            "negative length",
        ),
        (
            b"d4:infod5:filesle6:lengthi1e4:name1:a12:piece lengthi16384e6:pieces0:ee",
            "both length and files",
        ),
        (
            b"d4:infod6:lengthi1e4:name2:\xff\xfe12:piece lengthi16384e6:pieces0:ee",
            "name not utf-8",
        ),
        (
            b"d8:announcei1e4:infod6:lengthi0e4:name1:a12:piece lengthi16384e6:pieces0:ee",
            "announce not a string",
        ),
        (
            b"d4:infod6:lengthi0e4:name1:a12:piece lengthi16384e6:pieces0:e5:nodesl1:xee",
            "bad node",
        ),
        (
            b"d4:infod6:lengthi0e4:name1:a12:piece lengthi16384e6:pieces0:e5:nodesll1:xi70000eeee",
            "bad port",
        ),
        (
            b"d4:infod6:lengthi0e4:name1:a12:piece lengthi16384e6:pieces0:e8:url-listi1ee",
            "url-list int",
        ),
    ];
    for (raw, why) in cases {
        assert!(Metainfo::from_bytes(raw).is_err(), "accepted: {why}");
    }
}

#[test]
fn hashes_files_in_pieces_and_in_parallel_slices() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(NAME);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&p, &data).unwrap();
    let info = info_for_file(&p, NAME).unwrap();
    assert_eq!(info.piece_length, 65536);
    let want: Vec<[u8; 20]> = data.chunks(65536).map(sha1).collect();
    assert_eq!(info.pieces, want);
    // Slices hashed separately join to the same list.
    let f = File::open(&p).unwrap();
    let mut joined = hash_pieces(&f, &p, 200_000, 65536, 0..2).unwrap();
    joined.extend(hash_pieces(&f, &p, 200_000, 65536, 2..4).unwrap());
    assert_eq!(joined, want);
    validate_for_package(&reparse(&meta(info)), NAME, 200_000).unwrap();
}

#[test]
fn a_file_shorter_than_expected_is_reported_as_changed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(NAME);
    std::fs::write(&p, b"short").unwrap();
    let f = File::open(&p).unwrap();
    let e = hash_pieces(&f, &p, 100_000, 65536, 0..2).unwrap_err();
    assert!(matches!(e, TorrentError::Changed { .. }), "{e}");
    let e = info_for_file(&dir.path().join("missing"), "missing").unwrap_err();
    assert!(matches!(e, TorrentError::Io { .. }), "{e}");
}
