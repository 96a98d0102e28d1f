//! Delay levels: messages parked in SCHEDULE_TOPIC_XXXX (queue = level − 1) are re-put to their
//! real topic and queue when due. Progress per level is persisted to `config/delayOffset.json`
//! after each round, so delivery resumes after a restart (a crash may deliver a message twice,
//! never lose it: the offset is saved only after the re-put succeeded).

use std::collections::BTreeMap;
use std::time::Duration;

use crossbeam_channel::Receiver;
use rocketmq_store::record::{self, RecordView};
use rocketmq_store::{GetStatus, QueueId, QueueOffset};
use serde::{Deserialize, Serialize};

use crate::protocol::properties::{prop, remove_prop};
use rocketmq_store::MessageStore;

use super::persist;
use crate::protocol::constants::SCHEDULE_TOPIC;
use crate::remoting::now_ms;

const BATCH: u32 = 32;
const BATCH_BYTES: u32 = 4 * 1024 * 1024;
const MAX_SLEEP_MS: u64 = 100;
const RETRY_AFTER_FAILURE_MS: u64 = 1_000;

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct DelayOffsets {
    offset_table: BTreeMap<u32, u64>,
}

/// What the `schedule` thread uses: the store and the delay of each level.
#[derive(Debug)]
pub struct Schedule {
    pub store: std::sync::Arc<MessageStore>,
    pub delay_levels_ms: Vec<u64>,
}

/// The `schedule` thread.
pub fn run(ctx: &Schedule, stop: &Receiver<()>) {
    let path = ctx.store.config_dir().join("delayOffset.json");
    let mut offsets: DelayOffsets = match persist::load(&path) {
        Ok(o) => o.unwrap_or_default(),
        Err(e) => {
            log::error!("cannot read {}: {e}; delayed messages are not delivered", path.display());
            return;
        }
    };
    let levels = u32::try_from(ctx.delay_levels_ms.len()).unwrap_or(0);
    loop {
        let now = now_ms();
        let mut next_due = now + MAX_SLEEP_MS;
        let mut changed = false;
        for level in 1..=levels {
            let offset = offsets.offset_table.entry(level).or_insert(0);
            let before = *offset;
            if let Some(due) = deliver_level(ctx, level, offset) {
                next_due = next_due.min(due);
            }
            changed |= *offset != before;
        }
        if changed {
            if let Err(e) = persist::save(&path, &offsets) {
                log::error!("cannot persist delay offsets: {e}");
            }
        }
        let sleep = next_due.saturating_sub(now_ms()).clamp(1, MAX_SLEEP_MS);
        match stop.recv_timeout(Duration::from_millis(sleep)) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
            _ => break,
        }
    }
    if let Err(e) = persist::save(&path, &offsets) {
        log::error!("cannot persist delay offsets at shutdown: {e}");
    }
}

/// Delivers every due message of one level. Returns when the next one is due, if known.
fn deliver_level(ctx: &Schedule, level: u32, offset: &mut u64) -> Option<u64> {
    let delay_ms = *ctx.delay_levels_ms.get(usize::try_from(level - 1).ok()?)?;
    let queue = QueueId(level - 1);
    loop {
        let r = ctx.store.get_messages(
            SCHEDULE_TOPIC,
            queue,
            QueueOffset(*offset),
            BATCH,
            BATCH_BYTES,
            None,
        );
        match r.status {
            GetStatus::Found => {}
            GetStatus::OffsetTooSmall | GetStatus::OffsetOverflowBadly => {
                *offset = r.next_begin_offset.0;
                continue;
            }
            _ => return None,
        }
        let mut at = 0;
        while at < r.messages.len() {
            let view = match RecordView::parse(&r.messages[at..]) {
                Ok(v) => v,
                Err(e) => {
                    log::error!("unreadable delayed message at level {level}: {e}; skipping");
                    *offset += 1;
                    return Some(now_ms());
                }
            };
            at += usize::try_from(view.total_size).unwrap_or(usize::MAX);
            let due = u64::try_from(view.store_timestamp_ms).unwrap_or(0) + delay_ms;
            if due > now_ms() {
                return Some(due);
            }
            if !redeliver(ctx, &view) {
                return Some(now_ms() + RETRY_AFTER_FAILURE_MS);
            }
            *offset = view.queue_offset + 1;
        }
    }
}

/// Re-puts a due message to its real topic and queue.
fn redeliver(ctx: &Schedule, view: &RecordView<'_>) -> bool {
    let mut props = record::decode_properties(view.properties);
    let Some(topic) = prop(&props, record::PROPERTY_REAL_TOPIC).map(str::to_string) else {
        log::error!("delayed message at {} has no REAL_TOPIC; dropped", view.phys_offset.0);
        return true;
    };
    let queue_id =
        prop(&props, record::PROPERTY_REAL_QUEUE_ID).and_then(|q| q.parse().ok()).unwrap_or(0);
    for key in [record::PROPERTY_DELAY_TIME_LEVEL, "TIMER_DELIVER_MS", "TIMER_DELAY_SEC"] {
        remove_prop(&mut props, key);
    }
    let msg = view.to_message(topic, QueueId(queue_id), record::encode_properties(&props));
    match ctx.store.put_message(msg) {
        Ok(_) => true,
        Err(e) => {
            log::warn!("cannot deliver delayed message {}: {e}; will retry", view.phys_offset.0);
            false
        }
    }
}
