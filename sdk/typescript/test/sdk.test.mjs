// The SDK against a real chatd (CHATD_URL; internal/sdktest starts one and
// runs this). Node 20 has no WebSocket of its own: the ws package is the one
// with headers, and stands in for a browser's in the ticket test.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import WebSocket from "ws";
import { RingchatClient, RingchatError, RingchatSocket, uuidv7 } from "../dist/index.js";

const base = process.env.CHATD_URL;
if (!base) throw new Error("CHATD_URL is not set: run through internal/sdktest (make test)");

async function user(prefix) {
  const handle = `${prefix}_${randomBytes(4).toString("hex")}`;
  const c = new RingchatClient({ baseUrl: base });
  await c.register(handle, "a long password", prefix.toUpperCase());
  const login = await c.login(handle, "a long password", "sdk test");
  return { c, handle, id: login.user.id };
}

// Polls for a condition instead of sleeping for it.
async function until(what, cond, ms = 20000) {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function socket(c, opts = {}) {
  const s = new RingchatSocket({ client: c, WebSocket, backoff: { initialMs: 50, maxMs: 500 }, ...opts });
  const got = { messages: [], events: [], states: [] };
  s.on("message.new", (m) => got.messages.push(m));
  for (const t of ["receipt", "typing", "message.edited"]) s.on(t, (e) => got.events.push({ type: t, ...e }));
  s.on("state", (st) => got.states.push(st));
  s.connect();
  return { s, got, open: () => until("socket open", () => got.states.at(-1)?.state === "open") };
}

test("typed REST calls and the contract's errors", async () => {
  const a = await user("rest_a");
  const b = await user("rest_b");
  const found = await a.c.findUser(b.handle);
  assert.equal(found.user.id, b.id);
  const { conversation } = await a.c.direct(b.id);
  const id = uuidv7();
  const first = await a.c.send(conversation.id, "hello", id);
  const again = await a.c.send(conversation.id, "hello", id);
  assert.equal(again.message.id, first.message.id, "the same client_msg_id is the same message");
  const page = await b.c.history(conversation.id, { limit: 10 });
  assert.deepEqual(page.messages.map((m) => m.body), ["hello"]);
  await assert.rejects(a.c.send(conversation.id, ""), (e) => e instanceof RingchatError && e.status === 400 && e.code === "invalid_argument");
  await assert.rejects(new RingchatClient({ baseUrl: base }).me(), (e) => e instanceof RingchatError && e.code === "unauthenticated");
  await assert.rejects(a.c.findUser("no_such_user_here"), (e) => e instanceof RingchatError && e.status === 404);
});

test("live messages once each, and what was sent during a drop arrives by sync", async () => {
  const a = await user("live_a");
  const b = await user("live_b");
  const { conversation } = await a.c.direct(b.id);
  const sa = socket(a.c); // header auth
  const sb = socket(b.c, { auth: "ticket" }); // as a browser does
  await Promise.all([sa.open(), sb.open()]);

  const sent = await sa.s.send(conversation.id, "over the socket");
  assert.equal(sent.body, "over the socket");
  await until("bob's live copy", () => sb.got.messages.some((m) => m.id === sent.id));

  sb.s.drop();
  const missed = [];
  for (const body of ["away 1", "away 2"]) missed.push((await a.c.send(conversation.id, body)).message.id);
  await until("bob back with the missed ones", () => missed.every((id) => sb.got.messages.some((m) => m.id === id)));
  const after = await sa.s.send(conversation.id, "after");
  await until("the next live one", () => sb.got.messages.some((m) => m.id === after.id));

  const ids = sb.got.messages.map((m) => m.id);
  assert.equal(new Set(ids).size, ids.length, `no repeats: ${ids}`);
  assert.equal(ids.length, 4);
  assert.ok(sb.got.states.filter((s) => s.state === "open").length >= 2, "bob reconnected");
  sa.s.close();
  sb.s.close();
});

test("the outbox: a send made while down is sent after the reconnect, once", async () => {
  const a = await user("outbox_a");
  const b = await user("outbox_b");
  const { conversation } = await a.c.direct(b.id);
  const sa = socket(a.c);
  await sa.open();
  sa.s.drop();
  const pending = sa.s.send(conversation.id, "queued while down");
  const msg = await pending;
  assert.equal(msg.body, "queued while down");
  const page = await b.c.history(conversation.id, { limit: 10 });
  assert.deepEqual(page.messages.map((m) => m.body), ["queued while down"]);
  sa.s.close();
  await assert.rejects(sa.s.send(conversation.id, "after close"), /socket closed/);
});

test("typing and read receipts are typed events", async () => {
  const a = await user("rcpt_a");
  const b = await user("rcpt_b");
  const { conversation } = await a.c.direct(b.id);
  const sa = socket(a.c);
  const sb = socket(b.c);
  await Promise.all([sa.open(), sb.open()]);
  const m = await sa.s.send(conversation.id, "read me");
  await until("bob has it", () => sb.got.messages.some((x) => x.id === m.id));
  sb.s.typing(conversation.id);
  await until("alice sees bob typing", () => sa.got.events.some((e) => e.type === "typing" && e.user_id === b.id && e.conversation_id === conversation.id));
  sb.s.read(conversation.id, m.id);
  await until("alice sees bob's read mark", () => sa.got.events.some((e) => e.type === "receipt" && e.user_id === b.id && e.read_up_to === m.id));
  // After a reconnect, sync returns the stored receipt again: not emitted twice.
  const opens = sa.got.states.filter((s) => s.state === "open").length;
  sa.s.drop();
  await until("alice back", () => sa.got.states.filter((s) => s.state === "open").length > opens);
  const marks = sa.got.events.filter((e) => e.type === "receipt" && e.user_id === b.id && e.read_up_to === m.id);
  assert.equal(marks.length, 1, `the read mark was emitted ${marks.length} times: ${JSON.stringify(marks)}`);
  sa.s.close();
  sb.s.close();
});

test("a session that ends stops the socket for good and fails its outbox", async () => {
  const a = await user("end_a");
  const b = await user("end_b");
  const { conversation } = await a.c.direct(b.id);
  const sa = socket(a.c);
  await sa.open();
  const token = a.c.token;
  await a.c.logout();
  await until("the socket closed by the server", () => sa.got.states.at(-1)?.state === "closed");
  assert.match(sa.got.states.at(-1).reason, /session ended/);
  // A socket made with the dead token never opens and does not retry forever.
  const dead = socket(new RingchatClient({ baseUrl: base, token }));
  await until("the dead token's socket gives up", () => dead.got.states.at(-1)?.state === "closed");
  assert.equal(dead.got.states.filter((s) => s.state === "open").length, 0);
  await assert.rejects(sa.s.send(conversation.id, "too late"), /socket closed/);
});
