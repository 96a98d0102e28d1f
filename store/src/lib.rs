//! Storage engine (filled in by the storage issue).
