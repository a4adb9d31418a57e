//! A store whose appends run on a thread of their own, so that folding and encoding the next event
//! overlaps writing the last one.
//!
//! Durability does not change: an append is only a request, and [`RecordStore::flush`] returns once
//! every earlier append has reached the inner store and the inner store has flushed. Any other call
//! first waits for the appends in flight, so reads always see every record appended before them.
//! An append that fails is reported by the next call (usually the flush), and every call after it
//! fails too: the log then refuses to go on, as it does when a direct append fails.

use super::store::{Head, HeadNote, RecordStore, StoreError};
use crate::core::Seq;
use std::ops::ControlFlow;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Appends waiting for the writing thread; the log waits when it is this far ahead.
const APPENDS_IN_FLIGHT: usize = 8;

enum Job {
    Append(Seq, Vec<u8>),
    /// Answer once every earlier append was carried out.
    Drain(Sender<Result<(), String>>),
}

/// Wraps a store so that its appends overlap the caller's work (see the module documentation).
pub struct Pipelined<S: RecordStore + Send + 'static> {
    inner: Arc<Mutex<S>>,
    jobs: Option<SyncSender<Job>>,
    worker: Option<JoinHandle<()>>,
    failed: Option<String>,
}

fn lock<S>(inner: &Mutex<S>) -> MutexGuard<'_, S> {
    // The worker catches nothing: a store that panicked mid-append is reported as failed by the
    // drain, so the guard's poison carries no information the caller lacks.
    inner
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn work<S: RecordStore>(inner: &Mutex<S>, jobs: Receiver<Job>) {
    let mut failure: Option<String> = None;
    for job in jobs {
        match job {
            Job::Append(seq, record) => {
                if failure.is_none() {
                    if let Err(error) = lock(inner).append(seq, &record) {
                        failure = Some(format!("appending record {seq}: {error}"));
                    }
                }
            }
            Job::Drain(reply) => {
                let _ = reply.send(failure.clone().map_or(Ok(()), Err));
            }
        }
    }
}

impl<S: RecordStore + Send + 'static> Pipelined<S> {
    /// Starts the writing thread for `inner`.
    pub fn new(inner: S) -> Self {
        let inner = Arc::new(Mutex::new(inner));
        let (jobs, receiver) = mpsc::sync_channel(APPENDS_IN_FLIGHT);
        let shared = Arc::clone(&inner);
        let worker = std::thread::Builder::new()
            .name("syncfold-store-appends".into())
            .spawn(move || work(&shared, receiver))
            .ok();
        let failed = worker
            .is_none()
            .then(|| "the store's append thread could not be started".to_owned());
        Pipelined {
            inner,
            jobs: worker.is_some().then_some(jobs),
            worker,
            failed,
        }
    }

    fn broken(message: &str) -> StoreError {
        StoreError::Backend {
            context: "the log store".to_owned(),
            message: format!("{message}; reopen the log to continue from what is stored"),
        }
    }

    /// Waits until every append sent so far was carried out, then gives the inner store.
    fn drained(&self) -> Result<MutexGuard<'_, S>, StoreError> {
        if let Some(message) = &self.failed {
            return Err(Self::broken(message));
        }
        let (reply, answer) = mpsc::channel();
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(Job::Drain(reply)).is_ok());
        match sent.then(|| answer.recv()) {
            Some(Ok(Ok(()))) => Ok(lock(&self.inner)),
            Some(Ok(Err(message))) => Err(Self::broken(&message)),
            _ => Err(Self::broken("the store's append thread stopped")),
        }
    }

    fn stop(&mut self) {
        self.jobs = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

impl<S: RecordStore + Send + 'static> Drop for Pipelined<S> {
    fn drop(&mut self) {
        self.stop();
    }
}

impl<S: RecordStore + Send + 'static> RecordStore for Pipelined<S> {
    fn append(&mut self, seq: Seq, record: &[u8]) -> Result<(), StoreError> {
        if let Some(message) = &self.failed {
            return Err(Self::broken(message));
        }
        let sent = self
            .jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(Job::Append(seq, record.to_vec())).is_ok());
        if sent {
            Ok(())
        } else {
            Err(Self::broken("the store's append thread stopped"))
        }
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        let result = self.drained().and_then(|mut inner| inner.flush());
        if let Err(error) = &result {
            self.failed.get_or_insert_with(|| error.to_string());
        }
        result
    }

    fn last_seq(&self) -> Result<Seq, StoreError> {
        self.drained()?.last_seq()
    }

    fn scan(
        &self,
        from: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.drained()?.scan(from, visit)
    }

    fn get(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        self.drained()?.get(seq)
    }

    fn discard_from(&mut self, from: Seq) -> Result<(), StoreError> {
        self.drained()?.discard_from(from)
    }

    fn read_head(&self) -> Result<HeadNote, StoreError> {
        self.drained()?.read_head()
    }

    fn write_head(&mut self, head: &Head) -> Result<(), StoreError> {
        self.drained()?.write_head(head)
    }

    fn put_snapshot(&mut self, seq: Seq, bytes: &[u8]) -> Result<(), StoreError> {
        self.drained()?.put_snapshot(seq, bytes)
    }

    fn snapshot_seqs(&self) -> Result<Vec<Seq>, StoreError> {
        self.drained()?.snapshot_seqs()
    }

    fn get_snapshot(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        self.drained()?.get_snapshot(seq)
    }

    fn records_from(&self, from: Seq) -> Result<Option<super::RecordIter>, StoreError> {
        self.drained()?.records_from(from)
    }

    fn read_snapshot(&self, seq: Seq, visit: &mut dyn FnMut(&[u8])) -> Result<bool, StoreError> {
        self.drained()?.read_snapshot(seq, visit)
    }

    fn remove_snapshot(&mut self, seq: Seq) -> Result<(), StoreError> {
        self.drained()?.remove_snapshot(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::MemoryStore;

    #[test]
    fn reads_and_flushes_see_every_earlier_append() {
        let mut store = Pipelined::new(MemoryStore::new());
        for seq in 1..=100u64 {
            store.append(seq, &seq.to_le_bytes()).expect("queued");
        }
        assert_eq!(store.last_seq().expect("last"), 100);
        let mut seen = Vec::new();
        store
            .scan(1, &mut |seq, bytes| {
                assert_eq!(bytes, seq.to_le_bytes());
                seen.push(seq);
                ControlFlow::Continue(())
            })
            .expect("scan");
        assert_eq!(seen, (1..=100).collect::<Vec<_>>());
        store.flush().expect("flush");
    }

    #[test]
    fn a_failed_append_fails_the_flush_and_every_call_after() {
        let mut store = Pipelined::new(MemoryStore::new());
        store.append(1, b"one").expect("queued");
        // Out of order: the inner store refuses it, after `append` has returned.
        store.append(3, b"three").expect("queued");
        let error = store
            .flush()
            .expect_err("the flush reports the failed append");
        assert!(error.to_string().contains("appending record 3"), "{error}");
        assert!(store.append(4, b"four").is_err());
        assert!(store.flush().is_err());
        assert!(store.last_seq().is_err());
    }
}
