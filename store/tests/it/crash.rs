//! SIGKILL of a child process during sync-flush appends.
