//! A single-producer single-consumer ring of variable-length records in a
//! named shared-memory segment (a file under `/dev/shm`), plain Rust.
//!
//! The byte layout is shared with the pure-Python twin
//! (`python/binance_streamer/fallback/ring.py`) so either backend can sit on
//! either end of one segment; `docs/ring.md` is the reference for it.
//!
//! ```text
//! 0    meta line      magic, layout version, capacity, data offset, creator pid + start time
//! 128  head           next write position        (producer stores, Release)
//! 256  producer stats pushed, bytes pushed, full events, high-water mark
//! 384  tail           committed read position    (consumer stores, Release)
//! 512  consumer stats popped, bytes popped
//! 640  data           `capacity` bytes of frames
//! ```
//!
//! Positions are byte counts since creation that only grow; a position's
//! place in the data area is `position % capacity`. A frame is an 8-byte
//! prefix (`len | tag << 32`, the tag being the low 32 bits of
//! `position / 8`) and the payload padded to 8 bytes. A record that does not
//! fit before the end of the data area is preceded by a wrap marker
//! (`len == WRAP_LEN`) that tells the consumer to continue at offset 0.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// "BSRING01" read as a little-endian u64.
pub const MAGIC: u64 = u64::from_le_bytes(*b"BSRING01");
pub const LAYOUT_VERSION: u64 = 1;
/// Two 64-byte cache lines, so adjacent-line prefetching cannot couple the
/// producer's and the consumer's lines either.
pub const LINE: usize = 128;

pub const OFF_MAGIC: usize = 0;
pub const OFF_VERSION: usize = 8;
pub const OFF_CAPACITY: usize = 16;
pub const OFF_DATA: usize = 24;
pub const OFF_CREATOR_PID: usize = 32;
pub const OFF_CREATOR_START: usize = 40;
pub const OFF_HEAD: usize = LINE;
pub const OFF_PUSHED: usize = 2 * LINE;
pub const OFF_BYTES_PUSHED: usize = 2 * LINE + 8;
pub const OFF_FULL_EVENTS: usize = 2 * LINE + 16;
pub const OFF_HIGH_WATER: usize = 2 * LINE + 24;
pub const OFF_TAIL: usize = 3 * LINE;
pub const OFF_POPPED: usize = 4 * LINE;
pub const OFF_BYTES_POPPED: usize = 4 * LINE + 8;
pub const DATA_OFFSET: usize = 5 * LINE;

pub const PREFIX_LEN: u64 = 8;
/// Length field of a wrap marker; no record is this long (see [`max_record`]).
pub const WRAP_LEN: u64 = 0xFFFF_FFFF;
pub const MIN_CAPACITY: u64 = 4096;
/// Keeps every record length below 2^32 (the prefix's length field).
pub const MAX_CAPACITY: u64 = 1 << 32;
pub const MAX_NAME_LEN: usize = 200;

/// Names of segments created by this project start with this; stale-segment
/// cleanup looks only at `bstream-<pid>-...`.
pub const SEGMENT_PREFIX: &str = "bstream-";
/// Overrides the directory segments live in (default `/dev/shm`).
pub const SHM_DIR_ENV: &str = "BINANCE_STREAMER_SHM_DIR";

pub const DEFAULT_MAX_RECORDS: usize = 4096;
pub const DEFAULT_MAX_BYTES: u64 = 1 << 22;

/// How long [`Ring::wait`] spins by default before it starts sleeping, and
/// its sleeps.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(50);
const FIRST_SLEEP: Duration = Duration::from_micros(50);
const MAX_SLEEP: Duration = Duration::from_millis(1);

// ---------------------------------------------------------------------------
// index arithmetic (pure; shared rules with the Python twin)

/// Bytes a record of `len` payload bytes occupies in the data area.
pub const fn frame_len(len: u64) -> u64 {
    PREFIX_LEN + ((len + 7) & !7)
}

/// The largest record a ring of `capacity` accepts. Bounding a frame by half
/// the capacity guarantees that an empty ring accepts it wherever the head
/// is, wrap padding included, so a producer can never be stuck forever.
pub const fn max_record(capacity: u64) -> u64 {
    capacity / 2 - PREFIX_LEN
}

/// The prefix word of a frame (or wrap marker) starting at `pos`.
pub const fn prefix_word(len: u64, pos: u64) -> u64 {
    len | (((pos >> 3) & 0xFFFF_FFFF) << 32)
}

/// What the consumer finds at a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    Record(u64),
    Wrap,
}

/// Decode the prefix word read at `pos`; `None` if it is not a frame that
/// was written at `pos` (a second producer, or memory scribbled on).
pub fn parse_prefix(word: u64, pos: u64, capacity: u64) -> Option<Frame> {
    if word >> 32 != (pos >> 3) & 0xFFFF_FFFF {
        return None;
    }
    match word & 0xFFFF_FFFF {
        WRAP_LEN => Some(Frame::Wrap),
        len if len <= max_record(capacity) => Some(Frame::Record(len)),
        _ => None,
    }
}

/// Where the next frame goes when the head is at `head`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    /// Bytes left unused before the end of the data area (0: no wrap).
    pub skip: u64,
    /// Position of the frame itself.
    pub pos: u64,
    /// Head after the frame.
    pub end: u64,
}

pub const fn place(head: u64, capacity: u64, frame: u64) -> Placement {
    let room = capacity - head % capacity;
    let skip = if frame > room { room } else { 0 };
    Placement {
        skip,
        pos: head + skip,
        end: head + skip + frame,
    }
}

/// Whether a placement ending at `end` leaves the consumer's unread bytes
/// (from `tail`) intact.
pub const fn fits(end: u64, tail: u64, capacity: u64) -> bool {
    end - tail <= capacity
}

pub fn check_capacity(capacity: u64) -> Result<(), RingError> {
    if !(MIN_CAPACITY..=MAX_CAPACITY).contains(&capacity) || !capacity.is_multiple_of(8) {
        return Err(capacity_error(capacity));
    }
    Ok(())
}

/// The error for a capacity out of range (also for negative ones).
pub fn capacity_error(got: impl fmt::Display) -> RingError {
    RingError::Invalid(format!(
        "capacity_bytes must be a multiple of 8 between {MIN_CAPACITY} and {MAX_CAPACITY}, got {got}"
    ))
}

pub fn check_name(name: &str) -> Result<(), RingError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.chars().all(ok_char)
        && name.starts_with(|c: char| c.is_ascii_alphanumeric());
    if valid {
        Ok(())
    } else {
        Err(RingError::Invalid(format!(
            "ring name must be 1-{MAX_NAME_LEN} characters of [A-Za-z0-9._-] starting with a letter or digit, got {name:?}"
        )))
    }
}

/// Directory holding the segments: `$BINANCE_STREAMER_SHM_DIR`, else
/// `/dev/shm`, else `/tmp` (macOS has no `/dev/shm`; a file there is still
/// shared memory through the page cache).
pub fn shm_dir() -> PathBuf {
    match std::env::var_os(SHM_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ if Path::new("/dev/shm").is_dir() => PathBuf::from("/dev/shm"),
        _ => PathBuf::from("/tmp"),
    }
}

// ---------------------------------------------------------------------------
// errors

#[derive(Debug)]
pub enum RingError {
    /// The operating system refused (open, truncate, map, unlink).
    Io(String, io::Error),
    /// Something the caller passed or asked for is not valid.
    Invalid(String),
    /// The segment's contents break the ring's invariants.
    Corrupt(String),
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingError::Io(msg, _) | RingError::Invalid(msg) | RingError::Corrupt(msg) => {
                f.write_str(msg)
            }
        }
    }
}

impl std::error::Error for RingError {}

fn io_error(path: &Path, err: io::Error) -> RingError {
    let msg = match err.kind() {
        io::ErrorKind::AlreadyExists => format!("ring segment {} already exists", path.display()),
        io::ErrorKind::NotFound => format!("ring segment {} does not exist", path.display()),
        _ => format!("ring segment {}: {err}", path.display()),
    };
    RingError::Io(msg, err)
}

// ---------------------------------------------------------------------------
// the mapping

struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    fn map(file: &fs::File, len: usize) -> io::Result<Mapping> {
        // SAFETY: a fresh shared read-write mapping of an open file; the
        // kernel picks the address, and `len` is the file's size.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            ptr: ptr.cast(),
            len,
        })
    }

    /// The 8-byte word at byte offset `off` (a multiple of 8).
    fn word(&self, off: usize) -> &AtomicU64 {
        debug_assert!(off.is_multiple_of(8) && off + 8 <= self.len);
        // SAFETY: the mapping is page-aligned, `off` is 8-aligned and in
        // bounds, and every process touches these words only atomically.
        unsafe { &*self.ptr.add(off).cast::<AtomicU64>() }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` came from a successful mmap and nothing borrows
        // from the mapping once its owner is dropped.
        unsafe {
            libc::munmap(self.ptr.cast(), self.len);
        }
    }
}

// ---------------------------------------------------------------------------
// process identity (stale-segment cleanup)

/// The start time of `pid` in clock ticks since boot (field 22 of
/// `/proc/<pid>/stat`), which tells a dead owner from a reused pid.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

pub fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The owner pid encoded in a segment name `bstream-<pid>-...`.
pub fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(SEGMENT_PREFIX)?;
    let (digits, _) = rest.split_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Creator pid and start time from a segment's meta line, if it is a ring.
fn read_creator(path: &Path) -> Option<(u64, u64)> {
    use std::io::Read;
    let mut meta = [0u8; 48];
    fs::File::open(path).ok()?.read_exact(&mut meta).ok()?;
    let word = |off: usize| u64::from_le_bytes(meta[off..off + 8].try_into().unwrap());
    (word(OFF_MAGIC) == MAGIC).then(|| (word(OFF_CREATOR_PID), word(OFF_CREATOR_START)))
}

/// Whether the segment named `name` in `dir` belongs to a run that is gone:
/// its owner pid is dead, or alive but started at another time than the
/// segment's creator (the pid was reused).
pub fn is_stale(dir: &Path, name: &str) -> bool {
    let Some(pid) = owner_pid(name) else {
        return false;
    };
    if !pid_alive(pid) {
        return true;
    }
    match read_creator(&dir.join(name)) {
        Some((creator, start)) if creator == u64::from(pid) && start != 0 => {
            process_start_time(pid).is_some_and(|now| now != start)
        }
        _ => false,
    }
}

/// Remove the segments left by runs that were killed; returns their names,
/// sorted. Segments of live processes and foreign files are left alone.
pub fn cleanup_stale_segments() -> Result<Vec<String>, RingError> {
    let dir = shm_dir();
    let entries = fs::read_dir(&dir).map_err(|e| io_error(&dir, e))?;
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if is_stale(&dir, &name) {
            match fs::remove_file(entry.path()) {
                Ok(()) => removed.push(name),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&entry.path(), e)),
            }
        }
    }
    removed.sort();
    Ok(removed)
}

// ---------------------------------------------------------------------------
// the ring

/// Counters and fill level, readable from any attached process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    pub capacity: u64,
    pub head: u64,
    pub tail: u64,
    pub used_bytes: u64,
    pub high_water: u64,
    pub pushed: u64,
    pub popped: u64,
    pub full_events: u64,
    pub bytes_pushed: u64,
    pub bytes_popped: u64,
}

/// One process's handle on a ring segment. The same handle may push, pop
/// and read statistics, but a segment has one producer and one consumer at
/// a time: the protocol, not a lock, keeps them apart.
pub struct Ring {
    name: String,
    path: PathBuf,
    capacity: u64,
    map: Option<Mapping>,
    /// Producer's last view of the tail; stale is safe (less free space).
    cached_tail: u64,
    /// Consumer's position after the records peeked but not yet committed.
    cursor: u64,
    pending_records: u64,
    pending_bytes: u64,
    pending: bool,
}

// SAFETY: the mapping is process-wide memory, not tied to a thread; every
// shared word is accessed atomically and the data area by the SPSC protocol.
unsafe impl Send for Ring {}
// SAFETY: `&Ring` methods only read the mapping (atomic loads).
unsafe impl Sync for Ring {}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("name", &self.name)
            .field("capacity", &self.capacity)
            .field("closed", &self.map.is_none())
            .finish()
    }
}

impl Ring {
    /// Create the segment `name` with `capacity` data bytes; fails if it exists.
    pub fn create(name: &str, capacity: u64) -> Result<Ring, RingError> {
        check_name(name)?;
        check_capacity(capacity)?;
        let path = shm_dir().join(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        let total = DATA_OFFSET as u64 + capacity;
        let built = (|| {
            file.set_len(total)?;
            reserve(&file, total)?;
            Mapping::map(&file, total as usize)
        })();
        let map = match built {
            Ok(map) => map,
            Err(e) => {
                let _ = fs::remove_file(&path);
                return Err(io_error(&path, e));
            }
        };
        let pid = std::process::id();
        map.word(OFF_VERSION)
            .store(LAYOUT_VERSION, Ordering::Relaxed);
        map.word(OFF_CAPACITY).store(capacity, Ordering::Relaxed);
        map.word(OFF_DATA)
            .store(DATA_OFFSET as u64, Ordering::Relaxed);
        map.word(OFF_CREATOR_PID)
            .store(u64::from(pid), Ordering::Relaxed);
        map.word(OFF_CREATOR_START)
            .store(process_start_time(pid).unwrap_or(0), Ordering::Relaxed);
        // The magic goes last: an attacher that sees it sees the rest.
        map.word(OFF_MAGIC).store(MAGIC, Ordering::Release);
        Ok(Ring::new(name, path, capacity, map))
    }

    /// Attach to the existing segment `name`.
    pub fn attach(name: &str) -> Result<Ring, RingError> {
        check_name(name)?;
        let path = shm_dir().join(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        let size = file.metadata().map_err(|e| io_error(&path, e))?.len();
        let not_ring = |why: &str| {
            RingError::Invalid(format!(
                "{} is not a binance_streamer ring ({why})",
                path.display()
            ))
        };
        if size < DATA_OFFSET as u64 + MIN_CAPACITY {
            return Err(not_ring("too small"));
        }
        let map = Mapping::map(&file, size as usize).map_err(|e| io_error(&path, e))?;
        if map.word(OFF_MAGIC).load(Ordering::Acquire) != MAGIC {
            return Err(not_ring("bad magic, or still being created"));
        }
        let version = map.word(OFF_VERSION).load(Ordering::Relaxed);
        if version != LAYOUT_VERSION {
            return Err(not_ring(&format!(
                "layout version {version}, this build reads {LAYOUT_VERSION}"
            )));
        }
        let capacity = map.word(OFF_CAPACITY).load(Ordering::Relaxed);
        if map.word(OFF_DATA).load(Ordering::Relaxed) != DATA_OFFSET as u64
            || check_capacity(capacity).is_err()
            || DATA_OFFSET as u64 + capacity != size
        {
            return Err(not_ring("inconsistent header"));
        }
        Ok(Ring::new(name, path, capacity, map))
    }

    fn new(name: &str, path: PathBuf, capacity: u64, map: Mapping) -> Ring {
        let tail = map.word(OFF_TAIL).load(Ordering::Acquire);
        Ring {
            name: name.to_owned(),
            path,
            capacity,
            map: Some(map),
            cached_tail: tail,
            cursor: tail,
            pending_records: 0,
            pending_bytes: 0,
            pending: false,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    pub fn max_record(&self) -> u64 {
        max_record(self.capacity)
    }

    pub fn is_closed(&self) -> bool {
        self.map.is_none()
    }

    /// Unmap the segment (idempotent). The segment itself stays.
    pub fn close(&mut self) {
        self.map = None;
        self.pending = false;
    }

    /// Remove the segment's name (idempotent); attached handles keep working.
    pub fn unlink(&self) -> Result<(), RingError> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_error(&self.path, e)),
            _ => Ok(()),
        }
    }

    fn mapping(&self) -> Result<&Mapping, RingError> {
        self.map
            .as_ref()
            .ok_or_else(|| RingError::Invalid(format!("ring '{}' is closed", self.name)))
    }

    fn data(&self) -> *mut u8 {
        // Only called with the mapping open.
        let map = self.map.as_ref().expect("mapping open");
        // SAFETY: DATA_OFFSET is inside the mapping.
        unsafe { map.ptr.add(DATA_OFFSET) }
    }

    // -- producer -----------------------------------------------------------

    /// Start a batch of pushes that become visible together at
    /// [`PushBatch::publish`]; dropping the batch unpublished discards it.
    pub fn push_batch(&mut self) -> Result<PushBatch<'_>, RingError> {
        let head = self.mapping()?.word(OFF_HEAD).load(Ordering::Relaxed);
        Ok(PushBatch {
            ring: self,
            head,
            records: 0,
            bytes: 0,
            full: false,
        })
    }

    /// Push one record; `Ok(false)` when the ring has no room for it.
    pub fn try_push(&mut self, record: &[u8]) -> Result<bool, RingError> {
        let mut batch = self.push_batch()?;
        let pushed = batch.push(record)?;
        batch.publish();
        Ok(pushed)
    }

    // -- consumer -----------------------------------------------------------

    /// The position the next peek starts at.
    pub fn read_position(&self) -> Result<u64, RingError> {
        let map = self.mapping()?;
        Ok(if self.pending {
            self.cursor
        } else {
            map.word(OFF_TAIL).load(Ordering::Acquire)
        })
    }

    pub fn committed_position(&self) -> Result<u64, RingError> {
        Ok(self.mapping()?.word(OFF_TAIL).load(Ordering::Acquire))
    }

    /// Hand up to `max_records` records (and about `max_bytes` payload bytes,
    /// but always at least one record) after the read position to `each`,
    /// without freeing their space; [`Ring::commit`] frees it.
    pub fn peek(
        &mut self,
        max_records: usize,
        max_bytes: u64,
        mut each: impl FnMut(&[u8]),
    ) -> Result<usize, RingError> {
        let cap = self.capacity;
        let mut cursor = self.read_position()?;
        let map = self.mapping()?;
        let head = map.word(OFF_HEAD).load(Ordering::Acquire);
        let data = self.data();
        let (mut count, mut bytes) = (0usize, 0u64);
        while cursor != head && count < max_records {
            let off = cursor % cap;
            let word = map.word(DATA_OFFSET + off as usize).load(Ordering::Relaxed);
            let len = match parse_prefix(word, cursor, cap) {
                Some(Frame::Wrap) => {
                    cursor += cap - off;
                    continue;
                }
                Some(Frame::Record(len)) => len,
                None => return Err(self.corrupt(cursor, word)),
            };
            if count > 0 && bytes + len > max_bytes {
                break;
            }
            // SAFETY: the frame lies in the data area (the producer placed it
            // whole before the end) and the producer will not touch it until
            // the tail passes it, which only this consumer can do.
            let payload = unsafe {
                std::slice::from_raw_parts(data.add((off + PREFIX_LEN) as usize), len as usize)
            };
            each(payload);
            count += 1;
            bytes += len;
            cursor += frame_len(len);
        }
        if count > 0 {
            self.cursor = cursor;
            self.pending = true;
            self.pending_records += count as u64;
            self.pending_bytes += bytes;
        }
        Ok(count)
    }

    /// Free the space of every record peeked so far; returns how many.
    pub fn commit(&mut self) -> Result<u64, RingError> {
        let map = self.mapping()?;
        if !self.pending {
            return Ok(0);
        }
        map.word(OFF_TAIL).store(self.cursor, Ordering::Release);
        bump(map.word(OFF_POPPED), self.pending_records);
        bump(map.word(OFF_BYTES_POPPED), self.pending_bytes);
        let committed = self.pending_records;
        self.pending = false;
        self.pending_records = 0;
        self.pending_bytes = 0;
        Ok(committed)
    }

    /// Wait until a record after the read position is available; spins for
    /// `spin`, then sleeps with a growing pause (at most 1 ms) so an idle
    /// consumer costs almost no CPU. `true` if a record is available.
    pub fn wait(&self, timeout: Duration, spin: Duration) -> Result<bool, RingError> {
        let from = self.read_position()?;
        let head = self.mapping()?.word(OFF_HEAD);
        Ok(wait_for_change(head, from, timeout, spin))
    }

    // -- monitoring ---------------------------------------------------------

    pub fn stats(&self) -> Result<Stats, RingError> {
        let map = self.mapping()?;
        let load = |off| map.word(off).load(Ordering::Relaxed);
        // Tail first: the head read after it is at least as new, so
        // head >= tail and the difference is a real fill level.
        let tail = map.word(OFF_TAIL).load(Ordering::Acquire);
        let head = map.word(OFF_HEAD).load(Ordering::Acquire);
        Ok(Stats {
            capacity: self.capacity,
            head,
            tail,
            used_bytes: head.saturating_sub(tail),
            high_water: load(OFF_HIGH_WATER),
            pushed: load(OFF_PUSHED),
            popped: load(OFF_POPPED),
            full_events: load(OFF_FULL_EVENTS),
            bytes_pushed: load(OFF_BYTES_PUSHED),
            bytes_popped: load(OFF_BYTES_POPPED),
        })
    }

    fn corrupt(&self, pos: u64, word: u64) -> RingError {
        RingError::Corrupt(format!(
            "ring '{}' is corrupt at position {pos} (prefix {word:#018x}); was it written by two producers?",
            self.name
        ))
    }
}

/// Spin, then sleep with backoff, until `word` differs from `from`.
pub fn wait_for_change(word: &AtomicU64, from: u64, timeout: Duration, spin: Duration) -> bool {
    let start = Instant::now();
    let spin_until = spin.min(timeout);
    let mut spins = 0u32;
    loop {
        if word.load(Ordering::Acquire) != from {
            return true;
        }
        spins += 1;
        if spins.is_multiple_of(64) && start.elapsed() >= spin_until {
            break;
        }
        std::hint::spin_loop();
    }
    let mut pause = FIRST_SLEEP;
    loop {
        if word.load(Ordering::Acquire) != from {
            return true;
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return false;
        }
        std::thread::sleep(pause.min(timeout - elapsed));
        pause = (pause * 2).min(MAX_SLEEP);
    }
}

/// Add to a counter that only this side writes (no read-modify-write needed).
fn bump(word: &AtomicU64, by: u64) {
    word.store(word.load(Ordering::Relaxed) + by, Ordering::Relaxed);
}

/// Reserve the segment's pages now so a full `/dev/shm` fails here with a
/// clear error, not later with SIGBUS on a write into the mapping.
fn reserve(file: &fs::File, len: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain syscall on an open descriptor.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
        match rc {
            0 | libc::EOPNOTSUPP | libc::EINVAL => Ok(()),
            err => Err(io::Error::from_raw_os_error(err)),
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (file, len);
        Ok(())
    }
}

/// Pushes that become visible to the consumer together.
pub struct PushBatch<'r> {
    ring: &'r mut Ring,
    head: u64,
    records: u64,
    bytes: u64,
    full: bool,
}

impl PushBatch<'_> {
    /// Write `record` after the previous ones; `Ok(false)` (and no more
    /// pushes in this batch) when it does not fit.
    pub fn push(&mut self, record: &[u8]) -> Result<bool, RingError> {
        let ring = &mut *self.ring;
        let len = record.len() as u64;
        if len > ring.max_record() {
            return Err(RingError::Invalid(format!(
                "record of {len} bytes exceeds the maximum of {} for ring '{}' (capacity / 2 - 8)",
                ring.max_record(),
                ring.name
            )));
        }
        if self.full {
            return Ok(false);
        }
        let cap = ring.capacity;
        let at = place(self.head, cap, frame_len(len));
        if !fits(at.end, ring.cached_tail, cap) {
            ring.cached_tail = ring.mapping()?.word(OFF_TAIL).load(Ordering::Acquire);
            if !fits(at.end, ring.cached_tail, cap) {
                self.full = true;
                return Ok(false);
            }
        }
        let map = ring.mapping()?;
        if at.skip > 0 {
            let off = (self.head % cap) as usize;
            map.word(DATA_OFFSET + off)
                .store(prefix_word(WRAP_LEN, self.head), Ordering::Relaxed);
        }
        let off = (at.pos % cap) as usize;
        // SAFETY: `fits` proved these bytes are free (the consumer is done
        // with them) and `place` keeps the frame inside the data area.
        unsafe {
            std::ptr::copy_nonoverlapping(
                record.as_ptr(),
                ring.data().add(off + PREFIX_LEN as usize),
                record.len(),
            );
        }
        map.word(DATA_OFFSET + off)
            .store(prefix_word(len, at.pos), Ordering::Relaxed);
        self.head = at.end;
        self.records += 1;
        self.bytes += len;
        Ok(true)
    }

    /// Make the batch visible (one Release store of the head); returns how
    /// many records it held.
    pub fn publish(self) -> u64 {
        let ring = self.ring;
        // A batch exists only while its ring is open (it borrows the ring).
        let Some(map) = ring.map.as_ref() else {
            return 0;
        };
        if self.records > 0 {
            map.word(OFF_HEAD).store(self.head, Ordering::Release);
            bump(map.word(OFF_PUSHED), self.records);
            bump(map.word(OFF_BYTES_PUSHED), self.bytes);
            // The high-water mark is exact: re-read the tail only when the
            // stale view says it might rise.
            let high = map.word(OFF_HIGH_WATER);
            let mark = high.load(Ordering::Relaxed);
            if self.head - ring.cached_tail > mark {
                ring.cached_tail = map.word(OFF_TAIL).load(Ordering::Acquire);
                let used = self.head - ring.cached_tail;
                if used > mark {
                    high.store(used, Ordering::Relaxed);
                }
            }
        }
        if self.full {
            bump(map.word(OFF_FULL_EVENTS), 1);
        }
        self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::sync::atomic::AtomicUsize;

    /// A uniquely named segment, unlinked when the test ends (even on panic).
    struct Segment(String);

    impl Segment {
        fn new(tag: &str) -> Segment {
            static N: AtomicUsize = AtomicUsize::new(0);
            let n = N.fetch_add(1, Ordering::Relaxed);
            Segment(format!("rstest-{}-{tag}-{n}", std::process::id()))
        }
    }

    impl Drop for Segment {
        fn drop(&mut self) {
            let _ = fs::remove_file(shm_dir().join(&self.0));
        }
    }

    /// xorshift64*: deterministic, dependency-free randomness for the tests.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn record(seq: u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (seq.wrapping_mul(31).wrapping_add(i as u64 * 7) % 251) as u8)
            .collect()
    }

    fn pop_all(ring: &mut Ring, max_records: usize, max_bytes: u64) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        ring.peek(max_records, max_bytes, |r| out.push(r.to_vec()))
            .unwrap();
        ring.commit().unwrap();
        out
    }

    #[test]
    fn frame_lengths_pad_to_eight() {
        assert_eq!(frame_len(0), 8);
        assert_eq!(frame_len(1), 16);
        assert_eq!(frame_len(8), 16);
        assert_eq!(frame_len(9), 24);
        assert_eq!(max_record(4096), 2040);
        assert!(frame_len(max_record(4096)) <= 4096 / 2);
    }

    #[test]
    fn prefix_round_trips_and_rejects_foreign_words() {
        let pos = 8 * 0x1_2345_6789; // tag keeps only the low 32 bits of pos / 8
        let word = prefix_word(200, pos);
        assert_eq!(parse_prefix(word, pos, 4096), Some(Frame::Record(200)));
        assert_eq!(
            parse_prefix(prefix_word(WRAP_LEN, pos), pos, 4096),
            Some(Frame::Wrap)
        );
        assert_eq!(parse_prefix(word, pos + 8, 4096), None);
        assert_eq!(parse_prefix(prefix_word(2041, pos), pos, 4096), None);
        assert_eq!(parse_prefix(0, 8, 4096), None);
    }

    #[test]
    fn placement_wraps_only_when_the_frame_does_not_fit_before_the_end() {
        let cap = 4096;
        assert_eq!(
            place(0, cap, 64),
            Placement {
                skip: 0,
                pos: 0,
                end: 64
            }
        );
        // Exactly fills the rest of the data area: no wrap marker.
        assert_eq!(
            place(cap - 64, cap, 64),
            Placement {
                skip: 0,
                pos: cap - 64,
                end: cap
            }
        );
        // Eight bytes short: skip to the start of the next lap.
        assert_eq!(
            place(3 * cap - 56, cap, 64),
            Placement {
                skip: 56,
                pos: 3 * cap,
                end: 3 * cap + 64
            }
        );
        assert!(fits(cap, 0, cap));
        assert!(!fits(cap + 8, 0, cap));
    }

    #[test]
    fn an_empty_ring_accepts_the_largest_record_at_every_head() {
        for cap in [4096u64, 4104, 65536 + 24] {
            let frame = frame_len(max_record(cap));
            for lap in [0u64, 7] {
                for off in (0..cap).step_by(8) {
                    let head = lap * cap + off;
                    let at = place(head, cap, frame);
                    assert!(fits(at.end, head, cap), "cap {cap} head {head}");
                    assert!(at.pos % cap + frame <= cap, "frame crosses the end");
                }
            }
        }
    }

    #[test]
    fn names_and_capacities_are_validated() {
        for bad in ["", "a/b", "-x", ".hidden", "a b", &"x".repeat(201)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        check_name("bstream-1-w0.writer_ring").unwrap();
        for bad in [0, 4095, 4100, MAX_CAPACITY + 8] {
            assert!(check_capacity(bad).is_err(), "{bad}");
        }
        check_capacity(4096).unwrap();
        check_capacity(4104).unwrap();
    }

    #[test]
    fn owner_pid_parses_only_project_names() {
        assert_eq!(owner_pid("bstream-1234-w0"), Some(1234));
        assert_eq!(owner_pid("bstream-1234"), None);
        assert_eq!(owner_pid("bstream-12a-w0"), None);
        assert_eq!(owner_pid("bstream--w0"), None);
        assert_eq!(owner_pid("other-1234-w0"), None);
    }

    #[test]
    fn create_attach_and_their_errors() {
        let seg = Segment::new("errors");
        let mut ring = Ring::create(&seg.0, 4096).unwrap();
        assert!(matches!(
            Ring::create(&seg.0, 4096),
            Err(RingError::Io(_, e)) if e.kind() == io::ErrorKind::AlreadyExists
        ));
        let other = Ring::attach(&seg.0).unwrap();
        assert_eq!(other.capacity(), 4096);
        assert!(ring.try_push(b"hello").unwrap());
        ring.close();
        ring.close();
        assert!(matches!(ring.try_push(b"x"), Err(RingError::Invalid(_))));
        assert!(matches!(ring.stats(), Err(RingError::Invalid(_))));
        ring.unlink().unwrap();
        ring.unlink().unwrap();
        // The other handle keeps its mapping after the name is gone.
        assert_eq!(other.stats().unwrap().pushed, 1);
        assert!(matches!(
            Ring::attach(&seg.0),
            Err(RingError::Io(_, e)) if e.kind() == io::ErrorKind::NotFound
        ));

        let junk = Segment::new("junk");
        fs::write(shm_dir().join(&junk.0), vec![7u8; DATA_OFFSET + 4096]).unwrap();
        let err = Ring::attach(&junk.0).unwrap_err();
        assert!(err.to_string().contains("bad magic"), "{err}");
    }

    #[test]
    fn oversized_records_are_refused_with_a_clear_error() {
        let seg = Segment::new("big");
        let mut ring = Ring::create(&seg.0, 4096).unwrap();
        ring.try_push(&[0; 2040]).unwrap();
        let err = ring.try_push(&[0; 2041]).unwrap_err();
        assert!(
            err.to_string().contains("exceeds the maximum of 2040"),
            "{err}"
        );
        ring.unlink().unwrap();
    }

    #[test]
    fn full_ring_refuses_then_accepts_after_commit() {
        let seg = Segment::new("full");
        let mut ring = Ring::create(&seg.0, 4096).unwrap();
        let rec = [1u8; 248]; // frame 256: 16 frames fill the ring exactly
        for _ in 0..16 {
            assert!(ring.try_push(&rec).unwrap());
        }
        assert!(!ring.try_push(&rec).unwrap());
        let stats = ring.stats().unwrap();
        assert_eq!(
            (stats.used_bytes, stats.high_water, stats.full_events),
            (4096, 4096, 1)
        );
        assert_eq!(pop_all(&mut ring, 1, DEFAULT_MAX_BYTES).len(), 1);
        assert!(ring.try_push(&rec).unwrap());
        assert!(!ring.try_push(&[0]).unwrap());
        ring.unlink().unwrap();
    }

    #[test]
    fn batches_publish_together_and_stop_at_the_first_misfit() {
        let seg = Segment::new("batch");
        let mut producer = Ring::create(&seg.0, 4096).unwrap();
        let mut consumer = Ring::attach(&seg.0).unwrap();
        let mut batch = producer.push_batch().unwrap();
        assert!(batch.push(b"one").unwrap());
        assert!(batch.push(b"two").unwrap());
        assert_eq!(consumer.peek(10, 100, |_| ()).unwrap(), 0);
        assert_eq!(batch.publish(), 2);
        assert_eq!(
            pop_all(&mut consumer, 10, 100),
            vec![b"one".to_vec(), b"two".to_vec()]
        );

        // Dropped unpublished: nothing becomes visible.
        {
            let mut batch = producer.push_batch().unwrap();
            assert!(batch.push(b"lost").unwrap());
        }
        assert_eq!(consumer.peek(10, 100, |_| ()).unwrap(), 0);

        let mut batch = producer.push_batch().unwrap();
        let mut pushed = 0;
        for i in 0..40u64 {
            if !batch.push(&record(i, 200)).unwrap() {
                break;
            }
            pushed += 1;
        }
        assert!(!batch.push(b"").unwrap(), "a full batch stays full");
        assert_eq!(batch.publish(), pushed);
        assert_eq!(pushed, 4096 / 208);
        assert_eq!(producer.stats().unwrap().full_events, 1);
        producer.unlink().unwrap();
    }

    #[test]
    fn peek_limits_and_commit_semantics() {
        let seg = Segment::new("peek");
        let mut ring = Ring::create(&seg.0, 8192).unwrap();
        for i in 0..10u64 {
            assert!(ring.try_push(&record(i, 100)).unwrap());
        }
        let mut got = Vec::new();
        // max_bytes 250 allows two 100-byte records, not three.
        assert_eq!(ring.peek(10, 250, |r| got.push(r.to_vec())).unwrap(), 2);
        // A record larger than max_bytes still comes out alone.
        assert_eq!(ring.peek(10, 1, |r| got.push(r.to_vec())).unwrap(), 1);
        assert_eq!(ring.committed_position().unwrap(), 0);
        assert_eq!(ring.read_position().unwrap(), 3 * frame_len(100));
        // A new handle (a restarted consumer) starts at the committed tail.
        let mut restarted = Ring::attach(&seg.0).unwrap();
        assert_eq!(pop_all(&mut restarted, 1, u64::MAX), vec![record(0, 100)]);
        assert_eq!(ring.commit().unwrap(), 3);
        assert_eq!(ring.commit().unwrap(), 0);
        assert_eq!(got, (0..3).map(|i| record(i, 100)).collect::<Vec<_>>());
        let stats = ring.stats().unwrap();
        assert_eq!((stats.popped, stats.bytes_popped), (4, 400));
        ring.unlink().unwrap();
    }

    #[test]
    fn wait_reports_data_and_times_out() {
        let seg = Segment::new("wait");
        let mut ring = Ring::create(&seg.0, 4096).unwrap();
        let t = Instant::now();
        assert!(!ring.wait(Duration::from_millis(20), DEFAULT_SPIN).unwrap());
        assert!(t.elapsed() >= Duration::from_millis(20));
        assert!(!ring.wait(Duration::ZERO, DEFAULT_SPIN).unwrap());
        ring.try_push(b"x").unwrap();
        assert!(ring.wait(Duration::ZERO, DEFAULT_SPIN).unwrap());
        ring.peek(1, 1, |_| ()).unwrap();
        assert!(
            !ring.wait(Duration::ZERO, DEFAULT_SPIN).unwrap(),
            "peeked records do not count"
        );
        ring.unlink().unwrap();
    }

    /// Random pushes, batches, peeks, commits and consumer restarts against
    /// a queue model; the ring must hand back exactly the model's records.
    #[test]
    fn model_random_operations() {
        for seed in 1..=20u64 {
            let seg = Segment::new("model");
            let cap = 4096 + 8 * (seed % 5);
            let mut producer = Ring::create(&seg.0, cap).unwrap();
            let mut consumer = Ring::attach(&seg.0).unwrap();
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            let mut committed: VecDeque<Vec<u8>> = VecDeque::new(); // not yet committed
            let mut peeked = 0usize; // of those, how many the consumer already saw
            let (mut seq, mut full_events, mut popped) = (0u64, 0u64, 0u64);
            let used = |q: &VecDeque<Vec<u8>>| -> u64 {
                q.iter().map(|r| frame_len(r.len() as u64)).sum()
            };
            for _ in 0..3000 {
                match rng.below(10) {
                    0..=3 => {
                        let len = rng.below(max_record(cap) + 1) as usize;
                        let rec = record(seq, len);
                        let ok = producer.try_push(&rec).unwrap();
                        // Frames alone (no wrap padding) fitting is necessary.
                        if !ok {
                            full_events += 1;
                            assert!(used(&committed) + frame_len(len as u64) > cap / 2);
                        } else {
                            committed.push_back(rec);
                            seq += 1;
                        }
                    }
                    4 => {
                        let mut batch = producer.push_batch().unwrap();
                        let mut full = false;
                        for _ in 0..rng.below(8) {
                            let rec = record(seq, rng.below(300) as usize);
                            if !batch.push(&rec).unwrap() {
                                full = true;
                                break;
                            }
                            committed.push_back(rec);
                            seq += 1;
                        }
                        batch.publish();
                        full_events += u64::from(full);
                    }
                    5..=7 => {
                        let max_records = 1 + rng.below(6) as usize;
                        let max_bytes = 1 + rng.below(2000);
                        let mut got = Vec::new();
                        consumer
                            .peek(max_records, max_bytes, |r| got.push(r.to_vec()))
                            .unwrap();
                        let avail = committed.len() - peeked;
                        assert!(got.len() <= max_records);
                        assert_eq!(got.is_empty(), avail == 0);
                        for (i, rec) in got.iter().enumerate() {
                            assert_eq!(rec, &committed[peeked + i]);
                        }
                        let total: u64 = got.iter().map(|r| r.len() as u64).sum();
                        assert!(got.len() <= 1 || total <= max_bytes);
                        peeked += got.len();
                    }
                    8 => {
                        assert_eq!(consumer.commit().unwrap(), peeked as u64);
                        popped += peeked as u64;
                        committed.drain(..peeked);
                        peeked = 0;
                    }
                    _ => {
                        // The consumer dies before committing and comes back.
                        consumer = Ring::attach(&seg.0).unwrap();
                        peeked = 0;
                    }
                }
                let stats = producer.stats().unwrap();
                assert_eq!(stats.pushed, seq);
                assert_eq!(stats.popped, popped);
                assert_eq!(stats.full_events, full_events);
                assert!(stats.used_bytes <= cap);
                assert!(stats.used_bytes >= used(&committed));
                assert!(stats.high_water >= stats.used_bytes);
            }
            assert!(
                producer.stats().unwrap().head > 10 * cap,
                "seed {seed} wraps"
            );
            producer.unlink().unwrap();
        }
    }

    /// A producer thread and a consumer thread on one segment through two
    /// mappings, as two processes would be.
    #[test]
    fn threads_through_two_mappings() {
        let seg = Segment::new("threads");
        let cap = 1 << 16;
        let mut producer = Ring::create(&seg.0, cap).unwrap();
        let mut consumer = Ring::attach(&seg.0).unwrap();
        let n = 200_000u64;
        let len_of = |seq: u64| (Rng(seq.wrapping_mul(0x9E37_79B9) | 1).next() % 600) as usize;
        let writer = std::thread::spawn(move || {
            let mut seq = 0;
            while seq < n {
                if producer.try_push(&record(seq, len_of(seq))).unwrap() {
                    seq += 1;
                } else {
                    std::thread::yield_now();
                }
            }
            producer
        });
        let mut seq = 0;
        while seq < n {
            assert!(
                consumer.wait(Duration::from_secs(5), DEFAULT_SPIN).unwrap(),
                "producer stalled at {seq}"
            );
            consumer
                .peek(64, DEFAULT_MAX_BYTES, |r| {
                    assert_eq!(r, record(seq, len_of(seq)), "seq {seq}");
                    seq += 1;
                })
                .unwrap();
            consumer.commit().unwrap();
        }
        let producer = writer.join().unwrap();
        let stats = producer.stats().unwrap();
        assert_eq!((stats.pushed, stats.popped, stats.used_bytes), (n, n, 0));
        producer.unlink().unwrap();
    }

    #[test]
    fn stale_segments_are_those_of_dead_or_reused_pids() {
        let dir = shm_dir();
        // No process can have this pid (above any pid_max).
        let dead = format!("{SEGMENT_PREFIX}{}-rstest", i32::MAX);
        let _dead_guard = Segment(dead.clone());
        Ring::create(&dead, 4096).unwrap();
        let me = std::process::id();
        let live = format!("{SEGMENT_PREFIX}{me}-rstest-live");
        let _live_guard = Segment(live.clone());
        Ring::create(&live, 4096).unwrap();
        let reused = format!("{SEGMENT_PREFIX}{me}-rstest-reused");
        let _reused_guard = Segment(reused.clone());
        let ring = Ring::create(&reused, 4096).unwrap();
        if process_start_time(me).is_some() {
            // Pretend an earlier process with our pid created it.
            ring.mapping()
                .unwrap()
                .word(OFF_CREATOR_START)
                .store(1, Ordering::Relaxed);
        }
        assert!(is_stale(&dir, &dead));
        assert!(!is_stale(&dir, &live));
        assert_eq!(is_stale(&dir, &reused), process_start_time(me).is_some());
        assert!(!is_stale(&dir, "rstest-unrelated"));
        let removed = cleanup_stale_segments().unwrap();
        assert!(removed.contains(&dead));
        assert!(!removed.contains(&live));
        assert!(!dir.join(&dead).exists());
        assert!(dir.join(&live).exists());
    }
}
