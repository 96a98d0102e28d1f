//! Transactional messages (STORAGE.md §11, PROTOCOL.md §5.4): which transactions are resolved,
//! the half message as stored, and the writes that resolve one (the committed message and the
//! op entry). `end.rs` is the END_TRANSACTION processor; `check.rs` the `txn-check` thread that
//! asks producers about half messages nobody resolved.
//!
//! A half message lives in `RMQ_SYS_TRANS_HALF_TOPIC` queue 0. The check-back service may
//! re-append a copy of it (with TRANSACTION_CHECK_TIMES + 1); every copy carries the queue
//! offset of the first half message in [`PROPERTY_ORIGIN_OFFSET`], and a transaction is
//! identified by that origin offset, so a commit of any copy resolves them all.
//!
//! Invariant: a transaction is resolved at most once. [`TxnLog::claim`] decides under one
//! lock: resolutions made by this process are in memory; a transaction that may have been
//! resolved before (its origin is older than this process, or its in-memory entry was pruned a
//! round after the check service passed it) is looked up in the index: an op entry keyed by its
//! transaction id, or a committed message with that id in its real topic. The committed message
//! is written before its op entry, so a crash between them leaves the committed message, which
//! the lookup finds. This relies on the store's index (`index_enable`, on by default).

mod check;
mod end;

use std::collections::BTreeSet;

use parking_lot::Mutex;
use rocketmq_store::record::{self, MessageToStore, RecordView};
use rocketmq_store::{MessageStore, PhysOffset, PutResult, QueueId};

use crate::broker::topics::TopicTable;
use crate::protocol::body::register::TopicConfig;
use crate::protocol::constants::{perm, TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC};
use crate::protocol::properties::{prop, remove_prop, set_prop, Props};
use crate::remoting::now_ms;

pub(crate) use check::{run as run_check, Checker};
pub(crate) use end::EndTransactionProcessor;

/// The system group whose consumer offsets record the check service's progress.
pub const CHECK_GROUP: &str = "CID_RMQ_SYS_TRANS";
/// Where half messages go after `transactionCheckMax` checks or past the retention time.
pub const CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";
/// The queue offset of the first half message of a transaction, on every re-appended copy.
pub const PROPERTY_ORIGIN_OFFSET: &str = "TRAN_ORIGIN_OFFSET";
/// The tag of op entries (Java's REMOVE_TAG).
const REMOVE_TAG: &str = "d";
/// The half and op topics have one queue.
pub const HALF_QUEUE: QueueId = QueueId(0);
/// Committed messages looked at when checking whether a transaction was committed before.
const COMMITS_LOOKED_UP: usize = 8;

/// Creates the half, op and check-max topics when missing, so admin tools list them as Java's
/// do (as system topics no client may send to).
pub(crate) fn ensure_topics(topics: &TopicTable) -> std::io::Result<()> {
    for name in [TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC, CHECK_MAX_TIME_TOPIC] {
        if topics.get(name).is_none() {
            let mut t = TopicConfig::new(name, 1);
            t.perm = perm::READ_WRITE;
            topics.put(t)?;
        }
    }
    Ok(())
}

/// What the broker needs of a stored half message.
#[derive(Debug, Clone)]
pub(crate) struct Half {
    /// Its own commitlog offset.
    pub phys_offset: PhysOffset,
    /// Its own offset in the half queue.
    pub queue_offset: u64,
    /// The half-queue offset of the transaction's first half message.
    pub origin: u64,
    /// The transaction id (`__transactionId__`, else UNIQ_KEY; empty if neither).
    pub transaction_id: String,
    /// PGROUP.
    pub producer_group: Option<String>,
    /// REAL_TOPIC and REAL_QID.
    pub real: Option<(String, QueueId)>,
    /// TRANSACTION_CHECK_TIMES (0 when never checked).
    pub check_times: u32,
    /// CHECK_IMMUNITY_TIME_IN_SECONDS, if set and positive.
    pub immunity_s: Option<i64>,
    /// When the producer made it.
    pub born_timestamp_ms: i64,
    /// Its decoded properties.
    pub props: Props,
}

impl Half {
    /// Reads the transaction fields of a record of the half topic.
    pub fn of(view: &RecordView<'_>) -> Self {
        let props = record::decode_properties(view.properties);
        let get = |k: &str| prop(&props, k);
        let real_qid = get(record::PROPERTY_REAL_QUEUE_ID).and_then(|q| q.parse::<u32>().ok());
        let real =
            get(record::PROPERTY_REAL_TOPIC).zip(real_qid).map(|(t, q)| (t.into(), QueueId(q)));
        let transaction_id = get(record::PROPERTY_TRANSACTION_ID)
            .or_else(|| get(record::PROPERTY_UNIQ_KEY))
            .unwrap_or_default()
            .to_string();
        Self {
            phys_offset: view.phys_offset,
            queue_offset: view.queue_offset,
            origin: get(PROPERTY_ORIGIN_OFFSET)
                .and_then(|o| o.parse().ok())
                .unwrap_or(view.queue_offset),
            transaction_id,
            producer_group: get(record::PROPERTY_PRODUCER_GROUP).map(str::to_string),
            real,
            check_times: get(record::PROPERTY_TRANSACTION_CHECK_TIMES)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            immunity_s: get(record::PROPERTY_CHECK_IMMUNITY_TIME_IN_SECONDS)
                .and_then(|s| s.parse().ok())
                .filter(|s: &i64| *s > 0),
            born_timestamp_ms: view.born_timestamp_ms,
            props,
        }
    }
}

/// The resolved transactions (see the module doc).
#[derive(Debug)]
pub(crate) struct TxnLog {
    resolved: Mutex<Resolved>,
}

#[derive(Debug)]
struct Resolved {
    /// Origins resolved by this process, at or above `floor`.
    set: BTreeSet<u64>,
    /// Origins below this may have been resolved without an entry in `set`.
    floor: u64,
}

impl TxnLog {
    /// Origins stored before this start are looked up in the index.
    pub fn open(store: &MessageStore) -> Self {
        let floor = store.max_offset(TRANS_HALF_TOPIC, HALF_QUEUE).0;
        Self { resolved: Mutex::new(Resolved { set: BTreeSet::new(), floor }) }
    }

    /// Claims the resolution of `half`'s transaction: true if nobody resolved it before; the
    /// caller then writes the resolution (or calls [`Self::unclaim`] when it cannot).
    pub fn claim(&self, store: &MessageStore, half: &Half) -> bool {
        let mut r = self.resolved.lock();
        if r.set.contains(&half.origin) {
            return false;
        }
        let before = half.origin < r.floor && resolved_on_disk(store, half);
        r.set.insert(half.origin);
        !before
    }

    /// Undoes a claim whose resolution could not be written.
    pub fn unclaim(&self, half: &Half) {
        self.resolved.lock().set.remove(&half.origin);
    }

    /// Whether `half`'s transaction is resolved (the check service asks before checking).
    pub fn is_resolved(&self, store: &MessageStore, half: &Half) -> bool {
        let mut r = self.resolved.lock();
        if r.set.contains(&half.origin) {
            return true;
        }
        if half.origin < r.floor && resolved_on_disk(store, half) {
            r.set.insert(half.origin);
            return true;
        }
        false
    }

    /// Forgets in-memory resolutions below `floor` (the progress of the previous check
    /// round: by then their op entries are long indexed). The floor never goes down.
    pub fn prune(&self, floor: u64) {
        let mut r = self.resolved.lock();
        if floor > r.floor {
            r.floor = floor;
            r.set = r.set.split_off(&floor);
        }
    }
}

/// Whether the index shows `half`'s transaction resolved: an op entry keyed by its id, or a
/// committed message with that id in its real topic.
fn resolved_on_disk(store: &MessageStore, half: &Half) -> bool {
    if half.transaction_id.is_empty() {
        return false;
    }
    let id = &half.transaction_id;
    if !store.query_by_key(TRANS_OP_HALF_TOPIC, id, 1, 0, i64::MAX).is_empty() {
        return true;
    }
    let Some((topic, _)) = &half.real else { return false };
    store.query_by_key(topic, id, COMMITS_LOOKED_UP, 0, i64::MAX).iter().any(|rec| {
        RecordView::parse(rec).is_ok_and(|v| {
            record::transaction_type(v.sys_flag) == record::SYS_FLAG_TRANSACTION_COMMIT
        })
    })
}

/// The committed message of `half`: its real topic and queue, body, flag, born info and
/// properties without the transaction bookkeeping; sys flag COMMIT;
/// `preparedTransactionOffset` = the half message's commitlog offset.
pub(crate) fn committed_message(
    view: &RecordView<'_>,
    half: &Half,
    real: (String, QueueId),
) -> MessageToStore {
    let mut props = half.props.clone();
    for key in [
        record::PROPERTY_TRANSACTION_PREPARED,
        record::PROPERTY_REAL_TOPIC,
        record::PROPERTY_REAL_QUEUE_ID,
        record::PROPERTY_TRANSACTION_CHECK_TIMES,
        PROPERTY_ORIGIN_OFFSET,
    ] {
        remove_prop(&mut props, key);
    }
    let sys_flag =
        (view.sys_flag & !record::SYS_FLAG_TRANSACTION_MASK) | record::SYS_FLAG_TRANSACTION_COMMIT;
    MessageToStore {
        topic: real.0,
        queue_id: real.1,
        flag: view.flag,
        body: view.body.to_vec(),
        properties: record::encode_properties(&props),
        sys_flag,
        born_timestamp_ms: view.born_timestamp_ms,
        born_host: view.born_host,
        store_host: view.store_host,
        reconsume_times: view.reconsume_times,
        prepared_transaction_offset: i64::try_from(half.phys_offset.0).unwrap_or(i64::MAX),
    }
}

/// Writes the op entry that marks `half`'s transaction resolved: tag `d`, body = the origin
/// offset followed by `,` (Java's shape), KEYS = the transaction id so the index finds it.
pub(crate) fn write_op(
    store: &MessageStore,
    half: &Half,
    store_host: std::net::SocketAddrV4,
) -> Result<PutResult, rocketmq_store::PutError> {
    let mut props = Props::new();
    set_prop(&mut props, record::PROPERTY_TAGS, REMOVE_TAG);
    if !half.transaction_id.is_empty() {
        set_prop(&mut props, record::PROPERTY_KEYS, half.transaction_id.clone());
    }
    append(
        store,
        MessageToStore {
            topic: TRANS_OP_HALF_TOPIC.to_string(),
            queue_id: HALF_QUEUE,
            flag: 0,
            body: format!("{},", half.origin).into_bytes(),
            properties: record::encode_properties(&props),
            sys_flag: 0,
            born_timestamp_ms: i64::try_from(now_ms()).unwrap_or(i64::MAX),
            born_host: store_host,
            store_host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        },
    )
}

/// Appends without waiting for a sync flush: END_TRANSACTION is oneway, and a resolution lost
/// in a crash is asked for again by the check service, so the send pool's thread does not
/// wait for a group commit here.
pub(crate) fn append(
    store: &MessageStore,
    msg: MessageToStore,
) -> Result<PutResult, rocketmq_store::PutError> {
    let res = store.put_messages_deferred(std::slice::from_ref(&msg)).map(|p| p.result);
    store.count_deferred(&res);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn half_view_bytes(props: &str) -> Vec<u8> {
        let host = std::net::SocketAddrV4::new([127, 0, 0, 1].into(), 10911);
        let msg = MessageToStore {
            topic: TRANS_HALF_TOPIC.into(),
            queue_id: HALF_QUEUE,
            flag: 3,
            body: b"order".to_vec(),
            properties: props.into(),
            sys_flag: 0,
            born_timestamp_ms: 5,
            born_host: host,
            store_host: host,
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        };
        let mut out = Vec::new();
        record::encode_record(&msg, &mut out).unwrap();
        record::patch_record(&mut out, 7, PhysOffset(4096), 9);
        out
    }

    #[test]
    fn a_half_names_its_real_queue_origin_and_check_count() {
        let props = "TRAN_MSG\u{1}true\u{2}PGROUP\u{1}pg\u{2}UNIQ_KEY\u{1}U\u{2}\
                     REAL_TOPIC\u{1}Orders\u{2}REAL_QID\u{1}2\u{2}TRANSACTION_CHECK_TIMES\u{1}3\u{2}\
                     TRAN_ORIGIN_OFFSET\u{1}1\u{2}";
        let bytes = half_view_bytes(props);
        let view = RecordView::parse(&bytes).unwrap();
        let half = Half::of(&view);
        assert_eq!(half.real, Some(("Orders".to_string(), QueueId(2))));
        assert_eq!((half.origin, half.queue_offset, half.check_times), (1, 7, 3));
        assert_eq!(half.transaction_id, "U");
        assert_eq!(half.producer_group.as_deref(), Some("pg"));
        let commit = committed_message(&view, &half, half.real.clone().unwrap());
        assert_eq!((commit.topic.as_str(), commit.queue_id), ("Orders", QueueId(2)));
        assert_eq!(commit.sys_flag & record::SYS_FLAG_TRANSACTION_MASK, 8);
        assert_eq!(commit.prepared_transaction_offset, 4096);
        assert_eq!(commit.flag, 3);
        for gone in ["TRAN_MSG", "REAL_TOPIC", "REAL_QID", "TRANSACTION_CHECK_TIMES", "TRAN_ORIGIN"]
        {
            assert!(!commit.properties.contains(gone), "{gone} left in {:?}", commit.properties);
        }
        assert!(commit.properties.contains("PGROUP\u{1}pg"));
    }

    fn small_store(dir: &std::path::Path) -> MessageStore {
        let mut config = rocketmq_store::StoreConfig::new(dir);
        config.commitlog_file_size_bytes = 1 << 20;
        config.index_hash_slots = 1024;
        config.index_max_entries = 4096;
        MessageStore::open(config).unwrap()
    }

    fn half_with(origin: u64, id: &str) -> Half {
        let bytes = half_view_bytes(&format!(
            "UNIQ_KEY\u{1}{id}\u{2}REAL_TOPIC\u{1}T\u{2}REAL_QID\u{1}0\u{2}"
        ));
        let mut half = Half::of(&RecordView::parse(&bytes).unwrap());
        half.origin = origin;
        half
    }

    /// A transaction is claimed once; after its in-memory entry is pruned, the op entry in
    /// the index still says it is resolved, and a transaction never resolved stays open.
    #[test]
    fn a_transaction_is_claimed_once_even_after_pruning() {
        let dir = tempfile::tempdir().unwrap();
        let store = small_store(dir.path());
        let log = TxnLog::open(&store);
        let host = std::net::SocketAddrV4::new([127, 0, 0, 1].into(), 10911);
        let (done, open) = (half_with(3, "DONE"), half_with(4, "OPEN"));
        assert!(log.claim(&store, &done));
        assert!(!log.claim(&store, &done), "claimed twice");
        write_op(&store, &done, host).unwrap();
        assert!(store.wait_dispatched(std::time::Duration::from_secs(5)));
        log.prune(10);
        assert!(log.is_resolved(&store, &done), "the pruned resolution is forgotten");
        assert!(!log.claim(&store, &done), "claimed again after pruning");
        assert!(!log.is_resolved(&store, &open));
        assert!(log.claim(&store, &open));
        log.unclaim(&open);
        assert!(log.claim(&store, &open), "an unclaimed transaction can be claimed again");
        store.shutdown();
    }

    #[test]
    fn the_first_half_is_its_own_origin() {
        let bytes = half_view_bytes("UNIQ_KEY\u{1}U\u{2}");
        let half = Half::of(&RecordView::parse(&bytes).unwrap());
        assert_eq!(half.origin, 7);
        assert_eq!(half.real, None);
    }
}
