//! The one module that knows bincode. Everything the log persists (events, snapshots of the
//! state) is encoded and decoded here, so replacing the codec (bincode 2 is unmaintained) touches
//! one file behind the versioned record format.
//!
//! Decoding always runs with a size limit and checks that the input was consumed exactly:
//! bincode's standard configuration has no limit, and a few bytes claiming a terabyte-long string
//! would make it try to allocate that much.

use crate::core::{Envelope, State};
use bincode::config::{self, Configuration, Limit, LittleEndian, Varint};
use bincode::error::{DecodeError, EncodeError};

/// Largest encoded event, 64 MiB: a page or an obsoletion list far beyond any real one.
pub const EVENT_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Largest encoded state in a snapshot, 4 GiB.
pub const STATE_BYTES_MAX: usize = 4 * 1024 * 1024 * 1024;

type EventConfig = Configuration<LittleEndian, Varint, Limit<EVENT_BYTES_MAX>>;
type StateConfig = Configuration<LittleEndian, Varint, Limit<STATE_BYTES_MAX>>;

fn event_config() -> EventConfig {
    config::standard().with_limit::<EVENT_BYTES_MAX>()
}

fn state_config() -> StateConfig {
    config::standard().with_limit::<STATE_BYTES_MAX>()
}

/// Why bytes could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes do not encode a value of the expected type (or claim more than the limit).
    #[error("undecodable: {0}")]
    Decode(#[from] DecodeError),
    /// A value could not be encoded (too large).
    #[error("unencodable: {0}")]
    Encode(#[from] EncodeError),
    /// The value ended before the bytes did.
    #[error("{trailing} trailing bytes after the value")]
    Trailing {
        /// Bytes left over.
        trailing: usize,
    },
}

/// Encodes an event for a record's payload.
pub fn encode_event(envelope: &Envelope) -> Result<Vec<u8>, CodecError> {
    Ok(bincode::serde::encode_to_vec(envelope, event_config())?)
}

/// Encodes an event into `out`, reusing its allocation.
pub fn encode_event_into(envelope: &Envelope, out: &mut Vec<u8>) -> Result<(), CodecError> {
    out.clear();
    bincode::serde::encode_into_std_write(envelope, out, event_config())?;
    Ok(())
}

/// Encodes one object change exactly as a page event carries it: what an embedder's per-object
/// audit row would hold, and what the benchmark's SQLite baseline writes.
pub fn encode_change(change: &crate::core::ObjectChange) -> Result<Vec<u8>, CodecError> {
    Ok(bincode::serde::encode_to_vec(change, event_config())?)
}

/// Decodes a record's payload; the payload must hold exactly one event.
pub fn decode_event(bytes: &[u8]) -> Result<Envelope, CodecError> {
    let (envelope, used) = bincode::serde::decode_from_slice(bytes, event_config())?;
    exact(bytes, used)?;
    Ok(envelope)
}

/// Encodes the state for a snapshot. The same history gives the same bytes ([R14]): the
/// connector space is stored as laid out in memory, and its layout is a function of the events
/// folded. (Two equal states reached by different histories may differ in layout, so compare
/// states with `==`, histories with [`state_hash`].)
///
/// [R14]: crate::rules#r14
pub fn encode_state(state: &State) -> Result<Vec<u8>, CodecError> {
    Ok(bincode::serde::encode_to_vec(state, state_config())?)
}

/// Decodes a snapshot's state.
pub fn decode_state(bytes: &[u8]) -> Result<State, CodecError> {
    let (state, used) = bincode::serde::decode_from_slice(bytes, state_config())?;
    exact(bytes, used)?;
    Ok(state)
}

/// A hash of the state's encoding: two folds of the same history agree exactly when their hashes
/// do.
pub fn state_hash(state: &State) -> Result<[u8; 32], CodecError> {
    Ok(*blake3::hash(&encode_state(state)?).as_bytes())
}

fn exact(bytes: &[u8], used: usize) -> Result<(), CodecError> {
    if used == bytes.len() {
        Ok(())
    } else {
        Err(CodecError::Trailing {
            trailing: bytes.len() - used,
        })
    }
}
