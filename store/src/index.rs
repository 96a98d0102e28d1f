//! Index files (`index/<yyyyMMddHHmmssSSS>`, UTC): a hash table from `topic#key` to
//! commitlog offsets, for lookup by KEYS tokens and UNIQ_KEY (STORAGE.md §4).
//!
//! Layout: a 40-byte header, `slots` i32 bucket heads, then 20-byte entries
//! `key_hash i32 | phys i64 | time_diff_s i32 | prev i32`, entry 0 unused. Only the dispatch
//! thread writes (under the file's write lock); queries take read locks.
//!
//! Invariants: `index_count` starts at 1 and only grows; a slot and every `prev` point at an
//! entry below `index_count` (or 0). Results may contain hash collisions and stale offsets
//! after a crash; the store re-checks each record's topic and keys before returning it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::error::OpenError;
use crate::fsutil::{now_ms, timestamp_name};
use crate::mmap::MappedFile;
use crate::record::{java_string_hash, java_string_hash_from, read_i32, read_i64};

/// Header size.
pub(crate) const INDEX_HEADER_SIZE: usize = 40;
/// Bytes per slot.
const SLOT_SIZE: usize = 4;
/// Bytes per entry.
const ENTRY_SIZE: usize = 20;
const _: () = assert!(ENTRY_SIZE == 4 + 8 + 4 + 4);

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct IndexHeader {
    begin_ts: i64,
    end_ts: i64,
    begin_phy: i64,
    end_phy: i64,
    slot_count: i32,
    index_count: i32,
}

impl IndexHeader {
    fn decode(b: &[u8]) -> IndexHeader {
        IndexHeader {
            begin_ts: read_i64(b, 0),
            end_ts: read_i64(b, 8),
            begin_phy: read_i64(b, 16),
            end_phy: read_i64(b, 24),
            slot_count: read_i32(b, 32),
            index_count: read_i32(b, 36),
        }
    }

    fn encode(&self) -> [u8; INDEX_HEADER_SIZE] {
        let mut b = [0u8; INDEX_HEADER_SIZE];
        b[0..8].copy_from_slice(&self.begin_ts.to_be_bytes());
        b[8..16].copy_from_slice(&self.end_ts.to_be_bytes());
        b[16..24].copy_from_slice(&self.begin_phy.to_be_bytes());
        b[24..32].copy_from_slice(&self.end_phy.to_be_bytes());
        b[32..36].copy_from_slice(&self.slot_count.to_be_bytes());
        b[36..40].copy_from_slice(&self.index_count.to_be_bytes());
        b
    }
}

/// One index file.
#[derive(Debug)]
struct IndexFile {
    file: MappedFile,
    slots: u32,
    max_entries: u32,
    header: IndexHeader,
    dirty: bool,
}

fn index_file_size(slots: u32, max_entries: u32) -> usize {
    INDEX_HEADER_SIZE + slots as usize * SLOT_SIZE + max_entries as usize * ENTRY_SIZE
}

/// `abs(javaHash(key))`, with `i32::MIN` mapped to 0.
fn key_hash(key: &str) -> i32 {
    java_string_hash(key).checked_abs().unwrap_or(0)
}

/// Java's hash of `topic#`, from which [`topic_key_hash`] continues for each key.
fn topic_prefix_hash(topic: &str) -> i32 {
    java_string_hash(topic).wrapping_mul(31).wrapping_add(i32::from(b'#'))
}

/// `key_hash` of `topic#key` given [`topic_prefix_hash`] of the topic, without building the
/// string: Java's hash is a left fold, so the key's part continues from the prefix's.
fn topic_key_hash(prefix: i32, key: &str) -> i32 {
    java_string_hash_from(prefix, key).checked_abs().unwrap_or(0)
}

impl IndexFile {
    fn create(path: &Path, slots: u32, max_entries: u32, seed: IndexHeader) -> io::Result<Self> {
        let size = index_file_size(slots, max_entries);
        let mut file = MappedFile::create(path, 0, size)?;
        file.set_published(size);
        let header = IndexHeader { index_count: 1, slot_count: 0, ..seed };
        let mut f = IndexFile { file, slots, max_entries, header, dirty: true };
        f.write_header();
        Ok(f)
    }

    fn open(path: &Path, slots: u32, max_entries: u32) -> io::Result<Self> {
        let size = index_file_size(slots, max_entries);
        let file = MappedFile::open(path, 0, size)?;
        let header = file.read(0, INDEX_HEADER_SIZE).map(IndexHeader::decode).unwrap_or_default();
        let mut f = IndexFile { file, slots, max_entries, header, dirty: false };
        let max = i32::try_from(max_entries).unwrap_or(i32::MAX);
        if f.header.index_count < 1 || f.header.index_count > max {
            log::warn!("index file {} has a bad header; resetting it", path.display());
            f.header.index_count = max;
        }
        Ok(f)
    }

    fn is_full(&self) -> bool {
        i64::from(self.header.index_count) >= i64::from(self.max_entries)
    }

    fn write_header(&mut self) {
        let bytes = self.header.encode();
        self.file.bytes_mut(0, INDEX_HEADER_SIZE).copy_from_slice(&bytes);
    }

    fn slot_pos(&self, hash: i32) -> usize {
        let slot = u32::try_from(hash).unwrap_or(0) % self.slots;
        INDEX_HEADER_SIZE + slot as usize * SLOT_SIZE
    }

    fn entry_pos(&self, n: i32) -> usize {
        INDEX_HEADER_SIZE
            + self.slots as usize * SLOT_SIZE
            + usize::try_from(n).unwrap_or(0) * ENTRY_SIZE
    }

    fn read_i32_at(&self, pos: usize) -> i32 {
        self.file.read(pos, 4).map_or(0, |b| read_i32(b, 0))
    }

    /// Adds an entry for a key whose `key_hash` is `hash`.
    fn put_hash(&mut self, hash: i32, phys: u64, store_ts: i64) -> bool {
        if self.is_full() {
            return false;
        }
        let slot_pos = self.slot_pos(hash);
        let count = self.header.index_count;
        let mut prev = self.read_i32_at(slot_pos);
        if prev <= 0 || prev > count {
            prev = 0;
        }
        let diff_s = if self.header.begin_ts <= 0 || count <= 1 {
            0
        } else {
            // Saturating: the header comes from disk and may be damaged.
            (store_ts.saturating_sub(self.header.begin_ts) / 1000).clamp(0, i64::from(i32::MAX))
        };
        let phys_i64 = i64::try_from(phys).unwrap_or(i64::MAX);
        let mut entry = [0u8; ENTRY_SIZE];
        entry[0..4].copy_from_slice(&hash.to_be_bytes());
        entry[4..12].copy_from_slice(&phys_i64.to_be_bytes());
        entry[12..16].copy_from_slice(&i32::try_from(diff_s).unwrap_or(i32::MAX).to_be_bytes());
        entry[16..20].copy_from_slice(&prev.to_be_bytes());
        let pos = self.entry_pos(count);
        assert!(pos + ENTRY_SIZE <= self.file.size(), "index entry past the file end");
        assert!(prev < count, "a bucket chain points backwards");
        self.file.bytes_mut(pos, ENTRY_SIZE).copy_from_slice(&entry);
        self.file.bytes_mut(slot_pos, SLOT_SIZE).copy_from_slice(&count.to_be_bytes());
        if count <= 1 {
            self.header.begin_phy = phys_i64;
            self.header.begin_ts = store_ts;
        }
        if prev == 0 {
            self.header.slot_count += 1;
        }
        self.header.index_count += 1;
        self.header.end_phy = phys_i64;
        self.header.end_ts = store_ts;
        self.write_header();
        self.dirty = true;
        true
    }

    /// Appends to `out` the offsets of entries for `key` stored within `[begin, end]`.
    fn query(&self, key: &str, max: usize, begin: i64, end: i64, out: &mut Vec<u64>) {
        let hash = key_hash(key);
        let count = self.header.index_count;
        let mut cur = self.read_i32_at(self.slot_pos(hash));
        let mut steps = 0;
        while cur > 0 && cur < count && out.len() < max && steps < count {
            steps += 1;
            let Some(e) = self.file.read(self.entry_pos(cur), ENTRY_SIZE) else { break };
            let (h, phys, diff, prev) =
                (read_i32(e, 0), read_i64(e, 4), read_i32(e, 12), read_i32(e, 16));
            let ts = self.header.begin_ts.saturating_add(i64::from(diff) * 1000);
            if ts < begin {
                break;
            }
            if h == hash && ts <= end {
                if let Ok(p) = u64::try_from(phys) {
                    out.push(p);
                }
            }
            if prev <= 0 || prev >= cur {
                break;
            }
            cur = prev;
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.dirty {
            self.file.flush_all()?;
            self.dirty = false;
        }
        Ok(())
    }
}

/// All index files, oldest first.
#[derive(Debug)]
pub(crate) struct IndexService {
    dir: PathBuf,
    slots: u32,
    max_entries: u32,
    files: RwLock<Vec<Arc<RwLock<IndexFile>>>>,
}

/// The keys of one message to index.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IndexKeys<'a> {
    pub topic: &'a str,
    pub keys: Option<&'a str>,
    pub uniq_key: Option<&'a str>,
}

impl IndexService {
    /// Loads the index files of `dir`. Files of the wrong size (a changed configuration) are
    /// ignored with a warning: the index is derived data.
    pub(crate) fn load(dir: PathBuf, slots: u32, max_entries: u32) -> Result<Self, OpenError> {
        fs::create_dir_all(&dir).map_err(|e| OpenError::io(&dir, e))?;
        let mut names: Vec<PathBuf> = fs::read_dir(&dir)
            .map_err(|e| OpenError::io(&dir, e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(is_index_name))
            .collect();
        names.sort();
        let mut files = Vec::new();
        for path in names {
            match IndexFile::open(&path, slots, max_entries) {
                Ok(f) => files.push(Arc::new(RwLock::new(f))),
                Err(e) => log::warn!("ignoring index file {}: {e}", path.display()),
            }
        }
        Ok(IndexService { dir, slots, max_entries, files: RwLock::new(files) })
    }

    /// Commitlog offset of the last indexed message.
    #[cfg(test)]
    pub(crate) fn end_phy(&self) -> u64 {
        let files = self.files.read();
        files.last().map_or(0, |f| u64::try_from(f.read().header.end_phy).unwrap_or(0))
    }

    /// After a crash: makes messages from `phys` on eligible for indexing again, so the
    /// re-dispatched range is indexed even if its entries did not survive (duplicates are
    /// removed at query time).
    pub(crate) fn lower_end_phy(&self, phys: u64) {
        if let Some(last) = self.files.read().last() {
            let mut f = last.write();
            let p = i64::try_from(phys).unwrap_or(i64::MAX);
            if f.header.end_phy > p {
                f.header.end_phy = p;
                f.write_header();
                f.dirty = true;
            }
        }
    }

    /// Indexes `topic#key` for each KEYS token and the UNIQ_KEY. Messages below the last
    /// indexed offset are skipped, so re-dispatch after recovery is idempotent.
    pub(crate) fn build(&self, k: IndexKeys<'_>, phys: u64, store_ts: i64) -> io::Result<()> {
        if k.keys.is_none() && k.uniq_key.is_none() {
            return Ok(());
        }
        let uniq = k.uniq_key.filter(|u| !u.is_empty());
        let keys = k.keys.unwrap_or("").split(' ').filter(|s| !s.is_empty());
        let prefix = topic_prefix_hash(k.topic);
        let mut hashes = uniq.into_iter().chain(keys).map(|key| topic_key_hash(prefix, key));
        let mut file = self.writable_file()?;
        let mut f = file.write();
        if phys < u64::try_from(f.header.end_phy).unwrap_or(0) {
            return Ok(());
        }
        // One lock for all of the message's keys; a full file hands over to a new one.
        let mut pending = hashes.next();
        while let Some(hash) = pending {
            if f.put_hash(hash, phys, store_ts) {
                pending = hashes.next();
                continue;
            }
            drop(f);
            file = self.writable_file()?;
            f = file.write();
            assert!(!f.is_full(), "a new index file is full");
        }
        Ok(())
    }

    /// The last file, or a new one if there is none or it is full.
    fn writable_file(&self) -> io::Result<Arc<RwLock<IndexFile>>> {
        if let Some(last) = self.files.read().last() {
            if !last.read().is_full() {
                return Ok(Arc::clone(last));
            }
        }
        let seed = self.files.read().last().map(|f| f.read().header).map(|h| IndexHeader {
            begin_ts: h.end_ts,
            end_ts: h.end_ts,
            begin_phy: h.end_phy,
            end_phy: h.end_phy,
            ..IndexHeader::default()
        });
        let mut ms = now_ms();
        let path = loop {
            let p = self.dir.join(timestamp_name(ms));
            if !p.exists() {
                break p;
            }
            ms += 1;
        };
        let f = IndexFile::create(&path, self.slots, self.max_entries, seed.unwrap_or_default())?;
        let f = Arc::new(RwLock::new(f));
        self.files.write().push(Arc::clone(&f));
        Ok(f)
    }

    /// Commitlog offsets indexed under `topic#key` within `[begin, end]`, newest first,
    /// at most `max`.
    pub(crate) fn query(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin: i64,
        end: i64,
    ) -> Vec<u64> {
        let full_key = format!("{topic}#{key}");
        let files: Vec<_> = self.files.read().iter().rev().cloned().collect();
        let mut out = Vec::new();
        for f in files {
            let f = f.read();
            let h = f.header;
            if h.index_count > 1 && h.begin_ts <= end && h.end_ts >= begin {
                f.query(&full_key, max, begin, end, &mut out);
            }
            if out.len() >= max || (h.begin_ts > 0 && h.begin_ts < begin) {
                break;
            }
        }
        out
    }

    /// Flushes files written since the last flush.
    pub(crate) fn flush(&self) -> io::Result<()> {
        let files: Vec<_> = self.files.read().clone();
        for f in files {
            f.write().flush()?;
        }
        Ok(())
    }

    /// Deletes files whose last entry lies below `cl_min` (never the last file).
    pub(crate) fn delete_expired(&self, cl_min: u64) -> usize {
        let mut deleted = 0;
        loop {
            let victim = {
                let mut files = self.files.write();
                let expired = files.len() > 1
                    && u64::try_from(files[0].read().header.end_phy).unwrap_or(0) < cl_min;
                if !expired {
                    break;
                }
                files.remove(0)
            };
            let path = victim.read().file.path().to_path_buf();
            if let Err(e) = fs::remove_file(&path) {
                log::warn!("failed to delete index file {}: {e}", path.display());
            }
            deleted += 1;
        }
        deleted
    }
}

fn is_index_name(name: &str) -> bool {
    name.len() == 17 && name.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys<'a>(topic: &'a str, keys: &'a str) -> IndexKeys<'a> {
        IndexKeys { topic, keys: Some(keys), uniq_key: None }
    }

    #[test]
    fn topic_key_hash_equals_the_hash_of_the_joined_key() {
        for (t, k) in [("T", "k1"), ("TopicTest", "C0A8-ÜÖ"), ("主题", "键"), ("", "")] {
            let hash = topic_key_hash(topic_prefix_hash(t), k);
            assert_eq!(hash, key_hash(&format!("{t}#{k}")), "{t}#{k}");
        }
    }

    #[test]
    fn put_query_rollover_reload() {
        let dir = tempfile::tempdir().unwrap();
        let svc = IndexService::load(dir.path().to_path_buf(), 7, 10).unwrap();
        for i in 0..30u64 {
            svc.build(keys("T", &format!("k{} common", i % 3)), i * 100, 1000 + i as i64).unwrap();
        }
        let hits = svc.query("T", "k1", 64, 0, i64::MAX);
        assert_eq!(hits.len(), 10, "{hits:?}");
        assert!(hits.iter().all(|p| (p / 100) % 3 == 1));
        assert_eq!(svc.query("T", "common", 5, 0, i64::MAX).len(), 5);
        assert!(svc.query("U", "k1", 64, 0, i64::MAX).is_empty());
        svc.flush().unwrap();
        assert_eq!(svc.end_phy(), 2900);
        drop(svc);
        let svc = IndexService::load(dir.path().to_path_buf(), 7, 10).unwrap();
        assert_eq!(svc.query("T", "k2", 64, 0, i64::MAX).len(), 10);
        assert_eq!(svc.delete_expired(1500), 3);
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    const SLOTS: u32 = 8;
    const ENTRIES: u32 = 16;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn headers_round_trip(h in any::<[i64; 4]>(), counts in any::<[i32; 2]>()) {
            let header = IndexHeader {
                begin_ts: h[0],
                end_ts: h[1],
                begin_phy: h[2],
                end_phy: h[3],
                slot_count: counts[0],
                index_count: counts[1],
            };
            prop_assert_eq!(IndexHeader::decode(&header.encode()), header);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// An index file of random bytes (a damaged file) can be opened, queried and written
        /// without panicking; queries return at most what was asked for.
        #[test]
        fn random_index_files_never_panic(
            mut bytes in prop::collection::vec(any::<u8>(), index_file_size(SLOTS, ENTRIES)),
            count in prop::option::of(1i32..ENTRIES as i32),
            keys in prop::collection::vec("[a-c]{1,2}", 1..4),
            ts: i64,
            phys in 0u64..(1 << 40),
        ) {
            if let Some(c) = count {
                // A plausible entry count, so that writes and chain walks get exercised.
                bytes[36..40].copy_from_slice(&c.to_be_bytes());
            }
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("20260101000000000");
            fs::write(&path, &bytes).unwrap();
            let mut f = IndexFile::open(&path, SLOTS, ENTRIES).unwrap();
            let mut out = Vec::new();
            for k in &keys {
                f.query(k, 3, i64::MIN, i64::MAX, &mut out);
                prop_assert!(out.len() <= 3);
                out.clear();
                let _ = f.put_hash(key_hash(k), phys, ts);
                f.query(k, 3, i64::MIN, i64::MAX, &mut out);
                out.clear();
            }
        }
    }
}
