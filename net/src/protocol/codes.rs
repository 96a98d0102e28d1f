//! Request and response codes (PROTOCOL.md §4 and Appendix A) as Rust enums plus plain `i32`
//! constants. Unknown numbers round-trip through the `Unknown(i32)` variant so that a server can
//! answer REQUEST_CODE_NOT_SUPPORTED naming the code.

macro_rules! code_enum {
    ($(#[$meta:meta])* $name:ident, $consts:ident, { $($variant:ident = $konst:ident = $num:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $(
                #[doc = concat!("`", stringify!($konst), "` = ", stringify!($num))]
                $variant,
            )*
            /// A number this enum does not name.
            Unknown(i32),
        }

        impl $name {
            /// Maps a wire number to its variant (`Unknown` for numbers without a name).
            pub fn from_i32(code: i32) -> Self {
                match code {
                    $($num => Self::$variant,)*
                    other => Self::Unknown(other),
                }
            }

            /// The wire number.
            pub fn to_i32(self) -> i32 {
                match self {
                    $(Self::$variant => $num,)*
                    Self::Unknown(code) => code,
                }
            }

            /// The Java constant name, e.g. `SEND_MESSAGE_V2`; `None` for `Unknown`.
            pub fn java_name(self) -> Option<&'static str> {
                match self {
                    $(Self::$variant => Some(stringify!($konst)),)*
                    Self::Unknown(_) => None,
                }
            }
        }

        impl From<i32> for $name {
            fn from(code: i32) -> Self {
                Self::from_i32(code)
            }
        }

        impl From<$name> for i32 {
            fn from(code: $name) -> i32 {
                code.to_i32()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self.java_name() {
                    Some(name) => write!(f, "{name}({})", self.to_i32()),
                    None => write!(f, "UNKNOWN({})", self.to_i32()),
                }
            }
        }

        /// The same codes as plain `i32` constants, named as in Java.
        pub mod $consts {
            $(
                #[allow(missing_docs)]
                pub const $konst: i32 = $num;
            )*
        }
    };
}

code_enum!(
    /// Request codes of `RequestCode.java` (PROTOCOL.md Appendix A).
    RequestCode, request_code, {
        SendMessage = SEND_MESSAGE = 10,
        PullMessage = PULL_MESSAGE = 11,
        QueryMessage = QUERY_MESSAGE = 12,
        QueryBrokerOffset = QUERY_BROKER_OFFSET = 13,
        QueryConsumerOffset = QUERY_CONSUMER_OFFSET = 14,
        UpdateConsumerOffset = UPDATE_CONSUMER_OFFSET = 15,
        UpdateAndCreateTopic = UPDATE_AND_CREATE_TOPIC = 17,
        UpdateAndCreateTopicList = UPDATE_AND_CREATE_TOPIC_LIST = 18,
        GetAllTopicConfig = GET_ALL_TOPIC_CONFIG = 21,
        GetTopicConfigList = GET_TOPIC_CONFIG_LIST = 22,
        GetTopicNameList = GET_TOPIC_NAME_LIST = 23,
        UpdateBrokerConfig = UPDATE_BROKER_CONFIG = 25,
        GetBrokerConfig = GET_BROKER_CONFIG = 26,
        TriggerDeleteFiles = TRIGGER_DELETE_FILES = 27,
        GetBrokerRuntimeInfo = GET_BROKER_RUNTIME_INFO = 28,
        SearchOffsetByTimestamp = SEARCH_OFFSET_BY_TIMESTAMP = 29,
        GetMaxOffset = GET_MAX_OFFSET = 30,
        GetMinOffset = GET_MIN_OFFSET = 31,
        GetEarliestMsgStoretime = GET_EARLIEST_MSG_STORETIME = 32,
        ViewMessageById = VIEW_MESSAGE_BY_ID = 33,
        HeartBeat = HEART_BEAT = 34,
        UnregisterClient = UNREGISTER_CLIENT = 35,
        ConsumerSendMsgBack = CONSUMER_SEND_MSG_BACK = 36,
        EndTransaction = END_TRANSACTION = 37,
        GetConsumerListByGroup = GET_CONSUMER_LIST_BY_GROUP = 38,
        CheckTransactionState = CHECK_TRANSACTION_STATE = 39,
        NotifyConsumerIdsChanged = NOTIFY_CONSUMER_IDS_CHANGED = 40,
        LockBatchMq = LOCK_BATCH_MQ = 41,
        UnlockBatchMq = UNLOCK_BATCH_MQ = 42,
        GetAllConsumerOffset = GET_ALL_CONSUMER_OFFSET = 43,
        GetAllDelayOffset = GET_ALL_DELAY_OFFSET = 45,
        CheckClientConfig = CHECK_CLIENT_CONFIG = 46,
        GetClientConfig = GET_CLIENT_CONFIG = 47,
        GetTimerCheckPoint = GET_TIMER_CHECK_POINT = 60,
        GetTimerMetrics = GET_TIMER_METRICS = 61,
        PutKvConfig = PUT_KV_CONFIG = 100,
        GetKvConfig = GET_KV_CONFIG = 101,
        DeleteKvConfig = DELETE_KV_CONFIG = 102,
        RegisterBroker = REGISTER_BROKER = 103,
        UnregisterBroker = UNREGISTER_BROKER = 104,
        GetRouteInfoByTopic = GET_ROUTEINFO_BY_TOPIC = 105,
        GetBrokerClusterInfo = GET_BROKER_CLUSTER_INFO = 106,
        UpdateAndCreateSubscriptionGroup = UPDATE_AND_CREATE_SUBSCRIPTIONGROUP = 200,
        GetAllSubscriptionGroupConfig = GET_ALL_SUBSCRIPTIONGROUP_CONFIG = 201,
        GetTopicStatsInfo = GET_TOPIC_STATS_INFO = 202,
        GetConsumerConnectionList = GET_CONSUMER_CONNECTION_LIST = 203,
        GetProducerConnectionList = GET_PRODUCER_CONNECTION_LIST = 204,
        WipeWritePermOfBroker = WIPE_WRITE_PERM_OF_BROKER = 205,
        GetAllTopicListFromNameserver = GET_ALL_TOPIC_LIST_FROM_NAMESERVER = 206,
        DeleteSubscriptionGroup = DELETE_SUBSCRIPTIONGROUP = 207,
        GetConsumeStats = GET_CONSUME_STATS = 208,
        SuspendConsumer = SUSPEND_CONSUMER = 209,
        ResumeConsumer = RESUME_CONSUMER = 210,
        ResetConsumerOffsetInConsumer = RESET_CONSUMER_OFFSET_IN_CONSUMER = 211,
        ResetConsumerOffsetInBroker = RESET_CONSUMER_OFFSET_IN_BROKER = 212,
        AdjustConsumerThreadPool = ADJUST_CONSUMER_THREAD_POOL = 213,
        WhoConsumeTheMessage = WHO_CONSUME_THE_MESSAGE = 214,
        DeleteTopicInBroker = DELETE_TOPIC_IN_BROKER = 215,
        DeleteTopicInNamesrv = DELETE_TOPIC_IN_NAMESRV = 216,
        RegisterTopicInNamesrv = REGISTER_TOPIC_IN_NAMESRV = 217,
        GetKvlistByNamespace = GET_KVLIST_BY_NAMESPACE = 219,
        ResetConsumerClientOffset = RESET_CONSUMER_CLIENT_OFFSET = 220,
        GetConsumerStatusFromClient = GET_CONSUMER_STATUS_FROM_CLIENT = 221,
        InvokeBrokerToResetOffset = INVOKE_BROKER_TO_RESET_OFFSET = 222,
        InvokeBrokerToGetConsumerStatus = INVOKE_BROKER_TO_GET_CONSUMER_STATUS = 223,
        GetTopicsByCluster = GET_TOPICS_BY_CLUSTER = 224,
        UpdateAndCreateSubscriptionGroupList = UPDATE_AND_CREATE_SUBSCRIPTIONGROUP_LIST = 225,
        QueryTopicConsumeByWho = QUERY_TOPIC_CONSUME_BY_WHO = 300,
        RegisterFilterServer = REGISTER_FILTER_SERVER = 301,
        RegisterMessageFilterClass = REGISTER_MESSAGE_FILTER_CLASS = 302,
        QueryConsumeTimeSpan = QUERY_CONSUME_TIME_SPAN = 303,
        GetSystemTopicListFromNs = GET_SYSTEM_TOPIC_LIST_FROM_NS = 304,
        GetSystemTopicListFromBroker = GET_SYSTEM_TOPIC_LIST_FROM_BROKER = 305,
        CleanExpiredConsumequeue = CLEAN_EXPIRED_CONSUMEQUEUE = 306,
        GetConsumerRunningInfo = GET_CONSUMER_RUNNING_INFO = 307,
        QueryCorrectionOffset = QUERY_CORRECTION_OFFSET = 308,
        ConsumeMessageDirectly = CONSUME_MESSAGE_DIRECTLY = 309,
        SendMessageV2 = SEND_MESSAGE_V2 = 310,
        GetUnitTopicList = GET_UNIT_TOPIC_LIST = 311,
        GetHasUnitSubTopicList = GET_HAS_UNIT_SUB_TOPIC_LIST = 312,
        GetHasUnitSubUnunitTopicList = GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST = 313,
        CloneGroupOffset = CLONE_GROUP_OFFSET = 314,
        ViewBrokerStatsData = VIEW_BROKER_STATS_DATA = 315,
        CleanUnusedTopic = CLEAN_UNUSED_TOPIC = 316,
        GetBrokerConsumeStats = GET_BROKER_CONSUME_STATS = 317,
        UpdateNamesrvConfig = UPDATE_NAMESRV_CONFIG = 318,
        GetNamesrvConfig = GET_NAMESRV_CONFIG = 319,
        SendBatchMessage = SEND_BATCH_MESSAGE = 320,
        QueryConsumeQueue = QUERY_CONSUME_QUEUE = 321,
        QueryDataVersion = QUERY_DATA_VERSION = 322,
        ResumeCheckHalfMessage = RESUME_CHECK_HALF_MESSAGE = 323,
        SendReplyMessage = SEND_REPLY_MESSAGE = 324,
        SendReplyMessageV2 = SEND_REPLY_MESSAGE_V2 = 325,
        PushReplyMessageToClient = PUSH_REPLY_MESSAGE_TO_CLIENT = 326,
        AddWritePermOfBroker = ADD_WRITE_PERM_OF_BROKER = 327,
        GetAllProducerInfo = GET_ALL_PRODUCER_INFO = 328,
        DeleteExpiredCommitlog = DELETE_EXPIRED_COMMITLOG = 329,
        QueryTopicsByConsumer = QUERY_TOPICS_BY_CONSUMER = 343,
        QuerySubscriptionByConsumer = QUERY_SUBSCRIPTION_BY_CONSUMER = 345,
        GetTopicConfig = GET_TOPIC_CONFIG = 351,
        GetSubscriptionGroupConfig = GET_SUBSCRIPTIONGROUP_CONFIG = 352,
        UpdateAndGetGroupForbidden = UPDATE_AND_GET_GROUP_FORBIDDEN = 353,
        CheckRocksdbCqWriteProgress = CHECK_ROCKSDB_CQ_WRITE_PROGRESS = 354,
        ExportRocksdbConfigToJson = EXPORT_ROCKSDB_CONFIG_TO_JSON = 355,
        LitePullMessage = LITE_PULL_MESSAGE = 361,
        RecallMessage = RECALL_MESSAGE = 370,
        QueryAssignment = QUERY_ASSIGNMENT = 400,
        SetMessageRequestMode = SET_MESSAGE_REQUEST_MODE = 401,
        GetAllMessageRequestMode = GET_ALL_MESSAGE_REQUEST_MODE = 402,
        UpdateAndCreateStaticTopic = UPDATE_AND_CREATE_STATIC_TOPIC = 513,
        GetBrokerMemberGroup = GET_BROKER_MEMBER_GROUP = 901,
        AddBroker = ADD_BROKER = 902,
        RemoveBroker = REMOVE_BROKER = 903,
        BrokerHeartbeat = BROKER_HEARTBEAT = 904,
        NotifyMinBrokerIdChange = NOTIFY_MIN_BROKER_ID_CHANGE = 905,
        ExchangeBrokerHaInfo = EXCHANGE_BROKER_HA_INFO = 906,
        GetBrokerHaStatus = GET_BROKER_HA_STATUS = 907,
        ResetMasterFlushOffset = RESET_MASTER_FLUSH_OFFSET = 908,
        ControllerAlterSyncStateSet = CONTROLLER_ALTER_SYNC_STATE_SET = 1001,
        ControllerElectMaster = CONTROLLER_ELECT_MASTER = 1002,
        ControllerRegisterBroker = CONTROLLER_REGISTER_BROKER = 1003,
        ControllerGetReplicaInfo = CONTROLLER_GET_REPLICA_INFO = 1004,
        ControllerGetMetadataInfo = CONTROLLER_GET_METADATA_INFO = 1005,
        ControllerGetSyncStateData = CONTROLLER_GET_SYNC_STATE_DATA = 1006,
        GetBrokerEpochCache = GET_BROKER_EPOCH_CACHE = 1007,
        NotifyBrokerRoleChanged = NOTIFY_BROKER_ROLE_CHANGED = 1008,
        UpdateControllerConfig = UPDATE_CONTROLLER_CONFIG = 1009,
        GetControllerConfig = GET_CONTROLLER_CONFIG = 1010,
        CleanBrokerData = CLEAN_BROKER_DATA = 1011,
        ControllerGetNextBrokerId = CONTROLLER_GET_NEXT_BROKER_ID = 1012,
        ControllerApplyBrokerId = CONTROLLER_APPLY_BROKER_ID = 1013,
        UpdateColdDataFlowCtrConfig = UPDATE_COLD_DATA_FLOW_CTR_CONFIG = 2001,
        RemoveColdDataFlowCtrConfig = REMOVE_COLD_DATA_FLOW_CTR_CONFIG = 2002,
        GetColdDataFlowCtrInfo = GET_COLD_DATA_FLOW_CTR_INFO = 2003,
        SetCommitlogReadMode = SET_COMMITLOG_READ_MODE = 2004,
        AuthCreateUser = AUTH_CREATE_USER = 3001,
        AuthUpdateUser = AUTH_UPDATE_USER = 3002,
        AuthDeleteUser = AUTH_DELETE_USER = 3003,
        AuthGetUser = AUTH_GET_USER = 3004,
        AuthListUser = AUTH_LIST_USER = 3005,
        AuthCreateAcl = AUTH_CREATE_ACL = 3006,
        AuthUpdateAcl = AUTH_UPDATE_ACL = 3007,
        AuthDeleteAcl = AUTH_DELETE_ACL = 3008,
        AuthGetAcl = AUTH_GET_ACL = 3009,
        AuthListAcl = AUTH_LIST_ACL = 3010,
        PopMessage = POP_MESSAGE = 200050,
        AckMessage = ACK_MESSAGE = 200051,
        PeekMessage = PEEK_MESSAGE = 200052,
        ChangeMessageInvisibletime = CHANGE_MESSAGE_INVISIBLETIME = 200053,
        Notification = NOTIFICATION = 200054,
        PollingInfo = POLLING_INFO = 200055,
        PopRollback = POP_ROLLBACK = 200056,
        BatchAckMessage = BATCH_ACK_MESSAGE = 200151,
    }
);

code_enum!(
    /// Response codes of `RemotingSysResponseCode.java` and `ResponseCode.java` (PROTOCOL.md §4.2).
    ResponseCode, response_code, {
        Success = SUCCESS = 0,
        SystemError = SYSTEM_ERROR = 1,
        SystemBusy = SYSTEM_BUSY = 2,
        RequestCodeNotSupported = REQUEST_CODE_NOT_SUPPORTED = 3,
        TransactionFailed = TRANSACTION_FAILED = 4,
        FlushDiskTimeout = FLUSH_DISK_TIMEOUT = 10,
        SlaveNotAvailable = SLAVE_NOT_AVAILABLE = 11,
        FlushSlaveTimeout = FLUSH_SLAVE_TIMEOUT = 12,
        MessageIllegal = MESSAGE_ILLEGAL = 13,
        ServiceNotAvailable = SERVICE_NOT_AVAILABLE = 14,
        VersionNotSupported = VERSION_NOT_SUPPORTED = 15,
        NoPermission = NO_PERMISSION = 16,
        TopicNotExist = TOPIC_NOT_EXIST = 17,
        TopicExistAlready = TOPIC_EXIST_ALREADY = 18,
        PullNotFound = PULL_NOT_FOUND = 19,
        PullRetryImmediately = PULL_RETRY_IMMEDIATELY = 20,
        PullOffsetMoved = PULL_OFFSET_MOVED = 21,
        QueryNotFound = QUERY_NOT_FOUND = 22,
        SubscriptionParseFailed = SUBSCRIPTION_PARSE_FAILED = 23,
        SubscriptionNotExist = SUBSCRIPTION_NOT_EXIST = 24,
        SubscriptionNotLatest = SUBSCRIPTION_NOT_LATEST = 25,
        SubscriptionGroupNotExist = SUBSCRIPTION_GROUP_NOT_EXIST = 26,
        FilterDataNotExist = FILTER_DATA_NOT_EXIST = 27,
        FilterDataNotLatest = FILTER_DATA_NOT_LATEST = 28,
        InvalidParameter = INVALID_PARAMETER = 29,
        TransactionShouldCommit = TRANSACTION_SHOULD_COMMIT = 200,
        TransactionShouldRollback = TRANSACTION_SHOULD_ROLLBACK = 201,
        TransactionStateUnknow = TRANSACTION_STATE_UNKNOW = 202,
        TransactionStateGroupWrong = TRANSACTION_STATE_GROUP_WRONG = 203,
        NoBuyerId = NO_BUYER_ID = 204,
        NotInCurrentUnit = NOT_IN_CURRENT_UNIT = 205,
        ConsumerNotOnline = CONSUMER_NOT_ONLINE = 206,
        ConsumeMsgTimeout = CONSUME_MSG_TIMEOUT = 207,
        NoMessage = NO_MESSAGE = 208,
        PollingFull = POLLING_FULL = 209,
        PollingTimeout = POLLING_TIMEOUT = 210,
        BrokerNotExist = BROKER_NOT_EXIST = 211,
        BrokerDispatchNotComplete = BROKER_DISPATCH_NOT_COMPLETE = 212,
        BroadcastConsumption = BROADCAST_CONSUMPTION = 213,
        FlowControl = FLOW_CONTROL = 215,
        NotLeaderForQueue = NOT_LEADER_FOR_QUEUE = 501,
        IllegalOperation = ILLEGAL_OPERATION = 604,
        GoAway = GO_AWAY = 1500,
        ControllerFencedMasterEpoch = CONTROLLER_FENCED_MASTER_EPOCH = 2000,
        ControllerFencedSyncStateSetEpoch = CONTROLLER_FENCED_SYNC_STATE_SET_EPOCH = 2001,
        ControllerInvalidMaster = CONTROLLER_INVALID_MASTER = 2002,
        ControllerInvalidReplicas = CONTROLLER_INVALID_REPLICAS = 2003,
        ControllerMasterNotAvailable = CONTROLLER_MASTER_NOT_AVAILABLE = 2004,
        ControllerInvalidRequest = CONTROLLER_INVALID_REQUEST = 2005,
        ControllerBrokerNotAlive = CONTROLLER_BROKER_NOT_ALIVE = 2006,
        ControllerNotLeader = CONTROLLER_NOT_LEADER = 2007,
        ControllerBrokerMetadataNotExist = CONTROLLER_BROKER_METADATA_NOT_EXIST = 2008,
        ControllerInvalidCleanBrokerMetadata = CONTROLLER_INVALID_CLEAN_BROKER_METADATA = 2009,
        ControllerBrokerNeedToBeRegistered = CONTROLLER_BROKER_NEED_TO_BE_REGISTERED = 2010,
        ControllerMasterStillExist = CONTROLLER_MASTER_STILL_EXIST = 2011,
        ControllerElectMasterFailed = CONTROLLER_ELECT_MASTER_FAILED = 2012,
        ControllerAlterSyncStateSetFailed = CONTROLLER_ALTER_SYNC_STATE_SET_FAILED = 2013,
        ControllerBrokerIdInvalid = CONTROLLER_BROKER_ID_INVALID = 2014,
        ControllerJraftInternalError = CONTROLLER_JRAFT_INTERNAL_ERROR = 2015,
        ControllerBrokerLiveInfoNotExists = CONTROLLER_BROKER_LIVE_INFO_NOT_EXISTS = 2016,
        UserNotExist = USER_NOT_EXIST = 3001,
        PolicyNotExist = POLICY_NOT_EXIST = 3002,
        RpcUnknown = RPC_UNKNOWN = -1000,
        RpcAddrIsNull = RPC_ADDR_IS_NULL = -1002,
        RpcSendToChannelFailed = RPC_SEND_TO_CHANNEL_FAILED = -1004,
        RpcTimeOut = RPC_TIME_OUT = -1006,
    }
);
