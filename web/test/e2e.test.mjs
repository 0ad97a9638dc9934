// The web app in headless Chromium (Debian's, driven by playwright-core)
// against a real chatd serving it (APP_URL), a real Cassandra node and the
// S3 server; internal/webtest starts them and runs this. Each scene leaves a
// screenshot in OUT_DIR.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { deflateSync } from "node:zlib";
import { chromium } from "playwright-core";

const app = process.env.APP_URL;
const out = process.env.OUT_DIR ?? "test-output";
if (!app) throw new Error("APP_URL is not set: run through internal/webtest (make test)");
mkdirSync(out, { recursive: true });

const tag = randomBytes(3).toString("hex");
let browser;
const people = {};

before(async () => {
  browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", args: ["--no-sandbox"] });
});
after(async () => browser?.close());

const shot = (page, name) => page.screenshot({ path: join(out, `${name}.png`) });

async function person(name) {
  const context = await browser.newContext({ viewport: { width: 1000, height: 640 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`${name}: page error: ${e.message}`));
  const handle = `${name}_${tag}`;
  await page.goto(app);
  await page.getByLabel("Handle", { exact: true }).fill(handle);
  await page.getByLabel("Password").fill("a long password");
  await page.getByLabel("Display name (to register)").fill(name.toUpperCase());
  await page.getByRole("button", { name: "Register" }).click();
  await page.locator("#connection[data-state=open]").waitFor();
  return (people[name] = { context, page, handle });
}

const chat = (page, title) => page.locator("#chats button.chat", { hasText: title });
const message = (page, text) => page.locator("ol.messages li.message", { hasText: text });

async function send(page, text) {
  await page.getByLabel("Message", { exact: true }).fill(text);
  await page.getByLabel("Message", { exact: true }).press("Enter");
  await message(page, text).waitFor();
}

test("two people in a DM: live both ways, typing, read marks", async () => {
  const alice = await person("alice");
  const bob = await person("bob");
  await alice.page.getByLabel("Handle to message").fill(bob.handle);
  await alice.page.getByRole("button", { name: "Message", exact: true }).click();
  await alice.page.locator("#conv-title", { hasText: "BOB" }).waitFor();
  await send(alice.page, "hi bob");

  // Bob's chat list shows it live, with its unread count and preview.
  const item = chat(bob.page, "ALICE");
  await item.locator(".unread", { hasText: "1" }).waitFor();
  await item.locator(".preview", { hasText: "hi bob" }).waitFor();
  await shot(bob.page, "1-chat-list-unread");
  await item.click();
  await message(bob.page, "hi bob").waitFor();

  // Bob read it: Alice's message turns "read".
  await message(alice.page, "hi bob").locator(".mark.read").waitFor();
  await send(bob.page, "hello alice");
  await message(alice.page, "hello alice").waitFor();

  await bob.page.getByLabel("Message", { exact: true }).pressSequentially("typing…", { delay: 20 });
  await alice.page.locator(".typing", { hasText: "BOB is typing" }).waitFor();
  await shot(alice.page, "2-dm-live-typing-read");
  await bob.page.getByLabel("Message", { exact: true }).fill("");
  assert.equal(await item.locator(".unread").count(), 0, "the chat Bob has open shows no unread count");
});

test("one goes offline and comes back to what they missed", async () => {
  const { page: alicePage } = people.alice;
  const bob = people.bob;
  await bob.page.close(); // offline: no tab, no socket
  await send(alicePage, "while you were away");
  await send(alicePage, "and another");

  bob.page = await bob.context.newPage();
  await bob.page.goto(app); // the session is kept: straight to the chats
  await bob.page.locator("#connection[data-state=open]").waitFor();
  const item = chat(bob.page, "ALICE");
  await item.locator(".unread", { hasText: "2" }).waitFor();
  await item.click();
  await message(bob.page, "while you were away").waitFor();
  await message(bob.page, "and another").waitFor();
  await message(bob.page, "hi bob").waitFor(); // history is there too
  await shot(bob.page, "3-back-online");
});

test("a group of three", async () => {
  const carol = await person("carol");
  const { page: alicePage } = people.alice;
  await alicePage.getByLabel("Group name").fill(`team ${tag}`);
  await alicePage.getByLabel("Group members (handles, comma-separated)").fill(`${people.bob.handle}, ${carol.handle}`);
  await alicePage.getByRole("button", { name: "Create group" }).click();
  await alicePage.locator("#conv-title", { hasText: `team ${tag}` }).waitFor();
  await send(alicePage, "hello team");
  for (const p of [people.bob.page, carol.page]) {
    await chat(p, `team ${tag}`).click();
    await message(p, "hello team").waitFor();
  }
  await send(carol.page, "hi from carol");
  await message(alicePage, "hi from carol").waitFor();
  await message(people.bob.page, "hi from carol").waitFor();
  await alicePage.getByRole("button", { name: "Members" }).click();
  await alicePage.locator("#members li", { hasText: "CAROL" }).waitFor();
  await shot(people.bob.page, "4-group-of-three");
});

test("an image, uploaded through a presigned URL and shown", async () => {
  const { page: alicePage } = people.alice;
  const bobPage = people.bob.page;
  await chat(alicePage, "BOB").click();
  await chat(bobPage, "ALICE").click();
  await alicePage.getByLabel("Attach image").setInputFiles({ name: "square.png", mimeType: "image/png", buffer: png(64, 64) });
  await alicePage.locator("#attachment img").waitFor(); // the preview before sending
  await alicePage.getByLabel("Message", { exact: true }).fill("a picture");
  await alicePage.getByRole("button", { name: "Send" }).click();
  const img = message(bobPage, "a picture").locator("img.media");
  await img.waitFor();
  await bobPage.waitForFunction((el) => el.complete && el.naturalWidth === 64, await img.elementHandle());
  await chat(bobPage, "ALICE").locator(".preview", { hasText: "a picture" }).waitFor();
  await shot(bobPage, "5-image");
});

test("history pages back as the reader scrolls up", async () => {
  const { page: alicePage } = people.alice;
  const bobPage = people.bob.page;
  const title = `history ${tag}`;
  await alicePage.getByLabel("Group name").fill(title);
  await alicePage.getByLabel("Group members (handles, comma-separated)").fill(people.bob.handle);
  await alicePage.getByRole("button", { name: "Create group" }).click();
  await alicePage.locator("#conv-title", { hasText: title }).waitFor();
  // 45 messages through the API with Alice's token: more than the 30 a page shows.
  await alicePage.evaluate(async () => {
    const { token } = JSON.parse(localStorage.getItem("ringchat.session"));
    const conv = document.querySelector("#chats button.chat.current").dataset.conv;
    for (let i = 0; i < 45; i++) {
      const r = await fetch(`/v1/conversations/${conv}/messages`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify({ client_msg_id: crypto.randomUUID(), body: `old ${i}` }),
      });
      if (!r.ok) throw new Error(`send ${i}: ${r.status}`);
    }
  });
  await chat(bobPage, title).click();
  await message(bobPage, "old 44").waitFor();
  assert.equal(await message(bobPage, "old 0").count(), 0, "the first page holds only the latest messages");
  await bobPage.locator("ol.messages").evaluate((ol) => (ol.scrollTop = 0));
  await message(bobPage, "old 0").waitFor();
  assert.equal(await bobPage.locator("ol.messages li.message").count(), 45);
});

test("contacts: request, accept, block and unblock", async () => {
  const { page: alicePage } = people.alice;
  const dave = await person("dave");
  const davePage = dave.page;
  await alicePage.getByLabel("Handle to add as a contact").fill(dave.handle);
  await alicePage.getByRole("button", { name: "Add", exact: true }).click();
  await alicePage.locator("#contacts li", { hasText: "requested" }).waitFor();
  await davePage.reload();
  const request = davePage.locator("#contacts li", { hasText: "ALICE" });
  await request.locator(".state", { hasText: "pending" }).waitFor();
  await request.getByRole("button", { name: "Accept" }).click();
  await request.locator(".state", { hasText: "accepted" }).waitFor();
  await request.getByRole("button", { name: "Block" }).click();
  const blocked = davePage.locator("#blocks li", { hasText: "ALICE" });
  await blocked.waitFor();
  await shot(davePage, "6-contacts-and-blocks");
  await blocked.getByRole("button", { name: "Unblock" }).click();
  await davePage.locator("#blocks li.empty").waitFor();
});

// A solid-colour PNG, made here so the test needs no file.
function png(w, h) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4);
    c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(w * 3, Buffer.from([47, 111, 222]))]);
  const raw = Buffer.concat(Array.from({ length: h }, () => row));
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}
