//! Text helpers shared by the tools: Java-style timestamps, the timestamp forms mqadmin
//! accepts (`now`, epoch milliseconds, `yyyy-MM-dd#HH:mm:ss:SSS`), permission strings, Java
//! `Map.toString` rendering and fixed-width truncation.
//!
//! Times are rendered and parsed in **UTC**: the Java tools use the JVM's local zone, but the
//! library has no time-zone database and servers mostly run in UTC anyway.

use std::fmt::Display;
use std::time::{SystemTime, UNIX_EPOCH};

const DAY_MS: i64 = 86_400_000;

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// `yyyy-MM-dd HH:mm:ss,SSS` (Java `UtilAll.timeMillisToHumanString2`), UTC.
pub fn human_ms(ms: i64) -> String {
    let (date, time, millis) = split(ms);
    format!("{date} {time},{millis:03}")
}

/// `yyyy-MM-dd HH:mm:ss` (Java `UtilAll.YYYY_MM_DD_HH_MM_SS`), UTC.
pub fn human_secs(ms: i64) -> String {
    let (date, time, _) = split(ms);
    format!("{date} {time}")
}

fn split(ms: i64) -> (String, String, i64) {
    let days = ms.div_euclid(DAY_MS);
    let in_day = ms.rem_euclid(DAY_MS);
    let (y, m, d) = civil_from_days(days);
    let secs = in_day / 1000;
    let time = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    (format!("{y:04}-{m:02}-{d:02}"), time, in_day % 1000)
}

/// Parses a timestamp argument: `now`, milliseconds since the epoch, or
/// `yyyy-MM-dd#HH:mm:ss:SSS` (UTC), as `resetOffsetByTime -s` and `printMsg -b/-e` accept.
pub fn parse_timestamp(s: &str, now: i64) -> Result<i64, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    parse_java_date(s).ok_or_else(|| {
        format!("bad timestamp '{s}': use now, epoch milliseconds or yyyy-MM-dd#HH:mm:ss:SSS")
    })
}

/// `yyyy-MM-dd#HH:mm:ss:SSS` → epoch milliseconds (UTC).
fn parse_java_date(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('#')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi, se) = (t.next()??, t.next()??, t.next()??);
    let ms = t.next().flatten().unwrap_or(0);
    let valid = (1..=12).contains(&mo)
        && (1..=31).contains(&da)
        && (0..24).contains(&h)
        && (0..60).contains(&mi)
        && (0..60).contains(&se)
        && (0..1000).contains(&ms);
    if !valid || d.next().is_some() || t.next().is_some() {
        return None;
    }
    Some(days_from_civil(y, mo, da) * DAY_MS + ((h * 60 + mi) * 60 + se) * 1000 + ms)
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// The inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Java `PermName.perm2String`: `RW-` for 6, `R--` for 4, `-W-` for 2, `X` for inherit.
pub fn perm_string(perm: i32) -> String {
    let bit = |mask: i32, c: char| if perm & mask != 0 { c } else { '-' };
    [bit(4, 'R'), bit(2, 'W'), bit(1, 'X')].iter().collect()
}

/// The first `n` characters of `s` (Java `UtilAll.frontStringAtLeast`).
pub fn front(s: &str, n: usize) -> &str {
    s.char_indices().nth(n).map_or(s, |(at, _)| &s[..at])
}

/// Renders pairs as Java's `Map.toString`: `{k1=v1, k2=v2}`.
pub fn java_map<K: Display, V: Display>(pairs: impl IntoIterator<Item = (K, V)>) -> String {
    let items: Vec<String> = pairs.into_iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", items.join(", "))
}

/// A body as text: lossy UTF-8 with control characters escaped, so it stays on one line.
pub fn one_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).escape_debug().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_utc_timestamps() {
        // 2024-02-29T12:34:56.789Z
        let ms = 1_709_210_096_789;
        assert_eq!(human_ms(ms), "2024-02-29 12:34:56,789");
        assert_eq!(human_secs(ms), "2024-02-29 12:34:56");
        assert_eq!(parse_timestamp("2024-02-29#12:34:56:789", 0), Ok(ms));
        assert_eq!(parse_timestamp("now", 42), Ok(42));
        assert_eq!(parse_timestamp(" 1700000000000 ", 0), Ok(1_700_000_000_000));
        assert_eq!(human_ms(0), "1970-01-01 00:00:00,000");
        assert!(parse_timestamp("2024-13-01#00:00:00:000", 0).is_err());
        assert!(parse_timestamp("yesterday", 0).is_err());
        for days in [-1000_i64, 0, 59, 365, 19_782, 30_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn java_style_helpers() {
        assert_eq!(perm_string(6), "RW-");
        assert_eq!(perm_string(4), "R--");
        assert_eq!(perm_string(2), "-W-");
        assert_eq!(perm_string(7), "RWX");
        assert_eq!(front("abcdef", 3), "abc");
        assert_eq!(front("ab", 3), "ab");
        assert_eq!(front("ééé", 2), "éé");
        assert_eq!(java_map([("a", 1), ("b", 2)]), "{a=1, b=2}");
        assert_eq!(java_map(Vec::<(String, String)>::new()), "{}");
        assert_eq!(one_line(b"a\nb"), "a\\nb");
    }
}
