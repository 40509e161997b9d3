//! A small, strict bencode codec (BEP 3).
//!
//! Why not a crate: the infohash is the SHA-1 of the *exact* bytes of the
//! `info` dictionary, so a parser must hand back the raw span it read, and a
//! writer must produce the one canonical form (keys sorted as raw bytes,
//! integers without leading zeros) so that two operators get the same bytes.
//! `serde_bencode` re-serialises through serde (unknown keys dropped, so the
//! hash of a re-encoded foreign torrent can change) and neither it nor `bendy`
//! rejects non-canonical input. The format is five productions; owning them
//! costs less than working around either.
//!
//! Strict means: no leading zeros or `-0` in integers, no leading zeros in
//! string lengths, dictionary keys strictly increasing (sorted, no
//! duplicates), nothing after the top-level value, and a nesting limit so a
//! hostile file cannot exhaust the stack.

use std::collections::BTreeMap;
use std::ops::Range;

/// Deepest nesting accepted; real torrents use four or five levels.
const MAX_DEPTH: usize = 32;

/// A decoded bencode value. Dictionaries keep keys as raw bytes in a
/// `BTreeMap`, whose order is exactly bencode's canonical order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `i…e`
    Int(i64),
    /// `<len>:<bytes>`
    Bytes(Vec<u8>),
    /// `l…e`
    List(Vec<Value>),
    /// `d…e`
    Dict(BTreeMap<Vec<u8>, Value>),
}

/// Why some bytes are not strict bencode; `offset` is where reading stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid bencode at byte {offset}: {reason}")]
pub struct DecodeError {
    /// Byte offset into the input.
    pub offset: usize,
    /// What was wrong there.
    pub reason: &'static str,
}

impl Value {
    /// A byte-string value from anything byte-like.
    pub fn bytes(b: impl AsRef<[u8]>) -> Value {
        Value::Bytes(b.as_ref().to_vec())
    }

    /// The canonical encoding of this value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the canonical encoding of this value to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(i) => {
                out.push(b'i');
                out.extend_from_slice(i.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(b) => encode_bytes(b, out),
            Value::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode_into(out);
                }
                out.push(b'e');
            }
            Value::Dict(map) => {
                out.push(b'd');
                // BTreeMap iterates in byte order: canonical by construction.
                for (k, v) in map {
                    encode_bytes(k, out);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    /// The dictionary inside, if this is one.
    pub fn as_dict(&self) -> Option<&BTreeMap<Vec<u8>, Value>> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The list inside, if this is one.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The bytes inside, if this is a byte string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The integer inside, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
}

fn encode_bytes(b: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

/// A decoded top-level value plus the raw byte span of each value found
/// directly under a top-level dictionary key (used for `info`).
#[derive(Debug)]
pub struct Decoded {
    /// The value.
    pub value: Value,
    /// Top-level dictionary key → byte range of its value in the input.
    pub top_level_spans: BTreeMap<Vec<u8>, Range<usize>>,
}

/// Decodes exactly one strict bencode value filling all of `input`.
pub fn decode(input: &[u8]) -> Result<Decoded, DecodeError> {
    let mut p = Parser {
        input,
        pos: 0,
        spans: BTreeMap::new(),
    };
    let value = p.value(0)?;
    if p.pos != input.len() {
        return Err(p.err("trailing data after the value"));
    }
    Ok(Decoded {
        value,
        top_level_spans: p.spans,
    })
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    spans: BTreeMap<Vec<u8>, Range<usize>>,
}

impl Parser<'_> {
    fn err(&self, reason: &'static str) -> DecodeError {
        DecodeError {
            offset: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Result<u8, DecodeError> {
        self.input
            .get(self.pos)
            .copied()
            .ok_or_else(|| self.err("unexpected end of data"))
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        match self.peek()? {
            b'i' => {
                self.pos += 1;
                let i = self.integer(b'e')?;
                Ok(Value::Int(i))
            }
            b'0'..=b'9' => Ok(Value::Bytes(self.byte_string()?.to_vec())),
            b'l' => {
                self.pos += 1;
                let mut items = Vec::new();
                while self.peek()? != b'e' {
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(items))
            }
            b'd' => {
                self.pos += 1;
                let mut map = BTreeMap::new();
                let mut last: Option<Vec<u8>> = None;
                while self.peek()? != b'e' {
                    let key_pos = self.pos;
                    if !self.peek()?.is_ascii_digit() {
                        return Err(self.err("dictionary key is not a byte string"));
                    }
                    let key = self.byte_string()?.to_vec();
                    if last.as_ref().is_some_and(|l| *l >= key) {
                        self.pos = key_pos;
                        return Err(self.err("dictionary keys not sorted or duplicated"));
                    }
                    let start = self.pos;
                    let v = self.value(depth + 1)?;
                    if depth == 0 {
                        self.spans.insert(key.clone(), start..self.pos);
                    }
                    last = Some(key.clone());
                    map.insert(key, v);
                }
                self.pos += 1;
                Ok(Value::Dict(map))
            }
            _ => Err(self.err("unexpected byte")),
        }
    }

    /// Reads digits (with an optional `-`) up to `end`, canonical form only.
    fn integer(&mut self, end: u8) -> Result<i64, DecodeError> {
        let start = self.pos;
        let stop = self.input[start..]
            .iter()
            .position(|&b| b == end)
            .map(|n| start + n)
            .ok_or_else(|| self.err("unterminated integer"))?;
        let text = &self.input[start..stop];
        let digits = text.strip_prefix(b"-").unwrap_or(text);
        let canonical = !digits.is_empty()
            && digits.iter().all(u8::is_ascii_digit)
            && (digits == b"0" || digits[0] != b'0')
            && !(text.len() != digits.len() && digits == b"0");
        if !canonical {
            return Err(self.err("non-canonical or malformed integer"));
        }
        let value = std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| self.err("integer out of range"))?;
        self.pos = stop + 1;
        Ok(value)
    }

    fn byte_string(&mut self) -> Result<&[u8], DecodeError> {
        let len = self.integer(b':')?;
        if len < 0 {
            return Err(self.err("negative string length"));
        }
        let len = usize::try_from(len).map_err(|_| self.err("string length out of range"))?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.input.len())
            .ok_or_else(|| self.err("string runs past the end of data"))?;
        let s = &self.input[self.pos..end];
        self.pos = end;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict(pairs: &[(&str, Value)]) -> Value {
        Value::Dict(
            pairs
                .iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn round_trips_canonical_input() {
        let cases: &[&[u8]] = &[
            b"i0e",
            b"i-42e",
            b"i9223372036854775807e",
            b"0:",
            b"4:spam",
            b"le",
            b"l4:spami3ee",
            b"de",
            b"d3:bar4:spam3:fooi42ee",
            b"d1:ad1:bl1:ceee",
        ];
        for &c in cases {
            let d = decode(c).unwrap();
            assert_eq!(d.value.encode(), c, "{}", String::from_utf8_lossy(c));
        }
    }

    #[test]
    fn encodes_keys_in_byte_order() {
        let v = dict(&[
            ("b", Value::Int(1)),
            ("a", Value::Int(2)),
            ("B", Value::Int(3)),
        ]);
        assert_eq!(v.encode(), b"d1:Bi3e1:ai2e1:bi1ee");
    }

    #[test]
    fn records_top_level_spans() {
        let input = b"d4:infod1:xi1ee3:zzz0:e";
        let d = decode(input).unwrap();
        let span = d.top_level_spans[&b"info"[..]].clone();
        assert_eq!(&input[span], b"d1:xi1ee");
    }

    #[test]
    fn rejects_non_canonical_and_malformed() {
        let bad: &[(&[u8], &str)] = &[
            (b"i01e", "leading zero"),
            (b"i-0e", "negative zero"),
            (b"ie", "empty integer"),
            (b"i-e", "bare minus"),
            (b"i1x2e", "junk digit"),
            (b"i99999999999999999999e", "overflow"),
            (b"i1", "unterminated int"),
            (b"01:a", "length with leading zero"),
            (b"5:abc", "short string"),
            (b"-1:a", "negative length"),
            (b"l", "unterminated list"),
            (b"d1:bi1e1:ai2ee", "unsorted keys"),
            (b"d1:ai1e1:ai2ee", "duplicate keys"),
            (b"di1ei2ee", "integer key"),
            (b"i1ei2e", "trailing data"),
            (b"x", "unknown type"),
            (b"", "empty input"),
        ];
        for (input, why) in bad {
            assert!(decode(input).is_err(), "accepted {why}");
        }
    }

    #[test]
    fn rejects_deep_nesting() {
        let mut s = vec![b'l'; 1000];
        s.extend(vec![b'e'; 1000]);
        let e = decode(&s).unwrap_err();
        assert_eq!(e.reason, "nesting too deep");
    }
}
