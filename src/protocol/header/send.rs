//! Send headers: SEND_MESSAGE (V1 keys), SEND_MESSAGE_V2 and SEND_BATCH_MESSAGE (single-letter
//! keys), and the send response (PROTOCOL.md §5.3).
//!
//! Both request encodings decode into one [`SendMessageRequestHeader`]; which keys are read
//! depends on the request code, exactly as the Java broker does (V1 for 10, V2 for 310 and 320).

use rocketmq_net::{ExtFields, HeaderError};

use super::ExtValue;
use crate::ext_header;

/// The send request, whichever encoding it arrived in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SendMessageRequestHeader {
    pub producer_group: String,
    pub topic: String,
    pub default_topic: String,
    pub default_topic_queue_nums: i32,
    /// Negative means "broker picks the queue".
    pub queue_id: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub flag: i32,
    pub properties: Option<String>,
    pub reconsume_times: Option<i32>,
    pub unit_mode: Option<bool>,
    pub max_reconsume_times: Option<i32>,
    pub batch: Option<bool>,
    pub broker_name: Option<String>,
}

/// Key names of one encoding, in field order.
struct Keys {
    names: [&'static str; 14],
}

const V1: Keys = Keys {
    names: [
        "producerGroup",
        "topic",
        "defaultTopic",
        "defaultTopicQueueNums",
        "queueId",
        "sysFlag",
        "bornTimestamp",
        "flag",
        "properties",
        "reconsumeTimes",
        "unitMode",
        "maxReconsumeTimes",
        "batch",
        "bname",
    ],
};

const V2: Keys =
    Keys { names: ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n"] };

impl SendMessageRequestHeader {
    /// Decodes the V1 (long key) form used by SEND_MESSAGE (10).
    pub fn from_v1(fields: &ExtFields) -> Result<Self, HeaderError> {
        Self::read(fields, &V1)
    }

    /// Decodes the V2 (single letter) form used by SEND_MESSAGE_V2 (310) and SEND_BATCH_MESSAGE.
    pub fn from_v2(fields: &ExtFields) -> Result<Self, HeaderError> {
        Self::read(fields, &V2)
    }

    /// Encodes the V1 form.
    pub fn to_v1(&self) -> ExtFields {
        self.write(&V1)
    }

    /// Encodes the V2 form.
    pub fn to_v2(&self) -> ExtFields {
        self.write(&V2)
    }

    fn read(f: &ExtFields, k: &Keys) -> Result<Self, HeaderError> {
        let n = &k.names;
        Ok(Self {
            producer_group: ExtValue::read(f, n[0])?,
            topic: ExtValue::read(f, n[1])?,
            // Some clients omit the template topic; the broker only needs it for auto-create.
            default_topic: Option::<String>::read(f, n[2])?.unwrap_or_default(),
            default_topic_queue_nums: Option::<i32>::read(f, n[3])?.unwrap_or(4),
            queue_id: ExtValue::read(f, n[4])?,
            sys_flag: Option::<i32>::read(f, n[5])?.unwrap_or(0),
            born_timestamp: Option::<i64>::read(f, n[6])?.unwrap_or(0),
            flag: Option::<i32>::read(f, n[7])?.unwrap_or(0),
            properties: ExtValue::read(f, n[8])?,
            reconsume_times: ExtValue::read(f, n[9])?,
            unit_mode: ExtValue::read(f, n[10])?,
            max_reconsume_times: ExtValue::read(f, n[11])?,
            batch: ExtValue::read(f, n[12])?,
            broker_name: ExtValue::read(f, n[13])?,
        })
    }

    fn write(&self, k: &Keys) -> ExtFields {
        let n = &k.names;
        let mut f = ExtFields::with_capacity(k.names.len());
        self.producer_group.write(&mut f, n[0]);
        self.topic.write(&mut f, n[1]);
        self.default_topic.write(&mut f, n[2]);
        self.default_topic_queue_nums.write(&mut f, n[3]);
        self.queue_id.write(&mut f, n[4]);
        self.sys_flag.write(&mut f, n[5]);
        self.born_timestamp.write(&mut f, n[6]);
        self.flag.write(&mut f, n[7]);
        self.properties.write(&mut f, n[8]);
        self.reconsume_times.write(&mut f, n[9]);
        self.unit_mode.write(&mut f, n[10]);
        self.max_reconsume_times.write(&mut f, n[11]);
        self.batch.write(&mut f, n[12]);
        self.broker_name.write(&mut f, n[13]);
        f
    }
}

ext_header! {
    /// Send response. `msgId` is the offset message id (comma-joined for a batch).
    pub struct SendMessageResponseHeader {
        msg_id: String = "msgId",
        queue_id: i32 = "queueId",
        queue_offset: i64 = "queueOffset",
        transaction_id: Option<String> = "transactionId",
        batch_uniq_id: Option<String> = "batchUniqId",
    }
}

/// Ext entries the Java client reads from every successful send response.
pub const MSG_REGION: &str = "MSG_REGION";
/// See [`MSG_REGION`].
pub const TRACE_ON: &str = "TRACE_ON";

ext_header! {
    /// CONSUMER_SEND_MSG_BACK (36).
    pub struct ConsumerSendMsgBackRequestHeader {
        /// Physical (commitlog) offset of the message being sent back.
        offset: i64 = "offset",
        group: String = "group",
        /// 0: broker decides; -1: straight to the DLQ; > 0: explicit level.
        delay_level: i32 = "delayLevel",
        origin_msg_id: Option<String> = "originMsgId",
        origin_topic: Option<String> = "originTopic",
        unit_mode: Option<bool> = "unitMode",
        max_reconsume_times: Option<i32> = "maxReconsumeTimes",
    }
}

ext_header! {
    /// END_TRANSACTION (37).
    pub struct EndTransactionRequestHeader {
        producer_group: String = "producerGroup",
        tran_state_table_offset: i64 = "tranStateTableOffset",
        commit_log_offset: i64 = "commitLogOffset",
        commit_or_rollback: i32 = "commitOrRollback",
        from_transaction_check: Option<bool> = "fromTransactionCheck",
        msg_id: String = "msgId",
        transaction_id: Option<String> = "transactionId",
    }
}

/// The key names a send request with `code` uses: V1 for SEND_MESSAGE, V2 otherwise.
fn keys_for(code: i32) -> &'static Keys {
    if code == rocketmq_net::RequestCode::SendMessage.to_i32() {
        &V1
    } else {
        &V2
    }
}

/// Decodes a send header according to the request code it arrived with.
pub fn decode_send_header(
    code: i32,
    fields: &ExtFields,
) -> Result<SendMessageRequestHeader, HeaderError> {
    SendMessageRequestHeader::read(fields, keys_for(code))
}

/// The raw topic of a send request, without decoding the rest of its header.
pub fn raw_send_topic(code: i32, fields: &ExtFields) -> Option<&str> {
    fields.get(keys_for(code).names[1])
}

/// The raw encoded properties of a send request, without decoding the rest of its header.
pub fn raw_send_properties(code: i32, fields: &ExtFields) -> Option<&str> {
    fields.get(keys_for(code).names[8])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            producer_group: "pg".into(),
            topic: "TopicTest".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 3,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            flag: 0,
            properties: Some("TAGS\u{1}A\u{2}".into()),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            max_reconsume_times: None,
            batch: Some(false),
            broker_name: None,
        }
    }

    #[test]
    fn v1_and_v2_roundtrip() {
        let h = sample();
        assert_eq!(SendMessageRequestHeader::from_v1(&h.to_v1()).unwrap(), h);
        assert_eq!(SendMessageRequestHeader::from_v2(&h.to_v2()).unwrap(), h);
        assert_eq!(h.to_v2().get("b"), Some("TopicTest"));
        assert_eq!(h.to_v1().get("topic"), Some("TopicTest"));
    }

    #[test]
    fn v2_missing_topic_is_named() {
        let mut f = sample().to_v2();
        f.remove("b");
        let err = SendMessageRequestHeader::from_v2(&f).unwrap_err();
        assert!(matches!(err, HeaderError::Missing { field: "b" }), "{err:?}");
    }
}
