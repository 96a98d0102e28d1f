//! Offset and id newtypes shared by every store module.
//!
//! `PhysOffset` is a byte position in the commitlog address space (the sum of all segment
//! sizes before it plus the position inside its segment). `QueueOffset` is a logical entry
//! index inside one consume queue. `QueueId` names a queue of a topic. Keeping them apart
//! in the type system stops the classic "passed a byte offset where an entry index was
//! expected" bug.

use std::fmt;

/// A byte offset in the commitlog address space.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct PhysOffset(pub u64);

/// A logical entry index inside one consume queue (0, 1, 2, ...).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct QueueOffset(pub u64);

/// The id of one queue of a topic.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct QueueId(pub u32);

impl fmt::Display for PhysOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for QueueOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
