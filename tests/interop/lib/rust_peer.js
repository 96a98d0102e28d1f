'use strict';

// Drives the Rust peer (examples/interop_peer.rs, built by run.sh) over stdin/stdout JSON lines.
//
//   interop_peer produce --namesrv ADDR --group G
//     stdin:  one message per line {"topic","tags","keys":[..],"props":{..},"body":"<base64>"}
//     stdout: one result per line  {"status":"SEND_OK","msgId":"..","queueId":n,"queueOffset":n}
//             or {"error":"..."}; exits 0 at end of input.
//
//   interop_peer consume --namesrv ADDR --group G --topic T --count N --timeout-ms MS
//     push consumer, clustering, from the first offset; stdout: one line per message
//     {"topic","tags","keys":[..],"props":{..},"body":"<base64>","msgId","queueId","queueOffset",
//      "reconsumeTimes"}; exits 0 after N messages or when MS elapse.

const { spawn } = require('child_process');

class RustPeer {
  constructor(binary, namesrv) {
    this.binary = binary;
    this.namesrv = namesrv;
  }

  _run(args, stdinLines, timeoutMs) {
    return new Promise(resolve => {
      const child = spawn(this.binary, args, { stdio: [ 'pipe', 'pipe', 'pipe' ] });
      let out = '';
      let err = '';
      const lines = [];
      child.stdout.on('data', d => {
        out += d.toString('utf8');
        let i;
        while ((i = out.indexOf('\n')) >= 0) {
          const line = out.slice(0, i).trim();
          out = out.slice(i + 1);
          if (line) lines.push(line);
        }
      });
      child.stderr.on('data', d => {
        err += d.toString('utf8');
        if (err.length > 20000) err = err.slice(-10000);
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('error', e => {
        clearTimeout(timer);
        resolve({ lines, exitCode: -1, stderrTail: `spawn failed: ${e.message}` });
      });
      child.on('close', code => {
        clearTimeout(timer);
        if (out.trim()) lines.push(out.trim());
        resolve({ lines, exitCode: code, stderrTail: err.trim().split('\n').slice(-5).join(' / ') });
      });
      if (stdinLines) {
        child.stdin.on('error', () => {});
        child.stdin.end(stdinLines.join('\n') + '\n');
      } else {
        child.stdin.end();
      }
    });
  }

  async produce({ group, messages, timeoutMs = 60000 }) {
    const input = messages.map(m => JSON.stringify({
      topic: m.topic, tags: m.tags, keys: m.keys, props: m.props, body: m.body.toString('base64'),
    }));
    const r = await this._run([ 'produce', '--namesrv', this.namesrv, '--group', group ], input, timeoutMs);
    const results = r.lines.map(parseLine);
    return { results, exitCode: r.exitCode, stderrTail: r.stderrTail };
  }

  async consume({ topic, group, count, timeoutMs }) {
    const args = [ 'consume', '--namesrv', this.namesrv, '--group', group, '--topic', topic,
      '--count', String(count), '--timeout-ms', String(timeoutMs) ];
    const r = await this._run(args, null, timeoutMs + 15000);
    const messages = r.lines.map(parseLine).filter(m => !m.error).map(m => ({
      topic: m.topic,
      tags: m.tags,
      keys: Array.isArray(m.keys) ? m.keys.join(' ') : m.keys,
      props: m.props || {},
      body: Buffer.from(m.body || '', 'base64'),
      msgId: m.msgId,
      queueId: m.queueId,
      queueOffset: m.queueOffset,
      reconsumeTimes: m.reconsumeTimes,
      sysFlag: m.sysFlag,
    }));
    return { messages, exitCode: r.exitCode, stderrTail: r.exitCode === 0 ? '' : r.stderrTail };
  }
}

function parseLine(line) {
  try {
    return JSON.parse(line);
  } catch (e) {
    return { error: `unparsable line from peer: ${line.slice(0, 200)}` };
  }
}

module.exports = { RustPeer };
