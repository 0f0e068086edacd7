// KCP, the reliable ordered message channel the gateway runs over UDP, written from the
// segment format in docs/protocol.md: each datagram holds segments with a 24-byte
// little-endian header `conv u32 | cmd u8 | frg u8 | wnd u16 | ts u32 | sn u32 | una u32 |
// len u32` then `len` bytes. cmd 81 PUSH (data), 82 ACK, 83 WASK (window ask), 84 WINS
// (window tell); frg counts down the fragments of one message still to come (0 = its
// last); una is the next sn the sender expects (everything below is acknowledged); wnd its
// free receive window. This side mirrors the gateway's settings: nodelay (minimum RTO 30 ms,
// x1.5 backoff), a 10 ms interval, fast resend after 2 later ACKs, no congestion window,
// windows of 256 segments, MTU 1200.

export const KCP_PUSH = 81;
export const KCP_ACK = 82;
export const KCP_WASK = 83;
export const KCP_WINS = 84;
const HEADER = 24;

interface Outgoing {
  sn: number;
  frg: number;
  data: Uint8Array;
  ts: number;
  resendAt: number;
  rto: number;
  fastack: number;
  xmit: number;
}

export interface KcpOptions {
  mtu?: number;
  sendWindow?: number;
  receiveWindow?: number;
  intervalMs?: number;
  fastResend?: number;
  /** Give up (dead) after a segment was sent this many times. */
  deadLink?: number;
}

export class KcpSession {
  readonly conv: number;
  private readonly output: (datagram: Uint8Array) => void;
  private readonly mtu: number;
  private readonly mss: number;
  private readonly sndWnd: number;
  private readonly rcvWnd: number;
  private readonly interval: number;
  private readonly fastResend: number;
  private readonly deadLink: number;
  private sndNxt = 0;
  private rcvNxt = 0;
  private rmtWnd = 256;
  private sndQueue: Array<{ frg: number; data: Uint8Array }> = [];
  private sndBuf: Outgoing[] = [];
  private rcvBuf = new Map<number, { frg: number; data: Uint8Array }>();
  private rcvQueue: Array<{ frg: number; data: Uint8Array }> = [];
  private acks: Array<[number, number]> = [];
  private srtt = 0;
  private rttvar = 0;
  private rto = 200;
  private tellWindow = false;
  private probeAt = 0;
  /** A segment went unacknowledged deadLink times: the peer is gone. */
  dead = false;

  constructor(conv: number, output: (datagram: Uint8Array) => void, o: KcpOptions = {}) {
    this.conv = conv >>> 0;
    this.output = output;
    this.mtu = o.mtu ?? 1200;
    this.mss = this.mtu - HEADER;
    this.sndWnd = o.sendWindow ?? 256;
    this.rcvWnd = o.receiveWindow ?? 256;
    this.interval = o.intervalMs ?? 10;
    this.fastResend = o.fastResend ?? 2;
    this.deadLink = o.deadLink ?? 20;
  }

  /** Segments queued or in flight. */
  waiting(): number {
    return this.sndQueue.length + this.sndBuf.length;
  }

  /** Queues one message, split into fragments of mss bytes (at most 255). */
  send(message: Uint8Array): void {
    const count = Math.max(1, Math.ceil(message.length / this.mss));
    if (count > 255 || count >= this.rcvWnd) throw new RangeError(`a KCP message of ${message.length} bytes is too big`);
    for (let i = 0; i < count; i++) {
      this.sndQueue.push({ frg: count - 1 - i, data: message.subarray(i * this.mss, Math.min(message.length, (i + 1) * this.mss)) });
    }
  }

  /** One datagram from the gateway; false when it is not KCP for this conv (dropped). */
  input(d: Uint8Array, now: number): boolean {
    const view = new DataView(d.buffer, d.byteOffset, d.byteLength);
    // Check the whole datagram first: a bad one changes nothing.
    for (let at = 0; at < d.length;) {
      if (d.length - at < HEADER) return false;
      const cmd = view.getUint8(at + 4);
      const len = view.getUint32(at + 20, true);
      if (view.getUint32(at, true) !== this.conv || cmd < KCP_PUSH || cmd > KCP_WINS || len > d.length - at - HEADER) return false;
      at += HEADER + len;
    }
    let maxAck = -1;
    for (let at = 0; at < d.length;) {
      const cmd = view.getUint8(at + 4);
      const frg = view.getUint8(at + 5);
      const wnd = view.getUint16(at + 6, true);
      const ts = view.getUint32(at + 8, true);
      const sn = view.getUint32(at + 12, true);
      const una = view.getUint32(at + 16, true);
      const len = view.getUint32(at + 20, true);
      const data = d.slice(at + HEADER, at + HEADER + len);
      at += HEADER + len;
      this.rmtWnd = wnd;
      this.sndBuf = this.sndBuf.filter((s) => s.sn >= una);  // everything below una arrived
      if (cmd === KCP_ACK) {
        if (now >= ts) this.updateRtt(now - ts);
        this.sndBuf = this.sndBuf.filter((s) => s.sn !== sn);
        if (sn > maxAck) maxAck = sn;
      } else if (cmd === KCP_PUSH) {
        if (sn < this.rcvNxt + this.rcvWnd) {
          this.acks.push([sn, ts]);
          if (sn >= this.rcvNxt && !this.rcvBuf.has(sn)) this.rcvBuf.set(sn, { frg, data });
          this.moveReady();
        }
      } else if (cmd === KCP_WASK) {
        this.tellWindow = true;
      }
    }
    if (maxAck >= 0) {
      for (const s of this.sndBuf) if (s.sn < maxAck) s.fastack++;
    }
    return true;
  }

  /** The next complete message, or null. */
  receive(): Uint8Array | null {
    const q = this.rcvQueue;
    if (q.length === 0) return null;
    const count = q[0].frg + 1;
    if (q.length < count) return null;
    let size = 0;
    for (let i = 0; i < count; i++) size += q[i].data.length;
    const out = new Uint8Array(size);
    let at = 0;
    for (const part of q.splice(0, count)) {
      out.set(part.data, at);
      at += part.data.length;
    }
    this.moveReady();
    return out;
  }

  /** Sends what is due: ACKs, window probes, new data within the windows, retransmissions. */
  flush(now: number): void {
    const wnd = Math.max(0, this.rcvWnd - this.rcvQueue.length);
    const una = this.rcvNxt;
    let buf = new Uint8Array(this.mtu);
    let used = 0;
    const emit = (cmd: number, frg: number, ts: number, sn: number, data?: Uint8Array) => {
      const size = HEADER + (data?.length ?? 0);
      if (used + size > this.mtu) {
        this.output(buf.slice(0, used));
        used = 0;
      }
      const v = new DataView(buf.buffer, used, HEADER);
      v.setUint32(0, this.conv, true);
      v.setUint8(4, cmd);
      v.setUint8(5, frg);
      v.setUint16(6, wnd, true);
      v.setUint32(8, ts >>> 0, true);
      v.setUint32(12, sn >>> 0, true);
      v.setUint32(16, una >>> 0, true);
      v.setUint32(20, data?.length ?? 0, true);
      if (data) buf.set(data, used + HEADER);
      used += size;
    };
    for (const [sn, ts] of this.acks) emit(KCP_ACK, 0, ts, sn);
    this.acks = [];
    if (this.rmtWnd === 0) {
      if (now >= this.probeAt) {
        emit(KCP_WASK, 0, now, 0);
        this.probeAt = now + 500;
      }
    } else {
      this.probeAt = 0;
    }
    if (this.tellWindow) {
      emit(KCP_WINS, 0, now, 0);
      this.tellWindow = false;
    }
    const sndUna = this.sndBuf.length ? this.sndBuf[0].sn : this.sndNxt;
    const limit = sndUna + Math.min(this.sndWnd, Math.max(1, this.rmtWnd));
    while (this.sndQueue.length && this.sndNxt < limit) {
      const f = this.sndQueue.shift()!;
      this.sndBuf.push({ sn: this.sndNxt++, frg: f.frg, data: f.data, ts: now, resendAt: now, rto: this.rto, fastack: 0, xmit: 0 });
    }
    for (const s of this.sndBuf) {
      let send = false;
      if (s.xmit === 0) {
        send = true;
        s.rto = this.rto;
      } else if (now >= s.resendAt) {
        send = true;
        s.rto = Math.min(60000, Math.round(s.rto * 1.5));
      } else if (this.fastResend > 0 && s.fastack >= this.fastResend) {
        send = true;
        s.fastack = 0;
      }
      if (!send) continue;
      s.xmit++;
      s.ts = now;
      s.resendAt = now + s.rto;
      if (s.xmit >= this.deadLink) this.dead = true;
      emit(KCP_PUSH, s.frg, now, s.sn, s.data);
    }
    if (used > 0) this.output(buf.slice(0, used));
  }

  private moveReady(): void {
    while (this.rcvQueue.length < this.rcvWnd) {
      const s = this.rcvBuf.get(this.rcvNxt);
      if (!s) break;
      this.rcvBuf.delete(this.rcvNxt);
      this.rcvQueue.push(s);
      this.rcvNxt++;
    }
  }

  private updateRtt(rtt: number): void {
    if (this.srtt === 0) {
      this.srtt = rtt;
      this.rttvar = rtt / 2;
    } else {
      this.rttvar = (3 * this.rttvar + Math.abs(rtt - this.srtt)) / 4;
      this.srtt = Math.max(1, (7 * this.srtt + rtt) / 8);
    }
    this.rto = Math.min(60000, Math.max(30, Math.round(this.srtt + Math.max(this.interval, 4 * this.rttvar))));
  }
}
