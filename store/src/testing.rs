//! Test seams, compiled only for tests or with the `testing` feature: crashes that keep or
//! lose the page cache, fault injection and an explicit flush.
//!
//! * [`MessageStore::simulate_crash`] is a process kill: threads stop, nothing more is
//!   written, the page cache (every byte written so far) survives.
//! * [`MessageStore::simulate_power_loss`] is a power cut: in addition, every commitlog and
//!   consume-queue byte that was never flushed is lost (zeroed in the files), the worst case
//!   the kernel allows. Index files are left alone: they are flushed whole, carry no flushed
//!   mark, and queries re-check every record they point at.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::FileExt;

use crate::fault::Faults;
use crate::mmap::MappedFile;
use crate::offset::PhysOffset;
use crate::state::Phase;
use crate::store::MessageStore;

impl MessageStore {
    /// Stops every thread without flushing or writing the checkpoint and keeps the abort
    /// file, like a process kill (the page cache survives).
    /// Takes `&self` so a test can crash a store that writer threads share; later calls on
    /// it fail with `NotWritable`, and dropping it does nothing more.
    pub fn simulate_crash(&self) {
        self.stop_threads(Phase::Aborting);
        self.release_lock();
    }

    /// Like [`MessageStore::simulate_crash`], then drops every commitlog and consume-queue
    /// byte that was not flushed, like a power loss. Returns the durable commitlog end at
    /// the moment of the "power loss": at least everything below it survives.
    pub fn simulate_power_loss(&self) -> io::Result<PhysOffset> {
        self.stop_threads(Phase::Aborting);
        let s = self.shared();
        let flushed = s.commit_log.flushed_offset();
        for f in s.commit_log.files().snapshot() {
            lose_unflushed(&f)?;
        }
        for q in s.queues.all() {
            for f in q.files().snapshot() {
                lose_unflushed(&f)?;
            }
        }
        self.release_lock();
        Ok(PhysOffset(flushed))
    }

    /// The fault injector of this store.
    pub fn faults(&self) -> &Faults {
        &self.shared().faults
    }

    /// Flushes the commitlog now (as the flush thread would) and returns its durable end.
    pub fn flush_now(&self) -> io::Result<PhysOffset> {
        crate::flush::flush_commitlog(self.shared())?;
        Ok(PhysOffset(self.shared().commit_log.flushed_offset()))
    }
}

/// Zeroes `f` from its flushed mark to its end, through the file (no thread uses the
/// mapping any more).
fn lose_unflushed(f: &MappedFile) -> io::Result<()> {
    let from = f.flushed();
    if from >= f.size() {
        return Ok(());
    }
    let file = OpenOptions::new().write(true).open(f.path())?;
    let zeros = vec![0u8; f.size() - from];
    file.write_all_at(&zeros, from as u64)?;
    file.sync_data()
}
