export { RingchatClient, RingchatError, uuidv7 } from "./rest.js";
export type { Answer, CallOptions, ClientOptions, Conversation, Message, Schemas, SyncEvent, User } from "./rest.js";
export { RingchatSocket } from "./socket.js";
export type { SocketOptions, WebSocketCtor, WebSocketLike } from "./socket.js";
export type { ConnectionState, ConversationUpdate, Membership, Presence, Receipt, SocketEvents, Typing } from "./events.js";
export type { components, paths } from "./openapi.js";
