// Boot: log in (or register), then the chat view. The session (token and
// user) and the sync cursor live in localStorage, so a reload resumes.
import { RingchatClient, RingchatError } from "../../sdk/typescript/src/index.ts";
import { startChat } from "./chat.ts";
import { fill, h } from "./dom.ts";

const root = document.getElementById("root")!;
const base = location.origin;
const SESSION = "ringchat.session";

interface Saved {
  token: string;
  user: { id: string; handle: string; display_name: string };
}

function saved(): Saved | undefined {
  try {
    return JSON.parse(localStorage.getItem(SESSION) ?? "null") ?? undefined;
  } catch {
    return undefined;
  }
}

export function logout(): void {
  localStorage.removeItem(SESSION);
  localStorage.removeItem("ringchat.cursor");
  showLogin("Logged out.");
}

function showLogin(note = ""): void {
  const handle = h("input", { id: "handle", name: "handle", autocomplete: "username", required: true, minlength: 3, maxlength: 32 });
  const password = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true, minlength: 8 });
  const display = h("input", { id: "display-name", name: "display_name", autocomplete: "nickname" });
  const status = h("p", { class: "status", role: "status" }, note);
  const form = h(
    "form",
    { class: "login", "aria-label": "Log in or register" },
    h("h1", {}, "ringchat"),
    h("label", { for: "handle" }, "Handle"),
    handle,
    h("label", { for: "password" }, "Password"),
    password,
    h("label", { for: "display-name" }, "Display name (to register)"),
    display,
    h("div", { class: "row" }, h("button", { type: "submit", name: "login" }, "Log in"), h("button", { type: "button", id: "register" }, "Register")),
    status,
  );
  const client = new RingchatClient({ baseUrl: base });
  async function login() {
    const out = await client.login(handle.value.trim(), password.value, `web on ${navigator.platform || "a browser"}`);
    const s: Saved = { token: out.token, user: out.user };
    localStorage.setItem(SESSION, JSON.stringify(s));
    localStorage.removeItem("ringchat.cursor");
    start(s);
  }
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    login().catch((e) => (status.textContent = message(e)));
  });
  form.querySelector("#register")!.addEventListener("click", () => {
    if (!form.reportValidity()) return;
    client
      .register(handle.value.trim(), password.value, display.value.trim() || handle.value.trim())
      .then(login)
      .catch((e) => (status.textContent = message(e)));
  });
  fill(root, form);
  handle.focus();
}

export function message(e: unknown): string {
  if (e instanceof RingchatError) return e.message;
  return e instanceof Error ? e.message : String(e);
}

function start(s: Saved): void {
  const client = new RingchatClient({ baseUrl: base, token: s.token });
  startChat(root, client, s.user, () => logout(), (reason) => {
    localStorage.removeItem(SESSION);
    localStorage.removeItem("ringchat.cursor"); // the next login may be someone else
    showLogin(reason);
  });
}

const s = saved();
if (s) start(s);
else showLogin();
