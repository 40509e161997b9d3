//! The few BitTorrent peer-wire messages (BEP 3) a webseed bridge speaks:
//! the handshake, then length-prefixed messages. The bridge is always a seed
//! that never asks for data, so it only has to read `request`, `cancel`,
//! `have` and `bitfield` and to write `bitfield`, `have`, `unchoke`, `piece`
//! and keep-alives; everything else is read and ignored.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt};

/// `\x13BitTorrent protocol`.
const PROTOCOL: &[u8; 20] = b"\x13BitTorrent protocol";
/// Length of a handshake on the wire.
pub const HANDSHAKE_LEN: usize = 68;
/// Largest message the bridge accepts from librqbit. Its largest is a
/// bitfield (one bit per piece, and a package has at most a few thousand
/// pieces) or an extended message; 1 MiB is far above both.
const MAX_MESSAGE_LEN: u32 = 1024 * 1024;
/// Largest block a peer may request (BEP 3 clients use 16 KiB; 128 KiB is
/// what common clients still serve).
pub const MAX_BLOCK_LEN: u32 = 128 * 1024;

/// A BEP 3 handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// Reserved bits (extensions).
    pub reserved: [u8; 8],
    /// Infohash of the torrent the connection is for.
    pub info_hash: [u8; 20],
    /// The sender's peer id.
    pub peer_id: [u8; 20],
}

impl Handshake {
    /// Wire form.
    pub fn encode(&self) -> [u8; HANDSHAKE_LEN] {
        let mut out = [0u8; HANDSHAKE_LEN];
        out[..20].copy_from_slice(PROTOCOL);
        out[20..28].copy_from_slice(&self.reserved);
        out[28..48].copy_from_slice(&self.info_hash);
        out[48..68].copy_from_slice(&self.peer_id);
        out
    }

    /// Reads one handshake; anything but BitTorrent's protocol string is an
    /// error.
    pub async fn read<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Handshake> {
        let mut buf = [0u8; HANDSHAKE_LEN];
        r.read_exact(&mut buf).await?;
        if &buf[..20] != PROTOCOL {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not a BitTorrent handshake",
            ));
        }
        let mut h = Handshake {
            reserved: [0; 8],
            info_hash: [0; 20],
            peer_id: [0; 20],
        };
        h.reserved.copy_from_slice(&buf[20..28]);
        h.info_hash.copy_from_slice(&buf[28..48]);
        h.peer_id.copy_from_slice(&buf[48..68]);
        Ok(h)
    }
}

/// A block of a piece: what `request` and `cancel` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Block {
    /// Piece index.
    pub index: u32,
    /// Offset in the piece.
    pub begin: u32,
    /// Length in bytes.
    pub length: u32,
}

/// The messages the bridge acts on; the rest arrive as [`Message::Other`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Zero-length message.
    KeepAlive,
    /// The peer has this piece.
    Have(u32),
    /// The peer's pieces, one bit each, most significant bit first.
    Bitfield(Vec<u8>),
    /// The peer wants a block.
    Request(Block),
    /// The peer no longer wants a block.
    Cancel(Block),
    /// Anything else (choke, interested, port, extended ...), by id.
    Other(u8),
}

impl Message {
    /// Reads one message.
    pub async fn read<R: AsyncRead + Unpin>(r: &mut R) -> io::Result<Message> {
        let len = r.read_u32().await?;
        if len == 0 {
            return Ok(Message::KeepAlive);
        }
        if len > MAX_MESSAGE_LEN {
            return Err(invalid("message too long"));
        }
        let id = r.read_u8().await?;
        let mut payload = vec![0u8; (len - 1) as usize];
        r.read_exact(&mut payload).await?;
        let u32_at = |i: usize| -> io::Result<u32> {
            payload
                .get(i..i + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| invalid("message too short"))
        };
        let block = || -> io::Result<Block> {
            Ok(Block {
                index: u32_at(0)?,
                begin: u32_at(4)?,
                length: u32_at(8)?,
            })
        };
        Ok(match id {
            4 => Message::Have(u32_at(0)?),
            5 => Message::Bitfield(payload),
            6 => Message::Request(block()?),
            8 => Message::Cancel(block()?),
            other => Message::Other(other),
        })
    }
}

fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// `keep-alive`.
pub fn keep_alive() -> Vec<u8> {
    vec![0, 0, 0, 0]
}

/// `unchoke`.
pub fn unchoke() -> Vec<u8> {
    vec![0, 0, 0, 1, 1]
}

/// `bitfield` with the given bits.
pub fn bitfield(bits: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + bits.len());
    out.extend_from_slice(&(1 + bits.len() as u32).to_be_bytes());
    out.push(5);
    out.extend_from_slice(bits);
    out
}

/// `piece <index> <begin> <data>`.
pub fn piece(index: u32, begin: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(13 + data.len());
    out.extend_from_slice(&(9 + data.len() as u32).to_be_bytes());
    out.push(7);
    out.extend_from_slice(&index.to_be_bytes());
    out.extend_from_slice(&begin.to_be_bytes());
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn handshake_round_trips() {
        let h = Handshake {
            reserved: [0, 0, 0, 0, 0, 0x10, 0, 0],
            info_hash: [7; 20],
            peer_id: [9; 20],
        };
        let bytes = h.encode();
        assert_eq!(Handshake::read(&mut &bytes[..]).await.unwrap(), h);
        let mut bad = bytes;
        bad[1] = b'X';
        assert!(Handshake::read(&mut &bad[..]).await.is_err());
    }

    #[tokio::test]
    async fn reads_requests_and_skips_unknown() {
        let mut wire = Vec::new();
        wire.extend_from_slice(&[0, 0, 0, 13, 6, 0, 0, 0, 3, 0, 0, 0x40, 0, 0, 0, 0x40, 0]);
        wire.extend_from_slice(&[0, 0, 0, 1, 2]); // interested
        wire.extend_from_slice(&[0, 0, 0, 5, 4, 0, 0, 0, 5]); // have 5
        wire.extend_from_slice(&keep_alive());
        let mut r = &wire[..];
        assert_eq!(
            Message::read(&mut r).await.unwrap(),
            Message::Request(Block {
                index: 3,
                begin: 0x4000,
                length: 0x4000
            })
        );
        assert_eq!(Message::read(&mut r).await.unwrap(), Message::Other(2));
        assert_eq!(Message::read(&mut r).await.unwrap(), Message::Have(5));
        assert_eq!(Message::read(&mut r).await.unwrap(), Message::KeepAlive);
    }

    #[tokio::test]
    async fn short_request_is_an_error() {
        let wire = [0, 0, 0, 5, 6, 0, 0, 0, 3];
        assert!(Message::read(&mut &wire[..]).await.is_err());
    }
}
