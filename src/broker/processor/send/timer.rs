//! Timer diversion (ADVANCED.md §5.2, Java's `HookUtils.handleScheduleMessage`): a message with
//! `TIMER_DELAY_SEC`, `TIMER_DELAY_MS` or `TIMER_DELIVER_MS` (that priority) due in the future
//! is stored in `rmq_sys_wheel_timer` queue 0 with `TIMER_OUT_MS` (rounded down to the
//! precision, so delivery is never late by the rounding) and its real topic and queue in
//! properties; the `timer` thread (`broker::timer`) puts it back when due. Due now or in the
//! past: stored as is. A delay level wins over every timer property (they are removed).

use rocketmq_store::record::{self, MessageToStore};
use rocketmq_store::QueueId;

use crate::broker::config::TimerConfig;
use crate::broker::error::TimerRefusal;
use crate::protocol::constants::{self, timer};
use crate::protocol::properties::{prop, remove_prop, set_prop, Props};

/// Whether `props` hold any timer property.
pub(crate) fn has_timer_property(key: &str) -> bool {
    matches!(key, timer::DELIVER_MS | timer::DELAY_SEC | timer::DELAY_MS | timer::DEL_UNIQKEY)
}

/// Drops the timer properties of a message that also has a delay level (the level wins).
pub(crate) fn strip_timer_properties(props: &mut Props) {
    for key in [timer::DELIVER_MS, timer::DELAY_SEC, timer::DELAY_MS] {
        remove_prop(props, key);
    }
}

/// When the message is due, from its properties; `Ok(None)` when it has none.
fn deliver_ms(props: &Props, now_ms: u64, max_delay_ms: u64) -> Result<Option<u64>, TimerRefusal> {
    let illegal = TimerRefusal::Illegal { max_delay_ms };
    let number = |key| -> Result<Option<i64>, TimerRefusal> {
        prop(props, key).map(|v| v.trim().parse::<i64>().map_err(|_| illegal.clone())).transpose()
    };
    let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
    let at = if let Some(sec) = number(timer::DELAY_SEC)? {
        now.saturating_add(sec.saturating_mul(1000))
    } else if let Some(ms) = number(timer::DELAY_MS)? {
        now.saturating_add(ms)
    } else if let Some(at) = number(timer::DELIVER_MS)? {
        at
    } else {
        return Ok(None);
    };
    Ok(Some(u64::try_from(at).unwrap_or(0)))
}

/// Diverts `msg` to the timer topic when it is due later; refuses what Java refuses.
pub(crate) fn divert_timer(
    cfg: &TimerConfig,
    now_ms: u64,
    msg: &mut MessageToStore,
    props: &mut Props,
) -> Result<(), TimerRefusal> {
    if msg.topic == constants::TIMER_TOPIC || prop(props, timer::OUT_MS).is_some() {
        return Ok(());
    }
    let is_delete = prop(props, timer::DEL_UNIQKEY).is_some();
    let Some(at) = deliver_ms(props, now_ms, cfg.max_delay_ms)? else {
        return Ok(());
    };
    if !cfg.enable {
        return Err(TimerRefusal::NotEnabled);
    }
    if at <= now_ms {
        // Due already: stored as an ordinary message; a delete in the past is illegal.
        return if is_delete {
            Err(TimerRefusal::Illegal { max_delay_ms: cfg.max_delay_ms })
        } else {
            Ok(())
        };
    }
    if at - now_ms > cfg.max_delay_ms {
        return Err(TimerRefusal::Illegal { max_delay_ms: cfg.max_delay_ms });
    }
    let p = cfg.precision_ms.max(1);
    // Java: an exact multiple moves one slot earlier, anything else truncates.
    let out = if at % p == 0 { at - p } else { at - at % p };
    assert!(out <= at && at - out <= p, "rounding moves delivery at most one precision earlier");
    set_prop(props, timer::OUT_MS, out.to_string());
    set_prop(props, record::PROPERTY_REAL_TOPIC, msg.topic.clone());
    set_prop(props, record::PROPERTY_REAL_QUEUE_ID, msg.queue_id.0.to_string());
    msg.topic = constants::TIMER_TOPIC.to_string();
    msg.queue_id = QueueId(0);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: TimerConfig =
        TimerConfig { enable: true, max_delay_ms: 10_000, precision_ms: 1_000 };

    fn msg() -> MessageToStore {
        MessageToStore {
            topic: "T".into(),
            queue_id: QueueId(3),
            flag: 0,
            body: b"x".to_vec(),
            properties: String::new(),
            sys_flag: 0,
            born_timestamp_ms: 0,
            born_host: "127.0.0.1:1".parse().unwrap(),
            store_host: "127.0.0.1:2".parse().unwrap(),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        }
    }

    fn divert(
        props: &[(&str, &str)],
        now: u64,
    ) -> (Result<(), TimerRefusal>, MessageToStore, Props) {
        let mut m = msg();
        let mut p: Props = props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let r = divert_timer(&CFG, now, &mut m, &mut p);
        (r, m, p)
    }

    #[test]
    fn a_future_time_goes_to_the_timer_topic_rounded_down() {
        let (r, m, p) = divert(&[(timer::DELIVER_MS, "1005500")], 1_000_000);
        assert_eq!(r, Ok(()));
        assert_eq!((m.topic.as_str(), m.queue_id), (constants::TIMER_TOPIC, QueueId(0)));
        assert_eq!(prop(&p, timer::OUT_MS), Some("1005000"));
        assert_eq!(prop(&p, record::PROPERTY_REAL_TOPIC), Some("T"));
        assert_eq!(prop(&p, record::PROPERTY_REAL_QUEUE_ID), Some("3"));
        // An exact multiple moves one precision earlier, as in Java.
        let (_, _, p) = divert(&[(timer::DELIVER_MS, "1005000")], 1_000_000);
        assert_eq!(prop(&p, timer::OUT_MS), Some("1004000"));
    }

    #[test]
    fn relative_delays_take_priority_seconds_first() {
        let (_, _, p) = divert(
            &[(timer::DELIVER_MS, "1009999"), (timer::DELAY_MS, "2500"), (timer::DELAY_SEC, "3")],
            1_000_000,
        );
        assert_eq!(prop(&p, timer::OUT_MS), Some("1002000"));
        let (_, _, p) = divert(&[(timer::DELAY_MS, "2500")], 1_000_000);
        assert_eq!(prop(&p, timer::OUT_MS), Some("1002000"));
    }

    #[test]
    fn past_times_stay_ordinary_and_refusals_follow_java() {
        let (r, m, p) = divert(&[(timer::DELIVER_MS, "5")], 1_000_000);
        assert_eq!(r, Ok(()));
        assert_eq!(m.topic, "T");
        assert!(prop(&p, timer::OUT_MS).is_none());
        let illegal = Err(TimerRefusal::Illegal { max_delay_ms: 10_000 });
        assert_eq!(divert(&[(timer::DELAY_SEC, "11")], 1_000_000).0, illegal);
        assert_eq!(divert(&[(timer::DELIVER_MS, "soon")], 1_000_000).0, illegal);
        assert_eq!(
            divert(&[(timer::DELIVER_MS, "5"), (timer::DEL_UNIQKEY, "K")], 1_000_000).0,
            illegal
        );
        let off = TimerConfig { enable: false, ..CFG };
        let mut m = msg();
        let mut p: Props = vec![(timer::DELAY_SEC.into(), "1".into())];
        assert_eq!(divert_timer(&off, 1_000_000, &mut m, &mut p), Err(TimerRefusal::NotEnabled));
        // No timer property: nothing to do even when timers are off.
        let mut p: Props = Vec::new();
        assert_eq!(divert_timer(&off, 1_000_000, &mut m, &mut p), Ok(()));
    }
}
