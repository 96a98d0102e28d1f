//! The pull service of a push consumer: a fixed set of `rmq-pull-<n>` threads (default 2) that
//! serve every assigned queue from one ready channel, with the long polls themselves in flight
//! on the remoting client's callback API, so no thread waits for a broker.
//!
//! **Tokens.** Each assigned queue has exactly one [`PullToken`], carrying the offset of its
//! next pull. At any time the token is in the ready channel, held by one pull thread (handling
//! it, or waiting out a flow-control or error delay), or inside the callback of the queue's one
//! pull in flight. Hence a queue never has two pulls in flight, the ready channel never holds
//! more events than there are live tokens, and [`PullService::add`] refuses queues beyond
//! [`READY_CAPACITY`] live tokens, so posting an event (which the remoting reader thread does
//! from the callback) never finds the channel full and never blocks. A token whose queue was
//! dropped is discarded by the next thread that sees it.
//!
//! **Flow control.** A queue is not pulled while the consumer is suspended or while its queue
//! holds more than `threshold_count` messages or `threshold_bytes` body bytes in flight, or
//! spans more than `max_span` offsets; its token then waits [`FLOW_CONTROL_DELAY`] and looks
//! again.
//!
//! **Offsets.** A pull thread handles an answer holding the queue's pull guard
//! ([`ProcessQueue::pull_guard`]); a rebalance that takes the queue away marks it dropped and
//! then takes the guard, so no pull thread moves the queue's offset after the release.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, select, Receiver, Sender, TrySendError};
use log::{debug, error, warn};
use parking_lot::Mutex;
use rocketmq_net::{NetError, RemotingCommand};

use super::consume_service::ConsumeService;
use super::Shared;
use crate::client::api::{self, PullOutcome, PullSpec, PULL_RPC_TIMEOUT};
use crate::client::error::{ClientError, Result};
use crate::client::process_queue::ProcessQueue;
use crate::client::sync::{stop_pair, StopHandle, Stopper};
use crate::protocol::body::heartbeat::SubscriptionData;
use crate::protocol::message::MessageExt;

/// Most queues (live tokens) one push consumer pulls; also the ready channel's capacity.
pub(super) const READY_CAPACITY: usize = 4096;
/// Pause after a failed pull (Java: 1 s in 5.x).
const PULL_ERROR_DELAY: Duration = Duration::from_secs(1);
/// Pause while a queue is over its flow-control limits (Java: 50 ms).
const FLOW_CONTROL_DELAY: Duration = Duration::from_millis(50);
/// How long a pull thread with no delayed token waits for an event before looking again.
const IDLE_WAIT: Duration = Duration::from_secs(3600);

/// Settings of the pull service.
#[derive(Debug, Clone, Copy)]
pub(super) struct PullOptions {
    /// Pull threads.
    pub threads: usize,
    /// Messages per pull.
    pub batch_size: i32,
    /// A queue is not pulled while it holds more messages than this in flight.
    pub threshold_count: usize,
    /// A queue is not pulled while it holds more body bytes than this in flight.
    pub threshold_bytes: usize,
    /// A queue is not pulled while its in-flight offsets span more than this.
    pub max_span: i64,
}

/// The pull threads and the ready channel they share.
pub(super) struct PullService {
    core: Arc<PullCore>,
    stop: Mutex<Option<StopHandle>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// What the pull threads share.
struct PullCore {
    shared: Arc<Shared>,
    consume: Arc<dyn ConsumeService>,
    opts: PullOptions,
    paused: AtomicBool,
    events: Sender<PullEvent>,
    live_tokens: Arc<AtomicUsize>,
}

/// The right to pull one queue, from `offset`; exactly one exists per assigned queue.
struct PullToken {
    pq: Arc<ProcessQueue>,
    offset: i64,
    _live: LiveToken,
}

/// Counts a token as live until it is dropped.
struct LiveToken(Arc<AtomicUsize>);

/// What the ready channel carries.
enum PullEvent {
    /// Pull this queue now.
    Ready(PullToken),
    /// The queue's pull was answered, failed or could not be sent.
    Answered(Box<Answer>),
}

/// The outcome of one pull, with what is needed to read it.
struct Answer {
    token: PullToken,
    addr: String,
    subscription: SubscriptionData,
    result: Result<RemotingCommand>,
}

/// Returns a token to the ready channel exactly once: with the answer when the remoting client
/// calls back, or with an error when it drops the callback without calling it (the request
/// could not be sent).
struct Completion {
    pending: Option<(PullToken, String, SubscriptionData)>,
    events: Sender<PullEvent>,
}

/// What to do with a token next.
enum Step {
    /// Pull now.
    Pull(PullToken),
    /// Look again after a delay.
    Wait(Duration, PullToken),
    /// A pull is in flight; the callback returns the token.
    InFlight,
    /// The queue was dropped or the consumer is stopping: the token is discarded.
    Gone,
}

impl PullService {
    /// Starts `opts.threads` pull threads; queues are added with [`PullService::add`].
    pub(super) fn start(
        shared: Arc<Shared>,
        consume: Arc<dyn ConsumeService>,
        opts: PullOptions,
    ) -> Result<Self> {
        assert!(opts.threads > 0, "the builder enforces at least one pull thread");
        let (events, rx) = bounded(READY_CAPACITY);
        let core = Arc::new(PullCore {
            shared,
            consume,
            opts,
            paused: AtomicBool::new(false),
            events,
            live_tokens: Arc::new(AtomicUsize::new(0)),
        });
        let (stop, stopper) = stop_pair();
        let service = Self { core, stop: Mutex::new(Some(stop)), threads: Mutex::new(Vec::new()) };
        for i in 0..opts.threads {
            let (core, rx, stopper) = (Arc::clone(&service.core), rx.clone(), stopper.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("rmq-pull-{i}"))
                .spawn(move || core.run(&rx, &stopper));
            match spawned {
                Ok(handle) => service.threads.lock().push(handle),
                Err(e) => {
                    service.shutdown();
                    return Err(ClientError::invalid(format!("cannot spawn: {e}")));
                }
            }
        }
        Ok(service)
    }

    /// Starts pulling `pq` from `offset`; false (nothing started) if the consumer already
    /// pulls [`READY_CAPACITY`] queues.
    pub(super) fn add(&self, pq: Arc<ProcessQueue>, offset: i64) -> bool {
        let Some(live) = LiveToken::acquire(&self.core.live_tokens) else {
            warn!("{}: cannot pull more than {READY_CAPACITY} queues", self.core.shared.group);
            return false;
        };
        post(&self.core.events, PullEvent::Ready(PullToken { pq, offset, _live: live }));
        true
    }

    /// Stops (or resumes) pulling every queue; messages already pulled are still consumed.
    pub(super) fn set_paused(&self, paused: bool) {
        self.core.paused.store(paused, Ordering::Release);
    }

    /// Stops the pull threads and waits for them; pulls still in flight are dropped when they
    /// come back. Queues are not marked dropped, so what was pulled still commits. Idempotent.
    pub(super) fn shutdown(&self) {
        if let Some(mut stop) = self.stop.lock().take() {
            stop.stop();
        }
        for handle in self.threads.lock().drain(..) {
            if handle.join().is_err() {
                warn!("a pull thread of {} panicked", self.core.shared.group);
            }
        }
    }
}

impl LiveToken {
    /// Counts one more live token, unless [`READY_CAPACITY`] are live already.
    fn acquire(live: &Arc<AtomicUsize>) -> Option<Self> {
        if live.fetch_add(1, Ordering::AcqRel) >= READY_CAPACITY {
            live.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Self(Arc::clone(live)))
    }
}

impl Drop for LiveToken {
    fn drop(&mut self) {
        let before = self.0.fetch_sub(1, Ordering::AcqRel);
        assert!(before > 0, "a live token was counted");
    }
}

/// Puts an event into the ready channel without blocking (the caller may be the remoting
/// reader thread).
fn post(events: &Sender<PullEvent>, event: PullEvent) {
    match events.try_send(event) {
        Ok(()) => {}
        // The pull threads are gone: the consumer is shutting down and the token dies with it.
        Err(TrySendError::Disconnected(_)) => {}
        Err(TrySendError::Full(_)) => {
            // Unreachable while the token invariant holds (events <= live tokens <= capacity);
            // if it ever breaks, the queue stops being pulled until the next rebalance
            // reassigns it, which is better than blocking the reader thread.
            error!("the pull ready channel is full; a queue's pull token was lost");
            debug_assert!(false, "pull ready channel full");
        }
    }
}

impl Completion {
    fn call_back(mut self, result: std::result::Result<RemotingCommand, NetError>) {
        if let Some((token, addr, subscription)) = self.pending.take() {
            let result = result.map_err(|e| ClientError::from_net(&addr, e));
            let answer = Answer { token, addr, subscription, result };
            post(&self.events, PullEvent::Answered(Box::new(answer)));
        }
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        if let Some((token, addr, subscription)) = self.pending.take() {
            let closed = NetError::ConnectionClosed { addr: addr.clone() };
            let result = Err(ClientError::from_net(&addr, closed));
            let answer = Answer { token, addr, subscription, result };
            post(&self.events, PullEvent::Answered(Box::new(answer)));
        }
    }
}

impl PullCore {
    /// One `rmq-pull-<n>` thread: handles events as they come and delayed tokens when due.
    fn run(&self, rx: &Receiver<PullEvent>, stopper: &Stopper) {
        let mut delayed: Vec<(Instant, PullToken)> = Vec::new();
        loop {
            let next_due = delayed.iter().map(|(due, _)| *due).min();
            let wait = next_due.map_or(IDLE_WAIT, |d| d.saturating_duration_since(Instant::now()));
            select! {
                recv(rx) -> event => match event {
                    Ok(event) => self.handle(event, stopper, &mut delayed),
                    Err(_) => return,
                },
                recv(stopper.receiver()) -> _ => return,
                default(wait) => {}
            }
            if stopper.is_stopped() {
                return;
            }
            self.run_due(&mut delayed, stopper);
        }
    }

    fn handle(&self, event: PullEvent, stopper: &Stopper, delayed: &mut Vec<(Instant, PullToken)>) {
        let step = match event {
            PullEvent::Ready(token) => Step::Pull(token),
            PullEvent::Answered(answer) => self.on_answer(*answer, stopper),
        };
        let step = match step {
            Step::Pull(token) => self.pull(token),
            other => other,
        };
        if let Step::Wait(delay, token) = step {
            delayed.push((Instant::now() + delay, token));
        }
    }

    /// Pulls every delayed token that is due.
    fn run_due(&self, delayed: &mut Vec<(Instant, PullToken)>, stopper: &Stopper) {
        let now = Instant::now();
        let (due, waiting): (Vec<_>, Vec<_>) = delayed.drain(..).partition(|(d, _)| *d <= now);
        *delayed = waiting;
        for (_, token) in due {
            self.handle(PullEvent::Ready(token), stopper, delayed);
        }
    }

    /// Whether `pq` is over a flow-control limit.
    fn flow_controlled(&self, pq: &ProcessQueue) -> bool {
        let (count, bytes, span) = pq.load();
        count > self.opts.threshold_count
            || bytes > self.opts.threshold_bytes
            || span > self.opts.max_span
    }

    /// Sends the token's long poll, unless the queue may not be pulled now.
    fn pull(&self, token: PullToken) -> Step {
        let (shared, pq) = (&self.shared, &token.pq);
        if pq.is_dropped() {
            return Step::Gone;
        }
        if self.paused.load(Ordering::Acquire) || self.flow_controlled(pq) {
            return Step::Wait(FLOW_CONTROL_DELAY, token);
        }
        let Some(subscription) = shared.subscription(&pq.mq.topic) else {
            return Step::Wait(PULL_ERROR_DELAY, token);
        };
        let addr = match api::master_of(&shared.instance, &pq.mq) {
            Ok(addr) => addr,
            Err(e) => {
                debug!("pull of {} failed: {e}", pq.mq);
                shared.instance.refresh_route_after_failure(&pq.mq.topic);
                return Step::Wait(PULL_ERROR_DELAY, token);
            }
        };
        let commit_offset =
            if shared.is_clustering() { shared.offsets.read_memory(&pq.mq) } else { None };
        let cmd = api::pull_command(&PullSpec {
            group: &shared.group,
            mq: &pq.mq,
            offset: token.offset,
            max_msg_nums: self.opts.batch_size,
            commit_offset,
            subscription: &subscription,
            suspend: true,
        });
        let completion = Completion {
            pending: Some((token, addr.clone(), subscription)),
            events: self.events.clone(),
        };
        let callback = Box::new(move |r| completion.call_back(r));
        if let Err(e) =
            shared.instance.remoting.invoke_async(&addr, cmd, PULL_RPC_TIMEOUT, callback)
        {
            // The dropped callback has already returned the token with an error.
            debug!("a pull to {addr} could not be sent: {e}");
        }
        Step::InFlight
    }

    /// Reads a pull's outcome: delivers its messages and moves the token's offset on.
    fn on_answer(&self, answer: Answer, stopper: &Stopper) -> Step {
        let Answer { mut token, addr, subscription, result } = answer;
        let pq = Arc::clone(&token.pq);
        let _guard = pq.pull_guard();
        if pq.is_dropped() {
            return Step::Gone;
        }
        let shared = &self.shared;
        let spec = PullSpec {
            group: &shared.group,
            mq: &pq.mq,
            offset: token.offset,
            max_msg_nums: self.opts.batch_size,
            commit_offset: None,
            subscription: &subscription,
            suspend: true,
        };
        match result.and_then(|resp| api::pull_outcome(&addr, &spec, &resp)) {
            Ok(PullOutcome::Found { next_offset, messages }) => {
                token.offset = next_offset;
                if !messages.is_empty() && !self.deliver(&pq, messages, stopper) {
                    return Step::Gone;
                }
                self.commit_if_idle(&pq, next_offset);
            }
            Ok(PullOutcome::NoNewMessage { next_offset }) => {
                token.offset = next_offset;
                self.commit_if_idle(&pq, next_offset);
            }
            Ok(PullOutcome::OffsetMoved { next_offset }) => {
                let group = &shared.group;
                warn!(
                    "{group}: offset {} of {} is invalid; moving to {next_offset}",
                    token.offset, pq.mq
                );
                token.offset = next_offset;
                shared.offsets.update(&pq.mq, next_offset, false);
                shared.persist_offsets(std::slice::from_ref(&pq.mq));
            }
            Err(e) => {
                debug!("pull of {} failed: {e}", pq.mq);
                shared.instance.refresh_route_after_failure(&pq.mq.topic);
                return Step::Wait(PULL_ERROR_DELAY, token);
            }
        }
        Step::Pull(token)
    }

    /// Records pulled messages as in flight and submits them; false if stopped or dropped
    /// before all were taken (they stay in flight, holding the offset back, and are pulled
    /// again by whoever owns the queue next).
    fn deliver(
        &self,
        pq: &Arc<ProcessQueue>,
        messages: Vec<MessageExt>,
        stopper: &Stopper,
    ) -> bool {
        pq.put(messages.iter().map(|m| (m.queue_offset, m.body.len())));
        self.consume.submit(pq, messages, stopper)
    }

    /// With nothing in flight, the queue's position is where the next pull starts (filtered
    /// or no messages still move the committed offset forward).
    fn commit_if_idle(&self, pq: &ProcessQueue, next_offset: i64) {
        if pq.is_empty() && !pq.is_dropped() {
            self.shared.offsets.update(&pq.mq, next_offset, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::body::queue::MessageQueue;

    fn token(live: &Arc<AtomicUsize>, offset: i64) -> PullToken {
        let pq = Arc::new(ProcessQueue::new(MessageQueue::new("T", "b", 0)));
        PullToken { pq, offset, _live: LiveToken::acquire(live).expect("below capacity") }
    }

    fn answered(rx: &Receiver<PullEvent>) -> Answer {
        match rx.try_recv() {
            Ok(PullEvent::Answered(answer)) => *answer,
            Ok(PullEvent::Ready(_)) => panic!("expected an answer, got a ready token"),
            Err(e) => panic!("expected an answer: {e}"),
        }
    }

    #[test]
    fn live_tokens_are_capped_and_counted_down_on_drop() {
        let live = Arc::new(AtomicUsize::new(0));
        let tokens: Vec<LiveToken> =
            (0..READY_CAPACITY).map(|_| LiveToken::acquire(&live).unwrap()).collect();
        assert!(LiveToken::acquire(&live).is_none(), "capacity reached");
        assert_eq!(live.load(Ordering::Acquire), READY_CAPACITY);
        drop(tokens);
        assert_eq!(live.load(Ordering::Acquire), 0);
        assert!(LiveToken::acquire(&live).is_some());
    }

    #[test]
    fn a_callback_returns_its_token_exactly_once() {
        let live = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded(4);
        let sub = SubscriptionData::from_tag_expression("T", "*", 1);
        let completion =
            Completion { pending: Some((token(&live, 7), "a:1".into(), sub)), events: tx };
        completion.call_back(Ok(RemotingCommand::response(0, None)));
        let answer = answered(&rx);
        assert_eq!((answer.token.offset, answer.addr.as_str()), (7, "a:1"));
        assert!(answer.result.is_ok());
        assert!(rx.try_recv().is_err(), "no second event after the callback ran");
        assert_eq!(live.load(Ordering::Acquire), 1, "the token is alive in the answer");
        drop(answer);
        assert_eq!(live.load(Ordering::Acquire), 0);
    }

    #[test]
    fn a_callback_dropped_unrun_returns_its_token_with_an_error() {
        let live = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded(4);
        let sub = SubscriptionData::from_tag_expression("T", "*", 1);
        drop(Completion { pending: Some((token(&live, 9), "a:1".into(), sub)), events: tx });
        let answer = answered(&rx);
        assert_eq!(answer.token.offset, 9);
        assert!(matches!(answer.result, Err(ClientError::Net { .. })));
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn a_token_posted_after_shutdown_is_discarded() {
        let live = Arc::new(AtomicUsize::new(0));
        let (tx, rx) = bounded(1);
        drop(rx);
        post(&tx, PullEvent::Ready(token(&live, 0)));
        assert_eq!(live.load(Ordering::Acquire), 0, "the token died with the channel");
    }
}
