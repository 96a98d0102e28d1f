'use strict';

const crypto = require('crypto');

function sleep(ms) {
  return new Promise(resolve => setTimeout(resolve, ms));
}

/**
 * Poll `check` until it returns a truthy value or `timeoutMs` passes.
 * @return {Promise<*>} the truthy value, or null on timeout
 */
async function waitFor(check, timeoutMs, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() >= deadline) return null;
    await sleep(intervalMs);
  }
}

/** Reject with a named error if `promise` takes longer than `ms`. */
function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms}ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Run `fn(item, index)` over `items` with at most `limit` in flight. */
async function pool(items, limit, fn) {
  const results = new Array(items.length);
  let next = 0;
  async function worker() {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i], i);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

// Deterministic pseudo-random bytes, so a failure is reproducible.
function seededBytes(seed, n) {
  const out = Buffer.alloc(n);
  let off = 0;
  let counter = 0;
  while (off < n) {
    const h = crypto.createHash('sha256').update(`${seed}:${counter++}`).digest();
    off += h.copy(out, off);
  }
  return out;
}

/**
 * The messages of one batch. Every message carries what we check on the other side: a body
 * (UTF-8 text, binary bytes including zeros, and every 250th one > 4 KiB so ali-ons compresses
 * it), one tag, two keys and user properties.
 */
function makeBatch(prefix, topic, count, origin) {
  const tags = [ 'TagA', 'TagB', 'TagC' ];
  const batch = [];
  for (let i = 0; i < count; i++) {
    const head = Buffer.from(`#${i}|${prefix}|${origin}|ünïcødé ✓ 消息|`, 'utf8');
    const tailLen = i % 250 === 0 ? 6000 : i % 64;
    batch.push({
      idx: i,
      topic,
      tags: tags[i % 3],
      keys: [ `${prefix}-key-${i}`, `${prefix}-k${i % 7}` ],
      props: { idx: String(i), origin, batch: prefix, userProp: `value ${i} ✓` },
      body: Buffer.concat([ head, seededBytes(`${prefix}-${i}`, tailLen) ]),
    });
  }
  return batch;
}

/**
 * Compare a received message (as a plain {topic, tags, keys, props, body}) with what was sent.
 * @return {string|null} the first difference, or null when intact
 */
function diffMessage(expected, got) {
  if (got.topic !== expected.topic) return `topic ${JSON.stringify(got.topic)} != ${JSON.stringify(expected.topic)}`;
  if (got.tags !== expected.tags) return `tags ${JSON.stringify(got.tags)} != ${JSON.stringify(expected.tags)}`;
  const gotKeys = Array.isArray(got.keys) ? got.keys.join(' ') : got.keys;
  if (gotKeys !== expected.keys.join(' ')) return `keys ${JSON.stringify(gotKeys)} != ${JSON.stringify(expected.keys.join(' '))}`;
  for (const [ k, v ] of Object.entries(expected.props)) {
    if (!got.props || got.props[k] !== v) {
      return `property ${k}=${JSON.stringify(got.props && got.props[k])} != ${JSON.stringify(v)}`;
    }
  }
  if (!Buffer.isBuffer(got.body) || !got.body.equals(expected.body)) {
    const len = got.body ? got.body.length : 0;
    return `body differs (got ${len} bytes, sent ${expected.body.length})`;
  }
  return null;
}

/** The index of a received message: its idx property, else the #N| prefix of its body. */
function indexOf(got) {
  if (got.props && /^\d+$/.test(got.props.idx || '')) return Number(got.props.idx);
  const m = got.body && /^#(\d+)\|/.exec(got.body.subarray(0, 16).toString('latin1'));
  return m ? Number(m[1]) : -1;
}

module.exports = { sleep, waitFor, withTimeout, pool, makeBatch, diffMessage, indexOf };
