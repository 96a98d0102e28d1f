//! The mqadmin command line: the command names and short flags of RocketMQ's `mqadmin`
//! (`-n` nameserver, `-t` topic, `-c` cluster, `-b` broker, `-g` group …), plus `--json`.

use clap::{ArgAction, ArgGroup, Args, Parser, Subcommand};

/// `mqadmin <command> [options]`.
#[derive(Debug, Parser)]
#[command(
    name = "mqadmin",
    version,
    about = "Administer a RocketMQ-compatible cluster (same commands and flags as RocketMQ's \
             mqadmin).",
    after_help = "Exit codes: 0 success, 1 the command failed (one line on stderr), 2 usage \
                  error.\nSee 'mqadmin help <command>' for the options of one command.",
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Cli {
    /// Nameserver address(es): host:port, several joined by ';' (default: $NAMESRV_ADDR)
    #[arg(short = 'n', long = "namesrvAddr", global = true, value_name = "ADDR")]
    pub namesrv: Option<String>,
    /// Print JSON for scripts instead of the column layout
    #[arg(long, global = true)]
    pub json: bool,
    /// ACL 1.0 access key to sign requests with (default: accessKey of
    /// $ROCKETMQ_HOME/conf/tools.yml, as Java's mqadmin)
    #[arg(long = "accessKey", global = true, value_name = "AK", requires = "secret_key")]
    pub access_key: Option<String>,
    /// ACL 1.0 secret key (default: secretKey of $ROCKETMQ_HOME/conf/tools.yml)
    #[arg(long = "secretKey", global = true, value_name = "SK", requires = "access_key")]
    pub secret_key: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Update or create a topic on a broker or on every master of a cluster
    #[command(name = "updateTopic")]
    UpdateTopic(UpdateTopic),
    /// Delete a topic from a cluster's brokers and from the nameservers
    #[command(name = "deleteTopic")]
    DeleteTopic(DeleteTopic),
    /// List every topic (-c: with its cluster and consumer groups)
    #[command(name = "topicList")]
    TopicList(TopicList),
    /// Examine a topic's route (brokers and queues)
    #[command(name = "topicRoute")]
    TopicRoute(TopicRoute),
    /// Examine a topic's per-queue min/max offsets
    #[command(name = "topicStatus")]
    TopicStatus(TopicStatus),
    /// List the clusters and their brokers with runtime stats
    #[command(name = "clusterList")]
    ClusterList(ClusterList),
    /// Print a broker's runtime statistics
    #[command(name = "brokerStatus")]
    BrokerStatus(BrokerStatus),
    /// Query a consumer group's progress (per-queue offsets and lag), or all groups
    #[command(name = "consumerProgress")]
    ConsumerProgress(ConsumerProgress),
    /// Query a consumer group's live connections and subscriptions
    #[command(name = "consumerConnection")]
    ConsumerConnection(ConsumerConnection),
    /// Query a message by id (client UNIQ_KEY id or offset id)
    #[command(name = "queryMsgById")]
    QueryMsgById(QueryMsgById),
    /// Query messages by key
    #[command(name = "queryMsgByKey")]
    QueryMsgByKey(QueryMsgByKey),
    /// Query a message by queue and offset
    #[command(name = "queryMsgByOffset")]
    QueryMsgByOffset(QueryMsgByOffset),
    /// Reset a consumer group's offsets on a topic to a point in time
    #[command(name = "resetOffsetByTime")]
    ResetOffsetByTime(ResetOffsetByTime),
    /// Update or create a subscription (consumer) group
    #[command(name = "updateSubGroup")]
    UpdateSubGroup(UpdateSubGroup),
    /// Delete a subscription (consumer) group
    #[command(name = "deleteSubGroup")]
    DeleteSubGroup(DeleteSubGroup),
    /// Send one message
    #[command(name = "sendMessage")]
    SendMessage(SendMessage),
    /// Consume (read) messages of a topic, a queue or from an offset, without committing
    #[command(name = "consumeMessage")]
    ConsumeMessage(ConsumeMessage),
    /// Print every message of a topic (optionally in a time range and by tag)
    #[command(name = "printMsg")]
    PrintMsg(PrintMsg),
    /// Print a broker's configuration
    #[command(name = "getBrokerConfig")]
    GetBrokerConfig(GetBrokerConfig),
    /// Change a broker config key at runtime (Java's key names)
    #[command(name = "updateBrokerConfig")]
    UpdateBrokerConfig(UpdateBrokerConfig),
}

fn target_group() -> ArgGroup {
    ArgGroup::new("target").required(true).multiple(true).args(["broker_addr", "cluster_name"])
}

#[derive(Debug, Args)]
#[command(group = target_group())]
pub struct UpdateTopic {
    /// Topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// Create the topic on this broker (ip:port); takes precedence over -c
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: Option<String>,
    /// Create the topic on every master of this cluster
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
    /// Read queue count
    #[arg(short = 'r', long = "readQueueNums", default_value_t = 8)]
    pub read_queue_nums: i32,
    /// Write queue count
    #[arg(short = 'w', long = "writeQueueNums", default_value_t = 8)]
    pub write_queue_nums: i32,
    /// Permission: 2 = W, 4 = R, 6 = RW
    #[arg(short = 'p', long = "perm", default_value_t = 6)]
    pub perm: i32,
    /// Ordered topic (true|false)
    #[arg(short = 'o', long = "order", action = ArgAction::Set, default_value_t = false)]
    pub order: bool,
}

#[derive(Debug, Args)]
pub struct DeleteTopic {
    /// Topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// Cluster to delete it from
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: String,
}

#[derive(Debug, Args)]
pub struct TopicList {
    /// Cluster mode: print each topic's cluster and consumer groups
    #[arg(short = 'c', long = "clusterModel")]
    pub cluster_model: bool,
}

#[derive(Debug, Args)]
pub struct TopicRoute {
    /// Topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// Print a table instead of the route JSON
    #[arg(short = 'l', long = "list")]
    pub list: bool,
}

#[derive(Debug, Args)]
pub struct TopicStatus {
    /// Topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// Cluster name (accepted for compatibility; the topic's route names its brokers)
    #[arg(short = 'c', long = "cluster")]
    pub cluster: Option<String>,
}

#[derive(Debug, Args)]
pub struct ClusterList {
    /// Only this cluster
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
    /// Print message totals (yesterday / today) instead
    #[arg(short = 'm', long = "moreStats")]
    pub more_stats: bool,
    /// Repeat every SECONDS until interrupted
    #[arg(short = 'i', long = "interval", value_name = "SECONDS")]
    pub interval: Option<u64>,
}

#[derive(Debug, Args)]
#[command(group = target_group())]
pub struct BrokerStatus {
    /// Broker address (ip:port)
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: Option<String>,
    /// Every broker of this cluster
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
}

#[derive(Debug, Args)]
pub struct ConsumerProgress {
    /// Consumer group (omit for a summary of every group)
    #[arg(short = 'g', long = "groupName")]
    pub group: Option<String>,
    /// Only this topic
    #[arg(short = 't', long = "topicName")]
    pub topic: Option<String>,
    /// Show the client owning each queue (true|false); computed with the default
    /// (averaging) allocation over the group's live clients
    #[arg(short = 's', long = "showClientIP", action = ArgAction::Set, default_value_t = false)]
    pub show_client_ip: bool,
    /// Cluster name (accepted for compatibility)
    #[arg(short = 'c', long = "cluster")]
    pub cluster: Option<String>,
}

#[derive(Debug, Args)]
pub struct ConsumerConnection {
    /// Consumer group
    #[arg(short = 'g', long = "consumerGroup")]
    pub group: String,
    /// Broker address (accepted for compatibility; the masters are asked in turn)
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: Option<String>,
}

#[derive(Debug, Args)]
pub struct QueryMsgById {
    /// Message id(s), comma-separated: client ids (UNIQ_KEY) or offset ids
    #[arg(short = 'i', long = "msgId")]
    pub msg_id: String,
    /// Topic of the message
    #[arg(short = 't', long = "topic")]
    pub topic: String,
}

#[derive(Debug, Args)]
pub struct QueryMsgByKey {
    /// Topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// Message key
    #[arg(short = 'k', long = "msgKey")]
    pub key: String,
    /// Begin timestamp (ms, default 0)
    #[arg(short = 'b', long = "beginTimestamp", default_value_t = 0)]
    pub begin: i64,
    /// End timestamp (ms, default: no limit)
    #[arg(short = 'e', long = "endTimestamp", default_value_t = i64::MAX)]
    pub end: i64,
    /// Most messages returned
    #[arg(short = 'm', long = "maxNum", default_value_t = 64)]
    pub max_num: i32,
}

#[derive(Debug, Args)]
pub struct QueryMsgByOffset {
    /// Topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// Broker name
    #[arg(short = 'b', long = "brokerName")]
    pub broker_name: String,
    /// Queue id
    #[arg(short = 'i', long = "queueId")]
    pub queue_id: i32,
    /// Queue offset
    #[arg(short = 'o', long = "offset")]
    pub offset: i64,
}

#[derive(Debug, Args)]
pub struct ResetOffsetByTime {
    /// Consumer group
    #[arg(short = 'g', long = "group")]
    pub group: String,
    /// Topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// Time to go back (or forward) to: now, epoch ms, or yyyy-MM-dd#HH:mm:ss:SSS (UTC)
    #[arg(short = 's', long = "timestamp")]
    pub timestamp: String,
    /// Force the reset even when the new offset is larger than the current one (true|false)
    #[arg(short = 'f', long = "force", action = ArgAction::Set, default_value_t = true)]
    pub force: bool,
}

#[derive(Debug, Args)]
#[command(group = target_group())]
pub struct UpdateSubGroup {
    /// Consumer group
    #[arg(short = 'g', long = "groupName")]
    pub group: String,
    /// Create the group on this broker (ip:port); takes precedence over -c
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: Option<String>,
    /// Create the group on every master of this cluster
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
    /// Consume enabled (true|false)
    #[arg(short = 's', long = "consumeEnable", action = ArgAction::Set)]
    pub consume_enable: Option<bool>,
    /// Start from the min offset (true|false)
    #[arg(short = 'm', long = "consumeFromMinEnable", action = ArgAction::Set)]
    pub consume_from_min_enable: Option<bool>,
    /// Broadcast consumption allowed (true|false)
    #[arg(short = 'd', long = "consumeBroadcastEnable", action = ArgAction::Set)]
    pub consume_broadcast_enable: Option<bool>,
    /// Orderly consumption (true|false)
    #[arg(short = 'o', long = "consumeMessageOrderly", action = ArgAction::Set)]
    pub consume_message_orderly: Option<bool>,
    /// Retry queue count
    #[arg(short = 'q', long = "retryQueueNums")]
    pub retry_queue_nums: Option<i32>,
    /// Retries before a message goes to the dead-letter queue
    #[arg(short = 'r', long = "retryMaxTimes")]
    pub retry_max_times: Option<i32>,
    /// Consume from this broker id
    #[arg(short = 'i', long = "brokerId")]
    pub broker_id: Option<i64>,
    /// Broker id to consume from when consuming slowly
    #[arg(short = 'w', long = "whichBrokerWhenConsumeSlowly")]
    pub which_broker_when_consume_slowly: Option<i64>,
    /// Notify consumers when the group's membership changes (true|false)
    #[arg(short = 'a', long = "notifyConsumerIdsChanged", action = ArgAction::Set)]
    pub notify_consumer_ids_changed: Option<bool>,
}

#[derive(Debug, Args)]
#[command(group = target_group())]
pub struct DeleteSubGroup {
    /// Consumer group
    #[arg(short = 'g', long = "groupName")]
    pub group: String,
    /// Delete from this broker (ip:port); takes precedence over -c
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: Option<String>,
    /// Delete from every master of this cluster
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
    /// Also remove the group's offsets (true|false)
    #[arg(short = 'r', long = "removeOffset", action = ArgAction::Set, default_value_t = false)]
    pub remove_offset: bool,
}

#[derive(Debug, Args)]
pub struct SendMessage {
    /// Topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// Body (UTF-8)
    #[arg(short = 'p', long = "body")]
    pub body: String,
    /// Keys, space-separated
    #[arg(short = 'k', long = "key")]
    pub keys: Option<String>,
    /// Tag
    #[arg(short = 'c', long = "tags")]
    pub tags: Option<String>,
    /// Send to this broker name (with -i)
    #[arg(short = 'b', long = "broker", requires = "queue_id")]
    pub broker: Option<String>,
    /// Send to this queue id (with -b)
    #[arg(short = 'i', long = "qid", requires = "broker")]
    pub queue_id: Option<i32>,
}

#[derive(Debug, Args)]
pub struct ConsumeMessage {
    /// Topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// Broker name (with -i)
    #[arg(short = 'b', long = "brokerName")]
    pub broker_name: Option<String>,
    /// Queue id (needs -b)
    #[arg(short = 'i', long = "queueId", requires = "broker_name")]
    pub queue_id: Option<i32>,
    /// Start offset (needs -i)
    #[arg(short = 'o', long = "offset", requires = "queue_id")]
    pub offset: Option<i64>,
    /// Consumer group (accepted for compatibility; nothing is committed)
    #[arg(short = 'g', long = "consumerGroup")]
    pub group: Option<String>,
    /// Begin timestamp: epoch ms or yyyy-MM-dd#HH:mm:ss:SSS
    #[arg(short = 's', long = "beginTimestamp")]
    pub begin: Option<String>,
    /// End timestamp: epoch ms or yyyy-MM-dd#HH:mm:ss:SSS
    #[arg(short = 'e', long = "endTimestamp")]
    pub end: Option<String>,
    /// Most messages to print
    #[arg(short = 'c', long = "MessageNumber", default_value_t = 128)]
    pub count: u64,
}

#[derive(Debug, Args)]
pub struct PrintMsg {
    /// Topic name
    #[arg(short = 't', long = "topic")]
    pub topic: String,
    /// Charset of the bodies (only UTF-8 is decoded; others are printed as lossy UTF-8)
    #[arg(short = 'c', long = "charsetName", default_value = "UTF-8")]
    pub charset: String,
    /// Tag expression, e.g. 'TagA || TagB'
    #[arg(short = 's', long = "subExpression", default_value = "*")]
    pub sub_expression: String,
    /// Begin timestamp: epoch ms or yyyy-MM-dd#HH:mm:ss:SSS
    #[arg(short = 'b', long = "beginTimestamp")]
    pub begin: Option<String>,
    /// End timestamp: epoch ms or yyyy-MM-dd#HH:mm:ss:SSS
    #[arg(short = 'e', long = "endTimestamp")]
    pub end: Option<String>,
    /// Print the bodies (true|false)
    #[arg(short = 'd', long = "printBody", action = ArgAction::Set, default_value_t = true)]
    pub print_body: bool,
}

#[derive(Debug, Args)]
#[command(group = target_group())]
pub struct UpdateBrokerConfig {
    /// Broker address (ip:port)
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: Option<String>,
    /// Every master of this cluster
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
    /// Config key (Java's name, e.g. autoCreateTopicEnable)
    #[arg(short = 'k', long = "key")]
    pub key: String,
    /// Config value
    #[arg(short = 'v', long = "value")]
    pub value: String,
    /// Slaves too (accepted; this cluster has only masters)
    #[arg(short = 'a', long = "updateAllBroker", action = ArgAction::Set, default_value_t = false)]
    pub all: bool,
}

#[derive(Debug, Args)]
#[command(group = target_group())]
pub struct GetBrokerConfig {
    /// Broker address (ip:port)
    #[arg(short = 'b', long = "brokerAddr")]
    pub broker_addr: Option<String>,
    /// Every broker of this cluster
    #[arg(short = 'c', long = "clusterName")]
    pub cluster_name: Option<String>,
}
