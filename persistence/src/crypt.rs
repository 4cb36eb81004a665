//! Encryption at rest for snapshot files (`--snapshot_key_file`): AES-256-GCM over
//! fixed-size frames, so a writer seals as it goes and never holds a file whole.
//!
//! Layout of an encrypted file:
//!
//! | bytes | field |
//! |-------|-------|
//! | 8     | magic `DMSFENC1` |
//! | 4     | frame size (plaintext bytes per frame, little endian) |
//! | 32    | salt, random per file |
//! | 16    | key check: the tag of an empty message sealed under nonce `u64::MAX` |
//! | ...   | frames: ciphertext (frame size bytes; the last one 0..=frame size) + 16-byte tag |
//!
//! The file's key is HKDF-SHA256(salt, master key), so nonces need only be unique within a
//! file: frame `i`'s nonce is `i` (8 bytes, big endian), three zero bytes and a last-frame
//! flag. Every frame authenticates the header as associated data. So a wrong key is told
//! apart by the key check, and a changed byte, a dropped, repeated or reordered frame, or a
//! file cut at any point (the last frame must carry the flag) fails a tag.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hkdf::{Salt, HKDF_SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use std::fmt;

pub const MAGIC: &[u8; 8] = b"DMSFENC1";
const SALT_LEN: usize = 32;
const TAG_LEN: usize = 16;
pub const HEADER_LEN: usize = 8 + 4 + SALT_LEN + TAG_LEN;
/// Plaintext bytes per frame.
pub const FRAME_BYTES: usize = 64 * 1024;
/// Frames larger than this are refused when reading (a corrupt header must not make the
/// reader trust a huge length).
const FRAME_BYTES_MAX: usize = 16 << 20;
const KEY_CHECK_COUNTER: u64 = u64::MAX;
const HKDF_INFO: &[u8] = b"damselfly snapshot file v1";

/// A 256-bit master key, read from the key file.
#[derive(Clone)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A key file holds 32 raw bytes, or 64 hex digits (surrounding white space ignored).
    pub fn from_file_bytes(bytes: &[u8]) -> Result<MasterKey, String> {
        let text = std::str::from_utf8(bytes).map(str::trim).unwrap_or("");
        let mut key = [0u8; 32];
        if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            for (i, k) in key.iter_mut().enumerate() {
                *k = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex digits");
            }
        } else if bytes.len() == 32 {
            key.copy_from_slice(bytes);
        } else {
            return Err("the key file must hold 32 bytes, or 64 hex digits".into());
        }
        Ok(MasterKey(key))
    }

    fn file_key(&self, salt: &[u8]) -> LessSafeKey {
        let prk = Salt::new(HKDF_SHA256, salt).extract(&self.0);
        let okm = prk
            .expand(&[HKDF_INFO], &AES_256_GCM)
            .expect("AES-256 key length is within HKDF's limit");
        LessSafeKey::new(UnboundKey::from(okm))
    }
}

/// Why an encrypted file can't be read.
#[derive(Debug, PartialEq, Eq)]
pub enum CryptError {
    /// The file is encrypted and no key was given.
    NoKey,
    /// The key check failed: another key sealed this file.
    WrongKey,
    /// A frame failed its tag, or the file ends before its last frame.
    Tampered,
    /// The header is cut short or names an impossible frame size.
    BadHeader,
}

impl fmt::Display for CryptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CryptError::NoKey => {
                "the snapshot is encrypted and no key is set (give it with --snapshot_key_file)"
            }
            CryptError::WrongKey => {
                "the snapshot was encrypted with another key (or its header was changed)"
            }
            CryptError::Tampered => {
                "the encrypted snapshot is truncated or was changed (authentication failed)"
            }
            CryptError::BadHeader => "the encrypted snapshot's header is damaged",
        })
    }
}

fn nonce(counter: u64, last: bool) -> Nonce {
    let mut n = [0u8; NONCE_LEN];
    n[..8].copy_from_slice(&counter.to_be_bytes());
    n[NONCE_LEN - 1] = u8::from(last);
    Nonce::assume_unique_for_key(n)
}

/// Whether `bytes` start like an encrypted snapshot.
pub fn is_encrypted(bytes: &[u8]) -> bool {
    bytes.starts_with(MAGIC)
}

/// Seals a stream into frames.
pub struct Sealer {
    key: LessSafeKey,
    header: [u8; HEADER_LEN],
    counter: u64,
    pending: Vec<u8>,
    frame_bytes: usize,
}

impl Sealer {
    /// A sealer with a fresh random salt; its header goes first in the file.
    pub fn new(master: &MasterKey) -> Sealer {
        Sealer::with_frame(master, FRAME_BYTES)
    }

    pub fn with_frame(master: &MasterKey, frame_bytes: usize) -> Sealer {
        assert!(frame_bytes > 0 && frame_bytes <= FRAME_BYTES_MAX);
        let mut salt = [0u8; SALT_LEN];
        SystemRandom::new()
            .fill(&mut salt)
            .expect("the system's random source works");
        let key = master.file_key(&salt);
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(MAGIC);
        header[8..12].copy_from_slice(&(frame_bytes as u32).to_le_bytes());
        header[12..12 + SALT_LEN].copy_from_slice(&salt);
        let check = key
            .seal_in_place_separate_tag(
                nonce(KEY_CHECK_COUNTER, true),
                Aad::from(&header[..12 + SALT_LEN]),
                &mut [],
            )
            .expect("sealing an empty message");
        header[12 + SALT_LEN..].copy_from_slice(check.as_ref());
        Sealer {
            key,
            header,
            counter: 0,
            pending: Vec::with_capacity(frame_bytes),
            frame_bytes,
        }
    }

    pub fn header(&self) -> &[u8; HEADER_LEN] {
        &self.header
    }

    fn seal(&mut self, plain: &[u8], last: bool, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(plain);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                nonce(self.counter, last),
                Aad::from(&self.header[..]),
                &mut out[start..],
            )
            .expect("a frame is within AES-GCM's message limit");
        out.extend_from_slice(tag.as_ref());
        self.counter += 1;
    }

    /// Takes plaintext; appends to `out` the frames it completes. A full frame is held until
    /// more follows, since only `finish` knows which frame is last.
    pub fn push(&mut self, mut plain: &[u8], out: &mut Vec<u8>) {
        while !plain.is_empty() {
            if self.pending.len() == self.frame_bytes {
                let frame = std::mem::take(&mut self.pending);
                self.seal(&frame, false, out);
                self.pending = frame;
                self.pending.clear();
            }
            let n = (self.frame_bytes - self.pending.len()).min(plain.len());
            self.pending.extend_from_slice(&plain[..n]);
            plain = &plain[n..];
        }
    }

    /// Appends the last frame (possibly empty).
    pub fn finish(mut self, out: &mut Vec<u8>) {
        let frame = std::mem::take(&mut self.pending);
        self.seal(&frame, true, out);
    }
}

/// Decrypts a whole encrypted file in place; returns the plaintext.
pub fn open(master: Option<&MasterKey>, mut file: Vec<u8>) -> Result<Vec<u8>, CryptError> {
    if file.len() < HEADER_LEN || !is_encrypted(&file) {
        return Err(CryptError::BadHeader);
    }
    let master = master.ok_or(CryptError::NoKey)?;
    let header: [u8; HEADER_LEN] = file[..HEADER_LEN].try_into().expect("header length");
    let frame_bytes = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")) as usize;
    if frame_bytes == 0 || frame_bytes > FRAME_BYTES_MAX {
        return Err(CryptError::BadHeader);
    }
    let key = master.file_key(&header[12..12 + SALT_LEN]);
    let mut check = header[12 + SALT_LEN..].to_vec();
    key.open_in_place(
        nonce(KEY_CHECK_COUNTER, true),
        Aad::from(&header[..12 + SALT_LEN]),
        &mut check,
    )
    .map_err(|_| CryptError::WrongKey)?;
    // Frames are opened in place and their plaintext moved down over the header and tags.
    let (mut read, mut write, mut counter) = (HEADER_LEN, 0usize, 0u64);
    loop {
        let left = file.len() - read;
        if left < TAG_LEN {
            return Err(CryptError::Tampered);
        }
        let last = left <= frame_bytes + TAG_LEN;
        let len = if last { left } else { frame_bytes + TAG_LEN };
        let plain_len = key
            .open_in_place(
                nonce(counter, last),
                Aad::from(&header[..]),
                &mut file[read..read + len],
            )
            .map_err(|_| CryptError::Tampered)?
            .len();
        file.copy_within(read..read + plain_len, write);
        write += plain_len;
        read += len;
        counter += 1;
        if last {
            break;
        }
    }
    file.truncate(write);
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> MasterKey {
        MasterKey([b; 32])
    }

    fn seal_all(k: &MasterKey, data: &[u8], frame: usize, pieces: usize) -> Vec<u8> {
        let mut s = Sealer::with_frame(k, frame);
        let mut out = s.header().to_vec();
        for chunk in data.chunks(pieces.max(1)) {
            s.push(chunk, &mut out);
        }
        s.finish(&mut out);
        out
    }

    #[test]
    fn round_trips_any_length_and_split() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
        for len in [0, 1, 99, 100, 101, 200, 4999, 5000] {
            for pieces in [1, 7, 100, 5000] {
                let f = seal_all(&key(1), &data[..len], 100, pieces);
                assert!(is_encrypted(&f));
                let frames = len.div_ceil(100).max(1);
                assert_eq!(f.len(), HEADER_LEN + len + frames * TAG_LEN, "{len}");
                assert_eq!(open(Some(&key(1)), f).unwrap(), &data[..len]);
            }
        }
    }

    #[test]
    fn files_differ_for_the_same_data() {
        let a = seal_all(&key(1), b"same", 100, 4);
        let b = seal_all(&key(1), b"same", 100, 4);
        assert_ne!(a, b);
    }

    #[test]
    fn no_key_and_wrong_key_are_told_apart() {
        let f = seal_all(&key(1), b"secret data", 4, 3);
        assert_eq!(open(None, f.clone()), Err(CryptError::NoKey));
        assert_eq!(open(Some(&key(2)), f), Err(CryptError::WrongKey));
    }

    #[test]
    fn tampering_truncation_and_reordering_fail() {
        let data: Vec<u8> = (0..=255u8).collect();
        let f = seal_all(&key(3), &data, 64, 64);
        for i in HEADER_LEN..f.len() {
            let mut t = f.clone();
            t[i] ^= 1;
            assert_eq!(
                open(Some(&key(3)), t),
                Err(CryptError::Tampered),
                "byte {i}"
            );
        }
        // Any flipped header byte fails too (magic: not encrypted; rest: key check or tags).
        for i in 0..HEADER_LEN {
            let mut t = f.clone();
            t[i] ^= 1;
            assert!(open(Some(&key(3)), t).is_err(), "header byte {i}");
        }
        for cut in 0..f.len() {
            assert!(open(Some(&key(3)), f[..cut].to_vec()).is_err(), "cut {cut}");
        }
        // Frames 0 and 1 swapped.
        let frame = 64 + TAG_LEN;
        let mut t = f[..HEADER_LEN].to_vec();
        t.extend_from_slice(&f[HEADER_LEN + frame..HEADER_LEN + 2 * frame]);
        t.extend_from_slice(&f[HEADER_LEN..HEADER_LEN + frame]);
        t.extend_from_slice(&f[HEADER_LEN + 2 * frame..]);
        assert_eq!(open(Some(&key(3)), t), Err(CryptError::Tampered));
        // The last frame dropped: the one before is not flagged last.
        let t = f[..f.len() - frame].to_vec();
        assert_eq!(open(Some(&key(3)), t), Err(CryptError::Tampered));
    }

    #[test]
    fn key_files() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";
        let k = MasterKey::from_file_bytes(hex.as_bytes()).unwrap();
        assert_eq!(k.0[1], 0x11);
        assert_eq!(MasterKey::from_file_bytes(&[9u8; 32]).unwrap().0, [9u8; 32]);
        assert!(MasterKey::from_file_bytes(b"short").is_err());
        assert!(MasterKey::from_file_bytes(&[1u8; 33]).is_err());
    }
}
