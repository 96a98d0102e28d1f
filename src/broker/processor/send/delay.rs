//! Delay diversion: a message with `DELAY` > 0 is stored in SCHEDULE_TOPIC_XXXX (queue =
//! level − 1, the level clamped to the configured maximum) with its real topic and queue in
//! properties; the `schedule` thread puts it back when due.

use rocketmq_store::record::{self, MessageToStore};
use rocketmq_store::QueueId;

use crate::broker::BrokerCtx;
use crate::protocol::constants;
use crate::protocol::properties::{prop, set_prop, Props};

/// Diverts `msg` when its `DELAY` property asks for a level; otherwise leaves it as is.
pub(crate) fn divert_delayed(ctx: &BrokerCtx, msg: &mut MessageToStore, props: &mut Props) {
    let Some(level) =
        prop(props, record::PROPERTY_DELAY_TIME_LEVEL).and_then(|d| d.parse::<i64>().ok())
    else {
        return;
    };
    if level <= 0 || msg.topic == constants::SCHEDULE_TOPIC {
        return;
    }
    let max_level = ctx.config.store.delay_levels_ms.len();
    let level = usize::try_from(level).unwrap_or(max_level).min(max_level);
    set_prop(props, record::PROPERTY_DELAY_TIME_LEVEL, level.to_string());
    // A delay level wins over timer properties (Java's HookUtils removes them).
    super::timer::strip_timer_properties(props);
    set_prop(props, record::PROPERTY_REAL_TOPIC, msg.topic.clone());
    set_prop(props, record::PROPERTY_REAL_QUEUE_ID, msg.queue_id.0.to_string());
    msg.topic = constants::SCHEDULE_TOPIC.to_string();
    msg.queue_id = QueueId(u32::try_from(level - 1).unwrap_or(0));
}
