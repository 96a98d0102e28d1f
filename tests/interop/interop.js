'use strict';

// Interop test: the stock Node client ali-ons (3.12.0, pinned in package-lock.json) against our
// nameserver and broker, plus our Rust client against ali-ons on one topic.
//
// run.sh starts the servers and sets:
//   NAMESRV_ADDR          127.0.0.1:PORT of our nameserver
//   BROKER_ADDR           127.0.0.1:PORT of our broker (where topics are created)
//   INTEROP_RUST_PEER     path of the Rust peer binary (examples/interop_peer.rs); unset = pending
//   INTEROP_LOG           file for ali-ons's own log lines (default: stderr when INTEROP_VERBOSE=1)
//   INTEROP_VERBOSE=1     echo ali-ons warnings/errors and progress to stderr
//
// Every scenario prints PASS/FAIL with details; the last line is "interop: N passed, M failed".

const fs = require('fs');
const zlib = require('zlib');
const { Producer, Consumer, Message } = require('ali-ons');
const { withConnection, RequestCode } = require('./lib/remoting');
const { waitFor, withTimeout, pool, makeBatch, diffMessage, indexOf } = require('./lib/util');
const { RustPeer } = require('./lib/rust_peer');

const NAMESRV = process.env.NAMESRV_ADDR;
const BROKER = process.env.BROKER_ADDR;
const VERBOSE = process.env.INTEROP_VERBOSE === '1';
const RUN = (process.env.INTEROP_RUN_ID || Date.now().toString(36)).replace(/[^A-Za-z0-9_-]/g, '');
const T0 = Date.now();

if (!NAMESRV || !BROKER) {
  console.error('interop.js: set NAMESRV_ADDR and BROKER_ADDR (tests/interop/run.sh does)');
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// ali-ons plumbing

// ali-ons insists on an `httpclient` even with `nameSrv` set: it is only used to ask Aliyun's
// address server for nameserver addresses. With nameSrv it must never be called.
const httpclient = {
  async request(url) {
    httpclientCalls.push(url);
    throw new Error(`interop: ali-ons asked the address server ${url} although nameSrv is set`);
  },
};
const httpclientCalls = [];

const logStream = process.env.INTEROP_LOG ? fs.createWriteStream(process.env.INTEROP_LOG, { flags: 'a' }) : null;
// The last WARN/ERROR lines ali-ons logged (it reports some broker remarks only there).
const recentWarnings = [];
function logLine(level, args) {
  const text = args.map(a => (a instanceof Error ? (a.stack || a.message) : typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
  if (level === 'WARN' || level === 'ERROR') {
    recentWarnings.push(text);
    if (recentWarnings.length > 500) recentWarnings.shift();
  }
  const line = `${new Date().toISOString()} ${level} ${text}\n`;
  if (logStream) logStream.write(line);
  if (VERBOSE && (level === 'WARN' || level === 'ERROR')) process.stderr.write(`[ali-ons] ${line}`);
}
const logger = {
  info(...a) { logLine('INFO', a); },
  debug() {},
  warn(...a) { logLine('WARN', a); },
  error(...a) { logLine('ERROR', a); },
};

function progress(msg) {
  const line = `interop [${((Date.now() - T0) / 1000).toFixed(1)}s] ${msg}`;
  console.log(line);
  if (logStream) logStream.write(line + '\n');
}

const baseOptions = { nameSrv: NAMESRV, httpclient, logger };

// Errors ali-ons reports through 'error' events, per client. Some are expected (a handler we made
// throw); everything else is printed in the scenario's details.
function trackErrors(client, name, sink) {
  client.on('error', err => {
    const text = `${name}: ${err && err.name}: ${err && err.message}`;
    sink.push(text);
    if (/No topic route info in name server for the topic: %RETRY%/.test(text)) retryRouteMisses.push(text);
    logLine('ERROR', [ text ]);
  });
}
// ali-ons consumers that looked up %RETRY%<group> right after their first heartbeat and found
// no route (see the "new topics are on the nameserver" scenario).
const retryRouteMisses = [];

function toPlain(msg) {
  return {
    topic: msg.topic,
    tags: msg.tags,
    keys: msg.keys,
    props: msg.properties,
    body: msg.body || Buffer.alloc(0),
    msgId: msg.msgId,
    queueId: msg.queueId,
    queueOffset: msg.queueOffset,
    reconsumeTimes: msg.reconsumeTimes,
  };
}

/** Tracks what a set of consumers received against the batch that was sent. */
class Collector {
  constructor(batch) {
    this.batch = batch;
    this.byIdx = new Map(); // idx -> times received
    this.mismatches = [];
    this.unknown = 0;
    this.duplicates = 0;
    this.perConsumer = new Map();
  }

  add(consumerName, plain) {
    const idx = indexOf(plain);
    const expected = idx >= 0 ? this.batch[idx] : undefined;
    if (!expected) {
      this.unknown++;
      if (this.mismatches.length < 5) this.mismatches.push(`unidentifiable message ${plain.msgId} (props ${JSON.stringify(plain.props)})`);
      return;
    }
    const diff = diffMessage(expected, plain);
    if (diff && this.mismatches.length < 10) this.mismatches.push(`#${idx} (msgId ${plain.msgId}): ${diff}`);
    const n = this.byIdx.get(idx) || 0;
    if (n) this.duplicates++;
    this.byIdx.set(idx, n + 1);
    this.perConsumer.set(consumerName, (this.perConsumer.get(consumerName) || 0) + 1);
  }

  get unique() {
    return this.byIdx.size;
  }

  missing(limit = 10) {
    const out = [];
    for (const m of this.batch) {
      if (!this.byIdx.has(m.idx)) out.push(m.idx);
      if (out.length >= limit) break;
    }
    return out;
  }
}

function aliMessage(m) {
  const msg = new Message(m.topic, m.tags, m.body);
  msg.keys = m.keys;
  for (const [ k, v ] of Object.entries(m.props)) msg.properties[k] = v;
  return msg;
}

/** Send a batch with ali-ons, checking every result is SEND_OK with a msgId. */
async function sendBatch(producer, batch, concurrency = 8) {
  const failures = [];
  const queues = new Map();
  await pool(batch, concurrency, async m => {
    try {
      const r = await producer.send(aliMessage(m));
      if (!r || r.sendStatus !== 'SEND_OK') {
        failures.push(`#${m.idx}: sendStatus ${r && r.sendStatus}`);
      } else if (!/^[0-9A-F]{32}$/i.test(r.msgId || '')) {
        failures.push(`#${m.idx}: SEND_OK but msgId ${JSON.stringify(r.msgId)} is not a 32-hex offset id`);
      } else if (!Number.isInteger(r.queueOffset) || r.queueOffset < 0) {
        failures.push(`#${m.idx}: SEND_OK but queueOffset ${r.queueOffset}`);
      } else {
        const q = r.messageQueue.queueId;
        queues.set(q, (queues.get(q) || 0) + 1);
      }
    } catch (err) {
      failures.push(`#${m.idx}: ${err.name} code=${err.code}: ${err.message}`);
    }
  });
  return { failures, queues };
}

/** Start an ali-ons push consumer (clustering, CONSUME_FROM_FIRST_OFFSET unless overridden). */
async function startConsumer(name, group, topic, handler, errors, extra = {}) {
  const consumer = new Consumer(Object.assign({}, baseOptions, {
    consumerGroup: group,
    instanceName: name,
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
    isBroadcast: false,
  }, extra));
  trackErrors(consumer, name, errors);
  consumer.subscribe(topic, '*', handler);
  await withTimeout(consumer.ready(), 15000, `consumer ${name} start`);
  return consumer;
}

async function closeQuietly(client, what) {
  if (!client) return;
  try {
    await withTimeout(client.close(), 10000, `closing ${what}`);
  } catch (err) {
    logLine('WARN', [ `closing ${what}: ${err.message}` ]);
  }
}

function assignedQueues(consumer, topic) {
  const out = [];
  for (const { messageQueue } of consumer.processQueueTable.values()) {
    if (messageQueue.topic === topic) out.push(messageQueue.queueId);
  }
  return out.sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------------------------
// Raw-socket helpers (what ali-ons has no call for)

async function routeOf(topic) {
  return withConnection(NAMESRV, async conn => {
    const resp = await conn.invoke(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic });
    if (resp.code !== 0) return { code: resp.code, remark: resp.remark };
    return { code: 0, route: JSON.parse(resp.body.toString('utf8')) };
  });
}

function readQueues(route) {
  return (route.queueDatas || []).reduce((n, q) => n + (q.readQueueNums || 0), 0);
}

async function committedOffsets(group, topic) {
  return withConnection(BROKER, async conn => {
    const out = [];
    for (let q = 0; q < QUEUES; q++) {
      const c = await conn.invoke(14 /* QUERY_CONSUMER_OFFSET */, { consumerGroup: group, topic, queueId: q });
      const m = await conn.invoke(30 /* GET_MAX_OFFSET */, { topic, queueId: q });
      out.push({
        committed: c.code === 0 ? Number(c.extFields.offset) : `code ${c.code}`,
        max: m.code === 0 ? Number(m.extFields.offset) : `code ${m.code}`,
      });
    }
    return out;
  });
}

// ---------------------------------------------------------------------------------------------
// Scenarios

const QUEUES = 8;
const N = Number(process.env.INTEROP_COUNT || 1000);
const topics = {
  main: `interop_${RUN}_main`,
  split: `interop_${RUN}_split`,
  retry: `interop_${RUN}_retry`,
  rust: `interop_${RUN}_rust`,
};
const state = { producer: null, producerErrors: [], batch1: null, rustPeer: null };

const scenarios = [];
function scenario(name, fn, opts = {}) {
  scenarios.push({ name, fn, opts });
}

scenario('setup: ali-ons producer starts; topics created with its UPDATE_AND_CREATE_TOPIC; routes served by the nameserver', async details => {
  const producer = new Producer(Object.assign({}, baseOptions, { producerGroup: `interop_${RUN}_pg` }));
  trackErrors(producer, 'producer', state.producerErrors);
  await withTimeout(producer.ready(), 15000, 'producer start');
  state.producer = producer;

  // ali-ons's own admin call: UPDATE_AND_CREATE_TOPIC (17) with numbers and a boolean in
  // extFields (readQueueNums: 8, perm: 6, topicSysFlag: 0, order: false).
  for (const topic of Object.values(topics)) {
    await producer._mqClient.createTopic(BROKER, 'TBW102', {
      topicName: topic,
      readQueueNums: QUEUES,
      writeQueueNums: QUEUES,
      perm: 6,
      topicFilterType: 'SINGLE_TAG',
      topicSysFlag: 0,
      order: false,
    }, 5000);
  }
  const t = Date.now();
  for (const topic of Object.values(topics)) {
    const ok = await waitFor(async () => {
      const r = await routeOf(topic);
      return r.code === 0 && readQueues(r.route) === QUEUES ? r : null;
    }, 35000, 100);
    if (!ok) {
      const r = await routeOf(topic);
      throw new Error(`nameserver has no ${QUEUES}-queue route for ${topic} 35s after creation: ${JSON.stringify(r)}`);
    }
  }
  const waited = Date.now() - t;
  details.push(`created ${Object.keys(topics).length} topics x ${QUEUES} queues; routes visible after ${waited}ms`);
  if (waited > 5000) {
    details.push(`note: the broker took ${waited}ms to publish new topics to the nameserver (stock brokers register at once)`);
  }
  if (httpclientCalls.length) throw new Error(`ali-ons called the http address server: ${httpclientCalls.join(', ')}`);
}, { fatal: true });

scenario('wire: ali-ons-style frames (numeric/boolean extFields, no serializeTypeCurrentRPC, version 121) are answered in JSON', async details => {
  // The same framing ali-ons uses, through our own socket so every response frame can be
  // inspected: serialize type byte 0, response flag, echoed opaque, extFields values strings.
  const problems = [];
  function check(what, resp, opaqueSent) {
    if (resp.serializeType !== 0) problems.push(`${what}: serialize type ${resp.serializeType}`);
    if ((resp.flag & 1) !== 1) problems.push(`${what}: response flag bit not set (flag ${resp.flag})`);
    if (opaqueSent !== undefined && resp.opaque !== opaqueSent) problems.push(`${what}: opaque ${resp.opaque} != ${opaqueSent}`);
    if (typeof resp.header.version !== 'number' || resp.header.version >= 32768) problems.push(`${what}: version ${resp.header.version}`);
    for (const [ k, v ] of Object.entries(resp.extFields)) {
      if (typeof v !== 'string') problems.push(`${what}: extFields.${k} is a ${typeof v}, not a string`);
    }
  }
  await withConnection(NAMESRV, async conn => {
    const r = await conn.invoke(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: topics.main });
    check('nameserver GET_ROUTEINFO_BY_TOPIC', r);
    if (r.code !== 0) throw new Error(`route of ${topics.main}: code ${r.code} ${r.remark}`);
    const route = JSON.parse(r.body.toString('utf8'));
    const addr = route.brokerDatas && route.brokerDatas[0] && route.brokerDatas[0].brokerAddrs && route.brokerDatas[0].brokerAddrs['0'];
    if (addr !== BROKER) problems.push(`route advertises broker ${addr}, expected ${BROKER}`);
    const unknown = await conn.invoke(9999, { x: 1, y: true });
    check('nameserver unknown code', unknown);
    if (unknown.code !== 3) problems.push(`nameserver: unknown request code answered ${unknown.code}, expected 3 (REQUEST_CODE_NOT_SUPPORTED)`);
    const again = await conn.invoke(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: topics.main });
    if (again.code !== 0) problems.push(`nameserver: connection unusable after an unknown code (${again.code})`);
  });
  await withConnection(BROKER, async conn => {
    const max = await conn.invoke(30 /* GET_MAX_OFFSET */, { topic: topics.main, queueId: 0 });
    check('broker GET_MAX_OFFSET', max);
    if (max.code !== 0 || !/^\d+$/.test(String(max.extFields.offset))) problems.push(`GET_MAX_OFFSET: code ${max.code} offset ${JSON.stringify(max.extFields.offset)}`);
    const q = await conn.invoke(14 /* QUERY_CONSUMER_OFFSET */, { consumerGroup: `interop_${RUN}_nobody`, topic: topics.main, queueId: 3 });
    check('broker QUERY_CONSUMER_OFFSET', q);
    if (q.code !== 0 && q.code !== 22) problems.push(`QUERY_CONSUMER_OFFSET for an unknown group: code ${q.code} ${q.remark}`);
    // ali-ons's CONSUME_FROM_TIMESTAMP path: SEARCH_OFFSET_BY_TIMESTAMP with a numeric timestamp.
    const search = await conn.invoke(29 /* SEARCH_OFFSET_BY_TIMESTAMP */, { topic: topics.main, queueId: 2, timestamp: Date.now() - 60000 });
    check('broker SEARCH_OFFSET_BY_TIMESTAMP', search);
    if (search.code !== 0 || !/^\d+$/.test(String(search.extFields.offset))) problems.push(`SEARCH_OFFSET_BY_TIMESTAMP: code ${search.code} offset ${JSON.stringify(search.extFields.offset)} ${search.remark || ''}`);
    const unknown = await conn.invoke(9999, { a: 1.5, b: false });
    check('broker unknown code', unknown);
    if (unknown.code !== 3) problems.push(`broker: unknown request code answered ${unknown.code}, expected 3`);
    const again = await conn.invoke(30, { topic: topics.main, queueId: 1 });
    if (again.code !== 0) problems.push(`broker: connection unusable after an unknown code (${again.code})`);
    details.push(`broker answered GET_MAX_OFFSET ${max.headerText}`);
  });
  if (problems.length) throw new Error(problems.join(' | '));
});

scenario('new topics are on the nameserver when the broker answers (UPDATE_AND_CREATE_TOPIC; a new group\'s %RETRY% topic on HEART_BEAT)', async details => {
  // ali-ons looks routes up right after these calls: a push consumer subscribes to
  // %RETRY%<group> and asks the nameserver for its route immediately after its first heartbeat;
  // if the route is not there yet it emits an 'error' and waits for its next route poll (30 s)
  // before it can consume retries. Stock brokers register with the nameserver synchronously
  // before answering (TopicConfigManager.createTopicInSendMessageBackMethod/registerBrokerAll).
  // Asynchronous registration loses this race only some of the time, so try several names.
  const TRIES = 40;
  const problems = [];
  for (let i = 0; i < TRIES; i++) {
    const topic = `interop_${RUN}_sync${i}`;
    await state.producer._mqClient.createTopic(BROKER, 'TBW102', {
      topicName: topic, readQueueNums: 2, writeQueueNums: 2, perm: 6,
      topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false,
    }, 5000);
    const r = await routeOf(topic);
    if (r.code !== 0) problems.push(`UPDATE_AND_CREATE_TOPIC ${topic} answered, but the nameserver says code ${r.code}`);
  }
  await withConnection(BROKER, async conn => {
    for (let i = 0; i < TRIES; i++) {
      const group = `interop_${RUN}_hb${i}`;
      const heartbeat = {
        clientID: `127.0.0.1@interop-hb${i}`,
        consumerDataSet: [{
          groupName: group,
          consumeType: 'CONSUME_PASSIVELY',
          messageModel: 'CLUSTERING',
          consumeFromWhere: 'CONSUME_FROM_LAST_OFFSET',
          subscriptionDataSet: [{ topic: topics.main, subString: '*', classFilterMode: false, tagsSet: [], codeSet: [], subVersion: Date.now() }],
          unitMode: false,
        }],
        producerDataSet: [],
      };
      const resp = await conn.invoke(34 /* HEART_BEAT */, {}, Buffer.from(JSON.stringify(heartbeat)));
      if (resp.code !== 0) {
        problems.push(`HEART_BEAT for ${group}: code ${resp.code} ${resp.remark}`);
        continue;
      }
      const r = await routeOf(`%RETRY%${group}`);
      if (r.code !== 0) problems.push(`HEART_BEAT of new group ${group} answered, but the nameserver has no route for %RETRY%${group} (code ${r.code})`);
      await conn.invoke(35 /* UNREGISTER_CLIENT */, { clientID: heartbeat.clientID, consumerGroup: group });
    }
  });
  if (problems.length) {
    throw new Error(`the broker registers new topics with the nameserver only after answering (${problems.length} of ${2 * TRIES} lookups missed): ${problems.slice(0, 3).join(' | ')}`);
  }
  details.push(`${TRIES} UPDATE_AND_CREATE_TOPIC and ${TRIES} first heartbeats: routes present immediately`);
});

scenario(`producer: ${N} messages with tags, keys and user properties, each SEND_OK`, async details => {
  state.batch1 = makeBatch('b1', topics.main, N, 'ali-ons');
  const t = Date.now();
  const { failures, queues } = await sendBatch(state.producer, state.batch1);
  details.push(`sent in ${Date.now() - t}ms; per queue: ${JSON.stringify(Object.fromEntries([ ...queues ].sort((a, b) => a[0] - b[0])))}`);
  if (failures.length) throw new Error(`${failures.length} of ${N} sends failed; first: ${failures.slice(0, 5).join(' | ')}`);
});

scenario(`push consumer (clustering, CONSUME_FROM_FIRST_OFFSET) receives all ${N}, bodies/tags/keys/properties intact`, async details => {
  if (!state.batch1) throw new Error('no batch was sent (previous scenario failed)');
  const collector = new Collector(state.batch1);
  const errors = [];
  const t = Date.now();
  const consumer = await startConsumer('interop-all', `interop_${RUN}_cg_all`, topics.main, async msg => {
    collector.add('interop-all', toPlain(msg));
  }, errors);
  try {
    await waitFor(() => collector.unique >= N, 45000, 100);
    details.push(`received ${collector.unique}/${N} unique in ${Date.now() - t}ms (${collector.duplicates} duplicates)`);
    if (errors.length) details.push(`ali-ons errors: ${errors.slice(0, 5).join(' | ')}`);
    if (collector.mismatches.length) throw new Error(`messages not intact: ${collector.mismatches.slice(0, 5).join(' | ')}`);
    if (collector.unique < N) throw new Error(`only ${collector.unique}/${N} received within 45s; missing e.g. ${collector.missing().join(',')}`);
  } finally {
    await closeQuietly(consumer, 'consumer interop-all');
  }
  // ali-ons commits offsets with UPDATE_CONSUMER_OFFSET (numeric extFields, sent without the
  // oneway bit) every 5s and on close; the broker must now hold the end of every queue.
  const group = `interop_${RUN}_cg_all`;
  let last = null;
  const committed = await waitFor(async () => {
    last = await committedOffsets(group, topics.main);
    return last.every(o => o.committed === o.max && o.max > 0) ? last : null;
  }, 8000, 250);
  if (!committed) throw new Error(`consumer offsets not committed to the broker: ${JSON.stringify(last)}`);
  details.push(`committed offsets = max offsets on all ${QUEUES} queues (sum ${committed.reduce((n, o) => n + o.committed, 0)})`);
});

scenario('tag subscription "TagA || TagC" gets exactly its two thirds of the first batch', async details => {
  if (!state.batch1) throw new Error('no batch was sent');
  const wanted = state.batch1.filter(m => m.tags !== 'TagB');
  const collector = new Collector(state.batch1);
  let wrongTag = 0;
  const errors = [];
  const consumer = new Consumer(Object.assign({}, baseOptions, {
    consumerGroup: `interop_${RUN}_cg_tags`,
    instanceName: 'interop-tags',
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
  }));
  trackErrors(consumer, 'interop-tags', errors);
  // Count what the broker returns before ali-ons's own client-side tag check, to see whether
  // the broker filtered by tag hash (it should; stock brokers do).
  let pulledTagB = 0;
  let pulled = 0;
  const api = consumer._mqClient;
  const origPull = api.pullMessage.bind(api);
  api.pullMessage = async (...args) => {
    const r = await origPull(...args);
    for (const m of r.msgFoundList || []) {
      pulled++;
      if (m.tags === 'TagB') pulledTagB++;
    }
    return r;
  };
  consumer.subscribe(topics.main, 'TagA || TagC', async msg => {
    if (msg.tags === 'TagB') wrongTag++;
    collector.add('tags', toPlain(msg));
  });
  try {
    await withTimeout(consumer.ready(), 15000, 'consumer interop-tags start');
    await waitFor(() => collector.unique >= wanted.length, 30000, 100);
    details.push(`received ${collector.unique}/${wanted.length}; broker returned ${pulled} messages of which ${pulledTagB} TagB`);
    if (errors.length) details.push(`ali-ons errors: ${errors.slice(0, 5).join(' | ')}`);
    if (collector.mismatches.length) throw new Error(`not intact: ${collector.mismatches.slice(0, 5).join(' | ')}`);
    if (wrongTag) throw new Error(`${wrongTag} TagB messages reached the handler`);
    const missing = wanted.filter(m => !collector.byIdx.has(m.idx)).map(m => m.idx);
    if (missing.length) throw new Error(`${missing.length} TagA/TagC messages missing, e.g. ${missing.slice(0, 10).join(',')}`);
    if (pulledTagB) throw new Error(`the broker did not filter by tag: it returned ${pulledTagB} TagB messages to a "TagA || TagC" subscription`);
  } finally {
    await closeQuietly(consumer, 'consumer interop-tags');
  }
});

scenario(`two consumers in one group split the queues and together get all of a second batch of ${N}`, async details => {
  const batch2 = makeBatch('b2', topics.split, N, 'ali-ons');
  const collector = new Collector(batch2);
  const errors = [];
  const group = `interop_${RUN}_cg_split`;
  const handler = name => async msg => {
    collector.add(name, toPlain(msg));
  };
  const c1 = await startConsumer('interop-c1', group, topics.split, handler('c1'), errors);
  let c2;
  try {
    c2 = await startConsumer('interop-c2', group, topics.split, handler('c2'), errors);
    // ali-ons does not act on NOTIFY_CONSUMER_IDS_CHANGED; c1 gives up queues on its next
    // periodic rebalance (every 10s).
    const t = Date.now();
    const split = await waitFor(() => {
      const q1 = assignedQueues(c1, topics.split);
      const q2 = assignedQueues(c2, topics.split);
      const union = new Set([ ...q1, ...q2 ]);
      const disjoint = q1.every(q => !q2.includes(q));
      return q1.length && q2.length && disjoint && union.size === QUEUES ? { q1, q2 } : null;
    }, 30000, 200);
    if (!split) {
      throw new Error(`queues not split within 30s: c1=${JSON.stringify(assignedQueues(c1, topics.split))} c2=${JSON.stringify(assignedQueues(c2, topics.split))}`);
    }
    details.push(`split after ${Date.now() - t}ms: c1 queues ${JSON.stringify(split.q1)}, c2 queues ${JSON.stringify(split.q2)}`);

    const { failures } = await sendBatch(state.producer, batch2);
    if (failures.length) throw new Error(`${failures.length} sends failed; first: ${failures.slice(0, 5).join(' | ')}`);
    const t2 = Date.now();
    await waitFor(() => collector.unique >= N, 45000, 100);
    const got1 = collector.perConsumer.get('c1') || 0;
    const got2 = collector.perConsumer.get('c2') || 0;
    details.push(`received ${collector.unique}/${N} unique in ${Date.now() - t2}ms: c1 ${got1}, c2 ${got2} (${collector.duplicates} duplicates)`);
    if (errors.length) details.push(`ali-ons errors: ${errors.slice(0, 5).join(' | ')}`);
    if (collector.mismatches.length) throw new Error(`messages not intact: ${collector.mismatches.slice(0, 5).join(' | ')}`);
    if (collector.unique < N) throw new Error(`lost messages: only ${collector.unique}/${N} received within 45s; missing e.g. ${collector.missing().join(',')}`);
    if (!got1 || !got2) throw new Error(`one consumer got nothing (c1 ${got1}, c2 ${got2})`);
  } finally {
    await closeQuietly(c2, 'consumer interop-c2');
    await closeQuietly(c1, 'consumer interop-c1');
  }
});

scenario('a consumer that throws gets the message again through CONSUMER_SEND_MSG_BACK (%RETRY% topic)', async details => {
  const RETRY_N = 3;
  const batch = makeBatch('b3', topics.retry, RETRY_N, 'ali-ons');
  const group = `interop_${RUN}_cg_retry`;
  const errors = [];
  const deliveries = new Map(); // idx -> [plain]
  const mismatches = [];
  const consumer = await startConsumer('interop-retry', group, topics.retry, async msg => {
    const plain = toPlain(msg);
    const idx = indexOf(plain);
    if (idx < 0 || idx >= RETRY_N) {
      mismatches.push(`unidentifiable message ${plain.msgId}`);
      return;
    }
    const diff = diffMessage(batch[idx], plain);
    if (diff) mismatches.push(`#${idx} delivery ${(deliveries.get(idx) || []).length + 1}: ${diff}`);
    const list = deliveries.get(idx) || [];
    list.push(plain);
    deliveries.set(idx, list);
    if (list.length === 1) throw new Error('interop: deliberate failure on first delivery');
  }, errors);

  // Watch what ali-ons does after the throw: CONSUMER_SEND_MSG_BACK (36) to the broker; if that
  // fails it silently falls back to re-sending the message itself to %RETRY%<group>, which would
  // hide a broker bug, so record the outcome of every send-back.
  const sendBacks = [];
  const api = consumer._mqClient;
  const original = api.consumerSendMessageBack.bind(api);
  api.consumerSendMessageBack = async (...args) => {
    const [ addr, msg, g, delayLevel ] = args;
    try {
      await original(...args);
      sendBacks.push({ ok: true, msgId: msg.msgId, group: g, delayLevel, addr });
    } catch (err) {
      sendBacks.push({ ok: false, msgId: msg.msgId, error: `code=${err.code} ${err.message}` });
      throw err;
    }
  };

  try {
    const t = Date.now();
    const { failures } = await sendBatch(state.producer, batch, 1);
    if (failures.length) throw new Error(`sends failed: ${failures.join(' | ')}`);
    const done = await waitFor(() => batch.every(m => (deliveries.get(m.idx) || []).length >= 2), 75000, 200);
    const firstBack = sendBacks.length ? sendBacks[0] : null;
    details.push(`send-backs: ${sendBacks.filter(s => s.ok).length} ok, ${sendBacks.filter(s => !s.ok).length} failed` +
      (firstBack ? ` (delayLevel ${firstBack.delayLevel})` : ''));
    const failedBacks = sendBacks.filter(s => !s.ok);
    if (failedBacks.length) {
      throw new Error(`CONSUMER_SEND_MSG_BACK failed (ali-ons fell back to re-sending itself): ${failedBacks.map(s => s.error).slice(0, 3).join(' | ')}`);
    }
    if (!done) {
      const counts = batch.map(m => (deliveries.get(m.idx) || []).length);
      throw new Error(`not every message was redelivered within 75s: deliveries per message ${JSON.stringify(counts)}; send-backs ${sendBacks.length}; errors: ${errors.filter(e => !/deliberate failure/.test(e)).slice(0, 3).join(' | ')}`);
    }
    details.push(`all ${RETRY_N} redelivered after ${Date.now() - t}ms`);
    for (const m of batch) {
      const second = deliveries.get(m.idx)[1];
      if (!(second.reconsumeTimes >= 1)) mismatches.push(`#${m.idx}: redelivery has reconsumeTimes ${second.reconsumeTimes}`);
      if (!second.props || second.props.RETRY_TOPIC !== topics.retry) {
        mismatches.push(`#${m.idx}: redelivery has RETRY_TOPIC ${JSON.stringify(second.props && second.props.RETRY_TOPIC)}`);
      }
    }
    const unexpected = errors.filter(e => !/deliberate failure/.test(e));
    if (unexpected.length) details.push(`ali-ons errors: ${unexpected.slice(0, 5).join(' | ')}`);
    if (mismatches.length) throw new Error(`redelivered messages not intact: ${mismatches.slice(0, 5).join(' | ')}`);
  } finally {
    await closeQuietly(consumer, 'consumer interop-retry');
  }
});

scenario('no ali-ons consumer found its %RETRY% topic missing from the nameserver after its first heartbeat', async details => {
  // Every consumer above looked up %RETRY%<group> right after its first HEART_BEAT; a miss costs
  // it an 'error' event and up to 30 s (its route poll) before retries can be consumed.
  if (retryRouteMisses.length) {
    throw new Error(`${retryRouteMisses.length} miss(es): ${retryRouteMisses.slice(0, 3).join(' | ')}`);
  }
  details.push('every consumer found its %RETRY% route at once');
});

// ---- Rust client <-> ali-ons on one topic

const RUST_N = Number(process.env.INTEROP_RUST_COUNT || 200);

scenario(`ali-ons -> Rust client: ${RUST_N} messages consumed intact by the Rust consumer`, async details => {
  const peer = state.rustPeer;
  const batch = makeBatch('r1', topics.rust, RUST_N, 'ali-ons');
  const { failures } = await sendBatch(state.producer, batch);
  if (failures.length) throw new Error(`ali-ons sends failed: ${failures.slice(0, 5).join(' | ')}`);
  const collector = new Collector(batch);
  const t = Date.now();
  const got = await peer.consume({ topic: topics.rust, group: `interop_${RUN}_cg_rust`, count: RUST_N, timeoutMs: 45000 });
  let compressedAsIs = 0;
  for (const plain of got.messages) {
    // ali-ons zlib-compresses bodies >= 4 KiB (sysFlag bit 0), as the Java client does; a
    // consumer must inflate them. Say so plainly when the Rust client hands them over as stored.
    if ((plain.sysFlag & 1) === 1) {
      const idx = indexOf(plain);
      try {
        if (batch[idx] && zlib.inflateSync(plain.body).equals(batch[idx].body)) compressedAsIs++;
      } catch (e) { /* not zlib: a plain mismatch */ }
    }
    collector.add('rust', plain);
  }
  if (compressedAsIs) {
    details.push(`${compressedAsIs} message(s) with sysFlag COMPRESSED were handed to the Rust listener still zlib-compressed (inflating them gives the sent body): the Rust client does not decompress`);
  }
  details.push(`Rust consumer got ${collector.unique}/${RUST_N} unique in ${Date.now() - t}ms (${collector.duplicates} duplicates)`);
  if (got.stderrTail) details.push(`rust stderr: ${got.stderrTail}`);
  if (collector.mismatches.length) throw new Error(`not intact: ${collector.mismatches.slice(0, 5).join(' | ')}`);
  if (collector.unique < RUST_N) throw new Error(`missing e.g. ${collector.missing().join(',')} (peer exit ${got.exitCode})`);
}, { needsRust: true });

scenario(`Rust client -> ali-ons: ${RUST_N} messages consumed intact by an ali-ons consumer (same topic)`, async details => {
  const peer = state.rustPeer;
  const batch = makeBatch('r2', topics.rust, RUST_N, 'rust');
  const sent = await peer.produce({ group: `interop_${RUN}_pg_rust`, messages: batch });
  const bad = sent.results.filter(r => r.status !== 'SEND_OK');
  details.push(`Rust producer: ${sent.results.length - bad.length}/${RUST_N} SEND_OK`);
  if (bad.length || sent.results.length !== RUST_N) {
    throw new Error(`Rust sends failed: ${bad.slice(0, 3).map(r => JSON.stringify(r)).join(' | ')} (peer exit ${sent.exitCode}) ${sent.stderrTail || ''}`);
  }
  // The topic also holds the r1 batch from ali-ons; this group starts from the first offset and
  // must see both, the Rust one intact.
  const collector = new Collector(batch);
  let others = 0;
  const errors = [];
  const t = Date.now();
  const consumer = await startConsumer('interop-from-rust', `interop_${RUN}_cg_from_rust`, topics.rust, async msg => {
    const plain = toPlain(msg);
    if (plain.props && plain.props.batch === 'r2') collector.add('ali-ons', plain);
    else others++;
  }, errors);
  try {
    await waitFor(() => collector.unique >= RUST_N, 45000, 100);
    details.push(`ali-ons got ${collector.unique}/${RUST_N} Rust messages in ${Date.now() - t}ms (+${others} others on the topic)`);
    if (errors.length) details.push(`ali-ons errors: ${errors.slice(0, 5).join(' | ')}`);
    if (collector.mismatches.length) throw new Error(`not intact: ${collector.mismatches.slice(0, 5).join(' | ')}`);
    if (collector.unique < RUST_N) throw new Error(`missing e.g. ${collector.missing().join(',')}`);
  } finally {
    await closeQuietly(consumer, 'consumer interop-from-rust');
  }
}, { needsRust: true });

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// ACL 1.0: a second broker with aclEnable and a plain_acl.yml (tests/interop/run.sh writes it).
const ACL_NAMESRV = process.env.ACL_NAMESRV_ADDR;
const ACL_BROKER = process.env.ACL_BROKER_ADDR;
const ACL_TOPIC = 'AclInterop';

scenario('ACL: signed with the right secret ali-ons produces and consumes; a wrong secret is refused with the AclException text', async details => {
  // ali-ons shares one MQClient (and its signing channels) per instanceName: each account
  // needs its own.
  const acl = (ak, sk) => ({ nameSrv: ACL_NAMESRV, httpclient, logger, accessKey: ak, secretKey: sk, instanceName: `acl-${ak}-${sk}` });
  const errors = [];
  const admin = new Producer(Object.assign(acl('interop_admin', 'interop_admin_secret'), { producerGroup: `interop_${RUN}_acl_admin` }));
  const app = new Producer(Object.assign(acl('interop_app', 'interop_app_secret'), { producerGroup: `interop_${RUN}_acl_pg` }));
  const forger = new Producer(Object.assign(acl('interop_app', 'not_the_secret'), { producerGroup: `interop_${RUN}_acl_forger` }));
  let consumer = null;
  trackErrors(admin, 'acl-admin', errors);
  trackErrors(app, 'acl-app', errors);
  const forgerErrors = [];
  trackErrors(forger, 'acl-forger', forgerErrors);
  try {
    await withTimeout(admin.ready(), 15000, 'ACL admin producer start');
    // UPDATE_AND_CREATE_TOPIC (17) is an admin code: only the admin account may send it.
    await admin._mqClient.createTopic(ACL_BROKER, 'TBW102', {
      topicName: ACL_TOPIC, readQueueNums: 2, writeQueueNums: 2, perm: 6,
      topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false,
    }, 5000);
    const routed = await waitFor(() => withConnection(ACL_NAMESRV, async conn => {
      const resp = await conn.invoke(RequestCode.GET_ROUTEINFO_BY_TOPIC, { topic: ACL_TOPIC });
      return resp.code === 0;
    }), 35000, 100);
    if (!routed) throw new Error(`no route for ${ACL_TOPIC} on the ACL nameserver`);
    await withTimeout(app.ready(), 15000, 'ACL app producer start');
    const bodies = Array.from({ length: 10 }, (_, i) => `acl-${RUN}-${i}`);
    for (const b of bodies) {
      const r = await app.send(new Message(ACL_TOPIC, 'TagA', b));
      if (r.sendStatus !== 'SEND_OK') throw new Error(`send ${b}: ${r.sendStatus}`);
    }
    const got = new Set();
    consumer = new Consumer(Object.assign(acl('interop_app', 'interop_app_secret'), {
      consumerGroup: `interop_${RUN}_acl_cg`,
      consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET', isBroadcast: false,
    }));
    trackErrors(consumer, 'acl-consumer', errors);
    consumer.subscribe(ACL_TOPIC, '*', async msg => { got.add(msg.body.toString()); });
    await withTimeout(consumer.ready(), 15000, 'ACL consumer start');
    const all = await waitFor(() => bodies.every(b => got.has(b)), 30000, 100);
    details.push(`signed: sent ${bodies.length}, received ${got.size}`);
    if (!all) throw new Error(`received ${got.size} of ${bodies.length}; ali-ons errors: ${errors.slice(0, 3).join(' | ')}`);

    await withTimeout(forger.ready(), 15000, 'ACL forger producer start');
    let refusal = null;
    try {
      await forger.send(new Message(ACL_TOPIC, 'TagA', 'forged'));
    } catch (err) {
      refusal = err;
    }
    if (!refusal) throw new Error('a send signed with the wrong secret was accepted');
    details.push(`wrong secret: ${refusal.name}: ${String(refusal.message).slice(0, 120)}`);
    // ali-ons retries a SYSTEM_ERROR send silently and throws "Send [n] times, still
    // failed"; its UNREGISTER_CLIENT on close reports the broker's remark, so close it now.
    await closeQuietly(forger, 'ACL forger');
    const why = /Check signature failed for accessKey=interop_app/;
    const seen = () => [ refusal.message, ...forgerErrors, ...recentWarnings ].some(e => why.test(e));
    if (!await waitFor(seen, 5000, 100)) {
      throw new Error(`refused, but not with the AclException text: ${refusal.message} | ${forgerErrors.slice(0, 3).join(' | ')}`);
    }
    details.push('the broker\'s remark reached the client: "Check signature failed for accessKey=interop_app"');
  } finally {
    await closeQuietly(consumer, 'ACL consumer');
    await closeQuietly(forger, 'ACL forger');
    await closeQuietly(app, 'ACL app producer');
    await closeQuietly(admin, 'ACL admin producer');
  }
}, { needsAcl: true });

async function main() {
  progress(`nameserver ${NAMESRV}, broker ${BROKER}, run ${RUN}, ali-ons ${require('ali-ons/package.json').version}`);
  const rustPath = process.env.INTEROP_RUST_PEER;
  if (rustPath && fs.existsSync(rustPath)) {
    state.rustPeer = new RustPeer(rustPath, NAMESRV);
  }
  let passed = 0;
  let failed = 0;
  const pending = [];
  for (const s of scenarios) {
    if (s.opts.needsAcl && !(ACL_NAMESRV && ACL_BROKER)) {
      pending.push(s.name);
      progress(`PENDING ${s.name} (ACL_NAMESRV_ADDR / ACL_BROKER_ADDR unset)`);
      continue;
    }
    if (s.opts.needsRust && !state.rustPeer) {
      pending.push(s.name);
      progress(`PENDING ${s.name} (no Rust peer: ${rustPath ? `${rustPath} not found` : 'INTEROP_RUST_PEER unset'})`);
      continue;
    }
    const details = [];
    const t = Date.now();
    progress(`RUN  ${s.name}`);
    try {
      await s.fn(details);
      passed++;
      progress(`PASS ${s.name} (${((Date.now() - t) / 1000).toFixed(1)}s)`);
      for (const d of details) console.log(`       ${d}`);
    } catch (err) {
      failed++;
      progress(`FAIL ${s.name} (${((Date.now() - t) / 1000).toFixed(1)}s)`);
      for (const d of details) console.log(`       ${d}`);
      console.log(`       error: ${err && err.stack ? err.stack.split('\n').slice(0, 3).join(' / ') : err}`);
      if (s.opts.fatal) {
        progress('setup failed: skipping the remaining scenarios');
        failed += scenarios.filter(x => x !== s && !(x.opts.needsRust && !state.rustPeer)).length;
        break;
      }
    }
  }
  if (state.producerErrors.length) {
    console.log(`interop: producer errors: ${state.producerErrors.slice(0, 5).join(' | ')}`);
  }
  await closeQuietly(state.producer, 'producer');
  if (pending.length) console.log(`interop: ${pending.length} pending (Rust peer not available): ${pending.join('; ')}`);
  console.log(`interop: total ${((Date.now() - T0) / 1000).toFixed(1)}s`);
  console.log(`interop: ${passed} passed, ${failed} failed`);
  if (logStream) await new Promise(resolve => logStream.end(resolve));
  process.exit(failed ? 1 : 0);
}

process.on('unhandledRejection', err => {
  logLine('ERROR', [ 'unhandledRejection', err ]);
});

main().catch(err => {
  console.log(`interop: harness error: ${err && err.stack}`);
  console.log('interop: 0 passed, 1 failed');
  process.exit(1);
});

