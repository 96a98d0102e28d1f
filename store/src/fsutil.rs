//! Small filesystem helpers: segment file names, directory fsync, atomic file replacement,
//! and time formatting for index file names.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// The 20-digit zero-padded name of a segment starting at `offset`.
pub(crate) fn segment_name(offset: u64) -> String {
    format!("{offset:020}")
}

/// Parses a 20-digit segment name.
pub(crate) fn parse_segment_name(name: &str) -> Option<u64> {
    if name.len() == 20 && name.bytes().all(|b| b.is_ascii_digit()) {
        name.parse().ok()
    } else {
        None
    }
}

/// Lists `(start offset, path)` of the segment files in `dir`, sorted by offset. Other
/// entries (temporary files, subdirectories) are ignored. A missing directory is empty.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(start) = name.to_str().and_then(parse_segment_name) {
            if entry.file_type()?.is_file() {
                out.push((start, entry.path()));
            }
        }
    }
    out.sort_unstable_by_key(|(start, _)| *start);
    Ok(out)
}

/// Fsyncs a directory so that creations, renames and deletions in it are durable.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces `path` with `bytes` atomically: write `<path>.tmp`, fsync it, rename it over
/// `path`, then fsync the directory. A crash leaves either the old or the new content.
pub fn write_file_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => fsync_dir(dir),
        _ => fsync_dir(Path::new(".")),
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds since the epoch of a file time.
pub(crate) fn system_time_ms(t: SystemTime) -> i64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// `yyyyMMddHHmmssSSS` of a Unix millisecond timestamp, in UTC.
pub(crate) fn timestamp_name(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}{m:02}{d:02}{:02}{:02}{:02}{millis:03}", sod / 3600, (sod % 3600) / 60, sod % 60)
}

/// Hour of day (0..=23) in UTC of a Unix millisecond timestamp.
pub(crate) fn hour_of_day(ms: i64) -> u8 {
    u8::try_from(ms.div_euclid(1000).rem_euclid(86_400) / 3600).unwrap_or(0)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(segment_name(1_073_741_824), "00000000001073741824");
        assert_eq!(parse_segment_name("00000000001073741824"), Some(1_073_741_824));
        assert_eq!(parse_segment_name("0000000000107374182x"), None);
        assert_eq!(timestamp_name(0), "19700101000000000");
        assert_eq!(timestamp_name(1_758_302_740_123), "20250919172540123");
        assert_eq!(hour_of_day(1_758_302_740_123), 17);
    }

    #[test]
    fn atomic_write_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.json");
        write_file_atomically(&p, b"one").unwrap();
        write_file_atomically(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
    }
}
