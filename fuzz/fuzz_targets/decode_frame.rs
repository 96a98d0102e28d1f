//! Fuzzes the frame decoder: `frame_len` and `RemotingCommand::decode` must never panic on any
//! input, and whatever decodes must re-encode (in the same header type) and decode back to the
//! same command.
//!
//! Run (nightly + cargo-fuzz): `cd fuzz && cargo fuzz run decode_frame`

#![no_main]

use libfuzzer_sys::fuzz_target;
use rocketmq_net::protocol::{frame_len, FRAME_MAX_BYTES_DEFAULT};
use rocketmq_net::RemotingCommand;

fuzz_target!(|data: &[u8]| {
    let _ = frame_len(data, FRAME_MAX_BYTES_DEFAULT);
    let Ok((cmd, serialize)) = RemotingCommand::decode(data) else { return };
    let mut out = Vec::new();
    if cmd.try_encode(serialize, &mut out, usize::MAX).is_err() {
        return; // Re-escaping can push a huge header over the 24-bit limit.
    }
    let (again, _) = RemotingCommand::decode(&out).expect("our own encoding decodes");
    assert_eq!(again, cmd);
});
