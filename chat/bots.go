package chat

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// Bots are accounts an operator makes through the admin API: no password (no
// login matches one), a bot badge on the profile, and tokens that carry
// scopes. A bot is a member like any other once a person opens a direct
// conversation with it or adds it to a group; it reads over sync, history or
// a socket (or a webhook push target) and sends, rate-limited as users are.

// Token scopes.
const (
	// ScopeMessagesRead: sync, history, sockets, profiles, conversations and
	// their members, receipts and presence, media downloads, its push target.
	ScopeMessagesRead = "messages:read"
	// ScopeMessagesWrite: send, edit, recall, typing, receipts, media uploads.
	ScopeMessagesWrite = "messages:write"
	// ScopeConversationsWrite: open direct conversations, make groups, add and
	// remove members, leave, change settings.
	ScopeConversationsWrite = "conversations:write"
)

// Scopes is every scope a token may carry.
var Scopes = []string{ScopeMessagesRead, ScopeMessagesWrite, ScopeConversationsWrite}

// ScopeAnyToken marks what every token may do, a bot's included (its own
// logout, its own profile); ScopePeopleOnly what no bot token may do
// (passwords, devices, contacts, blocks).
const (
	ScopeAnyToken   = "*"
	ScopePeopleOnly = ""
)

// Allows says whether sess may do what needs scope: a login's session (no
// scopes) may do everything its user may.
//
// Codes: permission_denied (the token lacks the scope, or is a bot's and scope
// is ScopePeopleOnly).
func Allows(sess repo.Session, scope string) error {
	switch {
	case sess.Scopes == nil || scope == ScopeAnyToken:
		return nil
	case scope == ScopePeopleOnly:
		return repo.Errorf(repo.CodePermissionDenied, "a bot's token cannot do this")
	case slices.Contains(sess.Scopes, scope):
		return nil
	}
	return repo.Errorf(repo.CodePermissionDenied, "this token lacks the %s scope", scope)
}

// BotInput is a new bot and its first token.
type BotInput struct {
	Handle, DisplayName string // DisplayName "": the handle
	Scopes              []string
	TokenName           string // the token's device name; "": "bot token"
}

// BotToken is an issued token (shown once) and the account it is for.
type BotToken struct {
	Token   string
	Session repo.Session
	User    repo.User
}

// CreateBot makes a bot account and its first token.
//
// Codes: invalid_argument (handle, display name, scopes or token name);
// conflict (the handle is taken); unavailable (the id lease gone).
func (a *App) CreateBot(ctx context.Context, in BotInput) (BotToken, error) {
	if err := validateHandle(in.Handle); err != nil {
		return BotToken{}, err
	}
	if in.DisplayName == "" {
		in.DisplayName = in.Handle
	}
	if err := validateText("display_name", in.DisplayName, 1, 64); err != nil {
		return BotToken{}, err
	}
	scopes, err := validScopes(in.Scopes)
	if err != nil {
		return BotToken{}, err
	}
	name, err := tokenName(in.TokenName)
	if err != nil {
		return BotToken{}, err
	}
	id, err := a.newID()
	if err != nil {
		return BotToken{}, err
	}
	now := a.now()
	u := repo.User{ID: id, Handle: in.Handle, DisplayName: in.DisplayName, CreatedAt: now, UpdatedAt: now, Bot: true}
	if err := a.store.CreateUser(ctx, u); err != nil {
		return BotToken{}, err
	}
	return a.issue(ctx, u, scopes, name)
}

// IssueBotToken gives bot another token (a device of its own): to rotate
// one, or to scope a second service differently.
//
// Codes: invalid_argument (scopes, token name); not_found (no such bot);
// conflict (the bot holds 100 tokens); unavailable (the id lease gone).
func (a *App) IssueBotToken(ctx context.Context, botID int64, scopes []string, deviceName string) (BotToken, error) {
	scopes, err := validScopes(scopes)
	if err != nil {
		return BotToken{}, err
	}
	name, err := tokenName(deviceName)
	if err != nil {
		return BotToken{}, err
	}
	u, err := a.bot(ctx, botID)
	if err != nil {
		return BotToken{}, err
	}
	return a.issue(ctx, u, scopes, name)
}

// RevokeBotToken ends one of bot's tokens and closes its sockets everywhere.
//
// Codes: not_found (no such bot).
func (a *App) RevokeBotToken(ctx context.Context, botID, deviceID int64) error {
	if _, err := a.bot(ctx, botID); err != nil {
		return err
	}
	return a.endDevice(ctx, botID, deviceID, "bot token revoked")
}

// FindBot is the bot of handle: how an operator whose creation answer was
// lost learns its id.
//
// Codes: invalid_argument (not a handle); not_found (no bot of that handle).
func (a *App) FindBot(ctx context.Context, handle string) (repo.User, error) {
	if err := validateHandle(handle); err != nil {
		return repo.User{}, err
	}
	u, err := a.store.GetUserByHandle(ctx, handle)
	if err == nil && !u.Bot || repo.IsCode(err, repo.CodeNotFound) {
		return repo.User{}, repo.Errorf(repo.CodeNotFound, "no bot %s", strconv.Quote(handle))
	}
	return u, err
}

// BotTokens lists bot's live tokens (devices), so each can be revoked.
//
// Codes: not_found (no such bot).
func (a *App) BotTokens(ctx context.Context, botID int64) ([]repo.Device, error) {
	if _, err := a.bot(ctx, botID); err != nil {
		return nil, err
	}
	return a.store.ListDevices(ctx, botID)
}

func (a *App) bot(ctx context.Context, id int64) (repo.User, error) {
	u, err := a.store.GetUser(ctx, id)
	if repo.IsCode(err, repo.CodeNotFound) || err == nil && (!u.Bot || u.Deleted()) {
		return repo.User{}, repo.Errorf(repo.CodeNotFound, "no bot %d", id)
	}
	return u, err
}

func (a *App) issue(ctx context.Context, u repo.User, scopes []string, name string) (BotToken, error) {
	token, hash, err := newToken()
	if err != nil {
		return BotToken{}, err
	}
	deviceID, err := a.newID()
	if err != nil {
		return BotToken{}, err
	}
	sess, err := a.store.CreateScopedSession(ctx, repo.Device{UserID: u.ID, ID: deviceID, Name: name}, hash, a.now(),
		repo.Grant{Life: a.cfg.BotTokenLife, Scopes: scopes})
	if err != nil {
		return BotToken{}, err
	}
	// A deletion of the bot that ran meanwhile may have ended its devices
	// before this one was written: it must not survive it.
	if again, err := a.store.GetUser(ctx, u.ID); err != nil || again.Deleted() {
		_ = a.endDevice(ctx, u.ID, sess.DeviceID, "account deleted")
		if err != nil {
			return BotToken{}, err
		}
		return BotToken{}, repo.Errorf(repo.CodeNotFound, "no bot %d", u.ID)
	}
	return BotToken{Token: token, Session: sess, User: u}, nil
}

// validScopes is scopes deduplicated and sorted: at least one, each known.
func validScopes(scopes []string) ([]string, error) {
	if len(scopes) == 0 {
		return nil, invalid("scopes: give at least one of %v", Scopes)
	}
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if !slices.Contains(Scopes, s) {
			return nil, invalid("scopes: %s is not one of %v", quoteShort(s), Scopes)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out, nil
}

func tokenName(name string) (string, error) {
	if name == "" {
		return "bot token", nil
	}
	return name, validateText("token_name", name, 1, 64)
}

// quoteShort quotes at most 40 bytes of s for an error message.
func quoteShort(s string) string {
	return strconv.Quote(s[:min(len(s), 40)])
}

// DefaultBotTokenLife is how long a bot's token lives unless revoked or
// configured otherwise.
const DefaultBotTokenLife = 365 * 24 * time.Hour
