//! Encrypted, integrity-checked backup files: a database snapshot streamed
//! through AES-256-GCM in chunks, under a fresh data key per backup that the
//! KEK wraps.
//!
//! # File format, version 1
//!
//! A fixed 114-byte header, then the chunks. Integers are big-endian.
//!
//! | offset | length | field |
//! |---:|---:|---|
//! | 0 | 16 | magic `ironcart-backup\n` |
//! | 16 | 2 | format version (1) |
//! | 18 | 1 | cipher suite (1: AES-256-GCM, STREAM-BE32, key wrapped by the KEK) |
//! | 19 | 16 | id of the KEK that wraps the backup key (hex, as [`KekId`]) |
//! | 35 | 8 | created at (Unix seconds, as given by the caller) |
//! | 43 | 4 | plaintext bytes per chunk |
//! | 47 | 7 | STREAM nonce prefix (random) |
//! | 54 | 12 | nonce of the key wrap (random) |
//! | 66 | 48 | the backup key sealed under the KEK (32 bytes + tag) |
//! | 114 | … | chunks: `ciphertext || tag`, each of `chunk size + 16` bytes but the last |
//!
//! The backup key is 32 random bytes drawn for this backup only. It is
//! sealed with AES-256-GCM under the KEK's wrapping key (see [`crate::kek`]),
//! with associated data binding it to a label of its own (so it can never be
//! taken for a wrapped data key, nor the other way round) and to the first
//! 54 bytes of the header: changing the version, the KEK id, the creation
//! time, the chunk size or the nonce prefix makes the unwrap fail.
//!
//! The snapshot is encrypted with the STREAM construction of Hoang, Reyhanitabar,
//! Rogaway and Vizár (the `aead-stream` crate's `StreamBE32`): each chunk is
//! one AES-256-GCM message whose nonce is the 7-byte prefix, a 32-bit chunk
//! counter and a one-byte last-chunk flag, and whose associated data is the
//! whole 114-byte header. So a flipped bit fails its chunk's tag, swapped or
//! repeated chunks fail (their counter is wrong), and a file cut anywhere
//! fails: the writer always ends with a chunk shorter than a full one (empty
//! if it must) flagged as last, so a reader that meets the end of the file
//! before a flagged chunk knows the file was truncated. Bytes appended after
//! the last chunk are refused too (they change where the last chunk ends).
//!
//! # What a reader must do with the plaintext
//!
//! Decryption is streaming: chunks are verified one at a time and written out
//! as they pass, so when a later chunk fails, earlier plaintext has already
//! been written. Write it to a private temporary place and use it only once
//! [`decrypt`] has returned `Ok` (which means every chunk, the final flag and
//! the end of the file were checked).

use std::fmt;
use std::io::{self, Read, Write};

use aead_stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::{Aes256Gcm, KeyInit};
use rand_core::{OsRng, RngCore};
use zeroize::Zeroizing;

use crate::encoding::associated_data;
use crate::kek::{Kek, KekId};
use crate::primitives::{self, KEY_LEN, NONCE_LEN, RandomnessUnavailable, TAG_LEN};

/// The first bytes of every backup file.
pub const MAGIC: &[u8; 16] = b"ironcart-backup\n";
/// The format version this code writes (and the only one it reads).
pub const FORMAT_VERSION: u16 = 1;
/// Cipher suite 1: AES-256-GCM in STREAM-BE32, the key wrapped by the KEK.
const SUITE_AES256GCM_STREAM_BE32: u8 = 1;
/// Plaintext bytes per chunk written by [`encrypt`].
pub const CHUNK_SIZE: u32 = 64 * 1024;
/// Chunk sizes a reader accepts (the header is authenticated before its chunk
/// size is used, but a bound keeps a buggy writer from making us allocate
/// gigabytes).
const CHUNK_SIZE_RANGE: std::ops::RangeInclusive<u32> = 1024..=(16 * 1024 * 1024);
/// Length of the STREAM nonce prefix: a 96-bit GCM nonce less the 4-byte
/// counter and the 1-byte last-chunk flag.
const STREAM_NONCE_LEN: usize = NONCE_LEN - 5;
/// Length of the sealed backup key.
const WRAPPED_KEY_LEN: usize = KEY_LEN + TAG_LEN;
/// Length of the header, which is also the associated data of every chunk.
pub const HEADER_LEN: usize =
    16 + 2 + 1 + 16 + 8 + 4 + STREAM_NONCE_LEN + NONCE_LEN + WRAPPED_KEY_LEN;
/// The part of the header bound into the key wrap (everything before the
/// wrap's own nonce).
const WRAP_BOUND_LEN: usize = HEADER_LEN - NONCE_LEN - WRAPPED_KEY_LEN;
/// Domain label of the key wrap's associated data.
const WRAP_AAD_LABEL: &[u8] = b"ironcart-vault bk1 backup key";

/// Why a backup could not be written or read. Messages never carry key
/// material or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The file does not start with the backup magic.
    #[error("not an Ironcart backup file (it does not start with the backup header)")]
    NotABackup,
    /// The file is shorter than a header.
    #[error("the backup file is truncated: its header is incomplete")]
    TruncatedHeader,
    /// A format version this code does not read.
    #[error(
        "backup format version {0} is not supported (this version of Ironcart reads version 1)"
    )]
    UnsupportedVersion(u16),
    /// A cipher suite this code does not know.
    #[error("backup cipher suite {0} is not supported")]
    UnsupportedSuite(u8),
    /// The KEK id in the header is not well formed.
    #[error("the backup header is malformed")]
    MalformedHeader,
    /// The backup names another KEK than the one given.
    #[error(
        "the backup was encrypted under KEK {backup}, but the KEK given is {given}: \
         restore with the KEK that was in use when the backup was taken"
    )]
    WrongKek {
        /// The KEK id written in the backup.
        backup: KekId,
        /// The id of the KEK in hand.
        given: KekId,
    },
    /// The backup key failed to unwrap: the header was altered.
    #[error("the backup header failed authentication: the file was altered")]
    HeaderAuthentication,
    /// A chunk failed authentication.
    #[error(
        "the backup failed authentication at chunk {chunk}: the file was altered, \
         truncated or corrupted"
    )]
    ChunkAuthentication {
        /// The chunk's position (0 for the first).
        chunk: u64,
    },
    /// The file ended where a final chunk was still due.
    #[error("the backup file is truncated: it ends before its final chunk")]
    Truncated,
    /// More chunks than the 32-bit STREAM counter allows (256 TiB).
    #[error("the snapshot is too large for one backup file")]
    TooLarge,
    /// Sealing failed (cannot happen for the sizes used; reported rather than assumed).
    #[error("encryption failed")]
    Seal,
    /// No randomness for the backup key or the nonces.
    #[error(transparent)]
    Randomness(#[from] RandomnessUnavailable),
    /// The plaintext (encrypting) or the backup (decrypting) could not be read.
    #[error("read failed: {0}")]
    Read(#[source] io::Error),
    /// The output could not be written.
    #[error("write failed: {0}")]
    Write(#[source] io::Error),
}

/// The header of a backup file, parsed but not yet authenticated: its fields
/// are trustworthy only once [`decrypt`] has succeeded. Safe to print.
#[derive(Clone)]
pub struct BackupHeader {
    bytes: [u8; HEADER_LEN],
    kek_id: KekId,
}

impl BackupHeader {
    /// Reads and parses the header at the start of `reader`, leaving the
    /// reader on the first chunk.
    pub fn read_from(reader: &mut impl Read) -> Result<Self, BackupError> {
        let mut bytes = [0u8; HEADER_LEN];
        let got = read_up_to(reader, &mut bytes).map_err(BackupError::Read)?;
        if got < MAGIC.len() || bytes[..MAGIC.len()] != MAGIC[..] {
            return Err(if got < MAGIC.len() && bytes[..got] == MAGIC[..got] {
                BackupError::TruncatedHeader
            } else {
                BackupError::NotABackup
            });
        }
        if got < HEADER_LEN {
            return Err(BackupError::TruncatedHeader);
        }
        Self::parse(bytes)
    }

    fn parse(bytes: [u8; HEADER_LEN]) -> Result<Self, BackupError> {
        let version = u16::from_be_bytes([bytes[16], bytes[17]]);
        if version != FORMAT_VERSION {
            return Err(BackupError::UnsupportedVersion(version));
        }
        if bytes[18] != SUITE_AES256GCM_STREAM_BE32 {
            return Err(BackupError::UnsupportedSuite(bytes[18]));
        }
        let kek_id = std::str::from_utf8(&bytes[19..35])
            .ok()
            .and_then(KekId::parse)
            .ok_or(BackupError::MalformedHeader)?;
        Ok(Self { bytes, kek_id })
    }

    /// The format version.
    pub fn version(&self) -> u16 {
        u16::from_be_bytes([self.bytes[16], self.bytes[17]])
    }

    /// The id of the KEK the backup key is wrapped under.
    pub fn kek_id(&self) -> &KekId {
        &self.kek_id
    }

    /// When the backup was taken (Unix seconds, as its writer said).
    pub fn created_at(&self) -> i64 {
        let mut at = [0u8; 8];
        at.copy_from_slice(&self.bytes[35..43]);
        i64::from_be_bytes(at)
    }

    /// Plaintext bytes per chunk.
    pub fn chunk_size(&self) -> u32 {
        let mut size = [0u8; 4];
        size.copy_from_slice(&self.bytes[43..47]);
        u32::from_be_bytes(size)
    }

    fn stream_nonce(&self) -> [u8; STREAM_NONCE_LEN] {
        let mut nonce = [0u8; STREAM_NONCE_LEN];
        nonce.copy_from_slice(&self.bytes[47..WRAP_BOUND_LEN]);
        nonce
    }

    fn wrap_nonce(&self) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&self.bytes[WRAP_BOUND_LEN..WRAP_BOUND_LEN + NONCE_LEN]);
        nonce
    }

    fn wrapped_key(&self) -> &[u8] {
        &self.bytes[WRAP_BOUND_LEN + NONCE_LEN..]
    }

    /// The header's bytes: the associated data of every chunk.
    pub fn as_bytes(&self) -> &[u8; HEADER_LEN] {
        &self.bytes
    }
}

impl fmt::Debug for BackupHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupHeader")
            .field("version", &self.version())
            .field("kek_id", &self.kek_id)
            .field("created_at", &self.created_at())
            .field("chunk_size", &self.chunk_size())
            .finish_non_exhaustive()
    }
}

/// What [`encrypt`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupWritten {
    /// The KEK the backup key is wrapped under.
    pub kek_id: KekId,
    /// Plaintext bytes read.
    pub plaintext_bytes: u64,
    /// Bytes written, header included.
    pub backup_bytes: u64,
    /// Chunks written, the final one included.
    pub chunks: u64,
}

fn wrap_aad(header_start: &[u8]) -> Vec<u8> {
    associated_data(WRAP_AAD_LABEL, &[header_start])
}

/// Encrypts everything `plaintext` yields into `out` as a backup file under a
/// fresh key wrapped by `kek`. `created_at` (Unix seconds) is recorded in the
/// authenticated header. `out` is not flushed or synced: that is the caller's.
pub fn encrypt(
    kek: &Kek,
    created_at: i64,
    mut plaintext: impl Read,
    mut out: impl Write,
) -> Result<BackupWritten, BackupError> {
    let key = primitives::random_key()?;
    let mut stream_nonce = [0u8; STREAM_NONCE_LEN];
    OsRng
        .try_fill_bytes(&mut stream_nonce)
        .map_err(|_| RandomnessUnavailable)?;
    let wrap_nonce = primitives::random_nonce()?;

    let mut bytes = [0u8; HEADER_LEN];
    bytes[..16].copy_from_slice(MAGIC);
    bytes[16..18].copy_from_slice(&FORMAT_VERSION.to_be_bytes());
    bytes[18] = SUITE_AES256GCM_STREAM_BE32;
    bytes[19..35].copy_from_slice(kek.id().as_str().as_bytes());
    bytes[35..43].copy_from_slice(&created_at.to_be_bytes());
    bytes[43..47].copy_from_slice(&CHUNK_SIZE.to_be_bytes());
    bytes[47..WRAP_BOUND_LEN].copy_from_slice(&stream_nonce);
    bytes[WRAP_BOUND_LEN..WRAP_BOUND_LEN + NONCE_LEN].copy_from_slice(&wrap_nonce);
    let wrapped = primitives::seal(
        kek.wrapping_key(),
        &wrap_nonce,
        &wrap_aad(&bytes[..WRAP_BOUND_LEN]),
        key.as_slice(),
    )
    .map_err(|_| BackupError::Seal)?;
    if wrapped.len() != WRAPPED_KEY_LEN {
        return Err(BackupError::Seal);
    }
    bytes[WRAP_BOUND_LEN + NONCE_LEN..].copy_from_slice(&wrapped);
    let header = BackupHeader::parse(bytes)?;
    out.write_all(header.as_bytes())
        .map_err(BackupError::Write)?;

    let mut encryptor =
        EncryptorBE32::<Aes256Gcm>::from_aead(stream_cipher(&key), &stream_nonce.into());
    let chunk_size = CHUNK_SIZE as usize;
    let mut buffer = Zeroizing::new(vec![0u8; chunk_size]);
    let mut written = BackupWritten {
        kek_id: kek.id().clone(),
        plaintext_bytes: 0,
        backup_bytes: HEADER_LEN as u64,
        chunks: 0,
    };
    // A full chunk is never the last: the stream always ends on a shorter
    // (possibly empty) chunk flagged as last, so that a reader can tell a cut file.
    loop {
        buffer.resize(chunk_size, 0);
        let got = read_up_to(&mut plaintext, &mut buffer).map_err(BackupError::Read)?;
        buffer.truncate(got);
        written.plaintext_bytes += got as u64;
        if got < chunk_size {
            break;
        }
        encryptor
            .encrypt_next_in_place(header.as_bytes(), &mut *buffer)
            .map_err(|_| BackupError::TooLarge)?;
        out.write_all(&buffer).map_err(BackupError::Write)?;
        written.backup_bytes += buffer.len() as u64;
        written.chunks += 1;
    }
    encryptor
        .encrypt_last_in_place(header.as_bytes(), &mut *buffer)
        .map_err(|_| BackupError::Seal)?;
    out.write_all(&buffer).map_err(BackupError::Write)?;
    written.backup_bytes += buffer.len() as u64;
    written.chunks += 1;
    Ok(written)
}

/// Decrypts the chunks that follow `header` in `backup` into `out`, checking
/// every chunk, the final-chunk flag and the end of the file; returns the
/// plaintext length. On an error, what was already written to `out` must be
/// discarded (see the module documentation).
pub fn decrypt(
    kek: &Kek,
    header: &BackupHeader,
    mut backup: impl Read,
    mut out: impl Write,
) -> Result<u64, BackupError> {
    if header.kek_id() != kek.id() {
        return Err(BackupError::WrongKek {
            backup: header.kek_id().clone(),
            given: kek.id().clone(),
        });
    }
    let unwrapped = primitives::open(
        kek.wrapping_key(),
        &header.wrap_nonce(),
        &wrap_aad(&header.as_bytes()[..WRAP_BOUND_LEN]),
        header.wrapped_key(),
    )
    .map_err(|_| BackupError::HeaderAuthentication)?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    if unwrapped.len() != KEY_LEN {
        return Err(BackupError::HeaderAuthentication);
    }
    key.copy_from_slice(&unwrapped);
    drop(unwrapped);
    let chunk_size = header.chunk_size();
    if !CHUNK_SIZE_RANGE.contains(&chunk_size) {
        return Err(BackupError::MalformedHeader);
    }
    let full = chunk_size as usize + TAG_LEN;

    let mut decryptor =
        DecryptorBE32::<Aes256Gcm>::from_aead(stream_cipher(&key), &header.stream_nonce().into());
    let mut buffer = Zeroizing::new(vec![0u8; full]);
    let mut plaintext_bytes = 0u64;
    let mut chunk = 0u64;
    loop {
        buffer.resize(full, 0);
        let got = read_up_to(&mut backup, &mut buffer).map_err(BackupError::Read)?;
        buffer.truncate(got);
        if got < full {
            break;
        }
        decryptor
            .decrypt_next_in_place(header.as_bytes(), &mut *buffer)
            .map_err(|_| BackupError::ChunkAuthentication { chunk })?;
        out.write_all(&buffer).map_err(BackupError::Write)?;
        plaintext_bytes += buffer.len() as u64;
        chunk += 1;
    }
    // The file ended on a short read: that must be the chunk flagged as last.
    // (Bytes appended after it make it longer, or a full chunk not flagged as
    // last, and fail its tag like any other change.)
    if buffer.is_empty() {
        return Err(BackupError::Truncated);
    }
    decryptor
        .decrypt_last_in_place(header.as_bytes(), &mut *buffer)
        .map_err(|_| BackupError::ChunkAuthentication { chunk })?;
    out.write_all(&buffer).map_err(BackupError::Write)?;
    plaintext_bytes += buffer.len() as u64;
    Ok(plaintext_bytes)
}

fn stream_cipher(key: &[u8; KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(&(*key).into())
}

/// Reads until `buffer` is full or the input ends; returns how much was read.
fn read_up_to(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn kek() -> Kek {
        Kek::from_base64("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=").unwrap()
    }

    fn other_kek() -> Kek {
        Kek::from_base64("ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=").unwrap()
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    fn backup_of(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let written = encrypt(&kek(), 1_700_000_000, data, &mut out).unwrap();
        assert_eq!(written.backup_bytes, out.len() as u64);
        assert_eq!(written.plaintext_bytes, data.len() as u64);
        out
    }

    fn restore(file: &[u8], kek: &Kek) -> Result<Vec<u8>, BackupError> {
        let mut reader = file;
        let header = BackupHeader::read_from(&mut reader)?;
        let mut out = Vec::new();
        let n = decrypt(kek, &header, reader, &mut out)?;
        assert_eq!(n, out.len() as u64);
        Ok(out)
    }

    #[test]
    fn round_trips_every_length_around_chunk_boundaries() {
        let chunk = CHUNK_SIZE as usize;
        for len in [
            0,
            1,
            100,
            chunk - 1,
            chunk,
            chunk + 1,
            2 * chunk,
            3 * chunk + 7,
        ] {
            let data = sample(len);
            let file = backup_of(&data);
            // Header, one tag per chunk (a full multiple gets an empty last chunk).
            let chunks = len / chunk + 1;
            assert_eq!(file.len(), HEADER_LEN + len + chunks * TAG_LEN, "len {len}");
            assert_eq!(restore(&file, &kek()).unwrap(), data, "len {len}");
        }
    }

    #[test]
    fn the_header_says_what_it_is_and_the_plaintext_is_not_in_the_file() {
        let data = b"alice@example.com Alice Liddell ".repeat(100);
        let file = backup_of(&data);
        let header = BackupHeader::read_from(&mut file.as_slice()).unwrap();
        assert_eq!(header.version(), 1);
        assert_eq!(header.kek_id(), kek().id());
        assert_eq!(header.created_at(), 1_700_000_000);
        assert_eq!(header.chunk_size(), CHUNK_SIZE);
        assert!(!file.windows(8).any(|w| w == b"@example"));
        // Two backups of the same data share nothing but the header's plain fields.
        let again = backup_of(&data);
        assert_ne!(file[47..], again[47..]);
    }

    #[test]
    fn every_flipped_bit_anywhere_is_refused() {
        let data = sample(2 * CHUNK_SIZE as usize + 10);
        let file = backup_of(&data);
        let chunk_len = CHUNK_SIZE as usize + TAG_LEN;
        let mut positions: Vec<usize> = (0..HEADER_LEN).collect();
        positions.extend([
            HEADER_LEN,
            HEADER_LEN + 1000,
            HEADER_LEN + chunk_len - 1,
            HEADER_LEN + chunk_len,
            HEADER_LEN + 2 * chunk_len + 3,
            file.len() - 1,
        ]);
        for position in positions {
            let mut tampered = file.clone();
            tampered[position] ^= 0x01;
            assert!(
                restore(&tampered, &kek()).is_err(),
                "a flipped bit at {position} was accepted"
            );
        }
    }

    #[test]
    fn truncation_anywhere_is_refused() {
        let data = sample(2 * CHUNK_SIZE as usize);
        let file = backup_of(&data);
        let chunk_len = CHUNK_SIZE as usize + TAG_LEN;
        for len in [
            0,
            10,
            HEADER_LEN - 1,
            HEADER_LEN,
            HEADER_LEN + 1,
            HEADER_LEN + chunk_len,
            HEADER_LEN + 2 * chunk_len,
            file.len() - 1,
        ] {
            let result = restore(&file[..len], &kek());
            assert!(result.is_err(), "a file cut at {len} was accepted");
        }
        assert!(matches!(
            restore(&file[..HEADER_LEN + 2 * chunk_len], &kek()),
            Err(BackupError::Truncated)
        ));
        assert!(matches!(
            restore(&file[..HEADER_LEN - 1], &kek()),
            Err(BackupError::TruncatedHeader)
        ));
    }

    #[test]
    fn reordered_dropped_or_appended_chunks_are_refused() {
        let data = sample(3 * CHUNK_SIZE as usize + 5);
        let file = backup_of(&data);
        let chunk_len = CHUNK_SIZE as usize + TAG_LEN;
        let chunk = |i: usize| &file[HEADER_LEN + i * chunk_len..HEADER_LEN + (i + 1) * chunk_len];
        let last = &file[HEADER_LEN + 3 * chunk_len..];
        let header = &file[..HEADER_LEN];
        let swapped = [header, chunk(1), chunk(0), chunk(2), last].concat();
        assert!(matches!(
            restore(&swapped, &kek()),
            Err(BackupError::ChunkAuthentication { chunk: 0 })
        ));
        let dropped = [header, chunk(0), chunk(2), last].concat();
        assert!(matches!(
            restore(&dropped, &kek()),
            Err(BackupError::ChunkAuthentication { chunk: 1 })
        ));
        let repeated = [header, chunk(0), chunk(0), chunk(1), chunk(2), last].concat();
        assert!(restore(&repeated, &kek()).is_err());
        for extra in [1, TAG_LEN, chunk_len] {
            let appended = [file.as_slice(), &vec![0u8; extra]].concat();
            assert!(matches!(
                restore(&appended, &kek()),
                Err(BackupError::ChunkAuthentication { chunk: 3 })
            ));
        }
        // A chunk from another backup of the same data does not fit either.
        let other = backup_of(&data);
        let spliced = [
            header,
            chunk(0),
            &other[HEADER_LEN + chunk_len..HEADER_LEN + 2 * chunk_len],
            chunk(2),
            last,
        ]
        .concat();
        assert!(matches!(
            restore(&spliced, &kek()),
            Err(BackupError::ChunkAuthentication { chunk: 1 })
        ));
    }

    #[test]
    fn the_wrong_kek_is_refused_by_id_and_a_forged_id_by_the_wrap() {
        let file = backup_of(&sample(5000));
        match restore(&file, &other_kek()) {
            Err(BackupError::WrongKek { backup, given }) => {
                assert_eq!(&backup, kek().id());
                assert_eq!(&given, other_kek().id());
            }
            other => panic!("expected WrongKek, got {other:?}"),
        }
        // Relabel the file with the other KEK's id: the unwrap fails.
        let mut relabelled = file.clone();
        relabelled[19..35].copy_from_slice(other_kek().id().as_str().as_bytes());
        assert!(matches!(
            restore(&relabelled, &other_kek()),
            Err(BackupError::HeaderAuthentication)
        ));
    }

    #[test]
    fn other_files_and_versions_are_named_as_such() {
        assert!(matches!(
            restore(b"SQLite format 3\0 and so on, a plaintext database", &kek()),
            Err(BackupError::NotABackup)
        ));
        assert!(matches!(
            restore(b"ironcart", &kek()),
            Err(BackupError::TruncatedHeader)
        ));
        let mut file = backup_of(b"data");
        file[17] = 2;
        assert!(matches!(
            restore(&file, &kek()),
            Err(BackupError::UnsupportedVersion(2))
        ));
    }

    #[test]
    fn errors_and_debug_output_carry_no_key_material() {
        let file = backup_of(&sample(100));
        let header = BackupHeader::read_from(&mut file.as_slice()).unwrap();
        let shown = format!("{header:?}");
        assert!(shown.contains(kek().id().as_str()));
        assert!(!shown.contains("wrapped"));
    }
}
