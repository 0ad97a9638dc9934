package repo

import "time"

// Domain types carry `db` tags so gocqlx maps rows straight into them; a field
// without a column (derived values) has no tag.

// User is an account. PasswordHash never leaves the repo and api layers.
type User struct {
	ID            int64     `db:"user_id"`
	Handle        string    `db:"handle"`
	DisplayName   string    `db:"display_name"`
	Phone         string    `db:"phone"`
	AvatarMediaID int64     `db:"avatar_media_id"`
	PasswordHash  string    `db:"password_hash"`
	CreatedAt     time.Time `db:"created_at"`
	UpdatedAt     time.Time `db:"updated_at"`
	// Bot: an account the admin API made (v0017); it has no password.
	Bot bool `db:"bot"`
	// DeletedAt: when the account was deleted (v0019); zero: it is live.
	DeletedAt time.Time `db:"deleted_at"`
}

// Deleted reports whether the account was deleted.
func (u User) Deleted() bool { return !u.DeletedAt.IsZero() }

// Device is one login of a user.
type Device struct {
	UserID    int64     `db:"user_id"`
	ID        int64     `db:"device_id"`
	Name      string    `db:"name"`
	CreatedAt time.Time `db:"created_at"`
	LastSeen  time.Time `db:"last_seen"`
}

// Session is what a bearer token resolves to.
type Session struct {
	UserID    int64     `db:"user_id"`
	DeviceID  int64     `db:"device_id"`
	CreatedAt time.Time `db:"created_at"`
	ExpiresAt time.Time `db:"expires_at"`
	// Scopes bound what a bot's token may do (v0017); nil: a login's token.
	Scopes []string `db:"scopes"`
}

// Conversation kinds.
const (
	KindDirect = "direct"
	KindGroup  = "group"
)

// Member roles.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Conversation is a direct or group chat.
type Conversation struct {
	ID           int64     `db:"conv_id"`
	Kind         string    `db:"kind"`
	Name         string    `db:"name"`
	PhotoMediaID int64     `db:"photo_media_id"`
	Announcement string    `db:"announcement"`
	CreatedBy    int64     `db:"created_by"`
	CreatedAt    time.Time `db:"created_at"`
	UpdatedAt    time.Time `db:"updated_at"`
	Deleted      bool      `db:"deleted"`
	Fanout       string    `db:"fanout"`
	// MembersVersion changes with every change of a group's member set
	// (BumpMembers): a member list read after seeing it is current until it
	// changes. 0: unknown (a direct conversation, a group older than v0015).
	MembersVersion int64 `db:"members_version"`
}

// Member is one user's membership in a conversation.
type Member struct {
	ConvID   int64     `db:"conv_id"`
	UserID   int64     `db:"user_id"`
	Role     string    `db:"role"`
	JoinedAt time.Time `db:"joined_at"`
}

// UserConversation is a conversation as one user lists it, with their settings.
type UserConversation struct {
	UserID     int64     `db:"user_id"`
	ConvID     int64     `db:"conv_id"`
	Kind       string    `db:"kind"`
	JoinedAt   time.Time `db:"joined_at"`
	MutedUntil time.Time `db:"muted_until"`
	Pinned     bool      `db:"pinned"`
	Archived   bool      `db:"archived"`
	// HidePreviews: the user asked for notices without message text here (v0018).
	HidePreviews bool  `db:"hide_previews"`
	PeerID       int64 `db:"peer_id"` // the other member of a direct conversation
}

// Message is one message of a conversation's timeline.
type Message struct {
	ID          int64     `db:"msg_id"`
	ConvID      int64     `db:"conv_id"`
	SenderID    int64     `db:"sender_id"`
	ClientMsgID string    `db:"client_msg_id"`
	Body        string    `db:"body"`
	Media       string    `db:"media"` // JSON array of media descriptors; "" when none
	ReplyTo     int64     `db:"reply_to"`
	EditedAt    time.Time `db:"edited_at"`
	Recalled    bool      `db:"recalled"`
	CreatedAt   time.Time // derived from the Snowflake id
}

// Event kinds stored in the inbox and sent over WebSocket.
const (
	EventMessageNew      = "message.new"
	EventMessageEdited   = "message.edited"
	EventMessageRecalled = "message.recalled"
	EventMemberAdded     = "member.added"
	EventMemberRemoved   = "member.removed"
	EventConvUpdated     = "conversation.updated"
)

// Event is one row of a user's inbox: what sync returns and WebSocket pushes.
// Payload is the event's JSON data, stored as written; a row without one is
// a reference to message MsgID, whose content sync reads from the message row
// (message.new rows are written so: the body is stored once, not once more
// per member).
type Event struct {
	ID      int64  `db:"event_id"`
	Kind    string `db:"kind"`
	ConvID  int64  `db:"conv_id"`
	MsgID   int64  `db:"msg_id"`
	Payload string `db:"payload"`
}

// IsRef tells whether the event names a message instead of carrying it.
func (e Event) IsRef() bool { return e.Payload == "" && e.MsgID != 0 }
