//! What a consumer subscribes to on a topic: a tag expression (`TagA || TagB`, `*`) or a SQL92
//! selector over message properties (`a > 5 AND b = 'x'`), as Java's `MessageSelector`.
//!
//! SQL92 selectors are parsed here before anything is sent (the same parser the broker
//! uses, `crate::filter`), so a typo fails `subscribe` with the position of the error; the
//! broker checks them again with CHECK_CLIENT_CONFIG when a push consumer starts.

use crate::protocol::body::heartbeat::SubscriptionData;

use super::error::{ClientError, Result};

/// A subscription's filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageSelector {
    /// Tags joined by `||`, or `*` for all.
    Tag(String),
    /// A SQL92 selector over properties (the broker needs `enablePropertyFilter`).
    Sql92(String),
}

impl MessageSelector {
    /// A tag expression.
    pub fn tag(expression: impl Into<String>) -> Self {
        Self::Tag(expression.into())
    }

    /// A SQL92 selector.
    pub fn sql92(expression: impl Into<String>) -> Self {
        Self::Sql92(expression.into())
    }

    /// The subscription sent in heartbeats and pulls; a SQL92 selector that does not parse
    /// is refused with the parse error.
    pub(crate) fn subscription(&self, topic: &str, version: i64) -> Result<SubscriptionData> {
        match self {
            Self::Tag(expression) => {
                if looks_like_sql(expression) {
                    log::warn!(
                        "the tag expression {expression:?} for {topic} looks like SQL92 and matches \
                         only tags spelled that way; use MessageSelector::sql92 for a property filter"
                    );
                }
                Ok(SubscriptionData::from_tag_expression(topic, expression, version))
            }
            Self::Sql92(expression) => {
                crate::filter::Selector::parse(expression).map_err(|e| {
                    ClientError::invalid(format!("SQL92 selector {expression:?} for {topic}: {e}"))
                })?;
                let mut data = SubscriptionData::from_tag_expression(topic, "*", version);
                data.expression_type = Some("SQL92".into());
                data.sub_string = expression.trim().to_string();
                Ok(data)
            }
        }
    }
}

/// A tag expression with SQL's operators or keywords: almost certainly meant as SQL92.
fn looks_like_sql(expression: &str) -> bool {
    let upper = expression.to_ascii_uppercase();
    ['=', '>', '<', '(', '\''].iter().any(|c| upper.contains(*c))
        || [" AND ", " OR ", " BETWEEN ", " IS NULL", " IS NOT ", " IN ", "NOT "]
            .iter()
            .any(|k| upper.contains(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql92_subscriptions_carry_their_type_and_refuse_bad_syntax() {
        let s = MessageSelector::sql92(" a > 5 AND b = 'x' ").subscription("T", 7).unwrap();
        assert!(s.is_sql92());
        assert_eq!(s.sub_string, "a > 5 AND b = 'x'");
        assert!(s.tags_set.is_empty() && s.code_set.is_empty());
        let err = MessageSelector::sql92("a >").subscription("T", 7).unwrap_err();
        assert!(err.to_string().contains("SQL92 selector"), "{err}");
        let t = MessageSelector::tag("TagA || TagB").subscription("T", 7).unwrap();
        assert!(!t.is_sql92() && t.tags_set == ["TagA", "TagB"]);
    }

    #[test]
    fn sql_looking_tag_expressions_are_spotted() {
        assert!(looks_like_sql("a > 5"));
        assert!(looks_like_sql("color = 'red'"));
        assert!(looks_like_sql("x IS NULL"));
        assert!(!looks_like_sql("TagA || TagB"));
        assert!(!looks_like_sql("*"));
    }
}
