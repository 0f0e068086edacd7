// The SDK's KCP against itself over a channel that loses, duplicates and reorders datagrams:
// every message, small and fragmented, arrives once and in order. (Against the gateway's KCP
// it runs in cluster.test.mjs, over loopback.)
import { it } from "node:test";
import assert from "node:assert/strict";
import { KcpSession } from "../dist/kcp.js";

function lossyPair(seed, { loss = 0.2, dup = 0.05, reorder = 0.2 } = {}) {
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648);
  const inFlight = [];  // {to, d, at}
  let now = 0;
  const link = (to) => (d) => {
    if (random() < loss) return;
    const copies = random() < dup ? 2 : 1;
    for (let i = 0; i < copies; i++) inFlight.push({ to, d: d.slice(), at: now + 5 + (random() < reorder ? Math.floor(random() * 40) : 0) });
  };
  const ends = {};
  ends.a = new KcpSession(7, link("b"));
  ends.b = new KcpSession(7, link("a"));
  const step = (ms) => {
    for (let t = 0; t < ms; t++) {
      now++;
      for (let i = 0; i < inFlight.length;) {
        if (inFlight[i].at <= now) {
          const { to, d } = inFlight.splice(i, 1)[0];
          assert.equal(ends[to].input(d, now), true);
        } else i++;
      }
      if (now % 10 === 0) { ends.a.flush(now); ends.b.flush(now); }
    }
  };
  return { ...ends, step };
}

it("delivers every message once and in order over a lossy, reordering, duplicating channel", () => {
  const { a, b, step } = lossyPair(42);
  const sent = [];
  for (let i = 0; i < 300; i++) {
    const size = i % 50 === 0 ? 5000 : 1 + (i * 37) % 300;  // some span several fragments
    const m = new Uint8Array(size).map((_, k) => (i + k) & 0xff);
    sent.push(m);
    a.send(m);
  }
  const got = [];
  for (let round = 0; round < 2000 && got.length < sent.length; round++) {
    step(10);
    for (let m = b.receive(); m; m = b.receive()) got.push(m);
  }
  assert.equal(got.length, sent.length);
  for (let i = 0; i < sent.length; i++) assert.deepEqual(got[i], sent[i], `message ${i}`);
  step(2000);
  assert.equal(a.waiting(), 0, "everything acknowledged");
  assert.equal(a.dead, false);
});

it("refuses datagrams of another conv or cut short, changing nothing", () => {
  const s = new KcpSession(7, () => {});
  const bad = new Uint8Array(24);
  new DataView(bad.buffer).setUint32(0, 8, true);
  bad[4] = 81;
  assert.equal(s.input(bad, 0), false);
  assert.equal(s.input(new Uint8Array(10), 0), false);
  assert.equal(s.receive(), null);
});
