// The events a socket delivers (docs/websocket.md), typed. Live frames and
// sync's events arrive as the same event, once.
import type { Message } from "./rest.js";

export interface Receipt {
  conversation_id: string;
  user_id: string;
  delivered_up_to: string | null;
  read_up_to: string | null;
}

export interface Typing {
  conversation_id: string;
  user_id: string;
}

export interface Presence {
  user_id: string;
  online: boolean;
  last_seen: string | null;
}

export interface Membership {
  conversation_id: string;
  user_ids: string[];
  by: string;
  conversation?: Record<string, unknown>;
}

export interface ConversationUpdate {
  conversation: Record<string, unknown> & { id: string; deleted?: boolean };
  by: string;
}

export type ConnectionState = "connecting" | "open" | "closed";

export interface SocketEvents {
  "message.new": Message;
  "message.edited": Message;
  "message.recalled": Message;
  receipt: Receipt;
  typing: Typing;
  presence: Presence;
  "member.added": Membership;
  "member.removed": Membership;
  "member.updated": Record<string, unknown>;
  "conversation.updated": ConversationUpdate;
  /** The connection's state; `closed` with a reason is final (the session ended, or close()). */
  state: { state: ConnectionState; reason?: string };
  /** The sync cursor moved: persist it to resume from there next run. */
  cursor: string;
  /** A failure the socket recovers from by itself (it reconnects). */
  error: Error;
}

type Listener<T> = (value: T) => void;

/** A minimal typed emitter: on() returns the function that removes the listener. */
export class Emitter<E> {
  private listeners = new Map<keyof E, Set<Listener<never>>>();

  on<K extends keyof E>(type: K, fn: Listener<E[K]>): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(fn as Listener<never>);
    return () => set.delete(fn as Listener<never>);
  }

  protected emit<K extends keyof E>(type: K, value: E[K]): void {
    for (const fn of this.listeners.get(type) ?? []) {
      try {
        (fn as Listener<E[K]>)(value);
      } catch (err) {
        // A listener's bug must not stop delivery to the others.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
