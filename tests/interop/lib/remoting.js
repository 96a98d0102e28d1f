'use strict';

// A minimal RocketMQ remoting client over a raw socket, used by the harness for what ali-ons
// cannot do (waiting for a topic's route to reach the nameserver) and to check the frames our
// servers send back: frame = int32 length | int32 (serializeType << 24 | headerLength) | JSON
// header | body. Requests are written the way ali-ons writes them: no serializeTypeCurrentRPC,
// language JAVA, version 121.

const net = require('net');

let nextOpaque = 1;

class RemotingConnection {
  constructor(addr) {
    const i = addr.lastIndexOf(':');
    this.host = addr.slice(0, i);
    this.port = Number(addr.slice(i + 1));
    this.addr = addr;
    this.pending = new Map();
    this.buf = Buffer.alloc(0);
    this.socket = null;
    this.closed = false;
  }

  connect(timeoutMs = 3000) {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${this.addr} timed out`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        this.socket = socket;
        resolve(this);
      });
      socket.once('error', err => {
        clearTimeout(timer);
        this._failAll(err);
        reject(err);
      });
      socket.on('data', chunk => this._onData(chunk));
      socket.on('close', () => {
        this.closed = true;
        this._failAll(new Error(`connection to ${this.addr} closed`));
      });
    });
  }

  _failAll(err) {
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(err);
    }
    this.pending.clear();
  }

  _onData(chunk) {
    this.buf = Buffer.concat([ this.buf, chunk ]);
    while (this.buf.length >= 4) {
      const len = this.buf.readInt32BE(0);
      if (this.buf.length < 4 + len) return;
      const frame = this.buf.subarray(0, 4 + len);
      this.buf = this.buf.subarray(4 + len);
      let cmd;
      try {
        cmd = decodeFrame(frame);
      } catch (err) {
        this._failAll(err);
        this.socket.destroy();
        return;
      }
      const p = this.pending.get(cmd.opaque);
      if (p && (cmd.flag & 1) === 1) {
        this.pending.delete(cmd.opaque);
        clearTimeout(p.timer);
        p.resolve(cmd);
      }
    }
  }

  /**
   * Send a request and wait for its response.
   * @param {number} code request code
   * @param {object} extFields values are written as given (strings, numbers or booleans)
   * @param {Buffer} [body] body
   * @param {number} [timeoutMs] timeout
   * @return {Promise<object>} {code, remark, extFields, body, serializeType, header}
   */
  invoke(code, extFields, body, timeoutMs = 5000) {
    const opaque = nextOpaque++;
    const header = Buffer.from(JSON.stringify({
      code, language: 'JAVA', opaque, flag: 0, version: 121, extFields: extFields || {},
    }), 'utf8');
    const bodyLen = body ? body.length : 0;
    const frame = Buffer.alloc(8 + header.length + bodyLen);
    frame.writeInt32BE(4 + header.length + bodyLen, 0);
    frame.writeInt32BE(header.length, 4);
    header.copy(frame, 8);
    if (body) body.copy(frame, 8 + header.length);
    return new Promise((resolve, reject) => {
      if (!this.socket || this.closed) {
        reject(new Error(`not connected to ${this.addr}`));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(opaque);
        reject(new Error(`request code ${code} to ${this.addr} timed out after ${timeoutMs}ms`));
      }, timeoutMs);
      this.pending.set(opaque, { resolve, reject, timer });
      this.socket.write(frame);
    });
  }

  close() {
    if (this.socket) this.socket.destroy();
    this.closed = true;
  }
}

// Decode one frame strictly the way ali-ons does (second word used as a plain header length)
// and also record the serialize type byte, so a caller can tell whether a server answered in
// anything other than JSON.
function decodeFrame(frame) {
  const word = frame.readInt32BE(4);
  const serializeType = (word >>> 24) & 0xff;
  const headerLen = word & 0xffffff;
  if (serializeType !== 0) {
    throw new Error(`server answered with serialize type ${serializeType} (ali-ons only reads JSON, type 0)`);
  }
  const headerText = frame.subarray(8, 8 + headerLen).toString('utf8');
  const header = JSON.parse(headerText);
  const body = frame.length > 8 + headerLen ? frame.subarray(8 + headerLen) : null;
  return {
    code: header.code,
    opaque: header.opaque,
    flag: header.flag,
    remark: header.remark,
    extFields: header.extFields || {},
    body,
    serializeType,
    header,
    headerText,
  };
}

async function withConnection(addr, fn) {
  const conn = new RemotingConnection(addr);
  await conn.connect();
  try {
    return await fn(conn);
  } finally {
    conn.close();
  }
}

const RequestCode = {
  UPDATE_AND_CREATE_TOPIC: 17,
  GET_ROUTEINFO_BY_TOPIC: 105,
};

module.exports = { RemotingConnection, withConnection, decodeFrame, RequestCode };
