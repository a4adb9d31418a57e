//! The default store: sled for records and snapshots, and a small head-note file beside it.
//!
//! Layout of a log folder:
//!
//! ```text
//! DIR/sled/   the sled database: tree `records` (key: sequence number, big-endian, so sled's order
//!             is log order) and tree `snapshots` (same keys)
//! DIR/HEAD    the head note: two 64-byte slots written alternately with fdatasync, each holding
//!             a generation, the last acknowledged sequence number and its record hash, and a CRC
//! ```
//!
//! The head note exists because sled 0.34 can lose every record after a damaged spot in its files
//! and then open cleanly: the log compares what sled returns with what it acknowledged. Two slots
//! mean a write torn by a crash leaves the previous note intact.
//!
//! sled reports damage as errors, but has been seen to panic on some damaged files; every call
//! into it is guarded, so both become a [`StoreError`] naming the folder and the remedy.

use super::record::Hash;
use super::store::{Head, RecordStore, StoreError};
use crate::core::Seq;
use std::fs::{File, OpenOptions};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

const HEAD_MAGIC: &[u8; 4] = b"SFLH";
const HEAD_SLOT_BYTES: usize = 64;

/// A log folder backed by sled.
pub struct SledStore {
    folder: PathBuf,
    db: sled::Db,
    records: sled::Tree,
    snapshots: sled::Tree,
    head_file: File,
    head_generation: u64,
}

impl std::fmt::Debug for SledStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledStore")
            .field("folder", &self.folder)
            .finish()
    }
}

fn damaged(folder: &Path, doing: &str, message: impl std::fmt::Display) -> StoreError {
    StoreError::Backend {
        context: format!(
            "the log at {} could not be {doing} (its sled files may be damaged; run `syncfold verify --log {}`, and restore the folder from a backup if it fails)",
            folder.display(),
            folder.display()
        ),
        message: message.to_string(),
    }
}

/// Runs a sled call, turning its errors and its panics into a `StoreError`.
fn guarded<T>(
    folder: &Path,
    doing: &str,
    call: impl FnOnce() -> sled::Result<T>,
) -> Result<T, StoreError> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(damaged(folder, doing, error)),
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "sled panicked".to_owned());
            Err(damaged(folder, doing, format!("sled panicked: {message}")))
        }
    }
}

fn io_error(folder: &Path, doing: &str, error: std::io::Error) -> StoreError {
    StoreError::Backend {
        context: format!("the log at {} could not be {doing}", folder.display()),
        message: error.to_string(),
    }
}

fn key(seq: Seq) -> [u8; 8] {
    seq.to_be_bytes()
}

fn seq_of(folder: &Path, key: &[u8]) -> Result<Seq, StoreError> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| {
        damaged(
            folder,
            "read",
            format!(
                "a key of {} bytes where a sequence number belongs",
                key.len()
            ),
        )
    })?;
    Ok(Seq::from_be_bytes(bytes))
}

impl SledStore {
    /// Opens (creating if needed) the log folder `folder`.
    pub fn open(folder: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(folder).map_err(|e| io_error(folder, "created", e))?;
        let db = match catch_unwind(AssertUnwindSafe(|| {
            sled::Config::new()
                .path(folder.join("sled"))
                .flush_every_ms(None)
                .open()
        })) {
            Ok(Ok(db)) => db,
            Ok(Err(sled::Error::Io(error)))
                if error.kind() == std::io::ErrorKind::WouldBlock
                    || error.to_string().contains("lock") =>
            {
                return Err(StoreError::InUse {
                    path: folder.display().to_string(),
                })
            }
            Ok(Err(error)) => return Err(damaged(folder, "opened", error)),
            Err(_) => return Err(damaged(folder, "opened", "sled panicked while opening")),
        };
        let records = guarded(folder, "opened", || db.open_tree("records"))?;
        let snapshots = guarded(folder, "opened", || db.open_tree("snapshots"))?;
        let head_path = folder.join("HEAD");
        let head_file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&head_path)
            .map_err(|e| io_error(folder, "opened (HEAD)", e))?;
        let mut store = SledStore {
            folder: folder.to_path_buf(),
            db,
            records,
            snapshots,
            head_file,
            head_generation: 0,
        };
        if let Some((generation, _)) = store.read_head_slots()? {
            store.head_generation = generation;
        }
        Ok(store)
    }

    /// The log folder.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    fn read_head_slots(&self) -> Result<Option<(u64, Head)>, StoreError> {
        let mut bytes = vec![0u8; 2 * HEAD_SLOT_BYTES];
        let mut filled = 0;
        while filled < bytes.len() {
            let read = self
                .head_file
                .read_at(&mut bytes[filled..], filled as u64)
                .map_err(|e| io_error(&self.folder, "read (HEAD)", e))?;
            if read == 0 {
                break;
            }
            filled += read;
        }
        bytes.truncate(filled);
        let mut best: Option<(u64, Head)> = None;
        let mut damaged_slots = 0;
        let mut written_slots = 0;
        for slot in bytes.chunks(HEAD_SLOT_BYTES).take(2) {
            if slot.iter().all(|byte| *byte == 0) {
                continue;
            }
            written_slots += 1;
            match parse_head_slot(slot) {
                Some((generation, head)) => {
                    if best.is_none_or(|(g, _)| generation > g) {
                        best = Some((generation, head));
                    }
                }
                None => damaged_slots += 1,
            }
        }
        if best.is_none() && damaged_slots >= 2 && written_slots >= 2 {
            return Err(damaged(
                &self.folder,
                "read",
                "both slots of the HEAD note are damaged, so the log cannot tell whether records it acknowledged were lost",
            ));
        }
        Ok(best)
    }
}

fn parse_head_slot(slot: &[u8]) -> Option<(u64, Head)> {
    if slot.len() != HEAD_SLOT_BYTES || &slot[..4] != HEAD_MAGIC {
        return None;
    }
    let stored = u32::from_le_bytes(slot[8..12].try_into().ok()?);
    if stored != head_checksum(slot) || u16::from_le_bytes([slot[4], slot[5]]) != 1 {
        return None;
    }
    let generation = u64::from_le_bytes(slot[12..20].try_into().ok()?);
    let seq = u64::from_le_bytes(slot[20..28].try_into().ok()?);
    let hash: Hash = slot[28..60].try_into().ok()?;
    Some((generation, Head { seq, hash }))
}

fn head_checksum(slot: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&slot[..8]);
    hasher.update(&slot[12..]);
    hasher.finalize()
}

impl RecordStore for SledStore {
    fn append(&mut self, seq: Seq, record: &[u8]) -> Result<(), StoreError> {
        let previous = guarded(&self.folder, "appended to", || {
            self.records.insert(key(seq), record)
        })?;
        if previous.is_some() {
            return Err(StoreError::Conflict { seq });
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        guarded(&self.folder, "flushed", || self.db.flush())?;
        Ok(())
    }

    fn last_seq(&self) -> Result<Seq, StoreError> {
        match guarded(&self.folder, "read", || self.records.last())? {
            Some((key, _)) => seq_of(&self.folder, &key),
            None => Ok(0),
        }
    }

    fn scan(
        &self,
        from: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let mut iterator = guarded(&self.folder, "read", || Ok(self.records.range(key(from)..)))?;
        loop {
            let Some(item) = guarded(&self.folder, "read", || iterator.next().transpose())? else {
                return Ok(());
            };
            let seq = seq_of(&self.folder, &item.0)?;
            if visit(seq, &item.1).is_break() {
                return Ok(());
            }
        }
    }

    fn get(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(guarded(&self.folder, "read", || self.records.get(key(seq)))?.map(|v| v.to_vec()))
    }

    fn discard_from(&mut self, from: Seq) -> Result<(), StoreError> {
        let last = self.last_seq()?;
        for seq in from..=last {
            guarded(&self.folder, "repaired", || self.records.remove(key(seq)))?;
        }
        self.flush()
    }

    fn read_head(&self) -> Result<Option<Head>, StoreError> {
        Ok(self.read_head_slots()?.map(|(_, head)| head))
    }

    fn write_head(&mut self, head: &Head) -> Result<(), StoreError> {
        let generation = self.head_generation + 1;
        let mut slot = [0u8; HEAD_SLOT_BYTES];
        slot[..4].copy_from_slice(HEAD_MAGIC);
        slot[4..6].copy_from_slice(&1u16.to_le_bytes());
        slot[12..20].copy_from_slice(&generation.to_le_bytes());
        slot[20..28].copy_from_slice(&head.seq.to_le_bytes());
        slot[28..60].copy_from_slice(&head.hash);
        let crc = head_checksum(&slot);
        slot[8..12].copy_from_slice(&crc.to_le_bytes());
        let offset = (generation % 2) * HEAD_SLOT_BYTES as u64;
        self.head_file
            .write_all_at(&slot, offset)
            .and_then(|()| self.head_file.sync_data())
            .map_err(|e| io_error(&self.folder, "written (HEAD)", e))?;
        if generation == 1 {
            // The HEAD file itself is new: make its directory entry durable too.
            File::open(&self.folder)
                .and_then(|dir| dir.sync_all())
                .map_err(|e| io_error(&self.folder, "synced", e))?;
        }
        self.head_generation = generation;
        Ok(())
    }

    fn put_snapshot(&mut self, seq: Seq, bytes: &[u8]) -> Result<(), StoreError> {
        guarded(&self.folder, "written (snapshot)", || {
            self.snapshots.insert(key(seq), bytes)
        })?;
        Ok(())
    }

    fn snapshot_seqs(&self) -> Result<Vec<Seq>, StoreError> {
        let mut seqs = Vec::new();
        for item in self.snapshots.iter().keys() {
            let key = guarded(&self.folder, "read (snapshots)", || item)?;
            seqs.push(seq_of(&self.folder, &key)?);
        }
        Ok(seqs)
    }

    fn get_snapshot(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(guarded(&self.folder, "read (snapshots)", || {
            self.snapshots.get(key(seq))
        })?
        .map(|v| v.to_vec()))
    }

    fn remove_snapshot(&mut self, seq: Seq) -> Result<(), StoreError> {
        guarded(&self.folder, "written (snapshots)", || {
            self.snapshots.remove(key(seq))
        })?;
        Ok(())
    }
}
