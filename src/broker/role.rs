//! The broker's role (ASYNC_MASTER, SYNC_MASTER, SLAVE) and [`RoleState`], the one place that
//! holds the role at run time. The configured role is only the starting value: replication
//! and failover will change it while the broker runs, so processors read `RoleState`, never
//! the config.
//!
//! Invariant: `RoleState` is the only writer of the role; readers see either the old or the
//! new role, never a torn value.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};

/// What this broker is in its replica group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerRole {
    /// Master; sends are acknowledged before slaves have them.
    AsyncMaster,
    /// Master; sends are acknowledged once a slave has them.
    SyncMaster,
    /// Read-only replica; sends are refused.
    Slave,
}

/// A role name that is none of ASYNC_MASTER, SYNC_MASTER, SLAVE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRole(pub String);

impl BrokerRole {
    /// The broker.conf spelling, also what GET_BROKER_RUNTIME_INFO reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AsyncMaster => "ASYNC_MASTER",
            Self::SyncMaster => "SYNC_MASTER",
            Self::Slave => "SLAVE",
        }
    }

    /// Parses broker.conf's value; surrounding spaces and letter case are ignored, as Java's
    /// enum property binding tolerates hand-edited files.
    pub fn parse(s: &str) -> Result<Self, UnknownRole> {
        match s.trim().to_ascii_uppercase().as_str() {
            "ASYNC_MASTER" => Ok(Self::AsyncMaster),
            "SYNC_MASTER" => Ok(Self::SyncMaster),
            "SLAVE" => Ok(Self::Slave),
            _ => Err(UnknownRole(s.to_string())),
        }
    }

    /// Whether this role takes sends (Java's store refuses puts on a slave).
    pub fn accepts_writes(self) -> bool {
        self != Self::Slave
    }

    fn to_u8(self) -> u8 {
        match self {
            Self::AsyncMaster => 0,
            Self::SyncMaster => 1,
            Self::Slave => 2,
        }
    }

    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::AsyncMaster,
            1 => Self::SyncMaster,
            2 => Self::Slave,
            _ => unreachable!("RoleState only stores values written by to_u8"),
        }
    }
}

impl fmt::Display for BrokerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role now. One atomic byte: the send path reads it on every send, so it must cost no
/// lock.
#[derive(Debug)]
pub struct RoleState(AtomicU8);

impl RoleState {
    /// Starts in `role` (the configured one).
    pub fn new(role: BrokerRole) -> Self {
        Self(AtomicU8::new(role.to_u8()))
    }

    /// The role now.
    pub fn get(&self) -> BrokerRole {
        BrokerRole::from_u8(self.0.load(Ordering::Acquire))
    }

    /// Changes the role (replication and failover will call this).
    #[allow(dead_code)]
    pub fn set(&self, role: BrokerRole) {
        let before = BrokerRole::from_u8(self.0.swap(role.to_u8(), Ordering::AcqRel));
        if before != role {
            log::info!("broker role changed: {} -> {}", before.as_str(), role.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_lenient_about_case_and_spaces() {
        assert_eq!(BrokerRole::parse("ASYNC_MASTER"), Ok(BrokerRole::AsyncMaster));
        assert_eq!(BrokerRole::parse(" sync_master "), Ok(BrokerRole::SyncMaster));
        assert_eq!(BrokerRole::parse("Slave"), Ok(BrokerRole::Slave));
        assert_eq!(BrokerRole::parse("MASTER"), Err(UnknownRole("MASTER".into())));
    }

    #[test]
    fn names_roundtrip() {
        for r in [BrokerRole::AsyncMaster, BrokerRole::SyncMaster, BrokerRole::Slave] {
            assert_eq!(BrokerRole::parse(r.as_str()), Ok(r));
        }
    }

    #[test]
    fn state_changes_at_run_time() {
        let s = RoleState::new(BrokerRole::AsyncMaster);
        assert!(s.get().accepts_writes());
        s.set(BrokerRole::Slave);
        assert_eq!(s.get(), BrokerRole::Slave);
        assert!(!s.get().accepts_writes());
    }
}
