package repo

import "time"

// User is an account. PasswordHash never leaves the repo and api layers.
type User struct {
	ID            int64
	Handle        string
	DisplayName   string
	Phone         string
	AvatarMediaID int64
	PasswordHash  string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Device is one login of a user.
type Device struct {
	UserID    int64
	ID        int64
	Name      string
	CreatedAt time.Time
	LastSeen  time.Time
}

// Session is what a bearer token resolves to.
type Session struct {
	UserID    int64
	DeviceID  int64
	CreatedAt time.Time
	ExpiresAt time.Time
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
	ID           int64
	Kind         string
	Name         string
	PhotoMediaID int64
	Announcement string
	CreatedBy    int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Member is one user's membership in a conversation.
type Member struct {
	ConvID        int64
	UserID        int64
	Role          string
	JoinedAt      time.Time
	DeliveredUpTo int64
	ReadUpTo      int64
}

// Message is one message of a conversation's timeline.
type Message struct {
	ID          int64
	ConvID      int64
	SenderID    int64
	ClientMsgID string
	Body        string
	Media       string // JSON array of media descriptors; "" or "[]" when none
	ReplyTo     int64
	CreatedAt   time.Time // derived from the Snowflake id
	EditedAt    time.Time
	Recalled    bool
}

// Event kinds stored in the inbox and sent over WebSocket.
const (
	EventMessageNew      = "message.new"
	EventMessageEdited   = "message.edited"
	EventMessageRecalled = "message.recalled"
)

// Event is one row of a user's inbox: what sync returns and WebSocket pushes.
// Payload is the event's JSON data, stored as written.
type Event struct {
	ID      int64
	Kind    string
	ConvID  int64
	MsgID   int64
	Payload string
}
