//! The inline path: which sends `net-io` may run itself (ARCHITECTURE.md, "Plain sends run on
//! `net-io`"). Invariant: a send goes inline only when nothing but the append can block:
//! its topic exists, is not a retry topic, and the append will not wait for a new segment.

use rocketmq_net::RemotingCommand;

use super::SendProcessor;
use crate::broker::topics::QueueCounts;
use crate::protocol::constants;
use crate::protocol::header::send::{raw_send_properties, raw_send_topic};

impl SendProcessor {
    /// The queue counts of `req`'s topic if the send may run inline; `None` if it needs slow
    /// work: its topic is unknown (auto-creation writes topics.json and registers with the
    /// nameservers), is a retry topic (may create a group or a DLQ), the append would wait for
    /// the next commitlog segment, or the header is too broken to name a topic (the pool
    /// answers with the decode error).
    pub(super) fn inline_topic(&self, req: &RemotingCommand) -> Option<QueueCounts> {
        let topic = raw_send_topic(req.code, &req.ext_fields)?;
        if topic.starts_with(constants::RETRY_GROUP_TOPIC_PREFIX) {
            return None;
        }
        let counts = self.ctx.topics.counts(topic)?;
        (!self.ctx.store.put_may_wait(record_bytes_upper_bound(req))).then_some(counts)
    }
}

/// A generous bound on the commitlog bytes `req` becomes: each record adds a fixed header,
/// the topic and the broker's properties to its body (a batch entry's own header is smaller),
/// so twice the body and properties plus 4 KiB covers one message or a batch of small ones.
fn record_bytes_upper_bound(req: &RemotingCommand) -> usize {
    let props = raw_send_properties(req.code, &req.ext_fields).map_or(0, str::len);
    2 * (req.body.len() + props) + 4096
}
