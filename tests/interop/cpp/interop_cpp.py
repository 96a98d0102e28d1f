#!/usr/bin/env python3
"""Interop scenarios: the official C++ client (librocketmq.so, bundled in PyPI rocketmq 0.4.4,
driven through its ctypes wrapper) against our nameserver and broker.

    NAMESRV_ADDR=127.0.0.1:9876 BROKER_ADDR=127.0.0.1:10911 MQADMIN=target/debug/mqadmin \
        python interop_cpp.py

Each scenario waits on a condition with a deadline, never on a fixed sleep, and prints
"ok - NAME" or "not ok - NAME: WHY". The last line is "interop-cpp: N passed, M failed"; the
exit status is non-zero when a scenario failed. See README.md beside this file for the client's
quirks (bodies cut at the first NUL byte, batch sends stored as one message).
"""

import os
import subprocess
import sys
import threading
import time
import traceback

from rocketmq.client import Message, MessageModel, Producer, PushConsumer, SendStatus
from rocketmq.ffi import dll

NAMESRV = os.environ["NAMESRV_ADDR"]
BROKER = os.environ["BROKER_ADDR"]
MQADMIN = os.environ["MQADMIN"]
RUN = os.environ.get("INTEROP_RUN_ID", str(os.getpid()))
CONSUME_SUCCESS, RECONSUME_LATER = 0, 1

RESULTS = []
CLEANUP = []


def scenario(name):
    def wrap(fn):
        start = time.monotonic()
        try:
            fn()
            RESULTS.append(True)
            print(f"ok - {name} ({time.monotonic() - start:.1f}s)", flush=True)
        except Exception as e:  # noqa: BLE001 - every failure is reported, then the run goes on
            RESULTS.append(False)
            print(f"not ok - {name}: {e}", flush=True)
            traceback.print_exc()
        return fn
    return wrap


def wait_for(what, cond, timeout_s):
    """Waits until cond() is true, failing with `what` after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.05)


def topic(name, queues=4):
    t = f"{name}_{RUN}"
    subprocess.run([MQADMIN, "updateTopic", "-n", NAMESRV, "-b", BROKER, "-t", t,
                    "-r", str(queues), "-w", str(queues)],
                   check=True, stdout=subprocess.DEVNULL)
    return t


def message(t, body, tags=None, keys=None, props=None):
    m = Message(t)
    m.set_body(body)
    if tags:
        m.set_tags(tags)
    if keys:
        m.set_keys(keys)
    for k, v in (props or {}).items():
        m.set_property(k, v)
    return m


class Received:
    """What a consumer saw: (body, tags, keys, props-of-interest, reconsume_times) per delivery."""

    def __init__(self, props=()):
        self.lock = threading.Lock()
        self.items = []
        self.props = props

    def add(self, msg):
        body = msg.body.decode("utf-8", "replace")
        tags = (msg.tags or b"").decode()
        keys = (msg.keys or b"").decode()
        props = {p: (msg.get_property(p) or b"").decode() for p in self.props}
        with self.lock:
            self.items.append((body, tags, keys, props, msg.reconsume_times))

    def bodies(self, prefix=""):
        with self.lock:
            return {i[0] for i in self.items if i[0].startswith(prefix)}

    def snapshot(self):
        with self.lock:
            return list(self.items)


def consumer(group, t, expression="*", model=MessageModel.CLUSTERING, instance=None,
             on_message=None, received=None, orderly=False):
    """Starts a push consumer; on_message(msg) returns CONSUME_SUCCESS or RECONSUME_LATER.
    An orderly one locks its queues on the broker and consumes each queue on one thread."""
    c = PushConsumer(group, orderly=orderly, message_model=model)
    c.set_namesrv_addr(NAMESRV)
    c.set_thread_count(2)
    if instance:
        c.set_instance_name(instance)
    received = received if received is not None else Received()

    def raw(_consumer, cmsg):
        from rocketmq.client import RecvMessage
        msg = RecvMessage(cmsg)
        received.add(msg)
        return on_message(msg) if on_message else CONSUME_SUCCESS

    # The wrapper's subscribe() cannot answer RECONSUME_LATER (a raised exception comes out of
    # the ctypes callback as 0, CONSUME_SUCCESS), so the callback is registered directly.
    if dll.Subscribe(c._handle, t.encode(), expression.encode()) != 0:
        raise AssertionError("Subscribe failed")
    c._register_callback(raw)
    c.start()
    CLEANUP.append(c)
    return c, received


def stop(c):
    c.shutdown()
    if c in CLEANUP:
        CLEANUP.remove(c)


def probe_until_seen(producer, t, receivers, timeout_s=60):
    """Sends probe messages until every receiver got one: consumers are then subscribed and
    hold their queues, without guessing how long rebalancing takes."""
    n = 0
    deadline = time.monotonic() + timeout_s
    while not all(r.bodies("probe-") for r in receivers):
        if time.monotonic() > deadline:
            raise AssertionError(f"probes on {t} did not reach every consumer in {timeout_s}s")
        producer.send_sync(message(t, f"probe-{n}"))
        n += 1
        time.sleep(0.1)


def main():
    producer = Producer(f"cpp_pg_{RUN}")
    producer.set_namesrv_addr(NAMESRV)
    producer.start()
    CLEANUP.append(producer)
    t_main = topic("CppMain")
    tags = ["TagA", "TagB", "TagC"]
    expected = {}

    @scenario("producer: 20 sync, 20 async and 20 oneway sends with tags, keys and properties")
    def _():
        done, failed = [], []
        lock = threading.Condition()

        def ok(_res):
            with lock:
                done.append(1)
                lock.notify_all()

        def err(e):
            with lock:
                failed.append(str(e))
                lock.notify_all()

        for kind in ("sync", "async", "oneway"):
            for i in range(20):
                body = f"{kind}-{i}"
                tag = tags[i % 3]
                key = f"key-{kind}-{i}"
                expected[body] = (tag, key, str(i))
                m = message(t_main, body, tag, key, {"seq": str(i), "kind": kind})
                if kind == "sync":
                    res = producer.send_sync(m)
                    assert res.status == SendStatus.OK, f"{body}: {res}"
                    assert res.msg_id, f"{body}: no msg id"
                elif kind == "async":
                    producer.send_async(m, ok, err)
                else:
                    producer.send_oneway(m)
        with lock:
            lock.wait_for(lambda: len(done) + len(failed) >= 20, timeout=20)
        assert not failed, f"async failures: {failed[:3]}"
        assert len(done) == 20, f"only {len(done)} of 20 async callbacks"

    received_all = Received(props=("seq", "kind"))

    @scenario("push consumer (clustering) gets all 60, bodies, tags, keys and properties intact")
    def _():
        consumer(f"cpp_all_{RUN}", t_main, received=received_all)
        wait_for("60 messages", lambda: len(received_all.bodies()) >= 60, 60)
        for body, tag, key, props, _ in received_all.snapshot():
            exp = expected.get(body)
            assert exp, f"unexpected message {body!r}"
            assert (tag, key, props["seq"]) == exp, f"{body}: got {(tag, key, props)}"
            assert props["kind"] == body.split("-")[0], f"{body}: kind {props['kind']}"

    received_tags = Received()

    @scenario('tag filter "TagA || TagC" gets exactly its 40 of the 60')
    def _():
        consumer(f"cpp_tags_{RUN}", t_main, "TagA || TagC", received=received_tags)
        want = {b for b, (tag, _, _) in expected.items() if tag != "TagB"}
        wait_for("40 tagged messages", lambda: received_tags.bodies() >= want, 60)
        # Anything the broker let through came with the same pulls, so it is here by now.
        wrong = {b for b in received_tags.bodies() if expected[b][0] == "TagB"}
        assert not wrong, f"TagB messages delivered: {sorted(wrong)[:5]}"

    @scenario("bodies over 4 KiB (compressed by the client) arrive intact")
    def _():
        t = topic("CppBig", 1)
        bodies = [f"big-{i}-" + ("abcdefghij" * (500 + 300 * i)) for i in range(3)]
        got = Received()
        consumer(f"cpp_big_{RUN}", t, received=got)
        for b in bodies:
            assert producer.send_sync(message(t, b)).status == SendStatus.OK
        wait_for("3 big bodies", lambda: len(got.bodies("big-")) >= 3, 60)
        assert got.bodies("big-") == set(bodies), "a big body changed on the way"

    @scenario("RECONSUME_LATER redelivers through the retry topic with reconsume_times 1")
    def _():
        t = topic("CppRetry", 1)
        got = Received()

        def first_later(msg):
            return RECONSUME_LATER if msg.reconsume_times == 0 else CONSUME_SUCCESS

        consumer(f"cpp_retry_{RUN}", t, on_message=first_later, received=got)
        for i in range(3):
            assert producer.send_sync(message(t, f"retry-{i}")).status == SendStatus.OK

        def redelivered():
            return {i[0] for i in got.snapshot() if i[4] >= 1} >= {f"retry-{i}" for i in range(3)}

        # The first retry level is 10 s on a stock broker (delay level 3).
        wait_for("3 redeliveries", redelivered, 60)

    @scenario("two consumers in one group split the queues and together get all 40")
    def _():
        t = topic("CppSplit", 4)
        group = f"cpp_split_{RUN}"
        a, b = Received(), Received()
        consumer(group, t, instance=f"split_a_{RUN}", received=a)
        consumer(group, t, instance=f"split_b_{RUN}", received=b)
        probe_until_seen(producer, t, [a, b])
        want = {f"split-{i}" for i in range(40)}
        for body in sorted(want):
            assert producer.send_sync(message(t, body)).status == SendStatus.OK
        wait_for("40 split messages", lambda: (a.bodies("split-") | b.bodies("split-")) >= want, 60)
        assert a.bodies("split-") and b.bodies("split-"), "one consumer got everything"

    @scenario("broadcasting: two consumers each get all 20")
    def _():
        t = topic("CppBcast", 2)
        group = f"cpp_bcast_{RUN}"
        a, b = Received(), Received()
        consumer(group, t, model=MessageModel.BROADCASTING, instance=f"bc_a_{RUN}", received=a)
        consumer(group, t, model=MessageModel.BROADCASTING, instance=f"bc_b_{RUN}", received=b)
        probe_until_seen(producer, t, [a, b])
        want = {f"bcast-{i}" for i in range(20)}
        for body in sorted(want):
            assert producer.send_sync(message(t, body)).status == SendStatus.OK
        wait_for("20 messages at both", lambda: a.bodies("bcast-") >= want and b.bodies("bcast-") >= want, 60)

    @scenario("a restarted consumer resumes from its committed offset")
    def _():
        t = topic("CppResume", 2)
        group = f"cpp_resume_{RUN}"
        first = Received()
        c, _ = consumer(group, t, instance=f"resume1_{RUN}", received=first)
        before = {f"before-{i}" for i in range(20)}
        for body in sorted(before):
            assert producer.send_sync(message(t, body)).status == SendStatus.OK
        wait_for("20 messages", lambda: first.bodies("before-") >= before, 60)
        stop(c)  # persists the consumed offsets to the broker
        after = {f"after-{i}" for i in range(20)}
        for body in sorted(after):
            assert producer.send_sync(message(t, body)).status == SendStatus.OK
        second = Received()
        consumer(group, t, instance=f"resume2_{RUN}", received=second)
        wait_for("the 20 later messages", lambda: second.bodies("after-") >= after, 60)
        again = second.bodies("before-")
        assert not again, f"{len(again)} already consumed messages delivered again"

    @scenario("orderly: 4 keys x 25 sent with send_orderly arrive in order per key")
    def _():
        t = topic("CppOrder", 4)
        got = Received()
        consumer(f"cpp_order_{RUN}", t, received=got, orderly=True)
        keys = [f"k{k}" for k in range(4)]
        for i in range(25):
            for k, key in enumerate(keys):
                m = message(t, f"order-{key}-{i}", keys=key)
                # The wrapper's selector puts arg % queue count: one queue per key.
                assert producer.send_orderly(m, k).status == SendStatus.OK
        want = {f"order-{key}-{i}" for key in keys for i in range(25)}
        wait_for("100 ordered messages", lambda: got.bodies("order-") >= want, 60)
        for key in keys:
            seen = [int(i[0].rsplit("-", 1)[1]) for i in got.snapshot()
                    if i[0].startswith(f"order-{key}-")]
            assert seen == list(range(25)), f"{key}: delivered as {seen}"

    for c in reversed(CLEANUP):
        try:
            c.shutdown()
        except Exception:  # noqa: BLE001 - best effort at exit
            pass
    passed, failed = RESULTS.count(True), RESULTS.count(False)
    print(f"interop-cpp: {passed} passed, {failed} failed", flush=True)
    # The C++ client's threads can keep the interpreter from exiting; leave at once.
    os._exit(1 if failed else 0)


if __name__ == "__main__":
    main()
