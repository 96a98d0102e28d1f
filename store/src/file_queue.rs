//! `SegmentQueue`: an ordered list of fixed-size mapped files named by their 20-digit start
//! offset, shared by the commitlog and every consume queue.
//!
//! Invariants: files are contiguous (`files[i].end() == files[i + 1].start()`); only the last
//! file may be partly published; `flushed_where` never exceeds the published end and never
//! moves backwards. Files are removed only from the front (cleanup) and never the last one.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::error::OpenError;
use crate::fsutil::{list_segments, segment_name};
use crate::mmap::MappedFile;

/// An ordered queue of shared segment files.
#[derive(Debug)]
pub(crate) struct SegmentQueue {
    dir: PathBuf,
    file_size: usize,
    files: RwLock<Vec<Arc<MappedFile>>>,
    flushed_where: AtomicU64,
    flush_lock: Mutex<()>,
}

/// Loads the segment files of `dir` as owned files, fully published. The last file is
/// deleted if it is empty (length 0), as RocketMQ does. Any other size mismatch or a gap
/// between files is corruption.
pub(crate) fn load_owned(dir: &Path, file_size: usize) -> Result<Vec<MappedFile>, OpenError> {
    let mut listed = list_segments(dir).map_err(|e| OpenError::io(dir, e))?;
    if let Some((_, last)) = listed.last() {
        let len = fs::metadata(last).map_err(|e| OpenError::io(last, e))?.len();
        if len == 0 {
            fs::remove_file(last).map_err(|e| OpenError::io(last, e))?;
            listed.pop();
        }
    }
    let mut files: Vec<MappedFile> = Vec::with_capacity(listed.len());
    for (start, path) in listed {
        if let Some(prev) = files.last() {
            if prev.end() != start {
                return Err(OpenError::Corrupt {
                    path,
                    reason: format!("gap: previous file ends at {}", prev.end()),
                });
            }
        }
        if start % file_size as u64 != 0 {
            return Err(OpenError::Corrupt { path, reason: "misaligned start offset".into() });
        }
        let file = MappedFile::open(&path, start, file_size).map_err(|e| {
            if e.kind() == io::ErrorKind::InvalidData {
                OpenError::Corrupt { path: path.clone(), reason: e.to_string() }
            } else {
                OpenError::io(&path, e)
            }
        })?;
        files.push(file);
    }
    Ok(files)
}

impl SegmentQueue {
    /// A queue over already shared files; `flushed_where` starts at their published end.
    pub(crate) fn new(dir: PathBuf, file_size: usize, files: Vec<Arc<MappedFile>>) -> Self {
        let end = files.last().map_or(0, |f| f.start() + f.published() as u64);
        SegmentQueue {
            dir,
            file_size,
            files: RwLock::new(files),
            flushed_where: AtomicU64::new(end),
            flush_lock: Mutex::new(()),
        }
    }

    /// Makes an empty queue start at `offset` (its first file will start there): the
    /// flushed end moves there too, since nothing below it will ever exist.
    pub(crate) fn start_empty_at(&self, offset: u64) {
        assert!(self.files.read().is_empty(), "only an empty queue moves its start");
        self.flushed_where.store(offset, Ordering::Release);
    }

    /// Directory of the files.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Size of each file.
    pub(crate) fn file_size(&self) -> usize {
        self.file_size
    }

    /// Path of the file starting at `start`.
    pub(crate) fn path_for(&self, start: u64) -> PathBuf {
        self.dir.join(segment_name(start))
    }

    /// Creates (but does not add) a new owned file starting at `start`.
    pub(crate) fn create_file(&self, start: u64) -> io::Result<MappedFile> {
        fs::create_dir_all(&self.dir)?;
        MappedFile::create(&self.path_for(start), start, self.file_size)
    }

    /// The file containing `offset`, if any.
    pub(crate) fn find(&self, offset: u64) -> Option<Arc<MappedFile>> {
        let files = self.files.read();
        let first = files.first()?;
        if offset < first.start() {
            return None;
        }
        let idx = usize::try_from((offset - first.start()) / self.file_size as u64).ok()?;
        files.get(idx).cloned()
    }

    /// Every file, oldest first.
    #[cfg(any(test, feature = "testing"))]
    pub(crate) fn snapshot(&self) -> Vec<Arc<MappedFile>> {
        self.files.read().clone()
    }

    /// The first file.
    pub(crate) fn first(&self) -> Option<Arc<MappedFile>> {
        self.files.read().first().cloned()
    }

    /// The last file.
    pub(crate) fn last(&self) -> Option<Arc<MappedFile>> {
        self.files.read().last().cloned()
    }

    /// Start of the first file (0 when empty).
    pub(crate) fn min_offset(&self) -> u64 {
        self.first().map_or(0, |f| f.start())
    }

    /// End of the published bytes of the last file (0 when empty).
    pub(crate) fn max_offset(&self) -> u64 {
        self.last().map_or(0, |f| f.start() + f.published() as u64)
    }

    /// Appends a new file; it must start where the last one ends.
    pub(crate) fn push(&self, file: Arc<MappedFile>) {
        let mut files = self.files.write();
        if let Some(last) = files.last() {
            assert_eq!(last.end(), file.start(), "segment files must be contiguous");
        }
        files.push(file);
    }

    /// Durable end of the data.
    pub(crate) fn flushed_where(&self) -> u64 {
        self.flushed_where.load(Ordering::Acquire)
    }

    /// Flushes every published byte from `flushed_where` on. Returns the new flushed end.
    pub(crate) fn flush(&self) -> io::Result<u64> {
        let _guard = self.flush_lock.lock();
        loop {
            let from = self.flushed_where();
            let Some(file) = self.find(from) else { return Ok(from) };
            let published = file.flush()?;
            let reached = file.start() + published as u64;
            assert!(reached <= file.end(), "flushed past the end of a file");
            self.flushed_where.fetch_max(reached, Ordering::AcqRel);
            if published < file.size() {
                return Ok(self.flushed_where());
            }
        }
    }

    /// Removes and deletes front files while `may_delete(file)` holds, keeping at least the
    /// last file and deleting at most `max` files. Returns the deleted files' paths.
    pub(crate) fn delete_front_while(
        &self,
        max: usize,
        mut may_delete: impl FnMut(&MappedFile) -> bool,
    ) -> Vec<PathBuf> {
        let mut deleted = Vec::new();
        while deleted.len() < max {
            let victim = {
                let mut files = self.files.write();
                if files.len() <= 1 || !may_delete(&files[0]) {
                    break;
                }
                files.remove(0)
            };
            // Readers holding an Arc keep the mapping alive; unlinking is safe.
            if let Err(e) = fs::remove_file(victim.path()) {
                log::warn!("failed to delete {}: {e}", victim.path().display());
            }
            deleted.push(victim.path().to_path_buf());
        }
        assert!(deleted.len() <= max, "deleted more files than allowed");
        deleted
    }

    /// Removes every file and the directory (topic deletion).
    pub(crate) fn destroy(&self) {
        let files = std::mem::take(&mut *self.files.write());
        drop(files);
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            if e.kind() != io::ErrorKind::NotFound {
                log::warn!("failed to remove {}: {e}", self.dir.display());
            }
        }
    }
}
