//! Runs one mqadmin command against the cluster through [`Admin`] (and a [`Producer`] for
//! `sendMessage`), then writes the text layout or, with `--json`, a JSON document (JSON lines
//! for the commands that stream messages).

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rocketmq_net::ResponseCode;
use serde_json::{json, Value};

use super::cli::*;
use super::render::{self, GroupSummary, ProgressRow, Track};
use super::CliError;
use crate::client::{
    Admin, AllocateStrategy, ClientError, Message, MessageExt, MessageQueue, Producer,
    SubscriptionGroupConfig, TopicSpec, NAMESRV_ADDR_ENV,
};
use crate::protocol::constants::{perm, DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX};
use crate::tools::text;

type Res = Result<(), CliError>;

/// Messages asked for per pull by `printMsg` and `consumeMessage`.
const PULL_BATCH: i32 = 32;

/// What every command gets.
struct Ctx<'a> {
    admin: Admin,
    namesrv: String,
    json: bool,
    out: &'a mut dyn Write,
}

impl Ctx<'_> {
    fn text(&mut self, s: &str) -> Res {
        self.out.write_all(s.as_bytes())?;
        Ok(())
    }

    fn json(&mut self, v: &Value) -> Res {
        serde_json::to_writer_pretty(&mut *self.out, v).map_err(json_err)?;
        writeln!(self.out)?;
        Ok(())
    }

    fn json_line(&mut self, v: &Value) -> Res {
        serde_json::to_writer(&mut *self.out, v).map_err(json_err)?;
        writeln!(self.out)?;
        Ok(())
    }
}

fn json_err(e: serde_json::Error) -> CliError {
    match e.io_error_kind() {
        Some(kind) => CliError::from(std::io::Error::from(kind)),
        None => CliError::failed(e),
    }
}

fn failed(e: ClientError) -> CliError {
    CliError::failed(e)
}

/// The access and secret key to sign with: the flags, else `$ROCKETMQ_HOME/conf/tools.yml`
/// (`accessKey: …`, `secretKey: …`, as Java's `AclUtils.getAclRPCHook` reads it), else none.
fn credentials(cli: &Cli) -> Result<Option<(String, String)>, CliError> {
    if let (Some(ak), Some(sk)) = (&cli.access_key, &cli.secret_key) {
        return Ok(Some((ak.clone(), sk.clone())));
    }
    let Some(home) = std::env::var_os("ROCKETMQ_HOME") else { return Ok(None) };
    let path = std::path::Path::new(&home).join("conf").join("tools.yml");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let bad = |why: String| CliError::Usage(format!("{}: {why}", path.display()));
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).map_err(|e| bad(e.to_string()))?;
    let Some(doc) = docs.first() else { return Ok(None) };
    let field = |k: &str| match &doc[k] {
        yaml_rust2::Yaml::String(s) => Some(s.clone()),
        yaml_rust2::Yaml::Integer(n) => Some(n.to_string()),
        _ => None,
    };
    match (field("accessKey"), field("secretKey")) {
        (Some(ak), Some(sk)) => Ok(Some((ak, sk))),
        (None, None) => Ok(None),
        _ => Err(bad("names only one of accessKey and secretKey".into())),
    }
}

/// Runs `cli`'s command.
pub(super) fn execute(cli: &Cli, out: &mut dyn Write) -> Res {
    let namesrv = cli
        .namesrv
        .clone()
        .or_else(|| std::env::var(NAMESRV_ADDR_ENV).ok())
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "no nameserver address: pass -n host:9876 or set {NAMESRV_ADDR_ENV}"
            ))
        })?;
    let mut builder = Admin::builder().name_server(&namesrv);
    if let Some((ak, sk)) = credentials(cli)? {
        builder = builder.credentials(&ak, &sk);
    }
    let admin = builder.build().map_err(failed)?;
    let mut ctx = Ctx { admin, namesrv, json: cli.json, out };
    match &cli.command {
        Command::UpdateTopic(a) => update_topic(&mut ctx, a),
        Command::DeleteTopic(a) => delete_topic(&mut ctx, a),
        Command::TopicList(a) => topic_list(&mut ctx, a),
        Command::TopicRoute(a) => topic_route(&mut ctx, a),
        Command::TopicStatus(a) => topic_status(&mut ctx, a),
        Command::ClusterList(a) => cluster_list(&mut ctx, a),
        Command::BrokerStatus(a) => broker_status(&mut ctx, a),
        Command::ConsumerProgress(a) => consumer_progress(&mut ctx, a),
        Command::ConsumerConnection(a) => consumer_connection(&mut ctx, a),
        Command::QueryMsgById(a) => query_msg_by_id(&mut ctx, a),
        Command::QueryMsgByKey(a) => query_msg_by_key(&mut ctx, a),
        Command::QueryMsgByOffset(a) => query_msg_by_offset(&mut ctx, a),
        Command::ResetOffsetByTime(a) => reset_offset_by_time(&mut ctx, a),
        Command::UpdateSubGroup(a) => update_sub_group(&mut ctx, a),
        Command::DeleteSubGroup(a) => delete_sub_group(&mut ctx, a),
        Command::SendMessage(a) => send_message(&mut ctx, a),
        Command::ConsumeMessage(a) => consume_message(&mut ctx, a),
        Command::PrintMsg(a) => print_msg(&mut ctx, a),
        Command::GetBrokerConfig(a) => get_broker_config(&mut ctx, a),
        Command::UpdateBrokerConfig(a) => update_broker_config(&mut ctx, a),
    }
}

// ---- topics ----

fn update_topic(ctx: &mut Ctx<'_>, a: &UpdateTopic) -> Res {
    if ![2, 4, 6].contains(&a.perm) {
        return Err(CliError::Usage(format!("-p must be 2 (W), 4 (R) or 6 (RW), not {}", a.perm)));
    }
    let spec = TopicSpec {
        topic: a.topic.clone(),
        read_queue_nums: a.read_queue_nums,
        write_queue_nums: a.write_queue_nums,
        perm: a.perm,
        order: a.order,
    };
    let brokers = match (&a.broker_addr, &a.cluster_name) {
        (Some(addr), _) => {
            ctx.admin.create_topic_on_broker(addr, &spec).map_err(failed)?;
            vec![addr.clone()]
        }
        (None, Some(cluster)) => masters_of(ctx, cluster).and_then(|masters| {
            for addr in &masters {
                ctx.admin.create_topic_on_broker(addr, &spec).map_err(failed)?;
            }
            Ok(masters)
        })?,
        (None, None) => unreachable!("clap requires -b or -c"),
    };
    if ctx.json {
        return ctx
            .json(&json!({"brokers": brokers, "topicConfig": render::topic_config_json(&spec)}));
    }
    let mut s = String::new();
    for addr in &brokers {
        s += &format!("create topic to {addr} success.\n");
    }
    s += &render::topic_config(&spec);
    s.push('\n');
    ctx.text(&s)
}

/// The masters of `cluster`; an unknown cluster or one without masters fails.
fn masters_of(ctx: &Ctx<'_>, cluster: &str) -> Result<Vec<String>, CliError> {
    let masters = ctx.admin.master_addrs(cluster).map_err(failed)?;
    if masters.is_empty() {
        return Err(CliError::Failed(format!("cluster {cluster} has no master broker")));
    }
    Ok(masters)
}

fn delete_topic(ctx: &mut Ctx<'_>, a: &DeleteTopic) -> Res {
    ctx.admin.delete_topic(&a.cluster_name, &a.topic).map_err(failed)?;
    if ctx.json {
        return ctx.json(&json!({"topic": a.topic, "cluster": a.cluster_name, "deleted": true}));
    }
    let (t, c) = (&a.topic, &a.cluster_name);
    ctx.text(&format!(
        "delete topic [{t}] from cluster [{c}] success.\ndelete topic [{t}] from NameServer \
         success.\n"
    ))
}

fn topic_list(ctx: &mut Ctx<'_>, a: &TopicList) -> Res {
    let topics = ctx.admin.topic_list().map_err(failed)?;
    if !a.cluster_model {
        if ctx.json {
            return ctx.json(&json!({ "topicList": topics }));
        }
        let s: String = topics.iter().map(|t| format!("{t}\n")).collect();
        return ctx.text(&s);
    }
    let mut rows = Vec::new();
    for topic in &topics {
        if topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) || topic.starts_with(DLQ_GROUP_TOPIC_PREFIX)
        {
            continue;
        }
        let cluster = ctx
            .admin
            .topic_route(topic)
            .ok()
            .and_then(|r| r.broker_datas.first().map(|b| b.cluster.clone()))
            .unwrap_or_default();
        let groups = ctx.admin.topic_consumer_groups(topic).unwrap_or_default();
        rows.push((cluster, topic.clone(), groups));
    }
    if ctx.json {
        let v: Vec<Value> = rows
            .iter()
            .map(|(c, t, g)| json!({"cluster": c, "topic": t, "consumerGroups": g}))
            .collect();
        return ctx.json(&json!({ "topics": v }));
    }
    let line = |c: &str, t: &str, g: &str| {
        format!(
            "{:<20}  {:<48}  {:<48}\n",
            text::front(c, 20),
            text::front(t, 48),
            text::front(g, 48)
        )
    };
    let mut s = line("#Cluster Name", "#Topic", "#Consumer Group");
    for (cluster, topic, groups) in &rows {
        if groups.is_empty() {
            s += &line(cluster, topic, "");
        }
        for g in groups {
            s += &line(cluster, topic, g);
        }
    }
    ctx.text(&s)
}

fn topic_route(ctx: &mut Ctx<'_>, a: &TopicRoute) -> Res {
    let route = ctx.admin.topic_route(&a.topic).map_err(failed)?;
    if a.list && !ctx.json {
        return ctx.text(&render::topic_route_table(&route));
    }
    let v = serde_json::to_value(&route).map_err(CliError::failed)?;
    ctx.json(&v)
}

fn topic_status(ctx: &mut Ctx<'_>, a: &TopicStatus) -> Res {
    let stats = ctx.admin.topic_stats(&a.topic).map_err(failed)?;
    if ctx.json {
        return ctx.json(&render::topic_status_json(&a.topic, &stats));
    }
    ctx.text(&render::topic_status_table(&stats))
}

// ---- clusters and brokers ----

/// `(cluster, broker name, broker id, address)` of every broker, optionally of one cluster.
fn brokers(
    ctx: &Ctx<'_>,
    only: Option<&str>,
) -> Result<Vec<(String, String, i64, String)>, CliError> {
    let info = ctx.admin.cluster_info().map_err(failed)?;
    if let Some(c) = only {
        if !info.cluster_addr_table.contains_key(c) {
            return Err(CliError::Failed(format!("no cluster named {c}")));
        }
    }
    let mut out = Vec::new();
    for (cluster, names) in &info.cluster_addr_table {
        if only.is_some_and(|c| c != cluster) {
            continue;
        }
        for name in names {
            let Some(bd) = info.broker_addr_table.get(name) else { continue };
            for (id, addr) in &bd.broker_addrs {
                out.push((cluster.clone(), name.clone(), *id, addr.clone()));
            }
        }
    }
    Ok(out)
}

fn cluster_list(ctx: &mut Ctx<'_>, a: &ClusterList) -> Res {
    loop {
        let rows = brokers(ctx, a.cluster_name.as_deref())?;
        let now = text::now_ms();
        let stats: Vec<BTreeMap<String, String>> = rows
            .iter()
            .map(|(_, _, _, addr)| ctx.admin.broker_runtime_info(addr).unwrap_or_default())
            .collect();
        if ctx.json {
            let v: Vec<Value> = rows
                .iter()
                .zip(&stats)
                .map(|((c, b, id, addr), kv)| {
                    json!({"cluster": c, "brokerName": b, "brokerId": id, "addr": addr, "runtime": kv})
                })
                .collect();
            ctx.json_line(&json!({ "brokers": v }))?;
        } else if a.more_stats {
            let mut s = render::cluster_more_stats_header();
            for ((c, b, _, _), kv) in rows.iter().zip(&stats) {
                s += &render::cluster_more_stats_row(c, b, kv);
            }
            ctx.text(&s)?;
        } else {
            let mut s = render::cluster_list_header();
            for ((c, b, id, addr), kv) in rows.iter().zip(&stats) {
                s += &render::cluster_list_row(c, b, *id, addr, kv, now);
            }
            ctx.text(&s)?;
        }
        let Some(secs) = a.interval else { return live_brokers(&stats) };
        ctx.out.flush()?;
        std::thread::sleep(Duration::from_secs(secs.max(1)));
    }
}

/// A one-shot `clusterList` fails (exit 1) when no listed broker answered, so health checks
/// and scripts can rely on its exit code.
fn live_brokers(stats: &[BTreeMap<String, String>]) -> Res {
    if stats.iter().any(|kv| !kv.is_empty()) {
        Ok(())
    } else if stats.is_empty() {
        Err(CliError::failed("no broker is registered with the nameserver"))
    } else {
        Err(CliError::failed(format!("none of the {} registered brokers answered", stats.len())))
    }
}

/// The addresses `-b` names, or every broker (masters and slaves) of the `-c` cluster.
fn target_addrs(
    ctx: &Ctx<'_>,
    addr: Option<&String>,
    cluster: Option<&String>,
) -> Result<Vec<String>, CliError> {
    match (addr, cluster) {
        (Some(addr), _) => Ok(vec![addr.clone()]),
        (None, Some(cluster)) => {
            Ok(brokers(ctx, Some(cluster))?.into_iter().map(|r| r.3).collect())
        }
        (None, None) => unreachable!("clap requires -b or -c"),
    }
}

fn broker_status(ctx: &mut Ctx<'_>, a: &BrokerStatus) -> Res {
    let addrs = target_addrs(ctx, a.broker_addr.as_ref(), a.cluster_name.as_ref())?;
    let mut all = BTreeMap::new();
    for addr in &addrs {
        all.insert(addr.clone(), ctx.admin.broker_runtime_info(addr).map_err(failed)?);
    }
    if ctx.json {
        return ctx.json(&json!(all));
    }
    let prefix = a.broker_addr.is_none();
    let mut s = String::new();
    for (addr, kv) in &all {
        for (k, v) in kv {
            s += &if prefix {
                format!("{addr:<24} {k:<32}: {v}\n")
            } else {
                format!("{k:<32}: {v}\n")
            };
        }
    }
    ctx.text(&s)
}

fn get_broker_config(ctx: &mut Ctx<'_>, a: &GetBrokerConfig) -> Res {
    let addrs = target_addrs(ctx, a.broker_addr.as_ref(), a.cluster_name.as_ref())?;
    let mut all = BTreeMap::new();
    for addr in &addrs {
        all.insert(addr.clone(), ctx.admin.broker_config(addr).map_err(failed)?);
    }
    if ctx.json {
        return ctx.json(&json!(all));
    }
    let mut s = String::new();
    for (addr, kv) in &all {
        s += &if a.broker_addr.is_some() {
            format!("============{addr}============\n")
        } else {
            format!("============Master: {addr}============\n")
        };
        for (k, v) in kv {
            s += &format!("{k:<50}=  {v}\n");
        }
        s.push('\n');
    }
    ctx.text(&s)
}

/// Java prints `update broker config success, ADDR` per broker; a note follows for keys that
/// take effect at the broker's next start.
fn update_broker_config(ctx: &mut Ctx<'_>, a: &UpdateBrokerConfig) -> Res {
    let addrs = target_addrs(ctx, a.broker_addr.as_ref(), a.cluster_name.as_ref())?;
    let settings = BTreeMap::from([(a.key.clone(), a.value.clone())]);
    let mut done = BTreeMap::new();
    for addr in &addrs {
        let note = ctx.admin.update_broker_config(addr, &settings).map_err(failed)?;
        done.insert(addr.clone(), note);
    }
    if ctx.json {
        return ctx.json(&json!(done));
    }
    let mut s = String::new();
    for (addr, note) in &done {
        s += &format!("update broker config success, {addr}\n");
        if let Some(note) = note {
            s += &format!("  {note}\n");
        }
    }
    ctx.text(&s)
}

// ---- consumers ----

fn consumer_progress(ctx: &mut Ctx<'_>, a: &ConsumerProgress) -> Res {
    let Some(group) = &a.group else { return groups_summary(ctx) };
    let p = ctx.admin.consumer_progress(group, a.topic.as_deref()).map_err(failed)?;
    if p.queues.is_empty() {
        return Err(CliError::Failed(format!(
            "no consume stats for group {group}: it does not exist or has consumed nothing yet"
        )));
    }
    let owners =
        if a.show_client_ip { queue_owners(ctx, group, &p.queues) } else { HashMap::new() };
    let mut rows: Vec<ProgressRow> = p
        .queues
        .iter()
        .map(|q| ProgressRow {
            queue: q.queue.clone(),
            broker_offset: q.broker_offset,
            consumer_offset: q.consumer_offset,
            client_ip: owners.get(&q.queue).cloned(),
            // The broker reports no separate pull offset: nothing is counted in flight.
            inflight: 0,
            last_timestamp: q.last_timestamp,
        })
        .collect();
    rows.sort_by(|a, b| {
        (&a.queue.topic, &a.queue.broker_name, a.queue.queue_id).cmp(&(
            &b.queue.topic,
            &b.queue.broker_name,
            b.queue.queue_id,
        ))
    });
    if ctx.json {
        return ctx.json(&render::consumer_progress_json(group, &rows, p.consume_tps));
    }
    ctx.text(&render::consumer_progress_table(&rows, p.consume_tps, a.show_client_ip))
}

/// Which client IP each queue is allocated to, by the default (averaging) strategy over the
/// group's live clients: what the clients themselves compute.
fn queue_owners(
    ctx: &Ctx<'_>,
    group: &str,
    queues: &[crate::client::QueueProgress],
) -> HashMap<MessageQueue, String> {
    let Ok(conn) = ctx.admin.consumer_connections(group) else { return HashMap::new() };
    let mut cids: Vec<String> = conn.connection_set.iter().map(|c| c.client_id.clone()).collect();
    cids.sort();
    let mut by_topic: BTreeMap<&str, Vec<MessageQueue>> = BTreeMap::new();
    for q in queues {
        by_topic.entry(&q.queue.topic).or_default().push(q.queue.clone());
    }
    let mut owners = HashMap::new();
    for mqs in by_topic.values_mut() {
        mqs.sort();
        for cid in &cids {
            let ip = cid.split('@').next().unwrap_or(cid).to_string();
            for mq in AllocateStrategy::Averagely.allocate(cid, mqs, &cids) {
                owners.insert(mq, ip.clone());
            }
        }
    }
    owners
}

fn groups_summary(ctx: &mut Ctx<'_>) -> Res {
    let topics = ctx.admin.topic_list().map_err(failed)?;
    let mut rows = Vec::new();
    for topic in topics.iter().filter(|t| t.starts_with(RETRY_GROUP_TOPIC_PREFIX)) {
        let group = &topic[RETRY_GROUP_TOPIC_PREFIX.len()..];
        let progress = ctx.admin.consumer_progress(group, None).ok();
        let conn = ctx.admin.consumer_connections(group).ok();
        let count = conn.as_ref().map_or(0, |c| c.connection_set.len());
        let min_version =
            conn.as_ref().and_then(|c| c.connection_set.iter().map(|x| x.version).min());
        rows.push(GroupSummary {
            group: group.to_string(),
            count,
            version: min_version.map(render::version_desc).unwrap_or_default(),
            consume_type: conn.as_ref().map(|c| c.consume_type.clone()).unwrap_or_default(),
            message_model: conn.as_ref().map(|c| c.message_model.clone()).unwrap_or_default(),
            tps: progress.as_ref().map_or(0, |p| p.consume_tps as i64),
            diff_total: progress.as_ref().map_or(0, |p| p.total_lag()),
        });
    }
    if ctx.json {
        let v: Vec<Value> = rows
            .iter()
            .map(|r| {
                json!({"group": r.group, "count": r.count, "version": r.version,
                       "consumeType": r.consume_type, "messageModel": r.message_model,
                       "tps": r.tps, "diffTotal": r.diff_total})
            })
            .collect();
        return ctx.json(&json!({ "groups": v }));
    }
    ctx.text(&render::group_summary_table(&rows))
}

fn consumer_connection(ctx: &mut Ctx<'_>, a: &ConsumerConnection) -> Res {
    let cc = ctx.admin.consumer_connections(&a.group).map_err(failed)?;
    if ctx.json {
        let v = serde_json::to_value(&cc).map_err(CliError::failed)?;
        return ctx.json(&v);
    }
    let mut s =
        format!("{:<36} {:<22} {:<10} {}\n", "#ClientId", "#ClientAddr", "#Language", "#Version");
    for c in &cc.connection_set {
        s += &format!(
            "{:<36} {:<22} {:<10} {}\n",
            c.client_id,
            c.client_addr,
            c.language,
            render::version_desc(c.version)
        );
    }
    s += "\nBelow is subscription:\n";
    s += &format!("{:<20} {}\n", "#Topic", "#SubExpression");
    for sd in cc.subscription_table.values() {
        s += &format!("{:<20} {}\n", sd.topic, sd.sub_string);
    }
    s += &format!(
        "\nConsumeType: {}\nMessageModel: {}\nConsumeFromWhere: {}\n",
        cc.consume_type, cc.message_model, cc.consume_from_where
    );
    ctx.text(&s)
}

fn reset_offset_by_time(ctx: &mut Ctx<'_>, a: &ResetOffsetByTime) -> Res {
    let ts = text::parse_timestamp(&a.timestamp, text::now_ms()).map_err(CliError::Usage)?;
    let offsets = ctx
        .admin
        .reset_offset_by_time(&a.group, &a.topic, system_time(ts), a.force)
        .map_err(failed)?;
    if ctx.json {
        let v: Vec<Value> = render::sorted_queues(&offsets)
            .into_iter()
            .map(|(mq, o)| json!({"brokerName": mq.broker_name, "queueId": mq.queue_id, "offset": o}))
            .collect();
        return ctx
            .json(&json!({"group": a.group, "topic": a.topic, "timestamp": ts, "offsets": v}));
    }
    ctx.text(&render::reset_offset_table(&a.group, &a.topic, a.force, &a.timestamp, ts, &offsets))
}

fn system_time(ms: i64) -> SystemTime {
    let ms = u64::try_from(ms).unwrap_or(0);
    UNIX_EPOCH
        .checked_add(Duration::from_millis(ms))
        .unwrap_or(UNIX_EPOCH + Duration::from_secs(1 << 40))
}

fn update_sub_group(ctx: &mut Ctx<'_>, a: &UpdateSubGroup) -> Res {
    let mut c = SubscriptionGroupConfig::new(&a.group);
    // Java's tool starts from these two overrides of the class defaults.
    c.consume_broadcast_enable = false;
    c.consume_from_min_enable = false;
    if let Some(v) = a.consume_enable {
        c.consume_enable = v;
    }
    if let Some(v) = a.consume_from_min_enable {
        c.consume_from_min_enable = v;
    }
    if let Some(v) = a.consume_broadcast_enable {
        c.consume_broadcast_enable = v;
    }
    if let Some(v) = a.consume_message_orderly {
        c.consume_message_orderly = v;
    }
    if let Some(v) = a.retry_queue_nums {
        c.retry_queue_nums = v;
    }
    if let Some(v) = a.retry_max_times {
        c.retry_max_times = v;
    }
    if let Some(v) = a.broker_id {
        c.broker_id = v;
    }
    if let Some(v) = a.which_broker_when_consume_slowly {
        c.which_broker_when_consume_slowly = v;
    }
    if let Some(v) = a.notify_consumer_ids_changed {
        c.notify_consumer_ids_changed_enable = v;
    }
    let addrs = match (&a.broker_addr, &a.cluster_name) {
        (Some(addr), _) => vec![addr.clone()],
        (None, Some(cluster)) => masters_of(ctx, cluster)?,
        (None, None) => unreachable!("clap requires -b or -c"),
    };
    for addr in &addrs {
        ctx.admin.create_subscription_group_on_broker(addr, &c).map_err(failed)?;
    }
    if ctx.json {
        let v = serde_json::to_value(&c).map_err(CliError::failed)?;
        return ctx.json(&json!({"brokers": addrs, "subscriptionGroupConfig": v}));
    }
    let mut s: String = addrs
        .iter()
        .map(|addr| format!("create subscription group to {addr} success.\n"))
        .collect();
    s += &render::sub_group_config(&c);
    s.push('\n');
    ctx.text(&s)
}

fn delete_sub_group(ctx: &mut Ctx<'_>, a: &DeleteSubGroup) -> Res {
    let mut lines = String::new();
    let addrs = match (&a.broker_addr, &a.cluster_name) {
        (Some(addr), _) => {
            ctx.admin
                .delete_subscription_group_on_broker(addr, &a.group, a.remove_offset)
                .map_err(failed)?;
            lines +=
                &format!("delete subscription group [{}] from broker [{addr}] success.\n", a.group);
            vec![addr.clone()]
        }
        (None, Some(cluster)) => {
            let masters = masters_of(ctx, cluster)?;
            for addr in &masters {
                ctx.admin
                    .delete_subscription_group_on_broker(addr, &a.group, a.remove_offset)
                    .map_err(failed)?;
                lines += &format!(
                    "delete subscription group [{}] from broker [{addr}] in cluster [{cluster}] \
                     success.\n",
                    a.group
                );
            }
            masters
        }
        (None, None) => unreachable!("clap requires -b or -c"),
    };
    if ctx.json {
        return ctx.json(&json!({"group": a.group, "brokers": addrs, "deleted": true}));
    }
    ctx.text(&lines)
}

// ---- messages ----

fn send_message(ctx: &mut Ctx<'_>, a: &SendMessage) -> Res {
    let producer = Producer::builder()
        .name_server(&ctx.namesrv)
        .group(format!("mqadmin_{}", std::process::id()))
        .build()
        .map_err(failed)?;
    let mut msg = Message::new(a.topic.as_str(), a.body.as_bytes());
    if let Some(tags) = &a.tags {
        msg = msg.with_tags(tags.as_str());
    }
    if let Some(keys) = &a.keys {
        msg = msg.with_keys(keys.split_whitespace());
    }
    let result = match (&a.broker, a.queue_id) {
        (Some(broker), Some(qid)) => {
            producer.send_to_queue(&msg, &MessageQueue::new(&a.topic, broker, qid))
        }
        _ => producer.send(&msg),
    };
    producer.shutdown();
    let r = result.map_err(failed)?;
    let status = render::send_status(r.status);
    if ctx.json {
        return ctx.json(&json!({
            "brokerName": r.queue.broker_name,
            "queueId": r.queue.queue_id,
            "queueOffset": r.queue_offset,
            "sendStatus": status,
            "msgId": r.msg_id,
            "offsetMsgId": r.offset_msg_id,
        }));
    }
    ctx.text(&render::send_result_table(&r.queue.broker_name, r.queue.queue_id, status, &r.msg_id))
}

fn query_msg_by_id(ctx: &mut Ctx<'_>, a: &QueryMsgById) -> Res {
    let ids: Vec<&str> = a.msg_id.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    if ids.is_empty() {
        return Err(CliError::Usage("-i names no message id".into()));
    }
    let mut docs = Vec::new();
    for id in ids {
        let msg = ctx.admin.view_message(&a.topic, id).map_err(failed)?;
        let tracks = message_tracks(ctx, &msg);
        if ctx.json {
            docs.push(render::message_json(&msg, &tracks));
        } else {
            let path = write_body_file(&msg);
            ctx.text(&render::message_detail(&msg, &path, &tracks))?;
        }
    }
    if ctx.json {
        return ctx.json(&json!({ "messages": docs }));
    }
    Ok(())
}

fn query_msg_by_offset(ctx: &mut Ctx<'_>, a: &QueryMsgByOffset) -> Res {
    let mq = MessageQueue::new(&a.topic, &a.broker_name, a.queue_id);
    let msg =
        ctx.admin.query_message_by_offset(&mq, a.offset).map_err(failed)?.ok_or_else(|| {
            CliError::Failed(format!(
                "no message at offset {} of {}",
                a.offset,
                render::queue_string(&mq)
            ))
        })?;
    let tracks = message_tracks(ctx, &msg);
    if ctx.json {
        return ctx.json(&render::message_json(&msg, &tracks));
    }
    let path = write_body_file(&msg);
    ctx.text(&render::message_detail(&msg, &path, &tracks))
}

/// Writes the body where the Java tool does (`<tmp>/rocketmq/msgbodys/<msgId>`); returns the
/// path, or why it could not be written.
fn write_body_file(msg: &MessageExt) -> String {
    let dir = std::env::temp_dir().join("rocketmq").join("msgbodys");
    let name: String = msg
        .msg_id()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    let path = dir.join(name);
    match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &msg.body)) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("(not written: {e})"),
    }
}

/// How each consumer group of the message's topic handled it (Java `messageTrackDetail`).
fn message_tracks(ctx: &Ctx<'_>, msg: &MessageExt) -> Vec<Track> {
    let Ok(groups) = ctx.admin.topic_consumer_groups(&msg.topic) else { return Vec::new() };
    let broker = ctx.admin.topic_route(&msg.topic).ok().and_then(|r| {
        let host = msg.store_host.to_string();
        r.broker_datas
            .into_iter()
            .find(|bd| bd.broker_addrs.values().any(|a| *a == host))
            .map(|bd| bd.broker_name)
    });
    groups.into_iter().map(|g| track_of(ctx, g, msg, broker.as_deref())).collect()
}

fn track_of(ctx: &Ctx<'_>, group: String, msg: &MessageExt, broker: Option<&str>) -> Track {
    let track = |group, track_type, exception| Track { group, track_type, exception };
    let conn = match ctx.admin.consumer_connections(&group) {
        Ok(c) => c,
        Err(e) if e.response_code() == Some(ResponseCode::ConsumerNotOnline.to_i32()) => {
            return track(group, "NOT_ONLINE", Some(e.to_string()))
        }
        Err(e) => return track(group, "UNKNOWN", Some(e.to_string())),
    };
    if conn.consume_type == "CONSUME_ACTIVELY" {
        return track(group, "PULL", None);
    }
    if conn.message_model == "BROADCASTING" {
        return track(group, "CONSUME_BROADCASTING", None);
    }
    let progress = match ctx.admin.consumer_progress(&group, Some(&msg.topic)) {
        Ok(p) => p,
        Err(e) => return track(group, "UNKNOWN", Some(e.to_string())),
    };
    let consumed = progress.queues.iter().any(|q| {
        q.queue.topic == msg.topic
            && q.queue.queue_id == msg.queue_id
            && broker.is_none_or(|b| q.queue.broker_name == b)
            && q.consumer_offset > msg.queue_offset
    });
    if !consumed {
        return track(group, "NOT_CONSUME_YET", None);
    }
    let filtered = conn.subscription_table.get(&msg.topic).is_some_and(|sub| {
        !sub.tags_set.is_empty()
            && sub.sub_string != "*"
            && !msg.tags().is_some_and(|t| sub.tags_set.iter().any(|s| s == t))
    });
    track(group, if filtered { "CONSUMED_BUT_FILTERED" } else { "CONSUMED" }, None)
}

fn query_msg_by_key(ctx: &mut Ctx<'_>, a: &QueryMsgByKey) -> Res {
    let msgs = ctx
        .admin
        .query_messages_by_key(
            &a.topic,
            &a.key,
            a.max_num,
            system_time(a.begin),
            system_time(a.end),
        )
        .map_err(failed)?;
    if ctx.json {
        let v: Vec<Value> = msgs
            .iter()
            .map(|m| json!({"msgId": m.msg_id(), "queueId": m.queue_id, "queueOffset": m.queue_offset}))
            .collect();
        return ctx.json(&json!({ "messages": v }));
    }
    ctx.text(&render::msg_key_table(&msgs))
}

/// The readable queues of `topic`, in Java's order.
fn topic_queues(ctx: &Ctx<'_>, topic: &str) -> Result<Vec<MessageQueue>, CliError> {
    let route = ctx.admin.topic_route(topic).map_err(failed)?;
    let mut queues: Vec<MessageQueue> = route
        .queue_datas
        .iter()
        .filter(|qd| perm::is_readable(qd.perm))
        .flat_map(|qd| {
            (0..qd.read_queue_nums).map(|id| MessageQueue::new(topic, &qd.broker_name, id))
        })
        .collect();
    queues.sort_by(|a, b| (&a.broker_name, a.queue_id).cmp(&(&b.broker_name, b.queue_id)));
    Ok(queues)
}

/// `[min, max)` of `mq`, narrowed by the begin/end timestamp arguments.
fn queue_range(
    ctx: &Ctx<'_>,
    mq: &MessageQueue,
    stats: &BTreeMap<MessageQueue, crate::client::TopicOffset>,
    begin: Option<i64>,
    end: Option<i64>,
) -> Result<(i64, i64), CliError> {
    let o = stats.get(mq).copied().unwrap_or_default();
    let search = |ts: i64| ctx.admin.search_offset(mq, system_time(ts)).map_err(failed);
    let min = match begin {
        Some(ts) => search(ts)?,
        None => o.min_offset,
    };
    let max = match end {
        Some(ts) => search(ts)?,
        None => o.max_offset,
    };
    Ok((min, max))
}

fn parse_opt_ts(arg: Option<&String>) -> Result<Option<i64>, CliError> {
    arg.map(|s| text::parse_timestamp(s, text::now_ms()).map_err(CliError::Usage)).transpose()
}

/// Pulls `[from, to)` of `mq` (at most `limit` messages), handing each message to `each`.
/// Returns the offset it stopped at and whether the queue ran out.
fn pull_range(
    ctx: &mut Ctx<'_>,
    mq: &MessageQueue,
    (from, to): (i64, i64),
    expression: &str,
    limit: u64,
    each: &mut dyn FnMut(&mut Ctx<'_>, &MessageExt) -> Res,
) -> Result<(i64, u64), CliError> {
    let (mut offset, mut taken) = (from, 0u64);
    while offset < to && taken < limit {
        let want = i32::try_from((to - offset).min(i64::from(PULL_BATCH))).unwrap_or(PULL_BATCH);
        let (msgs, next) = ctx.admin.pull_messages(mq, offset, want, expression).map_err(failed)?;
        for m in msgs.iter().filter(|m| m.queue_offset < to) {
            if taken == limit {
                return Ok((m.queue_offset, taken));
            }
            each(ctx, m)?;
            taken += 1;
        }
        if next <= offset {
            break;
        }
        offset = next;
    }
    Ok((offset, taken))
}

fn print_msg(ctx: &mut Ctx<'_>, a: &PrintMsg) -> Res {
    let (begin, end) = (parse_opt_ts(a.begin.as_ref())?, parse_opt_ts(a.end.as_ref())?);
    let queues = topic_queues(ctx, &a.topic)?;
    let stats = ctx.admin.topic_stats(&a.topic).map_err(failed)?;
    let print_body = a.print_body;
    for mq in &queues {
        let range = queue_range(ctx, mq, &stats, begin, end)?;
        if !ctx.json {
            ctx.text(&format!(
                "minOffset={}, maxOffset={}, {}\n",
                range.0,
                range.1,
                render::queue_string(mq)
            ))?;
        }
        let mut each = |ctx: &mut Ctx<'_>, m: &MessageExt| {
            if ctx.json {
                ctx.json_line(&message_line_json(mq, m))
            } else {
                ctx.text(&(render::message_line(m, print_body) + "\n"))
            }
        };
        let (offset, _) = pull_range(ctx, mq, range, &a.sub_expression, u64::MAX, &mut each)?;
        if !ctx.json {
            ctx.text(&format!(
                "{} print msg finished. status=NO_NEW_MSG, offset={offset}\n\
                 --------------------------------------------------------\n",
                render::queue_string(mq)
            ))?;
        }
    }
    Ok(())
}

fn message_line_json(mq: &MessageQueue, m: &MessageExt) -> Value {
    let mut v = render::message_json(m, &[]);
    if let Value::Object(map) = &mut v {
        map.remove("tracks");
        map.insert("brokerName".into(), json!(mq.broker_name));
    }
    v
}

fn consume_message(ctx: &mut Ctx<'_>, a: &ConsumeMessage) -> Res {
    if a.count == 0 {
        return Err(CliError::Usage("-c must be a positive message count".into()));
    }
    let (begin, end) = (parse_opt_ts(a.begin.as_ref())?, parse_opt_ts(a.end.as_ref())?);
    let queues = match (&a.broker_name, a.queue_id) {
        (Some(b), Some(q)) => vec![MessageQueue::new(&a.topic, b, q)],
        _ => topic_queues(ctx, &a.topic)?,
    };
    let stats = ctx.admin.topic_stats(&a.topic).map_err(failed)?;
    let mut left = a.count;
    for mq in &queues {
        if left == 0 {
            break;
        }
        let (mut from, to) = queue_range(ctx, mq, &stats, begin, end)?;
        if let Some(o) = a.offset {
            if o > to {
                ctx.text(&format!("{} no matched msg, offset={o}\n", render::queue_string(mq)))?;
                continue;
            }
            from = from.max(o);
        }
        let mut each = |ctx: &mut Ctx<'_>, m: &MessageExt| {
            if ctx.json {
                ctx.json_line(&message_line_json(mq, m))
            } else {
                ctx.text(&format!("Consume ok\n{}\n", render::message_line(m, true)))
            }
        };
        let (offset, taken) = pull_range(ctx, mq, (from, to), "*", left, &mut each)?;
        left -= taken;
        if !ctx.json {
            ctx.text(&format!(
                "{} print msg finished. status=NO_NEW_MSG, offset={offset}\n",
                render::queue_string(mq)
            ))?;
        }
    }
    Ok(())
}
