//! Message properties as an owned, ordered list of pairs: what the broker edits when it
//! re-puts a message (send-back, delay diversion, DLQ, schedule delivery). The encoded
//! string form and its codec live in `rocketmq_store::record`; this module only edits pairs.

/// Owned properties of one message, in their original order.
pub type Props = Vec<(String, String)>;

/// The value of `key`, if present.
pub fn prop<'a>(props: &'a Props, key: &str) -> Option<&'a str> {
    props.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Sets `key` to `value`, in place when present (the order of the others is kept).
pub fn set_prop(props: &mut Props, key: &str, value: impl Into<String>) {
    let value = value.into();
    match props.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => props.push((key.to_string(), value)),
    }
}

/// Removes every pair with `key`.
pub fn remove_prop(props: &mut Props, key: &str) {
    props.retain(|(k, _)| k != key);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_replaces_in_place_and_remove_drops() {
        let mut p: Props = vec![("A".into(), "1".into()), ("C".into(), "4".into())];
        set_prop(&mut p, "A", "2");
        set_prop(&mut p, "B", "3");
        assert_eq!(prop(&p, "A"), Some("2"));
        assert_eq!(p[0].0, "A", "a replaced value keeps its place");
        remove_prop(&mut p, "A");
        assert_eq!(p, vec![("C".to_string(), "4".to_string()), ("B".to_string(), "3".to_string())]);
        assert_eq!(prop(&p, "A"), None);
    }
}
