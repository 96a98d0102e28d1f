//! HEART_BEAT body: HeartbeatData with producer and consumer groups and subscriptions; and
//! CHECK_CLIENT_CONFIG's body, which carries one subscription.

use serde::{Deserialize, Serialize};

use super::lenient::{de, enum_name, ConsumeFromWhere, ConsumeType, MessageModel};

/// HEART_BEAT (34) body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HeartbeatData {
    #[serde(rename = "clientID")]
    /// The sending client's id (`ip@instance`).
    #[serde(deserialize_with = "de")]
    pub client_id: String,
    /// Its consumer groups.
    #[serde(deserialize_with = "de")]
    pub consumer_data_set: Vec<ConsumerData>,
    /// Its producer groups.
    #[serde(deserialize_with = "de")]
    pub producer_data_set: Vec<ProducerData>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// A hash of the rest (5.x clients), letting a broker skip unchanged heartbeats.
    #[serde(deserialize_with = "de")]
    pub heartbeat_fingerprint: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Set by 5.x clients when the subscriptions were left out as unchanged.
    #[serde(deserialize_with = "de")]
    pub without_sub: Option<bool>,
}

/// A consumer group a client belongs to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ConsumerData {
    /// The Java `ConsumeFromWhere` name.
    #[serde(deserialize_with = "enum_name::<_, ConsumeFromWhere>")]
    pub consume_from_where: String,
    /// `CONSUME_PASSIVELY` (push) or `CONSUME_ACTIVELY` (pull).
    #[serde(deserialize_with = "enum_name::<_, ConsumeType>")]
    pub consume_type: String,
    /// The consumer group.
    #[serde(deserialize_with = "de")]
    pub group_name: String,
    /// `CLUSTERING` or `BROADCASTING`.
    #[serde(deserialize_with = "enum_name::<_, MessageModel>")]
    pub message_model: String,
    /// One entry per subscribed topic.
    #[serde(deserialize_with = "de")]
    pub subscription_data_set: Vec<SubscriptionData>,
    /// Java unit mode (always false here).
    #[serde(deserialize_with = "de")]
    pub unit_mode: bool,
}

/// A producer group a client belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ProducerData {
    /// The producer group.
    #[serde(deserialize_with = "de")]
    pub group_name: String,
}

/// One topic subscription with its tag expression.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SubscriptionData {
    /// Java class filters (unsupported; false).
    #[serde(deserialize_with = "de")]
    pub class_filter_mode: bool,
    /// Java `String.hashCode` of each tag.
    #[serde(deserialize_with = "de")]
    pub code_set: Vec<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// `TAG` or `SQL92`; absent means TAG.
    #[serde(deserialize_with = "de")]
    pub expression_type: Option<String>,
    /// The expression as written (`*`, `TagA || TagB`).
    #[serde(deserialize_with = "de")]
    pub sub_string: String,
    /// A version stamp (ms) that grows with each change.
    #[serde(deserialize_with = "de")]
    pub sub_version: i64,
    /// The tags of a TAG expression.
    #[serde(deserialize_with = "de")]
    pub tags_set: Vec<String>,
    /// The subscribed topic.
    #[serde(deserialize_with = "de")]
    pub topic: String,
}

/// CHECK_CLIENT_CONFIG (46) body (Java's `CheckClientRequestBody`): a consumer asks whether
/// the broker accepts one of its subscriptions before it starts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CheckClientRequestBody {
    /// The asking client's id.
    #[serde(deserialize_with = "de")]
    pub client_id: String,
    /// Its consumer group.
    #[serde(deserialize_with = "de")]
    pub group: String,
    /// The subscription to check.
    #[serde(deserialize_with = "de")]
    pub subscription_data: SubscriptionData,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// The client's namespace, if any.
    #[serde(deserialize_with = "de")]
    pub namespace: Option<String>,
}

/// `*` (or empty) subscribes to every tag.
pub const SUB_ALL: &str = "*";

impl SubscriptionData {
    /// Builds a TAG subscription from an expression such as `"TagA || TagB"` or `"*"`.
    pub fn from_tag_expression(topic: &str, expression: &str, sub_version: i64) -> Self {
        let expression = expression.trim();
        let mut data = Self {
            topic: topic.to_string(),
            sub_string: if expression.is_empty() { SUB_ALL.into() } else { expression.into() },
            sub_version,
            expression_type: Some("TAG".into()),
            ..Default::default()
        };
        if !data.is_all() {
            for tag in expression.split("||").map(str::trim).filter(|t| !t.is_empty()) {
                data.tags_set.push(tag.to_string());
                data.code_set.push(crate::protocol::message::java_string_hash(tag));
            }
        }
        data
    }

    /// Whether every tag matches.
    pub fn is_all(&self) -> bool {
        let s = self.sub_string.trim();
        s.is_empty() || s == SUB_ALL
    }

    /// Whether this is a SQL92 subscription.
    pub fn is_sql92(&self) -> bool {
        self.expression_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("SQL92"))
    }

    /// Whether a stored tag hash passes the broker-side filter.
    pub fn matches_tag_code(&self, tag_code: i64) -> bool {
        self.is_all() || self.code_set.iter().any(|c| i64::from(*c) == tag_code)
    }
}

lenient_struct!(
    HeartbeatData,
    ConsumerData,
    ProducerData,
    SubscriptionData,
    CheckClientRequestBody
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_java_heartbeat() {
        let s = r#"{"clientID":"10.0.0.1@12345","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"cg","messageModel":"CLUSTERING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[],"expressionType":"TAG","subString":"*","subVersion":1700000000001,"tagsSet":[],"topic":"%RETRY%cg"},{"classFilterMode":false,"codeSet":[2598919,2598920],"expressionType":"TAG","subString":"TagA || TagB","subVersion":1700000000000,"tagsSet":["TagA","TagB"],"topic":"TopicTest"}],"unitMode":false}],"heartbeatFingerprint":0,"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}],"withoutSub":false}"#;
        let h: HeartbeatData = serde_json::from_str(s).unwrap();
        assert_eq!(h.client_id, "10.0.0.1@12345");
        let sub = &h.consumer_data_set[0].subscription_data_set[1];
        assert_eq!(sub.code_set, vec![2598919, 2598920]);
    }

    #[test]
    fn tag_expression_codes_match_java() {
        let s = SubscriptionData::from_tag_expression("T", "TagA || TagB", 1);
        assert_eq!(s.code_set, vec![2598919, 2598920]);
        assert!(s.matches_tag_code(2598919));
        assert!(!s.matches_tag_code(1));
        assert!(SubscriptionData::from_tag_expression("T", "*", 1).matches_tag_code(7));
    }
}
