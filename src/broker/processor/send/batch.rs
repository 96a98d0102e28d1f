//! SEND_BATCH_MESSAGE: the batch body (PROTOCOL.md §7) becomes one record per entry, all in
//! one queue, appended together. Batches may not go to retry topics, be delayed or be
//! transactional.

use rocketmq_net::{RemotingCommand, RequestContext};
use rocketmq_store::record::MessageToStore;

use super::{Deferred, PropScan, SendProcessor};
use crate::broker::error::SendError;
use crate::broker::ipv4_of;
use crate::broker::topics::QueueCounts;
use crate::protocol::constants;
use crate::protocol::header::send::decode_send_header;
use crate::protocol::message::{decode_batch, sys_flag};

impl SendProcessor {
    /// `known`: the topic's counts, already looked up by the inline path.
    pub(super) fn send_batch(
        &self,
        rc: &RequestContext,
        req: &RemotingCommand,
        known: Option<QueueCounts>,
    ) -> Deferred {
        let h = decode_send_header(req.code, &req.ext_fields)?;
        if h.topic.starts_with(constants::RETRY_GROUP_TOPIC_PREFIX) {
            return Err(SendError::BatchToRetryTopic);
        }
        if h.topic.len() > constants::TOPIC_MAX_LENGTH {
            return Err(SendError::BatchTopicTooLong { len: h.topic.len() });
        }
        let counts = self.writable_topic(&h, known)?;
        let queue_id = self.pick_queue(&h, counts)?;
        let entries = decode_batch(&req.body).map_err(SendError::BadBatchBody)?;
        if entries.is_empty() {
            return Err(SendError::EmptyBatch);
        }
        let born_host = ipv4_of(rc.conn().peer_addr());
        let mut msgs = Vec::with_capacity(entries.len());
        for entry in entries {
            let mut props = entry.properties;
            let scan = PropScan::of(&props);
            if super::half::is_prepared(scan.is_transaction_prepared(), h.sys_flag) {
                return Err(SendError::TransactionNotAllowed { what: "batched" });
            }
            if scan.delay.is_some_and(|d| d != "0") {
                return Err(SendError::DelayedInBatch);
            }
            let stamps = scan.stamps();
            self.stamp(&mut props, stamps);
            msgs.push(MessageToStore {
                topic: h.topic.clone(),
                queue_id,
                flag: entry.flag,
                body: entry.body,
                properties: props,
                sys_flag: h.sys_flag & !sys_flag::COMPRESSED,
                born_timestamp_ms: h.born_timestamp,
                born_host,
                store_host: self.ctx.store_host(),
                reconsume_times: 0,
                prepared_transaction_offset: 0,
            });
        }
        self.put_and_reply(rc, &msgs, queue_id, None)
    }
}
