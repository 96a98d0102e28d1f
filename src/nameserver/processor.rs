//! Request handling for the nameserver: one function per request code, typed headers in, typed
//! bodies out. Handlers return a `NamesrvError` on failure; `process` turns it into the
//! response (`error::response`, the only place). Nothing panics on client input.

use std::sync::Arc;

use rocketmq_net::{CommandHeader, Processor, RemotingCommand, RequestCode, RequestContext};

use super::error::{response, KvError, NamesrvError, RouteError};
use super::route::Registration;
use super::State;
use crate::protocol::body::admin::{KvTable, TopicList};
use crate::protocol::body::register::RegisterBrokerBody;
use crate::protocol::body::{from_json, to_json};
use crate::protocol::header::namesrv::*;
use crate::remoting::{now_ms, success, success_with};

/// KV namespace whose entries become `orderTopicConf` in routes.
const ORDER_TOPIC_CONFIG_NAMESPACE: &str = "ORDER_TOPIC_CONFIG";

/// Dispatches every nameserver request code.
#[derive(Debug)]
pub(super) struct NamesrvProcessor {
    state: Arc<State>,
}

type Handled = Result<RemotingCommand, NamesrvError>;

fn header<H: CommandHeader>(req: &RemotingCommand) -> Result<H, NamesrvError> {
    Ok(req.decode_header::<H>()?)
}

impl Processor for NamesrvProcessor {
    fn process(&self, ctx: &RequestContext, req: RemotingCommand) -> Option<RemotingCommand> {
        let result = match req.request_code() {
            RequestCode::RegisterBroker => self.register_broker(ctx, &req),
            RequestCode::UnregisterBroker => self.unregister_broker(&req),
            RequestCode::GetRouteInfoByTopic => self.route(&req),
            RequestCode::GetBrokerClusterInfo => self.cluster_info(),
            RequestCode::GetAllTopicListFromNameserver => self.topic_list(),
            RequestCode::GetTopicsByCluster => self.topics_by_cluster(&req),
            RequestCode::DeleteTopicInNamesrv => self.delete_topic(&req),
            RequestCode::PutKvConfig => self.put_kv(&req),
            RequestCode::GetKvConfig => self.get_kv(&req),
            RequestCode::DeleteKvConfig => self.delete_kv(&req),
            RequestCode::GetKvlistByNamespace => self.kv_list(&req),
            RequestCode::WipeWritePermOfBroker => self.write_perm(&req, false),
            RequestCode::AddWritePermOfBroker => self.write_perm(&req, true),
            _ => Err(NamesrvError::RequestNotSupported { code: req.code }),
        };
        Some(result.unwrap_or_else(response))
    }
}

impl NamesrvProcessor {
    pub(super) fn new(state: Arc<State>) -> Self {
        Self { state }
    }

    fn register_broker(&self, ctx: &RequestContext, req: &RemotingCommand) -> Handled {
        let h: RegisterBrokerRequestHeader = header(req)?;
        if h.compressed == Some(true) {
            return Err(RouteError::CompressedBody.into());
        }
        if let Some(expected) = h.body_crc32.filter(|c| *c != 0) {
            let actual = (crc32fast::hash(&req.body) & 0x7FFF_FFFF) as i32;
            if actual != expected {
                return Err(RouteError::BodyCrcMismatch { expected, actual }.into());
            }
        }
        let body: RegisterBrokerBody = if req.body.is_empty() {
            RegisterBrokerBody::default()
        } else {
            from_json(&req.body).map_err(RouteError::BadBody)?
        };
        let wrapper = body.topic_config_serialize_wrapper;
        let timeout_ms = h
            .heartbeat_timeout_millis
            .and_then(|t| u64::try_from(t).ok())
            .filter(|t| *t > 0)
            .unwrap_or(self.state.config.broker_expire_ms);
        let reg = Registration {
            cluster: h.cluster_name,
            broker_name: h.broker_name,
            broker_addr: h.broker_addr.clone(),
            broker_id: h.broker_id,
            ha_server_addr: h.ha_server_addr,
            timeout_ms,
            data_version: wrapper.data_version,
            topics: wrapper.topic_config_table.into_values().collect(),
            conn: Some(ctx.conn().id()),
        };
        let topic_count = reg.topics.len();
        let (cluster, name, id) = (reg.cluster.clone(), reg.broker_name.clone(), reg.broker_id);
        let out = self.state.routes.write().register(reg, now_ms())?;
        if out.new_broker {
            log::info!(
                "new broker registered: {} {name} id {id} in {cluster}, {topic_count} topics",
                h.broker_addr
            );
        } else {
            log::debug!("broker {} registered", h.broker_addr);
        }
        if let Some(before) = out.previous_id {
            log::info!("broker {} of {name} changed role: id {before} -> {id}", h.broker_addr);
        }
        let mut resp = success_with(&RegisterBrokerResponseHeader {
            ha_server_addr: out.ha_server_addr,
            master_addr: out.master_addr,
        });
        if let Some(order) = self.state.kv.read().namespace(ORDER_TOPIC_CONFIG_NAMESPACE) {
            resp.body = to_json(&KvTable { table: order.clone() });
        }
        Ok(resp)
    }

    fn unregister_broker(&self, req: &RemotingCommand) -> Handled {
        let h: UnregisterBrokerRequestHeader = header(req)?;
        if self.state.routes.write().unregister(&h.broker_addr) {
            log::info!("broker {} ({}) unregistered", h.broker_addr, h.broker_name);
        }
        Ok(success())
    }

    fn route(&self, req: &RemotingCommand) -> Handled {
        let h: GetRouteInfoRequestHeader = header(req)?;
        let Some(mut route) = self.state.routes.read().route(&h.topic) else {
            return Err(RouteError::TopicRouteNotExist { topic: h.topic }.into());
        };
        route.order_topic_conf =
            self.state.kv.read().get(ORDER_TOPIC_CONFIG_NAMESPACE, &h.topic).map(String::from);
        Ok(success().with_body(route.to_wire_json()))
    }

    fn cluster_info(&self) -> Handled {
        Ok(success().with_body(to_json(&self.state.routes.read().cluster_info())))
    }

    fn topic_list(&self) -> Handled {
        let topic_list = self.state.routes.read().topic_names();
        Ok(success().with_body(to_json(&TopicList { topic_list, broker_addr: None })))
    }

    fn topics_by_cluster(&self, req: &RemotingCommand) -> Handled {
        let h: GetTopicsByClusterRequestHeader = header(req)?;
        let topic_list = self.state.routes.read().topics_of_cluster(&h.cluster);
        Ok(success().with_body(to_json(&TopicList { topic_list, broker_addr: None })))
    }

    fn delete_topic(&self, req: &RemotingCommand) -> Handled {
        let h: DeleteTopicFromNamesrvRequestHeader = header(req)?;
        self.state.routes.write().delete_topic(&h.topic, h.cluster_name.as_deref());
        Ok(success())
    }

    fn put_kv(&self, req: &RemotingCommand) -> Handled {
        let h: PutKvConfigRequestHeader = header(req)?;
        self.state.kv.write().put(&h.namespace, &h.key, &h.value).map_err(KvError::Persist)?;
        Ok(success())
    }

    fn get_kv(&self, req: &RemotingCommand) -> Handled {
        let h: KvConfigKeyRequestHeader = header(req)?;
        match self.state.kv.read().get(&h.namespace, &h.key) {
            Some(v) => Ok(success_with(&GetKvConfigResponseHeader { value: Some(v.into()) })),
            None => Err(KvError::KeyNotFound { namespace: h.namespace, key: h.key }.into()),
        }
    }

    fn delete_kv(&self, req: &RemotingCommand) -> Handled {
        let h: KvConfigKeyRequestHeader = header(req)?;
        self.state.kv.write().delete(&h.namespace, &h.key).map_err(KvError::Persist)?;
        Ok(success())
    }

    fn kv_list(&self, req: &RemotingCommand) -> Handled {
        let h: GetKvListByNamespaceRequestHeader = header(req)?;
        match self.state.kv.read().namespace(&h.namespace) {
            Some(t) => Ok(success().with_body(to_json(&KvTable { table: t.clone() }))),
            None => Err(KvError::NamespaceNotFound { namespace: h.namespace }.into()),
        }
    }

    fn write_perm(&self, req: &RemotingCommand, writable: bool) -> Handled {
        let h: BrokerPermRequestHeader = header(req)?;
        let n = self.state.routes.write().set_write_perm(&h.broker_name, writable);
        let key = if writable { "addTopicCount" } else { "wipeTopicCount" };
        let mut resp = success();
        resp.ext_fields.insert(key, n.to_string());
        Ok(resp)
    }
}
