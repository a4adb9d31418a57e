//! Opening a log folder for reading without changing a byte of it.
//!
//! A reading command (a postmortem, an audit) must leave the evidence as it found it, must work on
//! a read-only folder or for an account that cannot write it, and must work while an engine
//! writes the log. sled can do none of that on its own: opening a database writes to it and locks
//! it. So [`open_for_reading`] decides:
//!
//! | the folder's sled files are | what the reader reads |
//! | --- | --- |
//! | not held by a writer | a private copy of them in the temporary folder (`TMPDIR`), taken under a shared lock so no writer starts during the copy; removed when the reader is done |
//! | held by a writer that serves readers | that writer's acknowledged records, over its socket ([`super::ServedStore`]) |
//! | held by a writer that does not serve | nothing: an error naming the holder |
//!
//! The head note is read from the folder itself in both the first case and by the serving writer,
//! so the acknowledged extent is the evidence's own. The cost of a copy is a read of the sled
//! files and as much free space in `TMPDIR` (on file systems with shared extents, `copy_file_range`
//! shares blocks instead): see `docs/PERFORMANCE.md`.

use super::serve::{announcement, ServedStore};
use super::sled_store::{probe, Probe, SledStore};
use super::store::{Head, HeadNote, RecordStore, StoreError};
use crate::core::Seq;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Duration;

/// How long a reader waits for a writer that holds the log to announce its socket (a writer
/// announces as soon as it has opened sled).
const ANNOUNCEMENT_WAIT: Duration = Duration::from_secs(2);
/// How long a reader waits for an announced, living holder that does not answer yet.
const BUSY_WAIT: Duration = Duration::from_secs(10);
const RETRY_EVERY: Duration = Duration::from_millis(50);

/// A log opened for reading: never written, whichever way it was reached.
#[derive(Debug)]
pub enum ReadStore {
    /// A private copy of the folder's sled files.
    Copy(SledStore),
    /// The acknowledged records of the process that holds the log.
    Served(ServedStore),
}

impl ReadStore {
    /// The process that answered, when the log was read through its holder.
    pub fn holder(&self) -> Option<u32> {
        match self {
            ReadStore::Copy(_) => None,
            ReadStore::Served(served) => Some(served.holder()),
        }
    }

    fn store(&self) -> &dyn RecordStore {
        match self {
            ReadStore::Copy(store) => store,
            ReadStore::Served(store) => store,
        }
    }

    fn store_mut(&mut self) -> &mut dyn RecordStore {
        match self {
            ReadStore::Copy(store) => store,
            ReadStore::Served(store) => store,
        }
    }
}

/// Whether process `pid` is alive, as `/proc` says; when there is no `/proc` to ask, every
/// process counts as alive (nothing is swept, nothing of a live process is touched).
fn alive(pid: i32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}

/// Removes what readers and writers killed before they could clean up left in the temporary
/// folder: private copies (`syncfold-read-PID-…`) and fallback sockets (`syncfold-PID-N.sock`) of
/// processes that are gone. A live process's files are never touched.
fn sweep_leftovers() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let pid = name
            .strip_prefix("syncfold-read-")
            .or_else(|| {
                name.strip_prefix("syncfold-")
                    .filter(|_| name.ends_with(".sock"))
            })
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<i32>().ok());
        let Some(pid) = pid else { continue };
        if pid > 0 && !alive(pid) {
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
    }
}

/// Opens the log at `folder` for reading (see the module's table). Nothing in `folder` is
/// created, changed or removed. Copies and sockets left in the temporary folder by syncfold
/// processes that were killed are removed first.
pub fn open_for_reading(folder: &Path) -> Result<ReadStore, StoreError> {
    sweep_leftovers();
    let started = std::time::Instant::now();
    loop {
        match probe(folder)? {
            Probe::Free(lock) => {
                let store = SledStore::open_copy(folder);
                drop(lock);
                return store.map(ReadStore::Copy);
            }
            Probe::Held => {
                // An announcement of a live process that does not answer yet (busy with other
                // readers) is worth a longer wait than none, or a dead process's leftover: a
                // serving writer announces itself the moment it has opened sled.
                let announced = announcement(folder)
                    .filter(|announced| i32::try_from(announced.pid).is_ok_and(alive));
                if let Some(announced) = &announced {
                    if let Ok(served) = ServedStore::connect(folder, announced) {
                        return Ok(ReadStore::Served(served));
                    }
                }
                let wait = if announced.is_some() {
                    BUSY_WAIT
                } else {
                    ANNOUNCEMENT_WAIT
                };
                if started.elapsed() >= wait {
                    return Err(StoreError::Held {
                        path: folder.display().to_string(),
                        holder: announced.map_or_else(
                            || "another process".to_owned(),
                            |announced| format!("process {}", announced.pid),
                        ),
                    });
                }
                std::thread::sleep(RETRY_EVERY);
            }
        }
    }
}

impl RecordStore for ReadStore {
    fn append(&mut self, seq: Seq, record: &[u8]) -> Result<(), StoreError> {
        self.store_mut().append(seq, record)
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.store_mut().flush()
    }

    fn last_seq(&self) -> Result<Seq, StoreError> {
        self.store().last_seq()
    }

    fn scan(
        &self,
        from: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.store().scan(from, visit)
    }

    fn get(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        self.store().get(seq)
    }

    fn discard_from(&mut self, from: Seq) -> Result<(), StoreError> {
        self.store_mut().discard_from(from)
    }

    fn read_head(&self) -> Result<HeadNote, StoreError> {
        self.store().read_head()
    }

    fn write_head(&mut self, head: &Head) -> Result<(), StoreError> {
        self.store_mut().write_head(head)
    }

    fn put_snapshot(&mut self, seq: Seq, bytes: &[u8]) -> Result<(), StoreError> {
        self.store_mut().put_snapshot(seq, bytes)
    }

    fn snapshot_seqs(&self) -> Result<Vec<Seq>, StoreError> {
        self.store().snapshot_seqs()
    }

    fn get_snapshot(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        self.store().get_snapshot(seq)
    }

    fn records_from(&self, from: Seq) -> Result<Option<super::RecordIter>, StoreError> {
        self.store().records_from(from)
    }

    fn read_snapshot(&self, seq: Seq, visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError> {
        self.store().read_snapshot(seq, visit)
    }

    fn remove_snapshot(&mut self, seq: Seq) -> Result<(), StoreError> {
        self.store_mut().remove_snapshot(seq)
    }
}
