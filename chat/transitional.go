package chat

import (
	"context"

	"github.com/ringchat/ringchat/repo"
)

// What api's handlers that issue 15's later steps move here still call
// (docs/architecture.md §5.7): each goes, unexported, with its last caller.

// Membership reads a conversation and its members at once and finds userID
// among them: not_found for no such conversation, permission_denied for a
// non-member.
func (a *App) Membership(ctx context.Context, convID, userID int64) (repo.Conversation, []repo.Member, repo.Member, error) {
	return a.membership(ctx, convID, userID)
}

// ConversationAndMembers reads a conversation's row and member list at once.
func (a *App) ConversationAndMembers(ctx context.Context, convID int64) (repo.Conversation, []repo.Member, error) {
	return a.conversationAndMembers(ctx, convID)
}

// Emit stores an event in each recipient's inbox and pushes it (emit).
func (a *App) Emit(ctx context.Context, recipients []int64, kind string, convID, msgID int64, data any) error {
	return a.emit(ctx, recipients, kind, convID, msgID, data)
}

// EmitStored stores an event in stored's inboxes and pushes it to pushed (emitStored).
func (a *App) EmitStored(ctx context.Context, stored, pushed []int64, kind string, convID, msgID int64, data any) error {
	return a.emitStored(ctx, stored, pushed, kind, convID, msgID, data)
}

// NewID makes an id, or fails unavailable once the node may not (newID).
func (a *App) NewID() (int64, error) { return a.newID() }

// MemberIDs lists the members' user ids.
func MemberIDs(ms []repo.Member) []int64 { return memberIDs(ms) }

// FindMember finds userID among ms.
func FindMember(ms []repo.Member, userID int64) (repo.Member, bool) { return findMember(ms, userID) }

// ValidateHandle checks a handle's form.
func ValidateHandle(h string) error { return validateHandle(h) }

// ValidatePassword checks a password's bounds.
func ValidatePassword(p string) error { return validatePassword(p) }

// ValidateText checks a free-text field (validateText).
func ValidateText(field, s string, minChars, maxChars int) error {
	return validateText(field, s, minChars, maxChars)
}

// HashPassword returns the password's argon2id PHC string.
func HashPassword(password string, p Argon2Params) (string, error) { return hashPassword(password, p) }

// VerifyPassword checks a password against a PHC string.
func VerifyPassword(password, phc string) bool { return verifyPassword(password, phc) }

// NewToken returns a bearer token and its hash.
func NewToken() (string, []byte, error) { return newToken() }

// TokenHash is a token's SHA-256, all the store keeps of it.
func TokenHash(token string) []byte { return tokenHash(token) }
