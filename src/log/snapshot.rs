//! Snapshots: the folded state saved after a record, so opening a long log folds only its tail.
//!
//! ```text
//! 0   4   magic "SFLS"
//! 4   2   format version                       ┐ as for records: the checksum is checked
//! 6   2   header length (96)                   │ before the version is believed
//! 8   4   CRC-32 of the header but these 4     ┘
//! 12  8   sequence number of the last record folded in
//! 20  32  hash of that record (ties the snapshot to the chain)
//! 52  32  BLAKE3 of the encoded state
//! 84  8   length of the encoded state
//! 92  2   layout of the connector space (1: four flat blocks, `core::ObjectSpace`)
//! 94  2   reserved
//! 96  …   the encoded state
//! ```
//!
//! Since format 7 the state is stored as it is held in memory: each partition's connector space
//! is four byte blocks (anchors, entries, packed attributes, the anchor index) that opening copies
//! and bounds-checks in one pass; the BLAKE3 of the state is the one check of their content (the
//! CRC covers the header only, so the state is read once, not twice). Nothing is decoded object by
//! object.
//!
//! A snapshot is only ever a shortcut: one that fails any check is skipped with a warning and the
//! log is folded from an older snapshot or from the start. It is never trusted over the records.

use super::codec;
use super::record::Hash;
use crate::core::{Seq, State};

const MAGIC: &[u8; 4] = b"SFLS";
const VERSION: u16 = 7;
/// The connector space's layout (see `core::ObjectSpace`); a snapshot of another is skipped.
const LAYOUT: u16 = 1;
const HEADER_BYTES: usize = 96;

/// A snapshot's metadata and state, once every check passed.
#[derive(Debug)]
pub struct Snapshot {
    /// The last record folded in.
    pub seq: Seq,
    /// That record's hash.
    pub record_hash: Hash,
    /// The state after it.
    pub state: State,
}

/// Encodes a snapshot of `state` taken after record `seq` whose hash is `record_hash`.
pub fn encode(seq: Seq, record_hash: &Hash, state: &State) -> Result<Vec<u8>, codec::CodecError> {
    let encoded = codec::encode_state(state)?;
    let mut out = Vec::with_capacity(HEADER_BYTES + encoded.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(HEADER_BYTES as u16).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(record_hash);
    out.extend_from_slice(blake3::hash(&encoded).as_bytes());
    out.extend_from_slice(&(encoded.len() as u64).to_le_bytes());
    out.extend_from_slice(&LAYOUT.to_le_bytes());
    out.extend_from_slice(&[0; 2]);
    out.extend_from_slice(&encoded);
    let crc = checksum(&out);
    out[8..12].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// The CRC of the header (the state has its BLAKE3 in the header).
fn checksum(bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&bytes[..8]);
    hasher.update(&bytes[12..HEADER_BYTES]);
    hasher.finalize()
}

/// Checks and decodes a snapshot stored under `seq`; the error says why it cannot be trusted.
pub fn decode(seq: Seq, bytes: &[u8]) -> Result<Snapshot, String> {
    if bytes.len() < HEADER_BYTES || &bytes[..4] != MAGIC {
        return Err(format!("not a snapshot ({} bytes)", bytes.len()));
    }
    let field = |at: usize| -> [u8; 8] {
        let mut word = [0; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        word
    };
    let stored = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    if stored != checksum(bytes) {
        return Err("checksum mismatch".to_owned());
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != VERSION {
        return Err(format!(
            "snapshot format {version}, this build reads {VERSION}"
        ));
    }
    let layout = u16::from_le_bytes([bytes[92], bytes[93]]);
    if layout != LAYOUT {
        return Err(format!(
            "connector-space layout {layout}, this build reads {LAYOUT}"
        ));
    }
    let stored_seq = u64::from_le_bytes(field(12));
    if stored_seq != seq {
        return Err(format!(
            "holds sequence number {stored_seq}, stored as {seq}"
        ));
    }
    let mut record_hash = [0; 32];
    record_hash.copy_from_slice(&bytes[20..52]);
    let state_bytes = &bytes[HEADER_BYTES..];
    if u64::from_le_bytes(field(84)) != state_bytes.len() as u64 {
        return Err("state length does not match".to_owned());
    }
    if blake3::hash(state_bytes).as_bytes()[..] != bytes[52..84] {
        return Err("state hash mismatch".to_owned());
    }
    let state = codec::decode_state(state_bytes).map_err(|e| format!("state {e}"))?;
    if state.last_seq() != seq {
        return Err(format!(
            "state folded up to {}, not {seq}",
            state.last_seq()
        ));
    }
    Ok(Snapshot {
        seq,
        record_hash,
        state,
    })
}
