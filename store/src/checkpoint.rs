//! The `checkpoint` file (4 KiB) and the `abort` marker.
//!
//! Layout (big-endian): 0 `physic_ts` (store time below which the commitlog is flushed),
//! 8 `logics_ts` (same for consume queues), 16 `index_ts` (same for index files), 24 and 32
//! reserved (RocketMQ's HA fields, written as 0), 40 `clean_cl_end` i64 and 48 the marker
//! `CLEAN_MARKER` u32: present only after a clean shutdown, cleared when the store opens.
//! Java RocketMQ ignores bytes past 40.
//!
//! The abort file exists while the store is open; its presence at start means the last run
//! did not shut down cleanly.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::fsutil::fsync_dir;
use crate::record::{read_i64, read_u32};

/// Size of the checkpoint file.
pub(crate) const CHECKPOINT_SIZE: usize = 4096;
/// Marks `clean_cl_end` as valid ("RSCE").
const CLEAN_MARKER: u32 = 0x5253_4345;

/// The values stored in the checkpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CheckpointData {
    pub physic_ts: i64,
    pub logics_ts: i64,
    pub index_ts: i64,
    /// Commitlog end written by a clean shutdown.
    pub clean_cl_end: Option<u64>,
}

impl CheckpointData {
    fn decode(b: &[u8]) -> CheckpointData {
        let marker = read_u32(b, 48);
        CheckpointData {
            physic_ts: read_i64(b, 0),
            logics_ts: read_i64(b, 8),
            index_ts: read_i64(b, 16),
            clean_cl_end: (marker == CLEAN_MARKER)
                .then(|| u64::try_from(read_i64(b, 40)).ok())
                .flatten(),
        }
    }

    fn encode(&self) -> [u8; CHECKPOINT_SIZE] {
        let mut b = [0u8; CHECKPOINT_SIZE];
        b[0..8].copy_from_slice(&self.physic_ts.to_be_bytes());
        b[8..16].copy_from_slice(&self.logics_ts.to_be_bytes());
        b[16..24].copy_from_slice(&self.index_ts.to_be_bytes());
        if let Some(end) = self.clean_cl_end.and_then(|e| i64::try_from(e).ok()) {
            b[40..48].copy_from_slice(&end.to_be_bytes());
            b[48..52].copy_from_slice(&CLEAN_MARKER.to_be_bytes());
        }
        b
    }

    /// Store time below which commitlog, consume queues (and index, if used) are durable,
    /// minus RocketMQ's 3 s safety margin.
    pub(crate) fn min_timestamp(&self, with_index: bool) -> i64 {
        let mut t = self.physic_ts.min(self.logics_ts);
        if with_index {
            t = t.min(self.index_ts);
        }
        t.saturating_sub(3000).max(0)
    }
}

/// The open checkpoint file.
#[derive(Debug)]
pub(crate) struct Checkpoint {
    file: File,
    pub data: CheckpointData,
}

impl Checkpoint {
    /// Opens or creates the checkpoint; a short or missing file reads as zeros.
    pub(crate) fn open(path: &Path) -> io::Result<Checkpoint> {
        let file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path)?;
        let mut buf = [0u8; CHECKPOINT_SIZE];
        let mut read = 0;
        while read < CHECKPOINT_SIZE {
            let n = file.read_at(&mut buf[read..], read as u64)?;
            if n == 0 {
                break;
            }
            read += n;
        }
        Ok(Checkpoint { file, data: CheckpointData::decode(&buf) })
    }

    /// Writes and fsyncs the current values.
    pub(crate) fn persist(&mut self) -> io::Result<()> {
        self.file.write_all_at(&self.data.encode(), 0)?;
        self.file.sync_data()
    }
}

/// Path of the abort marker.
pub(crate) fn abort_path(root: &Path) -> PathBuf {
    root.join("abort")
}

/// Creates the abort marker (content: our pid) and makes its creation durable.
pub(crate) fn create_abort_file(root: &Path) -> io::Result<()> {
    let path = abort_path(root);
    fs::write(&path, std::process::id().to_string())?;
    File::open(&path)?.sync_all()?;
    fsync_dir(root)
}

/// Removes the abort marker after a clean shutdown.
pub(crate) fn remove_abort_file(root: &Path) -> io::Result<()> {
    match fs::remove_file(abort_path(root)) {
        Ok(()) => fsync_dir(root),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("checkpoint");
        let mut c = Checkpoint::open(&p).unwrap();
        assert_eq!(c.data, CheckpointData::default());
        c.data = CheckpointData {
            physic_ts: 10_000,
            logics_ts: 9000,
            index_ts: 8000,
            clean_cl_end: Some(77),
        };
        c.persist().unwrap();
        let c2 = Checkpoint::open(&p).unwrap();
        assert_eq!(c2.data, c.data);
        assert_eq!(c2.data.min_timestamp(false), 6000);
        assert_eq!(c2.data.min_timestamp(true), 5000);
        assert_eq!(fs::metadata(&p).unwrap().len(), 4096);
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn random_checkpoints_decode(head in prop::collection::vec(any::<u8>(), 0..64)) {
            let mut b = [0u8; CHECKPOINT_SIZE];
            b[..head.len()].copy_from_slice(&head);
            let d = CheckpointData::decode(&b);
            prop_assert!(d.clean_cl_end.is_none_or(|e| i64::try_from(e).is_ok()));
            let _ = d.min_timestamp(true);
            let damaged = CheckpointData { physic_ts: i64::MIN, ..d };
            prop_assert_eq!(damaged.min_timestamp(false), 0);
        }

        #[test]
        fn checkpoints_round_trip(ts in any::<[i64; 3]>(), end in prop::option::of(0u64..=i64::MAX as u64)) {
            let d = CheckpointData { physic_ts: ts[0], logics_ts: ts[1], index_ts: ts[2], clean_cl_end: end };
            prop_assert_eq!(CheckpointData::decode(&d.encode()), d);
        }
    }
}
