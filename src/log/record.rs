//! The record: how one event is laid out in the log, with what makes damage detectable
//! ([R12](crate::rules#r12)).
//!
//! ```text
//! offset  size  field
//! 0       4     magic "SFLR"
//! 4       2     format version (little-endian)                 ┐ stable in every format version:
//! 6       2     header length                                  │ a reader checks the checksum
//! 8       4     CRC-32 of every byte of the record but these 4 ┘ before it trusts the version
//! 12      4     payload length
//! 16      8     sequence number
//! 24      32    hash of the previous record (zeros for the first)
//! 56      8     reserved, zero
//! 64      …     payload: one event, encoded by `codec`
//! ```
//!
//! The checksum covers the header too, so a flipped bit anywhere is caught before any field is
//! believed; in particular a damaged version field is reported as damage, not as "written by a
//! newer syncfold". Each record's hash (BLAKE3 of all its bytes) is stored in the next record, so
//! a removed, duplicated or reordered record breaks the chain at a named sequence number.

use crate::core::Seq;

/// The record format this build writes.
pub const RECORD_FORMAT_VERSION: u16 = 1;
/// Bytes before the payload in format 1.
pub const HEADER_BYTES: usize = 64;
/// Largest payload a record may claim.
pub const PAYLOAD_BYTES_MAX: usize = super::codec::EVENT_BYTES_MAX;

const MAGIC: &[u8; 4] = b"SFLR";

/// A record's hash, chained into the next record.
pub type Hash = [u8; 32];

/// The hash before the first record.
pub const GENESIS: Hash = [0; 32];

/// What is wrong with a record's bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Shorter than a header: a torn or truncated write.
    #[error("truncated: {len} bytes, shorter than a record header")]
    Truncated {
        /// Bytes present.
        len: usize,
    },
    /// Not a syncfold record at all.
    #[error("not a syncfold record (bad magic)")]
    BadMagic,
    /// The checksum does not match: some byte changed since it was written.
    #[error("checksum mismatch: stored {stored:08x}, computed {computed:08x}")]
    Checksum {
        /// Checksum in the record.
        stored: u32,
        /// Checksum of the bytes.
        computed: u32,
    },
    /// Intact, but written by a newer format than this build reads.
    #[error("written by a newer syncfold, format {version}: upgrade syncfold to read this log")]
    NewerFormat {
        /// The record's format version.
        version: u16,
    },
    /// The header's fields contradict each other or the record's size.
    #[error("malformed header: {0}")]
    Malformed(String),
    /// The record's sequence number is not the one it is stored under.
    #[error("holds sequence number {found}, stored as {expected}")]
    WrongSeq {
        /// Where it is stored.
        expected: Seq,
        /// What it says.
        found: Seq,
    },
    /// The record does not follow the one before it: one was removed, duplicated or reordered.
    #[error("hash chain broken: the record before it is not the one it was written after")]
    ChainBroken,
}

/// A record whose bytes are intact, with its place in the chain.
#[derive(Debug)]
pub struct CheckedRecord<'a> {
    /// Its sequence number.
    pub seq: Seq,
    /// The hash of the record before it.
    pub previous: Hash,
    /// Its own hash, for the next record.
    pub hash: Hash,
    /// The encoded event.
    pub payload: &'a [u8],
}

/// Writes a record for `payload` at `seq` after the record whose hash is `previous`.
pub fn encode(seq: Seq, previous: &Hash, payload: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(HEADER_BYTES + payload.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&RECORD_FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(HEADER_BYTES as u16).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(previous);
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(payload);
    let crc = checksum(out);
    out[8..12].copy_from_slice(&crc.to_le_bytes());
}

/// The hash that the record after this one stores.
pub fn hash(record: &[u8]) -> Hash {
    *blake3::hash(record).as_bytes()
}

fn checksum(record: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&record[..8]);
    hasher.update(&record[12..]);
    hasher.finalize()
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

/// Checks a record stored under `seq` that must follow the record hashed `previous`.
///
/// The order of the checks is the decision table: size, magic and checksum first (damage), then
/// the version (a newer writer), then the fields and the chain.
pub fn check<'a>(
    bytes: &'a [u8],
    seq: Seq,
    previous: &Hash,
) -> Result<CheckedRecord<'a>, RecordError> {
    if bytes.len() < 12 {
        return Err(RecordError::Truncated { len: bytes.len() });
    }
    if &bytes[..4] != MAGIC {
        return Err(RecordError::BadMagic);
    }
    let stored = u32_at(bytes, 8);
    let computed = checksum(bytes);
    if stored != computed {
        return Err(if bytes.len() < HEADER_BYTES {
            RecordError::Truncated { len: bytes.len() }
        } else {
            RecordError::Checksum { stored, computed }
        });
    }
    let version = u16_at(bytes, 4);
    if version > RECORD_FORMAT_VERSION {
        return Err(RecordError::NewerFormat { version });
    }
    if version == 0 {
        return Err(RecordError::Malformed("format version 0".into()));
    }
    let header = usize::from(u16_at(bytes, 6));
    if header != HEADER_BYTES || bytes.len() < HEADER_BYTES {
        return Err(RecordError::Malformed(format!(
            "header length {header} in a record of {} bytes",
            bytes.len()
        )));
    }
    let payload_len = u32_at(bytes, 12) as usize;
    if payload_len > PAYLOAD_BYTES_MAX || HEADER_BYTES + payload_len != bytes.len() {
        return Err(RecordError::Malformed(format!(
            "payload length {payload_len} in a record of {} bytes",
            bytes.len()
        )));
    }
    let found = u64_at(bytes, 16);
    if found != seq {
        return Err(RecordError::WrongSeq {
            expected: seq,
            found,
        });
    }
    let mut stored_previous = [0; 32];
    stored_previous.copy_from_slice(&bytes[24..56]);
    if &stored_previous != previous {
        return Err(RecordError::ChainBroken);
    }
    Ok(CheckedRecord {
        seq,
        previous: stored_previous,
        hash: hash(bytes),
        payload: &bytes[HEADER_BYTES..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: Seq, previous: &Hash, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode(seq, previous, payload, &mut out);
        out
    }

    #[test]
    fn round_trip_and_chain() {
        let first = record(1, &GENESIS, b"one");
        let checked = check(&first, 1, &GENESIS).expect("intact");
        assert_eq!(checked.payload, b"one");
        let second = record(2, &checked.hash, b"two");
        assert!(check(&second, 2, &checked.hash).is_ok());
        assert_eq!(
            check(&second, 2, &GENESIS).unwrap_err(),
            RecordError::ChainBroken
        );
        assert!(matches!(
            check(&second, 3, &checked.hash).unwrap_err(),
            RecordError::WrongSeq {
                expected: 3,
                found: 2
            }
        ));
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let intact = record(7, &GENESIS, b"payload of an event");
        for byte in 0..intact.len() {
            for bit in 0..8 {
                let mut damaged = intact.clone();
                damaged[byte] ^= 1 << bit;
                assert!(
                    check(&damaged, 7, &GENESIS).is_err(),
                    "byte {byte} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn every_truncation_is_caught() {
        let intact = record(7, &GENESIS, b"payload");
        for len in 0..intact.len() {
            assert!(check(&intact[..len], 7, &GENESIS).is_err(), "length {len}");
        }
    }

    #[test]
    fn a_newer_format_is_named_only_when_the_bytes_are_intact() {
        let mut newer = record(1, &GENESIS, b"x");
        newer[4..6].copy_from_slice(&2u16.to_le_bytes());
        let crc = checksum(&newer);
        newer[8..12].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            check(&newer, 1, &GENESIS).unwrap_err(),
            RecordError::NewerFormat { version: 2 }
        );
        assert!(RecordError::NewerFormat { version: 2 }
            .to_string()
            .contains("newer syncfold, format 2: upgrade"));
        let mut flipped = record(1, &GENESIS, b"x");
        flipped[4] ^= 2;
        assert!(matches!(
            check(&flipped, 1, &GENESIS).unwrap_err(),
            RecordError::Checksum { .. }
        ));
    }
}
