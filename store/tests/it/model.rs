//! Seeded random operations checked against an in-memory model.
