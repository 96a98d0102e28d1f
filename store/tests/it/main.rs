//! Integration tests of the store, one binary with scenario modules.

mod basic;
mod cleanup;
mod common;
mod corruption;
mod crash;
mod disk_full;
mod faults;
mod model;
mod recovery;
mod replication;
