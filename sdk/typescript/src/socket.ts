// The WebSocket client: connect, catch up by sync, deliver each event once,
// reconnect with backoff and jitter, and keep an outbox of sends that are
// retried with the same client_msg_id until acknowledged (docs/websocket.md,
// "Recommended client loop").
import { Emitter, type SocketEvents } from "./events.js";
import { RingchatClient, RingchatError, uuidv7, type Message } from "./rest.js";

/** A WebSocket constructor: the browser's, or Node's `ws` (which takes headers). */
export type WebSocketCtor = new (url: string, opts?: { headers?: Record<string, string> }) => WebSocketLike;

export interface WebSocketLike {
  readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

export interface SocketOptions {
  client: RingchatClient;
  /** Defaults to globalThis.WebSocket. In Node 20 pass `ws`'s WebSocket. */
  WebSocket?: WebSocketCtor;
  /** header: the token in Authorization (Node); ticket: ?ticket= (browsers, which cannot set headers). */
  auth?: "header" | "ticket";
  /** Where sync resumes (a cursor a `cursor` event gave before); none: from now. */
  cursor?: string;
  backoff?: { initialMs?: number; maxMs?: number };
  /** Most sends waiting for their ack; send() past it rejects. */
  outboxLimit?: number;
}

interface Pending {
  ref: string;
  data: { conversation_id: string; client_msg_id: string; body: string };
  resolve: (m: Message) => void;
  reject: (e: Error) => void;
  timer?: ReturnType<typeof setTimeout>;
}

const OPEN = 1;
const SEEN_LIMIT = 5000; // ids remembered to drop repeats: sync overlaps live frames by its lag

export class RingchatSocket extends Emitter<SocketEvents> {
  cursor: string | undefined;
  private readonly client: RingchatClient;
  private readonly Ctor: WebSocketCtor;
  private readonly auth: "header" | "ticket";
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly outboxLimit: number;
  private ws: WebSocketLike | undefined;
  private stopped = false;
  private attempt = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private outbox = new Map<string, Pending>();
  private seen = new Set<string>();
  private refs = 0;

  constructor(opts: SocketOptions) {
    super();
    this.client = opts.client;
    const Ctor = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketCtor }).WebSocket;
    if (!Ctor) throw new TypeError("no WebSocket: pass one (in Node 20, the ws package's)");
    this.Ctor = Ctor;
    this.auth = opts.auth ?? (opts.WebSocket ? "header" : "ticket");
    this.cursor = opts.cursor;
    this.initialMs = opts.backoff?.initialMs ?? 500;
    this.maxMs = opts.backoff?.maxMs ?? 30_000;
    this.outboxLimit = opts.outboxLimit ?? 1000;
  }

  /** Starts connecting; the socket then stays connected until close(). */
  connect(): void {
    this.stopped = false;
    void this.open();
  }

  /** Closes for good; sends still in the outbox are rejected. */
  close(): void {
    this.finish("closed by the client");
  }

  /**
   * Sends a message and resolves with it once stored. It waits in the outbox
   * while the socket is down and is sent again, with the same client_msg_id
   * (so it is one message), after every reconnect until acknowledged.
   */
  send(conversationId: string, body: string): Promise<Message> {
    if (this.stopped) return Promise.reject(new Error("socket closed"));
    if (this.outbox.size >= this.outboxLimit) return Promise.reject(new Error(`outbox full (${this.outboxLimit} sends waiting)`));
    return new Promise((resolve, reject) => {
      const p: Pending = { ref: `s${++this.refs}`, data: { conversation_id: conversationId, client_msg_id: uuidv7(), body }, resolve, reject };
      this.outbox.set(p.ref, p);
      this.transmit(p);
    });
  }

  /** Tells the others this user is typing (relayed, not stored). */
  typing(conversationId: string): void {
    this.frame("typing", { conversation_id: conversationId });
  }

  /** Moves this user's read watermark (and delivered with it). */
  read(conversationId: string, upTo: string): void {
    this.frame("read", { conversation_id: conversationId, up_to: upTo });
  }

  delivered(conversationId: string, upTo: string): void {
    this.frame("delivered", { conversation_id: conversationId, up_to: upTo });
  }

  /** Cuts the connection as a network failure would (tests, or a client that knows its network changed). */
  drop(): void {
    const ws = this.ws;
    if (ws) {
      this.detach(ws);
      ws.close();
      this.lost(new Error("connection dropped"));
    }
  }

  private frame(type: string, data: unknown, ref?: string): boolean {
    if (this.ws?.readyState !== OPEN) return false;
    this.ws.send(JSON.stringify(ref ? { type, ref, data } : { type, data }));
    return true;
  }

  private transmit(p: Pending): void {
    this.frame("message.send", p.data, p.ref); // not open: sent after the next connect
  }

  private async open(): Promise<void> {
    if (this.stopped) return;
    this.emit("state", { state: "connecting" });
    let url = this.client.baseUrl.replace(/^http/, "ws") + "/v1/ws";
    let ws: WebSocketLike;
    try {
      if (this.auth === "ticket") {
        const { ticket } = await this.client.wsTicket();
        if (!ticket) throw new Error("the server answered no ticket");
        url += "?ticket=" + encodeURIComponent(ticket);
        ws = new this.Ctor(url);
      } else {
        ws = new this.Ctor(url, { headers: { Authorization: `Bearer ${this.client.token ?? ""}` } });
      }
    } catch (err) {
      return this.failed(err);
    }
    if (this.stopped) return ws.close();
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      void this.opened(ws);
    };
    ws.onmessage = (ev) => this.onFrame(String(ev.data));
    ws.onerror = () => {}; // onclose follows with the code
    ws.onclose = (ev) => {
      this.detach(ws);
      if (ev.code === 1008) return this.finish(`session ended: ${ev.reason}`);
      if (!opened) return void this.failed(new Error(`connect failed (${ev.code})`));
      this.lost(new Error(`connection closed (${ev.code} ${ev.reason})`));
    };
  }

  // Connected first, then sync: nothing falls between the two.
  private async opened(ws: WebSocketLike): Promise<void> {
    try {
      await this.catchUp(ws);
    } catch (err) {
      if (this.ws === ws) {
        this.detach(ws);
        ws.close();
        return this.failed(err);
      }
      return;
    }
    if (this.ws !== ws) return;
    this.attempt = 0;
    this.emit("state", { state: "open" });
    for (const p of this.outbox.values()) this.transmit(p);
  }

  private detach(ws: WebSocketLike): void {
    ws.onopen = ws.onmessage = ws.onclose = ws.onerror = null;
    if (this.ws === ws) this.ws = undefined;
  }

  /**
   * Reads every event since the cursor and moves it on, for as long as ws is
   * the connection: a catch-up of a dropped one stops, so it cannot move the
   * cursor back behind the next one's.
   */
  private async catchUp(ws: WebSocketLike): Promise<void> {
    for (;;) {
      const page = await this.client.sync(this.cursor, 100);
      if (this.ws !== ws || this.stopped) return;
      for (const e of page.events) this.deliver(e.type, e.data);
      if (page.cursor && page.cursor !== this.cursor) {
        this.cursor = page.cursor;
        this.emit("cursor", page.cursor);
      }
      if (!page.has_more) return;
    }
  }

  private onFrame(text: string): void {
    let f: { type?: string; ref?: string; event_id?: string; data?: Record<string, unknown> };
    try {
      f = JSON.parse(text);
    } catch {
      return;
    }
    const data = f.data ?? {};
    switch (f.type) {
      case "ack":
        return this.acked(f.ref, data.message as Message | undefined);
      case "error":
        return this.refused(f.ref, data);
      case "sync.required":
        return; // the server closes this socket next; the reconnect syncs
      case "pong":
        return;
      default:
        if (f.type) this.deliver(f.type, data);
    }
  }

  private acked(ref: string | undefined, msg: Message | undefined): void {
    const p = ref ? this.outbox.get(ref) : undefined;
    if (!p || !msg) return;
    this.outbox.delete(p.ref);
    clearTimeout(p.timer);
    p.resolve(msg);
    this.deliver("message.new", msg); // the ack is the sender's copy; its push is a repeat
  }

  private refused(ref: string | undefined, data: Record<string, unknown>): void {
    const p = ref ? this.outbox.get(ref) : undefined;
    if (!p) return;
    const code = String(data.code ?? "internal");
    const wait = Number(data.retry_after_ms ?? 0);
    if ((code === "unavailable" || code === "rate_limited") && wait > 0) {
      p.timer = setTimeout(() => this.transmit(p), wait); // same client_msg_id: still one message
      return;
    }
    this.outbox.delete(p.ref);
    p.reject(new RingchatError(0, code, String(data.message ?? "")));
  }

  /**
   * Emits an event unless it was emitted already. A new message is known by
   * its id; other stored events by what they say, since their live frames
   * carry no event id (sync returns them again after a reconnect). Typing
   * and presence are never stored, and a repeat of one is news.
   */
  private deliver(type: string, data: unknown): void {
    if (this.stopped) return;
    let payload = data as Record<string, unknown>;
    if (type.startsWith("message.") && payload && typeof payload.message === "object") {
      payload = payload.message as Record<string, unknown>; // edited/recalled frames wrap it
    }
    let key: string | undefined;
    if (type === "message.new" && typeof payload?.id === "string") key = `m:${payload.id}`;
    else if (type !== "typing" && type !== "presence") key = `${type}:${JSON.stringify(payload)}`;
    if (key) {
      if (this.seen.has(key)) return;
      this.seen.add(key);
      if (this.seen.size > SEEN_LIMIT) this.seen.delete(this.seen.values().next().value as string);
    }
    this.emit(type as keyof SocketEvents, payload as never);
  }

  private lost(err: Error): void {
    this.emit("error", err);
    this.retry();
  }

  private async failed(err: unknown): Promise<void> {
    if (err instanceof RingchatError && err.status === 401) return this.finish("session ended: unauthenticated");
    if (!(err instanceof RingchatError)) {
      // A refused upgrade tells no status: ask once whether the token still works.
      try {
        await this.client.me();
      } catch (e) {
        if (e instanceof RingchatError && e.status === 401) return this.finish("session ended: unauthenticated");
      }
    }
    this.lost(err instanceof Error ? err : new Error(String(err)));
  }

  // Full jitter, doubling to maxMs: clients cut off together come back spread out.
  private retry(): void {
    if (this.stopped || this.retryTimer) return;
    this.emit("state", { state: "connecting" });
    const cap = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt++);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.open();
    }, Math.random() * cap);
  }

  private finish(reason: string): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const ws = this.ws;
    if (ws) {
      this.detach(ws);
      ws.close(1000);
    }
    for (const p of this.outbox.values()) {
      clearTimeout(p.timer);
      p.reject(new Error(reason));
    }
    this.outbox.clear();
    this.emit("state", { state: "closed", reason });
  }
}
