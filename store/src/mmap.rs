//! The only module with `unsafe`: memory-mapped segment files (with `madvise` and
//! `posix_fadvise` to move their pages into and out of the page cache) plus three small libc
//! calls (`flock` for the store lock file, `statvfs` for disk usage, `localtime_r` for the
//! deletion hour).
//!
//! A [`MappedFile`] is one fixed-size file mapped shared and read-write. Its bytes are split
//! by `published`: bytes below it are immutable and may be read by any thread through
//! [`MappedFile::read`]; bytes at or above it belong to the single writer.
//!
//! Soundness rests on three rules that the types enforce:
//! * While the file is owned (`MappedFile` by value, during load and recovery) every mutation
//!   takes `&mut self`, so there are no readers.
//! * [`MappedFile::share`] consumes the file and returns exactly one [`Appender`]. Only the
//!   appender writes, only at `published..`, and it publishes with a `Release` store after the
//!   bytes are written. Readers load `published` with `Acquire` and never read past it.
//! * The published watermark never moves backwards once the file is shared.
//!
//! One assumption is outside the type system: no other process modifies the files while the
//! store runs. The store takes an exclusive `flock` on `<store>/lock` to keep other stores
//! out; anything else writing into the directory is unsupported.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use memmap2::MmapRaw;

/// Page size assumed for touching and zeroing pages.
pub(crate) const PAGE_SIZE: usize = 4096;

/// One fixed-size memory-mapped file, named by its start offset in its address space.
#[derive(Debug)]
pub(crate) struct MappedFile {
    path: PathBuf,
    start: u64,
    raw: MmapRaw,
    published: AtomicUsize,
    flushed: AtomicUsize,
}

/// The single writer of a shared [`MappedFile`].
#[derive(Debug)]
pub(crate) struct Appender {
    file: Arc<MappedFile>,
}

impl MappedFile {
    /// Creates a new zero-filled file of `size` bytes, reserves its blocks and maps it.
    /// Nothing is published.
    ///
    /// The blocks are reserved (`posix_fallocate`) before the file is mapped, so a write
    /// into the mapping never needs a block the file system may not have: a full disk is
    /// this call's error (`ENOSPC`, see [`is_no_space`]), never a `SIGBUS` in the writer.
    /// On any failure the half-made file is deleted.
    pub(crate) fn create(path: &Path, start: u64, size: usize) -> io::Result<MappedFile> {
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(path)?;
        let made = crate::fault::simulated_no_space(path)
            .and_then(|()| reserve(&file, 0, size))
            .and_then(|()| Self::map(path, &file, start, size, 0));
        if made.is_err() {
            drop(file);
            if let Err(e) = std::fs::remove_file(path) {
                log::warn!("failed to remove half-made {}: {e}", path.display());
            }
        }
        made
    }

    /// Reserves the blocks of the bytes from the published end to the end of the file, so
    /// that appends there cannot fault on a full disk. For files made before segments were
    /// reserved at creation (sparse); on a reserved file the call only walks its extents.
    pub(crate) fn reserve_unwritten(&self) -> io::Result<()> {
        let from = self.published();
        if from >= self.size() {
            return Ok(());
        }
        let file = OpenOptions::new().write(true).open(&self.path)?;
        crate::fault::simulated_no_space(&self.path)?;
        reserve(&file, from, self.size() - from)
    }

    /// Maps an existing file, which must be exactly `size` bytes. Everything is published
    /// (recovery then sets the real end with [`MappedFile::set_published`]).
    pub(crate) fn open(path: &Path, start: u64, size: usize) -> io::Result<MappedFile> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let len = file.metadata()?.len();
        if len != u64::try_from(size).map_err(io::Error::other)? {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{} is {len} bytes, expected {size}", path.display()),
            ));
        }
        Self::map(path, &file, start, size, size)
    }

    fn map(path: &Path, file: &File, start: u64, size: usize, pubd: usize) -> io::Result<Self> {
        let raw = MmapRaw::map_raw(file)?;
        assert_eq!(raw.len(), size, "mapping length differs from file length");
        Ok(MappedFile {
            path: path.to_path_buf(),
            start,
            raw,
            published: AtomicUsize::new(pubd),
            flushed: AtomicUsize::new(pubd),
        })
    }

    /// Path of the file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Start offset of the file in its address space.
    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    /// File size in bytes.
    pub(crate) fn size(&self) -> usize {
        self.raw.len()
    }

    /// End offset (exclusive) of the file in its address space.
    pub(crate) fn end(&self) -> u64 {
        self.start + self.raw.len() as u64
    }

    /// Bytes that are written and readable.
    pub(crate) fn published(&self) -> usize {
        self.published.load(Ordering::Acquire)
    }

    /// Bytes known to be durable.
    pub(crate) fn flushed(&self) -> usize {
        self.flushed.load(Ordering::Acquire)
    }

    /// The published bytes `[pos, pos + len)`, or `None` if any of them is not published.
    pub(crate) fn read(&self, pos: usize, len: usize) -> Option<&[u8]> {
        let end = pos.checked_add(len)?;
        if end > self.published() {
            return None;
        }
        // SAFETY: `end <= published <= raw.len()`, so the range is inside the mapping. Bytes
        // below `published` are never written again while the file is shared (module rules),
        // and the Acquire load above pairs with the writer's Release store, so the bytes are
        // fully written before we read them. The mapping lives as long as `self`.
        Some(unsafe { std::slice::from_raw_parts(self.raw.as_ptr().add(pos), len) })
    }

    /// The published bytes from `pos` to the published end (empty if `pos` is past it).
    pub(crate) fn read_from(&self, pos: usize) -> &[u8] {
        let pubd = self.published();
        if pos >= pubd {
            return &[];
        }
        self.read(pos, pubd - pos).unwrap_or(&[])
    }

    /// Mutable access to any bytes of an owned (unshared) file.
    pub(crate) fn bytes_mut(&mut self, pos: usize, len: usize) -> &mut [u8] {
        assert!(pos + len <= self.size(), "write outside the mapping");
        // SAFETY: the range is inside the mapping (asserted). `&mut self` proves there is no
        // other reference to this file: it is not shared, so no reader or appender exists.
        unsafe { std::slice::from_raw_parts_mut(self.raw.as_mut_ptr().add(pos), len) }
    }

    /// Sets the written end of an owned file (recovery). Also resets the flushed mark.
    pub(crate) fn set_published(&mut self, pos: usize) {
        assert!(pos <= self.size());
        self.published.store(pos, Ordering::Release);
        self.flushed.store(pos, Ordering::Release);
    }

    /// Zeroes every non-zero page from `pos` to the end, so that stale bytes left after a
    /// truncation can never be taken for live data by a later recovery.
    pub(crate) fn zero_from(&mut self, pos: usize) {
        let size = self.size();
        let mut at = pos;
        while at < size {
            let chunk_end = ((at / PAGE_SIZE) + 1) * PAGE_SIZE;
            let chunk = self.bytes_mut(at, chunk_end.min(size) - at);
            if chunk.iter().any(|&b| b != 0) {
                chunk.fill(0);
            }
            at = chunk_end;
        }
    }

    /// Faults the pages of `[pos, pos + len)` in for writing (`MADV_POPULATE_WRITE`, Linux
    /// 5.14) so that the appender does not page-fault there. No byte changes, so it is safe on
    /// a shared file while the appender writes. Returns false if the kernel refused (older
    /// kernels); the appender then faults the pages in itself.
    pub(crate) fn populate(&self, pos: usize, len: usize) -> bool {
        let (from, to) = page_range_outward(pos, len, self.size());
        if from >= to {
            return true;
        }
        populate_write(self.raw.as_ptr().wrapping_add(from), to - from)
    }

    /// Evicts the flushed bytes `[from, to)` from this mapping and from the page cache, so
    /// their pages go back to the kernel for reuse. Only whole pages below the flushed mark
    /// are dropped; the bytes stay in the file, and a later read faults them back in.
    /// Advisory: errors are logged at debug level and otherwise ignored.
    pub(crate) fn drop_cached(&self, from: usize, to: usize) {
        let from = from.next_multiple_of(PAGE_SIZE);
        let to = to.min(self.flushed()) / PAGE_SIZE * PAGE_SIZE;
        if from >= to {
            return;
        }
        // SAFETY: `[from, to)` is inside the mapping (`to <= flushed <= size`). For a shared
        // file mapping MADV_DONTNEED only unmaps the pages: the page cache keeps their bytes
        // (a dirty bit moves to the page), and any later access, including one through a
        // slice a reader holds right now, faults the same bytes back in from the file. So
        // no byte any reader can observe changes.
        let rc = unsafe {
            libc::madvise(
                self.raw.as_ptr().add(from).cast_mut().cast(),
                to - from,
                libc::MADV_DONTNEED,
            )
        };
        if rc != 0 {
            log::debug!(
                "madvise(DONTNEED) on {}: {}",
                self.path.display(),
                io::Error::last_os_error()
            );
            return;
        }
        if let Err(e) = fadvise_dontneed(&self.path, from, to - from) {
            log::debug!("fadvise(DONTNEED) on {}: {e}", self.path.display());
        }
    }

    /// Makes the published bytes durable (msync of the dirty range). Returns the new
    /// flushed position. Flushing never changes the bytes, so it is safe from any thread.
    pub(crate) fn flush(&self) -> io::Result<usize> {
        let target = self.published();
        let from = self.flushed();
        assert!(target <= self.size(), "published past the mapping");
        if target > from {
            self.raw.flush_range(from, target - from)?;
            self.flushed.fetch_max(target, Ordering::AcqRel);
        }
        Ok(target)
    }

    /// Flushes the whole mapping regardless of bookkeeping (used after recovery).
    pub(crate) fn flush_all(&self) -> io::Result<()> {
        self.raw.flush()
    }

    /// Turns an owned file into a shared one plus its only writer.
    pub(crate) fn share(self) -> (Arc<MappedFile>, Appender) {
        let file = Arc::new(self);
        (Arc::clone(&file), Appender { file })
    }
}

impl Appender {
    /// The file being written.
    pub(crate) fn file(&self) -> &Arc<MappedFile> {
        &self.file
    }

    /// Current write position inside the file.
    pub(crate) fn position(&self) -> usize {
        self.file.published.load(Ordering::Relaxed)
    }

    /// Bytes left in the file.
    pub(crate) fn remaining(&self) -> usize {
        self.file.size() - self.position()
    }

    /// Writes `bytes` at the current position and publishes them.
    pub(crate) fn append(&mut self, bytes: &[u8]) {
        let pos = self.position();
        assert!(bytes.len() <= self.file.size() - pos, "append past the end of the file");
        // SAFETY: `[pos, pos + len)` is inside the mapping (asserted). Readers only read
        // below `published == pos`, and this appender is the only writer (`share` creates
        // one and `&mut self` serialises its use), so nothing else accesses these bytes.
        // The source is a separate Rust slice, so the ranges do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.file.raw.as_mut_ptr().add(pos),
                bytes.len(),
            );
        }
        self.file.published.store(pos + bytes.len(), Ordering::Release);
    }

    /// Publishes the rest of the file without writing it (after an end-of-file trailer the
    /// remaining bytes are the file's original zeros).
    pub(crate) fn publish_to_end(&mut self) {
        assert!(self.position() <= self.file.size(), "appender past the end of its file");
        self.file.published.store(self.file.size(), Ordering::Release);
    }
}

/// Whether `e` says the file system (or the user's quota) has no room left.
pub(crate) fn is_no_space(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull
        || matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

/// Allocates the blocks of `[offset, offset + len)` of `file` (`posix_fallocate`), growing
/// the file to cover the range. File systems without fallocate (`EOPNOTSUPP`, `EINVAL`) get
/// the range written with zeros instead, which allocates it just as well.
fn reserve(file: &File, offset: usize, len: usize) -> io::Result<()> {
    let off = libc::off_t::try_from(offset).map_err(io::Error::other)?;
    let n = libc::off_t::try_from(len).map_err(io::Error::other)?;
    // SAFETY: plain syscall on a descriptor that is valid while `file` lives.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), off, n) };
    match rc {
        0 => Ok(()),
        libc::EOPNOTSUPP | libc::EINVAL => write_zeros(file, offset, len),
        rc => Err(io::Error::from_raw_os_error(rc)),
    }
}

/// Writes zeros over `[offset, offset + len)` of `file` (the fallback of [`reserve`]).
fn write_zeros(file: &File, offset: usize, len: usize) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    const CHUNK: usize = 1 << 20;
    let zeros = vec![0u8; CHUNK.min(len)];
    let mut at = offset;
    let end = offset + len;
    while at < end {
        let n = CHUNK.min(end - at);
        file.write_all_at(&zeros[..n], at as u64)?;
        at += n;
    }
    Ok(())
}

/// `[pos, pos + len)` widened to whole pages and clamped to `size`.
fn page_range_outward(pos: usize, len: usize, size: usize) -> (usize, usize) {
    let from = pos / PAGE_SIZE * PAGE_SIZE;
    let to = pos.saturating_add(len).next_multiple_of(PAGE_SIZE).min(size);
    (from, to)
}

/// `MADV_POPULATE_WRITE` over `len` bytes at the page-aligned `addr` of a live mapping.
fn populate_write(addr: *const u8, len: usize) -> bool {
    #[cfg(target_os = "linux")]
    {
        /// MADV_POPULATE_WRITE (Linux 5.14): faults every page in for writing in one call.
        const MADV_POPULATE_WRITE: libc::c_int = 23;
        // SAFETY: callers pass a page-aligned range inside one of our mappings. Populating
        // allocates and maps pages without changing their contents.
        unsafe { libc::madvise(addr.cast_mut().cast(), len, MADV_POPULATE_WRITE) == 0 }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (addr, len);
        false
    }
}

/// `posix_fadvise(POSIX_FADV_DONTNEED)` on a byte range of the file at `path`: the kernel
/// drops the range's clean, unmapped pages from the page cache.
fn fadvise_dontneed(path: &Path, offset: usize, len: usize) -> io::Result<()> {
    let file = File::open(path)?;
    let off = libc::off_t::try_from(offset).map_err(io::Error::other)?;
    let len = libc::off_t::try_from(len).map_err(io::Error::other)?;
    // SAFETY: plain syscall on a descriptor that is valid while `file` lives.
    let rc = unsafe { libc::posix_fadvise(file.as_raw_fd(), off, len, libc::POSIX_FADV_DONTNEED) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// Takes an exclusive, non-blocking `flock` on `file`. Fails with `WouldBlock` if another
/// process (or another open store in this process) holds it. Released when the file closes.
pub(crate) fn lock_exclusive(file: &File) -> io::Result<()> {
    // SAFETY: `flock` only reads the descriptor number, which is valid while `file` lives.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Percentage (0..=100) of the filesystem holding `path` that is used, as `df` reports it.
/// Honours a simulated disk (testing builds).
pub(crate) fn disk_used_percent(path: &Path) -> io::Result<u8> {
    if let Some(pct) = crate::fault::simulated_used_percent(path) {
        return Ok(pct);
    }
    statvfs_used_percent(path)
}

fn statvfs_used_percent(path: &Path) -> io::Result<u8> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: all-zero bytes are a valid `statvfs` (plain integers).
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is a valid NUL-terminated string and `st` a valid out-pointer, both
    // alive for the duration of the call.
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let total = u128::from(st.f_blocks);
    let free = u128::from(st.f_bfree);
    let avail = u128::from(st.f_bavail);
    let used = total.saturating_sub(free);
    let denom = used + avail;
    if denom == 0 {
        return Ok(0);
    }
    let pct = (used * 100).div_ceil(denom);
    Ok(u8::try_from(pct.min(100)).unwrap_or(100))
}

/// Hour of day (0..=23) in the local time zone of a Unix millisecond timestamp; UTC if the
/// conversion fails.
pub(crate) fn local_hour(ms: i64) -> u8 {
    let secs: libc::time_t = ms.div_euclid(1000);
    // SAFETY: all-zero bytes are a valid `tm` (integers and a null pointer).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call; `localtime_r` is the thread-safe variant
    // and writes only into `tm`.
    let res = unsafe { libc::localtime_r(&secs, &mut tm) };
    if res.is_null() {
        return crate::fsutil::hour_of_day(ms);
    }
    u8::try_from(tm.tm_hour).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::SimulatedDisk;

    #[test]
    fn append_publish_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let f = MappedFile::create(&path, 0, 8192).unwrap();
        let (shared, mut app) = f.share();
        assert!(shared.populate(0, 8192));
        assert!(shared.read(0, 1).is_none());
        app.append(b"hello");
        assert_eq!(shared.read(0, 5), Some(&b"hello"[..]));
        assert_eq!(shared.read_from(2), b"llo");
        assert_eq!(app.remaining(), 8192 - 5);
        shared.flush().unwrap();
        assert_eq!(shared.flushed(), 5);
        app.publish_to_end();
        assert_eq!(shared.published(), shared.size());
        drop(app);
        drop(shared);
        let mut reopened = MappedFile::open(&path, 0, 8192).unwrap();
        assert_eq!(reopened.read(0, 5), Some(&b"hello"[..]));
        reopened.zero_from(2);
        assert_eq!(reopened.read(0, 5), Some(&b"he\0\0\0"[..]));
        assert!(MappedFile::open(&path, 0, 4096).is_err());
    }

    /// Which pages of `f` are resident in the page cache, by `mincore`.
    fn resident_pages(f: &MappedFile) -> Vec<bool> {
        let mut vec = vec![0u8; f.size().div_ceil(PAGE_SIZE)];
        // SAFETY: the range is exactly the mapping and `vec` has one byte per page.
        let rc = unsafe {
            libc::mincore(f.raw.as_ptr().cast_mut().cast(), f.size(), vec.as_mut_ptr().cast())
        };
        assert_eq!(rc, 0, "mincore: {}", io::Error::last_os_error());
        vec.iter().map(|&b| b & 1 == 1).collect()
    }

    #[test]
    fn drop_cached_evicts_only_flushed_pages_and_keeps_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let f = MappedFile::create(&dir.path().join("f"), 0, 8 * PAGE_SIZE).unwrap();
        let (shared, mut app) = f.share();
        let data: Vec<u8> = (0..6 * PAGE_SIZE).map(|i| (i % 251) as u8).collect();
        app.append(&data[..4 * PAGE_SIZE]);
        shared.flush().unwrap();
        app.append(&data[4 * PAGE_SIZE..]);
        assert!(resident_pages(&shared)[..6].iter().all(|&r| r));
        // Asks for everything; only the four flushed pages may go.
        shared.drop_cached(0, shared.size());
        // tmpfs ignores fadvise: the data must still read back, eviction cannot be observed.
        let on_tmpfs = {
            // SAFETY: all-zero bytes are a valid `statfs`.
            let mut st: libc::statfs = unsafe { std::mem::zeroed() };
            let c = std::ffi::CString::new(dir.path().to_str().unwrap()).unwrap();
            // SAFETY: valid NUL-terminated path and out-pointer.
            assert_eq!(unsafe { libc::statfs(c.as_ptr(), &mut st) }, 0);
            st.f_type == libc::TMPFS_MAGIC
        };
        if !on_tmpfs {
            let resident = resident_pages(&shared);
            assert_eq!(resident[..6], [false, false, false, false, true, true], "flushed pages go");
        }
        assert_eq!(shared.read(0, data.len()), Some(&data[..]));
    }

    fn on_tmpfs(dir: &Path) -> bool {
        // SAFETY: all-zero bytes are a valid `statfs`.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        let c = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
        // SAFETY: valid NUL-terminated path and out-pointer.
        assert_eq!(unsafe { libc::statfs(c.as_ptr(), &mut st) }, 0);
        st.f_type == libc::TMPFS_MAGIC
    }

    /// Issue #23: segments were created sparse (`set_len`), so an append into an unbacked
    /// page on a full disk died by SIGBUS. `create` now reserves every block up front.
    #[test]
    fn create_reserves_every_block() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg");
        let size = 4 << 20;
        let f = MappedFile::create(&path, 0, size).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), size as u64);
        assert!(meta.blocks() * 512 >= size as u64, "{} blocks of 512 bytes", meta.blocks());
        assert_eq!(f.read_from(0).len(), 0, "nothing published");
        let (shared, mut app) = f.share();
        app.append(b"x");
        assert_eq!(shared.read(0, 1), Some(&b"x"[..]));
    }

    /// A create that cannot reserve its blocks fails with the error and leaves no file.
    #[test]
    fn failed_create_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        if !on_tmpfs(dir.path()) {
            // Past the file system's largest file: fallocate refuses (EFBIG) before it
            // allocates anything. (tmpfs would try to allocate it, so it is skipped there.)
            let path = dir.path().join("huge");
            let err = MappedFile::create(&path, 0, 1 << 62).unwrap_err();
            assert!(!path.exists(), "a failed create removes its file ({err})");
        }
        let full = SimulatedDisk { used_percent: 100, no_space: true };
        crate::fault::simulate_disk(dir.path(), Some(full));
        let path = dir.path().join("seg");
        let err = MappedFile::create(&path, 0, 8192).unwrap_err();
        assert!(is_no_space(&err), "{err}");
        assert!(!path.exists(), "a failed create removes its file");
        assert_eq!(disk_used_percent(dir.path()).unwrap(), 100);
        crate::fault::simulate_disk(dir.path(), None);
        assert!(MappedFile::create(&path, 0, 8192).is_ok());
    }

    /// Files made sparse by older versions get their unwritten part reserved at open.
    #[test]
    fn reserve_unwritten_fills_holes_after_the_published_end() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old");
        std::fs::File::create(&path).unwrap().set_len(1 << 20).unwrap();
        let mut f = MappedFile::open(&path, 0, 1 << 20).unwrap();
        f.set_published(4096);
        f.reserve_unwritten().unwrap();
        let blocks = std::fs::metadata(&path).unwrap().blocks();
        assert!(blocks * 512 >= (1 << 20) - 4096, "{blocks} blocks of 512 bytes");
    }

    #[test]
    fn disk_usage_is_a_percentage() {
        let pct = disk_used_percent(Path::new("/")).unwrap();
        assert!(pct <= 100);
    }
}
