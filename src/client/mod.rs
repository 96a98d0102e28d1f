//! The blocking RocketMQ client: [`Producer`], [`PushConsumer`], [`PullConsumer`] (lite pull)
//! and [`Admin`]. No async runtime: every call blocks the calling thread, and background work
//! runs on named threads that `shutdown` (or `Drop`) joins.
//!
//! It speaks the remoting protocol exactly as the Java 4.x/5.x client does (JSON headers,
//! `language: JAVA`, SEND_MESSAGE_V2, long-polling PULL_MESSAGE, heartbeats, client-side
//! rebalance), so it works against this project's broker and against stock Apache RocketMQ.
//!
//! ```no_run
//! use std::time::Duration;
//! use rocketmq::client::{ConsumeStatus, Message, Producer, PushConsumer};
//!
//! # fn main() -> Result<(), rocketmq::client::ClientError> {
//! let producer = Producer::builder().name_server("127.0.0.1:9876").group("pg").build()?;
//! let result = producer.send(&Message::new("TopicTest", "hello").with_tags("TagA"))?;
//! println!("sent {} to {}", result.msg_id, result.queue);
//!
//! let consumer = PushConsumer::builder().name_server("127.0.0.1:9876").group("cg").build()?;
//! consumer.subscribe("TopicTest", "TagA || TagB")?;
//! consumer.start(|msgs, _ctx| {
//!     for m in msgs {
//!         println!("{}: {}", m.msg_id(), String::from_utf8_lossy(&m.body));
//!     }
//!     ConsumeStatus::Success
//! })?;
//! std::thread::sleep(Duration::from_secs(10));
//! consumer.shutdown();
//! # Ok(())
//! # }
//! ```
//!
//! Module map: `config` (ClientConfig, NAMESRV_ADDR), `error` (ClientError), `message`
//! (Message, SendResult, UNIQ_KEY ids), `instance` (remoting client, route cache, heartbeat
//! timer), `route` (queue selection, fault tolerance), `rebalance` (allocation), `process_queue`
//! (lowest-unconsumed offset tracking), `offset_store` (broker or file), `api` (typed broker
//! calls), `producer`, `transaction_producer`, `push_consumer` (rebalance, pull and consume services), `pull_consumer`,
//! `admin`.

#![warn(missing_docs)]

mod admin;
mod api;
mod config;
mod consumer;
mod error;
mod instance;
mod message;
mod offset_store;
mod process_queue;
mod producer;
mod pull_consumer;
mod push_consumer;
mod rebalance;
mod request;
mod route;
mod selector;
mod sync;
mod transaction_producer;

pub use admin::{Admin, AdminBuilder, ConsumerProgress, QueueProgress, TopicSpec};
pub use config::{local_ipv4, split_addrs, ClientConfig, NAMESRV_ADDR_ENV};
pub use consumer::{
    ConsumeContext, ConsumeFrom, ConsumeOrderlyContext, ConsumeOrderlyStatus, ConsumeStatus,
    MessageModel, DEFAULT_CONSUMER_GROUP,
};
pub use error::{ClientError, Result};
pub use message::{new_uniq_id, property, Message, SendResult, SendStatus, DELAY_LEVEL_MAX};
pub use process_queue::OffsetTracker;
pub use producer::{
    Producer, ProducerBuilder, SendCallback, DEFAULT_MAX_ASYNC_IN_FLIGHT, DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_PRODUCER_GROUP,
};
pub use pull_consumer::{PullConsumer, PullConsumerBuilder};
pub use push_consumer::{MessageListener, OrderlyListener, PushConsumer, PushConsumerBuilder};
pub use rebalance::AllocateStrategy;
pub use request::{create_reply, ReplyCallback};
pub use route::{queue_index_for_key, select_queue, FaultTolerance};
pub use selector::MessageSelector;
pub use transaction_producer::{
    LocalTransactionState, TransactionListener, TransactionProducer, TransactionSendResult,
};

pub use crate::protocol::body::admin::{ConsumerConnection, SubscriptionGroupConfig};
pub use crate::protocol::body::queue::MessageQueue;
pub use crate::protocol::body::queue::TopicOffset;
pub use crate::protocol::body::route::{ClusterInfo, TopicRouteData};
pub use crate::protocol::message::MessageExt;
