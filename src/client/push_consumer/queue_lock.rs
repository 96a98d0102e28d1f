//! The broker calls of orderly consumption: LOCK_BATCH_MQ (lock or renew a broker's queues for
//! this client) and UNLOCK_BATCH_MQ (release them after a hand-over or at shutdown).
//!
//! Queues are grouped by broker: each master locks only its own queues, so one request goes to
//! each master holding some of them.

use std::collections::BTreeMap;

use rocketmq_net::{RemotingCommand, RequestCode};

use crate::client::error::{ClientError, Result};
use crate::client::instance::ClientInstance;
use crate::protocol::body::queue::{LockBatchRequestBody, LockBatchResponseBody, MessageQueue};
use crate::protocol::body::{from_json, to_json};

/// Splits `mqs` by broker name.
pub(super) fn by_broker(mqs: &[MessageQueue]) -> BTreeMap<String, Vec<MessageQueue>> {
    let mut out: BTreeMap<String, Vec<MessageQueue>> = BTreeMap::new();
    for mq in mqs {
        out.entry(mq.broker_name.clone()).or_default().push(mq.clone());
    }
    out
}

fn command(
    code: RequestCode,
    instance: &ClientInstance,
    group: &str,
    mqs: &[MessageQueue],
) -> RemotingCommand {
    let body = LockBatchRequestBody {
        client_id: instance.client_id.clone(),
        consumer_group: group.to_string(),
        mq_set: mqs.to_vec(),
        only_this_broker: true,
    };
    RemotingCommand::request(code.to_i32()).with_body(to_json(&body))
}

/// The master address of the broker holding `mqs` (all of one broker).
fn master(instance: &ClientInstance, mqs: &[MessageQueue]) -> Result<String> {
    let first = mqs.first().ok_or_else(|| ClientError::invalid("no queue to lock"))?;
    assert!(mqs.iter().all(|mq| mq.broker_name == first.broker_name), "one broker per call");
    instance.master_addr_or_refresh(&first.broker_name, &first.topic)
}

/// Locks (or renews) `mqs`, all on one broker; returns those this client now holds.
pub(super) fn lock_batch(
    instance: &ClientInstance,
    group: &str,
    mqs: &[MessageQueue],
) -> Result<Vec<MessageQueue>> {
    let addr = master(instance, mqs)?;
    let resp = instance.call_ok(&addr, command(RequestCode::LockBatchMq, instance, group, mqs))?;
    let body: LockBatchResponseBody =
        from_json(&resp.body).map_err(|e| ClientError::bad_response(&addr, e))?;
    Ok(body.lock_ok_mq_set)
}

/// Releases `mqs`, all on one broker (only this client's own locks are released).
pub(super) fn unlock_batch(
    instance: &ClientInstance,
    group: &str,
    mqs: &[MessageQueue],
) -> Result<()> {
    let addr = master(instance, mqs)?;
    instance.call_ok(&addr, command(RequestCode::UnlockBatchMq, instance, group, mqs)).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_are_grouped_by_broker() {
        let mqs = vec![
            MessageQueue::new("T", "b", 1),
            MessageQueue::new("T", "a", 0),
            MessageQueue::new("T", "b", 0),
        ];
        let groups = by_broker(&mqs);
        assert_eq!(groups.keys().cloned().collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(groups["b"].len(), 2);
    }
}
