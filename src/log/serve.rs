//! Reading a log while a writer holds it: the writer answers readers on a local socket.
//!
//! sled locks its files, so while an engine (or `simulate`) writes a log no other process can open
//! it. The writer therefore serves what a reader needs — its acknowledged head note, its records
//! up to that head and its snapshots — on a Unix socket, announced in the log folder's `SERVING`
//! file (`pid N` and `socket PATH`). A reader turns the answers back into a read-only
//! [`RecordStore`] ([`ServedStore`]), so every check the log does (checksums, chain, rules, head)
//! runs on the reader's side exactly as on a folder: the writer is trusted for nothing.
//!
//! Only acknowledged records are served: a reader sees what a crash could not take back, and a
//! run in flight shows as in flight.
//!
//! The protocol, all integers little-endian:
//!
//! ```text
//! reader → "SFRQ" u16 version            writer → "SFRS" u16 version u32 pid
//! reader → 1 (extent)                    writer → note, then u32 n and n × u64 snapshot seqs
//!          note: u8 0 absent | 1 u64 seq, 32-byte hash | 2 u32 len, text (lost)
//! reader → 2 u64 from u64 to             writer → (u64 seq, u32 len, bytes)* then u64 0
//!                                                  or u64 MAX, u32 len, text (a read failed)
//! reader → 3 u64 seq (snapshot)          writer → u8 0 (absent) | u8 1, u64 len, bytes
//! ```
//!
//! The socket has the read permissions of the log's head note turned into connect permissions, so
//! whoever may read the folder may ask, and nobody else.

use super::record::{Hash, HEADER_BYTES, PAYLOAD_BYTES_MAX};
use super::store::{Head, HeadNote, RecordStore, StoreError};
use crate::core::Seq;
use std::io::{BufReader, BufWriter, Read, Write};
use std::ops::ControlFlow;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const REQUEST_MAGIC: &[u8; 4] = b"SFRQ";
const RESPONSE_MAGIC: &[u8; 4] = b"SFRS";
const PROTOCOL_VERSION: u16 = 1;
/// The announcement file in the log folder.
pub(crate) const ANNOUNCEMENT: &str = "SERVING";
const SOCKET_NAME: &str = "syncfold.sock";
/// Readers answered at once; more wait for their turn to connect.
const READERS_MAX: usize = 16;
/// A reader that says nothing for this long is let go.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest record a reader accepts.
const RECORD_BYTES_MAX: u64 = (HEADER_BYTES + PAYLOAD_BYTES_MAX) as u64;
/// Largest snapshot a reader accepts (the state codec's own limit, plus its header).
const SNAPSHOT_BYTES_MAX: u64 = super::codec::STATE_BYTES_MAX as u64 + 4096;
/// Most snapshots a reader accepts in a list (a log keeps a few).
const SNAPSHOTS_MAX: u32 = 1 << 16;
/// Longest text (a lost note's reason, an error) a reader accepts.
const TEXT_BYTES_MAX: u64 = 64 * 1024;

/// What a writer serves: a read-only view of its store, bounded by its acknowledged head.
pub(crate) trait ReadSource: Send + Sync {
    /// The head note as last written.
    fn head(&self) -> HeadNote;
    /// The snapshots taken after records up to `up_to`.
    fn snapshot_seqs(&self, up_to: Seq) -> Result<Vec<Seq>, StoreError>;
    /// The records from `from` to `to`, inclusive, in order.
    fn scan(
        &self,
        from: Seq,
        to: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError>;
    /// One snapshot.
    fn snapshot(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError>;
}

/// The writer's side: a listening socket and its announcement, removed when dropped.
///
/// Only the server owns the source; the threads that accept and answer hold it weakly or for the
/// length of one connection, and dropping the server cuts every connection, so the writer's store
/// (and sled's lock on its files) is released when the writer lets go of it, not when the last
/// reader does.
pub(crate) struct Server {
    socket: PathBuf,
    announcement: PathBuf,
    stop: Arc<AtomicBool>,
    _source: Arc<dyn ReadSource>,
    connections: Connections,
}

/// The readers' connections being answered, by number, so that a stopping server can cut them.
type Connections = Arc<Mutex<std::collections::BTreeMap<u64, UnixStream>>>;

fn socket_path(folder: &Path) -> PathBuf {
    static SERVED: AtomicUsize = AtomicUsize::new(0);
    let absolute = folder
        .canonicalize()
        .unwrap_or_else(|_| folder.to_path_buf());
    let beside = absolute.join(SOCKET_NAME);
    // A socket's path must fit in 108 bytes; a deep folder gets one in the temporary folder.
    if beside.as_os_str().len() < 100 {
        beside
    } else {
        std::env::temp_dir().join(format!(
            "syncfold-{}-{}.sock",
            std::process::id(),
            SERVED.fetch_add(1, Ordering::Relaxed)
        ))
    }
}

impl Server {
    /// Starts answering readers of the log at `folder`. The caller holds the log's lock, so any
    /// socket or announcement found there is a stale one from a writer that died.
    pub(crate) fn start(folder: &Path, source: Box<dyn ReadSource>) -> Result<Server, StoreError> {
        let socket = socket_path(folder);
        let announcement = folder.join(ANNOUNCEMENT);
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket)
            .map_err(|e| StoreError::io(&socket, "bound to serve readers", &e))?;
        set_socket_mode(folder, &socket);
        let text = format!("pid {}\nsocket {}\n", std::process::id(), socket.display());
        let partial = folder.join(format!("{ANNOUNCEMENT}.new"));
        std::fs::write(&partial, text)
            .and_then(|()| std::fs::rename(&partial, &announcement))
            .map_err(|e| StoreError::io(folder, "announced to readers (SERVING)", &e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let source: Arc<dyn ReadSource> = Arc::from(source);
        let connections = Connections::default();
        let weak = Arc::downgrade(&source);
        let (stopping, answering) = (Arc::clone(&stop), Arc::clone(&connections));
        let spawned = std::thread::Builder::new()
            .name("syncfold-serve".to_owned())
            .spawn(move || accept_loop(listener, weak, stopping, answering));
        if let Err(error) = spawned {
            let _ = std::fs::remove_file(&announcement);
            let _ = std::fs::remove_file(&socket);
            return Err(StoreError::io(folder, "served (no thread)", &error));
        }
        Ok(Server {
            socket,
            announcement,
            stop,
            _source: source,
            connections,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::fs::remove_file(&self.announcement);
        // Wake the accept loop so it sees the stop flag, then take the socket away.
        let _ = UnixStream::connect(&self.socket);
        let _ = std::fs::remove_file(&self.socket);
        let connections = self
            .connections
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for connection in connections.values() {
            let _ = connection.shutdown(std::net::Shutdown::Both);
        }
        drop(connections);
        // A reader's thread holds the source until it sees its connection cut. Wait (bounded) for
        // every one to let go, so the store, and sled's lock on its files, is released when the
        // writer drops it: a next writer opening the log at once must not find it still held.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while Arc::strong_count(&self._source) > 1 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

/// Lets whoever may read the log connect, and nobody else: a class of users (owner, group,
/// others) may connect when it may read the head note and enter the folder. The check matters
/// most for a socket in the temporary folder, outside the log folder's own protection.
fn set_socket_mode(folder: &Path, socket: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .map(|meta| meta.permissions().mode())
            .unwrap_or(0)
    };
    let readable = mode(&folder.join("HEAD")) & 0o444;
    let searchable = (mode(folder) & 0o111) << 2;
    let allowed = readable & searchable;
    let _ = std::fs::set_permissions(
        socket,
        std::fs::Permissions::from_mode(allowed | (allowed >> 1) | 0o600),
    );
}

fn accept_loop(
    listener: UnixListener,
    source: std::sync::Weak<dyn ReadSource>,
    stop: Arc<AtomicBool>,
    connections: Connections,
) {
    let mut number = 0u64;
    for connection in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(connection) = connection else { continue };
        let Some(source) = source.upgrade() else {
            return;
        };
        let mut answering = connections
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if answering.len() >= READERS_MAX {
            // Dropped unanswered: the reader retries.
            continue;
        }
        let Ok(handle) = connection.try_clone() else {
            continue;
        };
        number += 1;
        answering.insert(number, handle);
        // Checked under the lock the stopping server takes after setting the flag: either the
        // server cuts this connection, or this loop sees the flag.
        if stop.load(Ordering::SeqCst) {
            let _ = connection.shutdown(std::net::Shutdown::Both);
            return;
        }
        drop(answering);
        let finished = Arc::clone(&connections);
        let id = number;
        let spawned = std::thread::Builder::new()
            .name("syncfold-reader".to_owned())
            .spawn(move || {
                if let Err(error) = answer(connection, source.as_ref()) {
                    tracing::debug!(%error, "a reader's connection ended");
                }
                drop(source);
                finished
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .remove(&id);
            });
        if spawned.is_err() {
            connections
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .remove(&number);
        }
    }
}

fn answer(connection: UnixStream, source: &dyn ReadSource) -> std::io::Result<()> {
    connection.set_read_timeout(Some(IDLE_TIMEOUT))?;
    let mut input = BufReader::new(connection.try_clone()?);
    let mut output = BufWriter::with_capacity(1 << 16, connection);
    let mut magic = [0u8; 4];
    input.read_exact(&mut magic)?;
    let version = read_u16(&mut input)?;
    if &magic != REQUEST_MAGIC || version != PROTOCOL_VERSION {
        return Ok(());
    }
    output.write_all(RESPONSE_MAGIC)?;
    output.write_all(&PROTOCOL_VERSION.to_le_bytes())?;
    output.write_all(&std::process::id().to_le_bytes())?;
    output.flush()?;
    loop {
        let mut op = [0u8; 1];
        match input.read_exact(&mut op) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(error) => return Err(error),
        }
        match op[0] {
            1 => {
                let note = source.head();
                let up_to = note.head().map_or(0, |head| head.seq);
                write_note(&mut output, &note)?;
                let seqs = source.snapshot_seqs(up_to).unwrap_or_default();
                output.write_all(&(seqs.len() as u32).to_le_bytes())?;
                for seq in seqs {
                    output.write_all(&seq.to_le_bytes())?;
                }
            }
            2 => {
                let from = read_u64(&mut input)?;
                let wanted = read_u64(&mut input)?;
                let acknowledged = source.head().head().map_or(0, |head| head.seq);
                let mut failure = None;
                let scanned = source.scan(from, wanted.min(acknowledged), &mut |seq, bytes| {
                    let sent = output
                        .write_all(&seq.to_le_bytes())
                        .and_then(|()| output.write_all(&(bytes.len() as u32).to_le_bytes()))
                        .and_then(|()| output.write_all(bytes));
                    match sent {
                        Ok(()) => ControlFlow::Continue(()),
                        Err(error) => {
                            failure = Some(error);
                            ControlFlow::Break(())
                        }
                    }
                });
                if let Some(error) = failure {
                    return Err(error);
                }
                match scanned {
                    Ok(()) => output.write_all(&0u64.to_le_bytes())?,
                    Err(error) => {
                        output.write_all(&u64::MAX.to_le_bytes())?;
                        write_text(&mut output, &error.to_string())?;
                    }
                }
            }
            3 => {
                let seq = read_u64(&mut input)?;
                match source.snapshot(seq).ok().flatten() {
                    Some(bytes) => {
                        output.write_all(&[1])?;
                        output.write_all(&(bytes.len() as u64).to_le_bytes())?;
                        output.write_all(&bytes)?;
                    }
                    None => output.write_all(&[0])?,
                }
            }
            _ => return Ok(()),
        }
        output.flush()?;
    }
}

fn read_u16(input: &mut impl Read) -> std::io::Result<u16> {
    let mut bytes = [0u8; 2];
    input.read_exact(&mut bytes)?;
    Ok(u16::from_le_bytes(bytes))
}

fn read_u32(input: &mut impl Read) -> std::io::Result<u32> {
    let mut bytes = [0u8; 4];
    input.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

fn read_u64(input: &mut impl Read) -> std::io::Result<u64> {
    let mut bytes = [0u8; 8];
    input.read_exact(&mut bytes)?;
    Ok(u64::from_le_bytes(bytes))
}

/// Reads `len` bytes, refusing more than `max`; memory grows with what arrives, not with what a
/// length claims.
fn read_bytes(input: &mut impl Read, len: u64, max: u64) -> std::io::Result<Vec<u8>> {
    if len > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the writer sent a length of {len} bytes, over the limit of {max}"),
        ));
    }
    let mut bytes = Vec::new();
    input.take(len).read_to_end(&mut bytes)?;
    if bytes.len() as u64 != len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(bytes)
}

fn write_text(output: &mut impl Write, text: &str) -> std::io::Result<()> {
    output.write_all(&(text.len() as u32).to_le_bytes())?;
    output.write_all(text.as_bytes())
}

fn read_text(input: &mut impl Read) -> std::io::Result<String> {
    let len = read_u32(input)?;
    let bytes = read_bytes(input, u64::from(len), TEXT_BYTES_MAX)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn write_note(output: &mut impl Write, note: &HeadNote) -> std::io::Result<()> {
    match note {
        HeadNote::Absent => output.write_all(&[0]),
        HeadNote::At(head) => {
            output.write_all(&[1])?;
            output.write_all(&head.seq.to_le_bytes())?;
            output.write_all(&head.hash)
        }
        HeadNote::Lost { why } => {
            output.write_all(&[2])?;
            write_text(output, why)
        }
    }
}

fn read_note(input: &mut impl Read) -> std::io::Result<HeadNote> {
    let mut tag = [0u8; 1];
    input.read_exact(&mut tag)?;
    match tag[0] {
        0 => Ok(HeadNote::Absent),
        1 => {
            let seq = read_u64(input)?;
            let mut hash: Hash = [0; 32];
            input.read_exact(&mut hash)?;
            Ok(HeadNote::At(Head { seq, hash }))
        }
        2 => Ok(HeadNote::Lost {
            why: read_text(input)?,
        }),
        other => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("unknown head-note tag {other}"),
        )),
    }
}

/// Who holds a log and where it answers, as its `SERVING` file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcement {
    /// The holder's process id.
    pub pid: u32,
    /// Its socket.
    pub socket: PathBuf,
}

/// Reads the announcement of the log at `folder`, if there is one.
pub fn announcement(folder: &Path) -> Option<Announcement> {
    let text = std::fs::read_to_string(folder.join(ANNOUNCEMENT)).ok()?;
    let mut pid = None;
    let mut socket = None;
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("pid ") {
            pid = value.trim().parse().ok();
        } else if let Some(value) = line.strip_prefix("socket ") {
            socket = Some(PathBuf::from(value));
        }
    }
    Some(Announcement {
        pid: pid?,
        socket: socket?,
    })
}

/// A log read through the process that holds it: a read-only [`RecordStore`] of the holder's
/// acknowledged records, fixed at the moment of connecting.
pub struct ServedStore {
    folder: PathBuf,
    socket: PathBuf,
    holder: u32,
    head: HeadNote,
    last: Seq,
    snapshots: Vec<Seq>,
    connection: Mutex<Option<(BufReader<UnixStream>, BufWriter<UnixStream>)>>,
}

impl std::fmt::Debug for ServedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServedStore")
            .field("folder", &self.folder)
            .field("holder", &self.holder)
            .field("last", &self.last)
            .finish()
    }
}

type Connection = (BufReader<UnixStream>, BufWriter<UnixStream>);

fn connect(socket: &Path) -> std::io::Result<(Connection, u32)> {
    let stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut input = BufReader::with_capacity(1 << 16, stream.try_clone()?);
    let mut output = BufWriter::new(stream);
    output.write_all(REQUEST_MAGIC)?;
    output.write_all(&PROTOCOL_VERSION.to_le_bytes())?;
    output.flush()?;
    let mut magic = [0u8; 4];
    input.read_exact(&mut magic)?;
    let version = read_u16(&mut input)?;
    let pid = read_u32(&mut input)?;
    if &magic != RESPONSE_MAGIC || version != PROTOCOL_VERSION {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("the holder answers protocol {version}, this build speaks {PROTOCOL_VERSION}: use the same syncfold version"),
        ));
    }
    Ok(((input, output), pid))
}

impl ServedStore {
    /// Connects to the holder of the log at `folder` as announced there.
    pub fn connect(folder: &Path, announced: &Announcement) -> std::io::Result<ServedStore> {
        let ((mut input, mut output), holder) = connect(&announced.socket)?;
        output.write_all(&[1])?;
        output.flush()?;
        let head = read_note(&mut input)?;
        let count = read_u32(&mut input)?;
        if count > SNAPSHOTS_MAX {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("the holder names {count} snapshots, over the limit of {SNAPSHOTS_MAX}"),
            ));
        }
        let mut snapshots = Vec::new();
        for _ in 0..count {
            snapshots.push(read_u64(&mut input)?);
        }
        let last = head.head().map_or(0, |head| head.seq);
        Ok(ServedStore {
            folder: folder.to_path_buf(),
            socket: announced.socket.clone(),
            holder,
            head,
            last,
            snapshots,
            connection: Mutex::new(Some((input, output))),
        })
    }

    /// The process that answered.
    pub fn holder(&self) -> u32 {
        self.holder
    }

    fn failed(&self, error: std::io::Error) -> StoreError {
        StoreError::Io {
            context: format!(
                "the log at {} could not be read from process {}, which holds it",
                self.folder.display(),
                self.holder
            ),
            message: error.to_string(),
            remedy: "run the command again (the holder may have stopped)".to_owned(),
            kind: error.kind(),
        }
    }

    /// Runs `exchange` on the connection, reconnecting if an earlier exchange left it; a
    /// connection left mid-answer is dropped, never reused.
    fn exchange<T>(
        &self,
        exchange: impl FnOnce(&mut Connection) -> std::io::Result<(T, bool)>,
    ) -> Result<T, StoreError> {
        let mut slot = self
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut connection = match slot.take() {
            Some(connection) => connection,
            None => connect(&self.socket).map_err(|e| self.failed(e))?.0,
        };
        let (value, reusable) = exchange(&mut connection).map_err(|e| self.failed(e))?;
        if reusable {
            *slot = Some(connection);
        }
        Ok(value)
    }

    /// Asks the holder for records `from` to `to` (never past its acknowledged head at connect)
    /// and shows each to `visit` as it arrives.
    fn records(
        &self,
        from: Seq,
        to: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        let to = to.min(self.last);
        if from > to {
            return Ok(());
        }
        let mut served_error = None;
        self.exchange(|(input, output)| {
            output.write_all(&[2])?;
            output.write_all(&from.to_le_bytes())?;
            output.write_all(&to.to_le_bytes())?;
            output.flush()?;
            loop {
                let seq = read_u64(input)?;
                if seq == 0 {
                    return Ok(((), true));
                }
                if seq == u64::MAX {
                    served_error = Some(read_text(input)?);
                    return Ok(((), true));
                }
                let len = read_u32(input)?;
                let bytes = read_bytes(input, u64::from(len), RECORD_BYTES_MAX)?;
                if visit(seq, &bytes).is_break() {
                    // The rest of the answer is still coming: this connection is spent.
                    return Ok(((), false));
                }
            }
        })?;
        match served_error {
            None => Ok(()),
            // The holder's own store failed; whether that is damage, only a check of the
            // folder can tell once the holder has stopped.
            Some(message) => Err(StoreError::Io {
                context: format!(
                    "process {}, which holds the log at {}, could not read it",
                    self.holder,
                    self.folder.display()
                ),
                message,
                remedy: format!(
                    "run `syncfold verify --log {}` once that process has stopped",
                    self.folder.display()
                ),
                kind: std::io::ErrorKind::Other,
            }),
        }
    }

    fn refuse(&self) -> StoreError {
        StoreError::ReadOnly {
            path: self.folder.display().to_string(),
        }
    }
}

impl RecordStore for ServedStore {
    fn append(&mut self, _: Seq, _: &[u8]) -> Result<(), StoreError> {
        Err(self.refuse())
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        Err(self.refuse())
    }

    fn last_seq(&self) -> Result<Seq, StoreError> {
        Ok(self.last)
    }

    fn scan(
        &self,
        from: Seq,
        visit: &mut dyn FnMut(Seq, &[u8]) -> ControlFlow<()>,
    ) -> Result<(), StoreError> {
        self.records(from, self.last, visit)
    }

    fn get(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        let mut found = None;
        if seq == 0 {
            return Ok(None);
        }
        self.records(seq, seq, &mut |_, bytes| {
            found = Some(bytes.to_vec());
            ControlFlow::Continue(())
        })?;
        Ok(found)
    }

    fn discard_from(&mut self, _: Seq) -> Result<(), StoreError> {
        Err(self.refuse())
    }

    fn read_head(&self) -> Result<HeadNote, StoreError> {
        Ok(self.head.clone())
    }

    fn write_head(&mut self, _: &Head) -> Result<(), StoreError> {
        Err(self.refuse())
    }

    fn put_snapshot(&mut self, _: Seq, _: &[u8]) -> Result<(), StoreError> {
        Err(self.refuse())
    }

    fn snapshot_seqs(&self) -> Result<Vec<Seq>, StoreError> {
        Ok(self.snapshots.clone())
    }

    fn get_snapshot(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        self.exchange(|(input, output)| {
            output.write_all(&[3])?;
            output.write_all(&seq.to_le_bytes())?;
            output.flush()?;
            let mut present = [0u8; 1];
            input.read_exact(&mut present)?;
            if present[0] == 0 {
                return Ok((None, true));
            }
            let len = read_u64(input)?;
            Ok((Some(read_bytes(input, len, SNAPSHOT_BYTES_MAX)?), true))
        })
    }

    fn remove_snapshot(&mut self, _: Seq) -> Result<(), StoreError> {
        Err(self.refuse())
    }
}
