// The chat view: the chat list, one open conversation, contacts, groups.
// Every live change comes from the SDK's socket; the chat list is re-read
// from the server after each (it owns unread counts and order).
import { RingchatClient, RingchatSocket, type Message, type Receipt } from "../../sdk/typescript/src/index.ts";
import { fill, h, idLess, time } from "./dom.ts";
import { openMedia, uploadImage } from "./media.ts";
import { message as errText } from "./main.ts";

interface Me {
  id: string;
  handle: string;
  display_name: string;
}
interface Chat {
  conversation: { id: string; kind: "direct" | "group"; name?: string; member_count: number; my_role: string };
  peer: { id: string; handle: string; display_name: string } | null;
  last_message: Message | null;
  unread_count: number;
}
interface Open {
  chat: Chat;
  messages: Map<string, Message>;
  cursor: string | undefined; // older history
  peerRead: string | undefined; // DM: the peer's watermarks
  peerDelivered: string | undefined;
}

const CURSOR = "ringchat.cursor";

export function startChat(root: HTMLElement, client: RingchatClient, me: Me, onLogout: () => void, onEnded: (why: string) => void): void {
  const socket = new RingchatSocket({ client, cursor: localStorage.getItem(CURSOR) ?? undefined });
  const names = new Map<string, string>([[me.id, me.display_name]]);
  let chats: Chat[] = [];
  let open: Open | undefined;
  let typingTimer: ReturnType<typeof setTimeout> | undefined;
  let lastTyping = 0;
  let pendingImage: File | undefined;

  const status = h("p", { class: "status", role: "status", id: "status" });
  const conn = h("span", { class: "conn", id: "connection" }, "connecting");
  const list = h("ul", { class: "chats", "aria-label": "Chats", id: "chats" });
  const contacts = h("ul", { class: "contacts", "aria-label": "Contacts", id: "contacts" });
  const blocks = h("ul", { class: "contacts", "aria-label": "Blocked", id: "blocks" });
  const pane = h("section", { class: "pane", "aria-label": "Conversation", id: "pane" }, h("p", { class: "empty" }, "Pick a chat, or start one."));

  const dmInput = h("input", { id: "dm-handle", "aria-label": "Handle to message", placeholder: "handle" });
  const groupName = h("input", { id: "group-name", "aria-label": "Group name", placeholder: "group name" });
  const groupMembers = h("input", { id: "group-members", "aria-label": "Group members (handles, comma-separated)", placeholder: "bob, carol" });
  const contactInput = h("input", { id: "contact-handle", "aria-label": "Handle to add as a contact", placeholder: "handle" });

  fill(
    root,
    h(
      "div",
      { class: "app" },
      h(
        "header",
        {},
        h("strong", { id: "me" }, `@${me.handle}`),
        conn,
        h("button", { type: "button", id: "logout", onclick: () => void client.logout().finally(() => { socket.close(); onLogout(); }) }, "Log out"),
      ),
      h(
        "aside",
        {},
        h("form", { "aria-label": "New chat", onsubmit: (e: Event) => (e.preventDefault(), void startDM(dmInput.value)) }, dmInput, h("button", { type: "submit" }, "Message")),
        h(
          "form",
          { "aria-label": "New group", onsubmit: (e: Event) => (e.preventDefault(), void createGroup()) },
          groupName,
          groupMembers,
          h("button", { type: "submit" }, "Create group"),
        ),
        h("h2", {}, "Chats"),
        list,
        h("h2", {}, "Contacts"),
        h("form", { "aria-label": "Add contact", onsubmit: (e: Event) => (e.preventDefault(), void contactAction("add", contactInput.value)) }, contactInput, h("button", { type: "submit" }, "Add")),
        contacts,
        h("h2", {}, "Blocked"),
        blocks,
      ),
      pane,
      status,
    ),
  );

  const fail = (e: unknown) => (status.textContent = errText(e));
  const ok = (text: string) => (status.textContent = text);

  // ---- the socket ----
  socket.on("state", ({ state, reason }) => {
    conn.textContent = state;
    conn.dataset.state = state;
    if (state === "open") void refreshChats();
    if (state === "closed" && reason?.startsWith("session ended")) onEnded(reason);
  });
  socket.on("cursor", (c) => localStorage.setItem(CURSOR, c));
  socket.on("message.new", (m) => {
    names.has(m.sender_id) || void nameOf(m.sender_id);
    // This device has it: the sender's ✓✓ (read comes when it is seen).
    if (m.sender_id !== me.id) socket.delivered(m.conversation_id, m.id);
    if (open && m.conversation_id === open.chat.conversation.id) {
      open.messages.set(m.id, m);
      renderMessages(true);
      markRead();
    }
    scheduleChats();
  });
  for (const t of ["message.edited", "message.recalled"] as const) {
    socket.on(t, (m) => {
      if (open?.messages.has(m.id)) {
        open.messages.set(m.id, m);
        renderMessages(false);
      }
    });
  }
  socket.on("receipt", (r: Receipt) => {
    if (!open || r.conversation_id !== open.chat.conversation.id || r.user_id === me.id) return;
    if (r.read_up_to && (!open.peerRead || idLess(open.peerRead, r.read_up_to))) open.peerRead = r.read_up_to;
    if (r.delivered_up_to && (!open.peerDelivered || idLess(open.peerDelivered, r.delivered_up_to))) open.peerDelivered = r.delivered_up_to;
    renderMessages(false);
  });
  socket.on("typing", (t) => {
    if (!open || t.conversation_id !== open.chat.conversation.id || t.user_id === me.id) return;
    const line = pane.querySelector<HTMLElement>(".typing");
    if (!line) return;
    line.textContent = `${names.get(t.user_id) ?? "someone"} is typing…`;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => (line.textContent = ""), 3000);
  });
  socket.on("presence", (p) => {
    if (open?.chat.peer?.id === p.user_id) showPresence(p.online, p.last_seen);
  });
  for (const t of ["member.added", "member.removed", "conversation.updated"] as const) socket.on(t, () => scheduleChats());
  socket.connect();

  // ---- the chat list ----
  let chatsTimer: ReturnType<typeof setTimeout> | undefined;
  function scheduleChats() {
    clearTimeout(chatsTimer);
    chatsTimer = setTimeout(() => void refreshChats(), 150);
  }

  async function refreshChats() {
    try {
      const out = (await client.chats()) as unknown as { conversations: Chat[] };
      chats = out.conversations;
      for (const c of chats) if (c.peer) names.set(c.peer.id, c.peer.display_name);
      renderChats();
    } catch (e) {
      fail(e);
    }
  }

  function title(c: Chat): string {
    return c.conversation.kind === "direct" ? (c.peer?.display_name ?? "direct chat") : (c.conversation.name ?? "group");
  }

  function renderChats() {
    fill(
      list,
      ...chats.map((c) =>
        h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: "chat" + (open?.chat.conversation.id === c.conversation.id ? " current" : ""),
              "data-conv": c.conversation.id,
              "aria-current": open?.chat.conversation.id === c.conversation.id ? "true" : undefined,
              onclick: () => void openChat(c),
            },
            h("span", { class: "title" }, title(c)),
            c.unread_count > 0 && h("span", { class: "unread", "aria-label": `${c.unread_count} unread` }, String(c.unread_count)),
            h("span", { class: "preview" }, c.last_message ? preview(c.last_message) : "no messages yet"),
          ),
        ),
      ),
    );
    if (!chats.length) fill(list, h("li", { class: "empty" }, "No chats yet."));
  }

  function preview(m: Message): string {
    if (m.recalled) return "(recalled)";
    const who = m.sender_id === me.id ? "You: " : "";
    return who + (m.body || (m.media.length ? "📷 image" : ""));
  }

  async function nameOf(id: string): Promise<string> {
    const known = names.get(id);
    if (known) return known;
    try {
      const out = await client.call("get", "/v1/users/{user_id}", { path: { user_id: id } });
      names.set(id, out.user.display_name);
      return out.user.display_name;
    } catch {
      return id;
    }
  }

  async function userId(handle: string): Promise<string> {
    return (await client.findUser(handle.trim().replace(/^@/, ""))).user.id;
  }

  async function startDM(handle: string) {
    try {
      const { conversation } = await client.direct(await userId(handle));
      dmInput.value = "";
      await refreshChats();
      const c = chats.find((x) => x.conversation.id === conversation.id);
      if (c) await openChat(c);
    } catch (e) {
      fail(e);
    }
  }

  async function createGroup() {
    try {
      const handles = groupMembers.value.split(",").map((s) => s.trim()).filter(Boolean);
      const ids = await Promise.all(handles.map(userId));
      const { conversation } = await client.createGroup(groupName.value.trim(), ids);
      groupName.value = groupMembers.value = "";
      await refreshChats();
      const c = chats.find((x) => x.conversation.id === conversation.id);
      if (c) await openChat(c);
    } catch (e) {
      fail(e);
    }
  }

  // ---- contacts and blocks ----
  async function refreshContacts() {
    try {
      const out = await client.call("get", "/v1/contacts");
      fill(
        contacts,
        ...out.contacts.map((ct) =>
          h(
            "li",
            { "data-handle": ct.user.handle },
            h("span", {}, `${ct.user.display_name} (@${ct.user.handle}) `),
            h("em", { class: "state" }, ct.state),
            ct.state === "pending" && h("button", { type: "button", onclick: () => void contactAction("add", ct.user.handle) }, "Accept"),
            h("button", { type: "button", onclick: () => void contactAction("remove", ct.user.handle) }, ct.state === "accepted" ? "Remove" : "Decline"),
            h("button", { type: "button", onclick: () => void contactAction("block", ct.user.handle) }, "Block"),
          ),
        ),
      );
      if (!out.contacts.length) fill(contacts, h("li", { class: "empty" }, "No contacts yet."));
    } catch (e) {
      fail(e);
    }
  }

  async function refreshBlocks() {
    try {
      const out = (await client.call("get", "/v1/blocks")) as unknown as { blocks: { handle: string; display_name: string }[] };
      fill(
        blocks,
        ...(out.blocks ?? []).map((b) =>
          h(
            "li",
            { "data-handle": b.handle },
            h("span", {}, `${b.display_name} (@${b.handle}) `),
            h("button", { type: "button", onclick: () => void contactAction("unblock", b.handle) }, "Unblock"),
          ),
        ),
      );
      if (!out.blocks?.length) fill(blocks, h("li", { class: "empty" }, "Nobody."));
    } catch (e) {
      fail(e);
    }
  }

  async function contactAction(what: "add" | "remove" | "block" | "unblock", handle: string) {
    try {
      const path = { user_id: await userId(handle) };
      if (what === "add") await client.call("put", "/v1/contacts/{user_id}", { path });
      if (what === "remove") await client.call("delete", "/v1/contacts/{user_id}", { path });
      if (what === "block") await client.call("put", "/v1/blocks/{user_id}", { path });
      if (what === "unblock") await client.call("delete", "/v1/blocks/{user_id}", { path });
      contactInput.value = "";
      const done = { add: "Contact request sent to", remove: "Removed", block: "Blocked", unblock: "Unblocked" }[what];
      ok(`${done} @${handle.replace(/^@/, "")}`);
      await Promise.all([refreshContacts(), refreshBlocks()]);
    } catch (e) {
      fail(e);
    }
  }

  // ---- one conversation ----
  const messagesEl = () => pane.querySelector<HTMLOListElement>("ol.messages");

  async function openChat(c: Chat) {
    open = { chat: c, messages: new Map(), cursor: undefined, peerRead: undefined, peerDelivered: undefined };
    const input = h("textarea", { id: "composer", "aria-label": "Message", rows: 2, placeholder: "Write a message" });
    const file = h("input", { id: "attach", type: "file", accept: "image/*", "aria-label": "Attach image" });
    const thumb = h("div", { class: "attachment", id: "attachment" });
    const ol = h("ol", { class: "messages", "aria-label": "Messages", tabindex: 0 });
    ol.addEventListener("scroll", () => {
      if (ol.scrollTop < 40) void loadOlder();
    });
    input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey) {
        ev.preventDefault();
        void send(input, file, thumb);
      }
    });
    input.addEventListener("input", () => {
      if (open && Date.now() - lastTyping > 2500) {
        lastTyping = Date.now();
        socket.typing(open.chat.conversation.id);
      }
    });
    file.addEventListener("change", () => {
      pendingImage = file.files?.[0];
      const old = thumb.querySelector("img")?.src;
      if (old) URL.revokeObjectURL(old);
      fill(thumb, pendingImage && h("img", { src: URL.createObjectURL(pendingImage), alt: `preview of ${pendingImage.name}` }));
    });
    const header = h("div", { class: "conv-head" }, h("h2", { id: "conv-title" }, title(c)), h("span", { class: "presence", id: "presence" }));
    if (c.conversation.kind === "group") header.append(h("button", { type: "button", id: "members-toggle", onclick: () => void toggleMembers() }, "Members"));
    fill(
      pane,
      header,
      h("div", { class: "members", id: "members", hidden: true }),
      ol,
      h("p", { class: "typing", "aria-live": "polite" }),
      h(
        "form",
        { class: "composer", "aria-label": "Send a message", onsubmit: (e: Event) => (e.preventDefault(), void send(input, file, thumb)) },
        thumb,
        input,
        h("label", { class: "attach", for: "attach" }, "Image"),
        file,
        h("button", { type: "submit", id: "send" }, "Send"),
      ),
    );
    renderChats();
    await loadOlder();
    if (c.peer) {
      void client
        .call("get", "/v1/presence", { query: { user_ids: c.peer.id } })
        .then((out) => {
          const p = (out as unknown as { presence: { online: boolean; last_seen: string | null }[] }).presence?.[0];
          if (p) showPresence(p.online, p.last_seen);
        })
        .catch(() => {});
      await loadReceipts();
    }
    markRead();
    input.focus();
  }

  function showPresence(online: boolean, lastSeen: string | null) {
    const el = pane.querySelector("#presence");
    if (el) el.textContent = online ? "online" : lastSeen ? `last seen ${time(lastSeen)}` : "offline";
  }

  // Where the peer has read and received up to, from my latest message's receipts.
  async function loadReceipts() {
    if (!open?.chat.peer) return;
    const mine = [...open.messages.values()].filter((m) => m.sender_id === me.id).sort((a, b) => (idLess(a.id, b.id) ? 1 : -1))[0];
    if (!mine) return;
    try {
      const r = await client.call("get", "/v1/conversations/{conv_id}/messages/{msg_id}/receipts", {
        path: { conv_id: open.chat.conversation.id, msg_id: mine.id },
      });
      const peer = open.chat.peer.id;
      const read = r.read ?? [];
      if (read.includes(peer)) open.peerRead = mine.id;
      if ((r.delivered ?? []).includes(peer) || read.includes(peer)) open.peerDelivered = mine.id;
      renderMessages(false);
    } catch {
      // marks are a nicety: the messages are shown without them
    }
  }

  let loading = false;
  async function loadOlder() {
    const o = open;
    if (!o || loading || o.cursor === "") return;
    loading = true;
    try {
      const page = await client.history(o.chat.conversation.id, o.cursor ? { cursor: o.cursor, limit: 30 } : { limit: 30 });
      if (open !== o) return;
      for (const m of page.messages) {
        o.messages.set(m.id, m);
        names.has(m.sender_id) || void nameOf(m.sender_id).then(() => renderMessages(false));
      }
      o.cursor = page.next_cursor ?? "";
      const ol = messagesEl();
      const before = ol ? ol.scrollHeight - ol.scrollTop : 0;
      renderMessages(!o.cursor || page.messages.length === o.messages.size);
      if (ol && before) ol.scrollTop = ol.scrollHeight - before; // keep the reader's place
    } catch (e) {
      fail(e);
    } finally {
      loading = false;
    }
  }

  function mark(m: Message): string {
    if (!open?.chat.peer || m.sender_id !== me.id) return "";
    if (open.peerRead && !idLess(open.peerRead, m.id)) return "read";
    if (open.peerDelivered && !idLess(open.peerDelivered, m.id)) return "delivered";
    return "sent";
  }

  function renderMessages(toBottom: boolean) {
    const ol = messagesEl();
    if (!open || !ol) return;
    const sorted = [...open.messages.values()].sort((a, b) => (idLess(a.id, b.id) ? -1 : 1));
    fill(
      ol,
      ...sorted.map((m) => {
        const status = mark(m);
        const li = h(
          "li",
          { class: "message" + (m.sender_id === me.id ? " mine" : ""), "data-id": m.id },
          h("span", { class: "sender" }, names.get(m.sender_id) ?? "…"),
          h("span", { class: "body" }, m.recalled ? "(recalled)" : m.body),
          h("span", { class: "meta" }, time(m.created_at), m.edited_at ? " · edited" : "", status && h("span", { class: `mark ${status}`, "aria-label": status }, status === "read" ? " ✓✓ read" : status === "delivered" ? " ✓✓" : " ✓")),
        );
        for (const media of m.media as unknown as { id: string; content_type: string }[]) {
          if (!m.recalled && media.content_type?.startsWith("image/")) {
            const img = h("img", { class: "media", alt: "image", "data-media": media.id });
            // Loaded after the list was laid out: keep a reader at the bottom there.
            img.addEventListener("load", () => {
              if (ol.scrollHeight - ol.scrollTop - ol.clientHeight < img.height + 80) ol.scrollTop = ol.scrollHeight;
            });
            li.append(img);
            void openMedia(client, media.id).then((url) => (img.src = url)).catch(() => (img.alt = "image unavailable"));
          }
        }
        return li;
      }),
    );
    if (toBottom) ol.scrollTop = ol.scrollHeight;
  }

  // Read up to the newest message from someone else, while this tab is seen.
  function markRead() {
    if (!open || document.visibilityState === "hidden") return;
    const theirs = [...open.messages.values()].filter((m) => m.sender_id !== me.id);
    if (!theirs.length) return;
    const newest = theirs.reduce((a, b) => (idLess(a.id, b.id) ? b : a));
    socket.read(open.chat.conversation.id, newest.id);
    scheduleChats();
  }
  document.addEventListener("visibilitychange", markRead);

  async function send(input: HTMLTextAreaElement, file: HTMLInputElement, thumb: HTMLElement) {
    const o = open;
    const body = input.value.trim();
    if (!o || (!body && !pendingImage)) return;
    const button = pane.querySelector<HTMLButtonElement>("#send")!;
    button.disabled = true;
    try {
      if (pendingImage) {
        const mediaId = await uploadImage(client, pendingImage);
        const out = await client.call("post", "/v1/conversations/{conv_id}/messages", {
          path: { conv_id: o.chat.conversation.id },
          body: { client_msg_id: crypto.randomUUID(), body, media_ids: [mediaId] },
        });
        o.messages.set(out.message.id, out.message);
        pendingImage = undefined;
        file.value = "";
        const shown = thumb.querySelector("img")?.src;
        if (shown) URL.revokeObjectURL(shown);
        fill(thumb);
      } else {
        const m = await socket.send(o.chat.conversation.id, body);
        o.messages.set(m.id, m);
      }
      input.value = "";
      if (open === o) renderMessages(true);
      scheduleChats();
    } catch (e) {
      fail(e);
    } finally {
      button.disabled = false;
    }
  }

  async function toggleMembers() {
    const box = pane.querySelector<HTMLElement>("#members");
    if (!box || !open) return;
    box.hidden = !box.hidden;
    if (!box.hidden) await renderMembers(box);
  }

  async function renderMembers(box: HTMLElement) {
    const o = open;
    if (!o) return;
    try {
      const out = await client.call("get", "/v1/conversations/{conv_id}/members", { path: { conv_id: o.chat.conversation.id } });
      const members = (out as unknown as { members: { user_id: string; role: string }[] }).members;
      await Promise.all(members.map((m) => nameOf(m.user_id)));
      const canManage = o.chat.conversation.my_role !== "member";
      const add = h("input", { id: "member-handle", "aria-label": "Handle to add to the group", placeholder: "handle" });
      fill(
        box,
        h(
          "ul",
          { "aria-label": "Members" },
          ...members.map((m) =>
            h(
              "li",
              {},
              `${names.get(m.user_id)} (${m.role}) `,
              canManage && m.user_id !== me.id && h("button", { type: "button", onclick: () => void memberAction(box, "delete", m.user_id) }, "Remove"),
            ),
          ),
        ),
        canManage &&
          h(
            "form",
            { "aria-label": "Add member", onsubmit: (e: Event) => (e.preventDefault(), void userId(add.value).then((id) => memberAction(box, "put", id)).catch(fail)) },
            add,
            h("button", { type: "submit" }, "Add member"),
          ),
        h("button", { type: "button", onclick: () => void memberAction(box, "delete", me.id) }, "Leave group"),
      );
    } catch (e) {
      fail(e);
    }
  }

  async function memberAction(box: HTMLElement, method: "put" | "delete", userId: string) {
    if (!open) return;
    try {
      await client.call(method, "/v1/conversations/{conv_id}/members/{user_id}", { path: { conv_id: open.chat.conversation.id, user_id: userId } });
      if (userId === me.id && method === "delete") {
        open = undefined;
        fill(pane, h("p", { class: "empty" }, "You left the group."));
      } else await renderMembers(box);
      scheduleChats();
    } catch (e) {
      fail(e);
    }
  }

  void refreshChats();
  void refreshContacts();
  void refreshBlocks();
}
