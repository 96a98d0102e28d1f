//! Remote-address patterns of `plain_acl.yml` (`globalWhiteRemoteAddresses`, an account's
//! `whiteRemoteAddress`), with the rules of Java's `RemoteAddressStrategyFactory`
//! (ADVANCED.md §1.3): blank never matches; `*` always; `a.b.c.{1,2}` and `x,y` are sets; a
//! `*` or `lo-hi` segment (the second segment or later) is a range after a literal prefix, with
//! later segments unchecked; anything else is one exact address.

use std::collections::HashSet;
use std::net::IpAddr;
#[cfg(test)]
use std::net::{Ipv4Addr, Ipv6Addr};

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddrPattern {
    /// Empty: matches nothing.
    Blank,
    /// `*`, `*.*.*.*` or `*:*:*:*:*:*:*:*`: matches everything.
    Any,
    /// Exact membership (normalized addresses).
    Set(HashSet<String>),
    /// Segments `prefix` equal, then the next one within `lo..=hi`.
    Range { prefix: Vec<u16>, lo: u16, hi: u16, v6: bool },
}

/// Why a pattern does not load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPattern(pub String);

impl std::fmt::Display for BadPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad remote address pattern {:?}", self.0)
    }
}

impl AddrPattern {
    /// Parses one pattern.
    pub fn parse(pattern: &str) -> Result<Self, BadPattern> {
        let p = pattern.trim();
        let bad = || BadPattern(pattern.to_string());
        if p.is_empty() {
            return Ok(Self::Blank);
        }
        if matches!(p, "*" | "*.*.*.*" | "*:*:*:*:*:*:*:*") {
            return Ok(Self::Any);
        }
        if let Some(open) = p.strip_suffix('}') {
            let (prefix, items) = open.split_once('{').ok_or_else(bad)?;
            let set: Option<HashSet<String>> =
                items.split(',').map(|i| normalize(&format!("{prefix}{}", i.trim()))).collect();
            return set.map(Self::Set).ok_or_else(bad);
        }
        if p.contains(',') {
            let set: Option<HashSet<String>> = p.split(',').map(|a| normalize(a.trim())).collect();
            return set.map(Self::Set).ok_or_else(bad);
        }
        if p.contains('*') || p.contains('-') {
            return range(p).ok_or_else(bad);
        }
        normalize(p).map(|a| Self::Set(HashSet::from([a]))).ok_or_else(bad)
    }

    /// Whether `ip` matches.
    pub fn matches(&self, ip: IpAddr) -> bool {
        match self {
            Self::Blank => false,
            Self::Any => true,
            Self::Set(set) => set.contains(&canonical(ip)),
            Self::Range { prefix, lo, hi, v6 } => {
                let segments = segments(ip);
                if segments.len() != if *v6 { 8 } else { 4 } {
                    return false;
                }
                let n = prefix.len();
                assert!(n < segments.len(), "a range has a segment after its prefix");
                segments[..n] == prefix[..] && (*lo..=*hi).contains(&segments[n])
            }
        }
    }
}

/// An address in the one form patterns are compared in; `None` when it is not an IP.
fn normalize(addr: &str) -> Option<String> {
    addr.parse::<IpAddr>().ok().map(canonical)
}

fn canonical(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        // A v4-mapped peer (::ffff:a.b.c.d) is the v4 address, as for a dual-stack listener.
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.segments().iter().map(|s| format!("{s:04X}")).collect::<Vec<_>>().join(":"),
        },
    }
}

fn segments(ip: IpAddr) -> Vec<u16> {
    match ip {
        IpAddr::V4(v4) => v4.octets().iter().map(|&o| u16::from(o)).collect(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => segments(IpAddr::V4(v4)),
            None => v6.segments().to_vec(),
        },
    }
}

/// `192.168.*`, `192.168.1.1-100`, `10.*`, `fe80:0:*` … : the first `*` or `lo-hi` segment
/// (never the first segment, as in Java) ends a literal prefix.
fn range(p: &str) -> Option<AddrPattern> {
    let v6 = p.contains(':');
    let (sep, radix, max, count) = if v6 { (':', 16, 0xFFFF, 8) } else { ('.', 10, 255, 4) };
    let parts: Vec<&str> = p.split(sep).map(str::trim).collect();
    if parts.len() > count {
        return None;
    }
    let at = parts.iter().position(|s| *s == "*" || s.contains('-'))?;
    if at == 0 {
        return None;
    }
    let number = |s: &str| u16::from_str_radix(s, radix).ok().filter(|&n| u32::from(n) <= max);
    let prefix: Option<Vec<u16>> = parts[..at].iter().map(|s| number(s)).collect();
    let (lo, hi) = match parts[at] {
        "*" => (0, u16::try_from(max).ok()?),
        s => {
            let (lo, hi) = s.split_once('-')?;
            (number(lo)?, number(hi)?)
        }
    };
    (lo <= hi).then_some(AddrPattern::Range { prefix: prefix?, lo, hi, v6 })
}

/// For tests: a v4 address.
#[cfg(test)]
pub fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

/// For tests: a v6 address.
#[cfg(test)]
pub fn v6(s: [u16; 8]) -> IpAddr {
    IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, ip: IpAddr) -> bool {
        AddrPattern::parse(pattern).unwrap().matches(ip)
    }

    #[test]
    fn java_pattern_kinds() {
        assert!(!m("", v4(1, 2, 3, 4)));
        assert!(m("*", v4(1, 2, 3, 4)) && m("*.*.*.*", v4(9, 9, 9, 9)));
        assert!(m("192.168.1.{1,2,3}", v4(192, 168, 1, 2)));
        assert!(!m("192.168.1.{1,2,3}", v4(192, 168, 1, 4)));
        assert!(m("1.1.1.1,2.2.2.2", v4(2, 2, 2, 2)) && !m("1.1.1.1,2.2.2.2", v4(3, 3, 3, 3)));
        assert!(m("192.168.*.*", v4(192, 168, 7, 9)) && !m("192.168.*.*", v4(192, 169, 0, 1)));
        assert!(m("10.*", v4(10, 200, 1, 1)));
        assert!(m("192.168.1.1-100", v4(192, 168, 1, 100)));
        assert!(!m("192.168.1.1-100", v4(192, 168, 1, 101)));
        assert!(m("10.10.103.*", v4(10, 10, 103, 5)));
        assert!(m("127.0.0.1", v4(127, 0, 0, 1)) && !m("127.0.0.1", v4(127, 0, 0, 2)));
        let local6 = v6([0, 0, 0, 0, 0, 0, 0, 1]);
        assert!(m("::1", local6) && m("0:0:0:0:0:0:0:1", local6));
        assert!(m("fe80:0:*", v6([0xfe80, 0, 0x12, 0, 0, 0, 0, 1])));
        assert!(!m("fe80:1:*", v6([0xfe80, 0, 0x12, 0, 0, 0, 0, 1])));
        // A v4-mapped peer matches its v4 pattern.
        assert!(m("10.*", "::ffff:10.1.2.3".parse().unwrap()));
    }

    #[test]
    fn bad_patterns_refuse_to_load() {
        for p in ["300.1.1.1", "host.example", "*.1.1.1", "1.2.3.{x}", "1.2.3.9-1", "a,b"] {
            assert!(AddrPattern::parse(p).is_err(), "{p}");
        }
    }
}
