//! Queue allocation among the members of a consumer group (STORAGE.md §13).
//!
//! Every member computes its own share from the same inputs (all readable queues sorted by
//! topic, broker and queue id; all client ids sorted), so the group agrees without a
//! coordinator once everyone has seen the same membership.

use crate::protocol::body::queue::MessageQueue;

/// How queues are divided among a group's clients.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AllocateStrategy {
    /// Contiguous blocks of nearly equal size (Java `AllocateMessageQueueAveragely`, default).
    #[default]
    Averagely,
    /// Queue `i` goes to client `i % n` (Java `AllocateMessageQueueAveragelyByCircle`).
    AveragelyByCircle,
}

impl AllocateStrategy {
    /// The queues `current` owns. `mq_all` and `cid_all` must be sorted; a client missing from
    /// `cid_all` (not yet registered) owns nothing.
    pub fn allocate(
        self,
        current: &str,
        mq_all: &[MessageQueue],
        cid_all: &[String],
    ) -> Vec<MessageQueue> {
        let Some(index) = cid_all.iter().position(|c| c == current) else {
            return Vec::new();
        };
        match self {
            Self::Averagely => averagely(index, mq_all, cid_all.len()),
            Self::AveragelyByCircle => {
                mq_all.iter().skip(index).step_by(cid_all.len()).cloned().collect()
            }
        }
    }

    /// The Java name of the strategy.
    pub fn name(self) -> &'static str {
        match self {
            Self::Averagely => "AVG",
            Self::AveragelyByCircle => "AVG_BY_CIRCLE",
        }
    }
}

/// Java's averaging rule: the first `|mq| % |cid|` clients take one extra queue.
fn averagely(index: usize, mq_all: &[MessageQueue], clients: usize) -> Vec<MessageQueue> {
    let queues = mq_all.len();
    let modulo = queues % clients;
    let size = if queues <= clients {
        1
    } else if index < modulo {
        queues / clients + 1
    } else {
        queues / clients
    };
    let start = if index < modulo { index * size } else { index * size + modulo };
    let take = size.min(queues.saturating_sub(start));
    mq_all.iter().skip(start).take(take).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queues(n: i32) -> Vec<MessageQueue> {
        let mut qs: Vec<_> = (0..n).map(|i| MessageQueue::new("T", "b", i)).collect();
        qs.sort();
        qs
    }

    fn cids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("c{i}")).collect()
    }

    fn ids(qs: &[MessageQueue]) -> Vec<i32> {
        qs.iter().map(|q| q.queue_id).collect()
    }

    #[test]
    fn eight_queues_three_clients_is_3_3_2() {
        let (mq, cid) = (queues(8), cids(3));
        let s = AllocateStrategy::Averagely;
        assert_eq!(ids(&s.allocate("c0", &mq, &cid)), [0, 1, 2]);
        assert_eq!(ids(&s.allocate("c1", &mq, &cid)), [3, 4, 5]);
        assert_eq!(ids(&s.allocate("c2", &mq, &cid)), [6, 7]);
    }

    #[test]
    fn more_clients_than_queues_leaves_some_idle() {
        let (mq, cid) = (queues(2), cids(3));
        let s = AllocateStrategy::Averagely;
        assert_eq!(ids(&s.allocate("c0", &mq, &cid)), [0]);
        assert_eq!(ids(&s.allocate("c1", &mq, &cid)), [1]);
        assert!(s.allocate("c2", &mq, &cid).is_empty());
        assert!(s.allocate("stranger", &mq, &cid).is_empty());
    }

    #[test]
    fn every_queue_has_exactly_one_owner() {
        for strategy in [AllocateStrategy::Averagely, AllocateStrategy::AveragelyByCircle] {
            for n_mq in 0..12 {
                for n_cid in 1..6 {
                    let (mq, cid) = (queues(n_mq), cids(n_cid));
                    let mut all: Vec<_> =
                        cid.iter().flat_map(|c| strategy.allocate(c, &mq, &cid)).collect();
                    all.sort();
                    assert_eq!(all, mq, "{strategy:?} {n_mq} queues, {n_cid} clients");
                }
            }
        }
    }

    #[test]
    fn circle_deals_round_robin() {
        let (mq, cid) = (queues(5), cids(2));
        assert_eq!(ids(&AllocateStrategy::AveragelyByCircle.allocate("c1", &mq, &cid)), [1, 3]);
    }
}
