package repo

import (
	"context"
	"time"

	"github.com/ringchat/ringchat/snowflake"
)

const (
	cqlClaimDirect    = `INSERT INTO direct_conversations (user_lo, user_hi, conv_id) VALUES (?, ?, ?) IF NOT EXISTS`
	cqlGetDirect      = `SELECT conv_id FROM direct_conversations WHERE user_lo = ? AND user_hi = ?`
	cqlInsertConv     = `INSERT INTO conversations (conv_id, kind, created_at, updated_at) VALUES (?, ?, ?, ?)`
	cqlSetConvCreator = `UPDATE conversations SET created_by = ? WHERE conv_id = ?`
	cqlGetConv        = `SELECT conv_id, kind, name, photo_media_id, announcement, created_by, created_at, updated_at, deleted, fanout, members_version FROM conversations WHERE conv_id = ?`
	cqlInsertMember   = `INSERT INTO members_by_conversation (conv_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)`
	cqlInsertUserConv = `INSERT INTO conversations_by_user (user_id, conv_id, kind, joined_at, peer_id) VALUES (?, ?, ?, ?, ?)`
	cqlGetMember      = `SELECT conv_id, user_id, role, joined_at FROM members_by_conversation WHERE conv_id = ? AND user_id = ?`
	cqlListMembers    = `SELECT conv_id, user_id, role, joined_at FROM members_by_conversation WHERE conv_id = ? LIMIT ?`
	cqlListUserConvs  = `SELECT user_id, conv_id, kind, joined_at, muted_until, pinned, archived, hide_previews, peer_id FROM conversations_by_user WHERE user_id = ? AND conv_id > ? LIMIT ?`
)

// MaxMembersRead bounds a member-list read; the group size bound is enforced
// below it by the api layer (default 1,000).
const MaxMembersRead = 5000

// DirectConversation returns the id of the direct conversation of users a
// and b, or CodeNotFound when they have none. One point read.
func (st *Store) DirectConversation(ctx context.Context, a, b int64) (int64, error) {
	lo, hi := min(a, b), max(a, b)
	var id int64
	err := st.rawQuery(ctx, cqlGetDirect, lo, hi).Scan(&id)
	return id, translate("get direct conversation", err)
}

// GetOrCreateDirect returns the one direct conversation of users a and b,
// creating it with id newID if there is none. created is true only for the
// caller whose claim won; concurrent callers all get the same conversation.
func (st *Store) GetOrCreateDirect(ctx context.Context, a, b, newID int64) (conv Conversation, created bool, err error) {
	lo, hi := a, b
	if lo > hi {
		lo, hi = hi, lo
	}
	row := map[string]any{}
	applied, err := st.lwt(ctx, acrossDCs, cqlClaimDirect, lo, hi, newID).MapScanCAS(row)
	if err != nil {
		return Conversation{}, false, translate("claim direct conversation", err)
	}
	id := newID
	if !applied {
		id = casInt64(row, "conv_id")
	}
	// Every caller (re)writes the rows with content derived from the id alone, so a
	// claimer that crashed before writing them is repaired by the next caller.
	created_at := snowflake.Time(id)
	if err := st.query(ctx, cqlInsertConv, id, KindDirect, created_at, created_at).ExecRelease(); err != nil {
		return Conversation{}, false, translate("insert conversation", err)
	}
	for _, pair := range [][2]int64{{lo, hi}, {hi, lo}} {
		u, peer := pair[0], pair[1]
		if err := st.query(ctx, cqlInsertMember, id, u, RoleMember, created_at).ExecRelease(); err != nil {
			return Conversation{}, false, translate("insert member", err)
		}
		if err := st.query(ctx, cqlInsertUserConv, u, id, KindDirect, created_at, peer).ExecRelease(); err != nil {
			return Conversation{}, false, translate("insert user conversation", err)
		}
		if err := st.JoinChatList(ctx, u, id, id); err != nil {
			return Conversation{}, false, err
		}
	}
	if applied {
		if err := st.query(ctx, cqlSetConvCreator, a, id).ExecRelease(); err != nil {
			return Conversation{}, false, translate("set conversation creator", err)
		}
	}
	conv, err = st.GetConversation(ctx, id)
	return conv, applied, err
}

// GetConversation returns a conversation or CodeNotFound.
func (st *Store) GetConversation(ctx context.Context, id int64) (Conversation, error) {
	var c Conversation
	if err := st.query(ctx, cqlGetConv, id).GetRelease(&c); err != nil {
		return Conversation{}, translate("get conversation", err)
	}
	if c.Deleted {
		return Conversation{}, Errorf(CodeNotFound, "conversation not found")
	}
	if c.Fanout == "" {
		c.Fanout = FanoutPush
	}
	return c, nil
}

// GetMember returns a membership or CodeNotFound.
func (st *Store) GetMember(ctx context.Context, convID, userID int64) (Member, error) {
	var m Member
	if err := st.query(ctx, cqlGetMember, convID, userID).GetRelease(&m); err != nil {
		return Member{}, translate("get member", err)
	}
	if !isMember(m) {
		return Member{}, Errorf(CodeNotFound, "not a member")
	}
	return m, nil
}

// isMember tells a membership from what a removal left of one. Only adding a
// member writes joined_at (with role), at the server's clock; a cell that can
// outlive the row's delete (a role change racing the removal, or before v0007
// a watermark with a client-chosen timestamp) leaves a row without it.
func isMember(m Member) bool { return !m.JoinedAt.IsZero() && m.Role != "" }

func realMembers(ms []Member) []Member {
	out := ms[:0]
	for _, m := range ms {
		if isMember(m) {
			out = append(out, m)
		}
	}
	return out
}

// ListMembers returns a conversation's members (empty for an unknown conversation).
func (st *Store) ListMembers(ctx context.Context, convID int64) ([]Member, error) {
	var ms []Member
	err := st.query(ctx, cqlListMembers, convID, MaxMembersRead).SelectRelease(&ms)
	return realMembers(ms), translate("list members", err)
}

// Authorize checks that userID may read and write convID: CodeNotFound when the
// conversation does not exist, CodePermissionDenied when the user is not a member.
func (st *Store) Authorize(ctx context.Context, convID, userID int64) (Member, error) {
	m, err := st.GetMember(ctx, convID, userID)
	if err == nil {
		return m, nil
	}
	if !IsCode(err, CodeNotFound) {
		return Member{}, err
	}
	if _, err := st.GetConversation(ctx, convID); err != nil {
		if IsCode(err, CodeNotFound) {
			return Member{}, Errorf(CodeNotFound, "conversation not found")
		}
		return Member{}, err
	}
	return Member{}, Errorf(CodePermissionDenied, "not a member of this conversation")
}

// ListUserConversations pages a user's conversations by id, after the given id.
func (st *Store) ListUserConversations(ctx context.Context, userID, after int64, limit int) ([]UserConversation, error) {
	var ucs []UserConversation
	err := st.query(ctx, cqlListUserConvs, userID, after, limit).SelectRelease(&ucs)
	return ucs, translate("list user conversations", err)
}

// convTime is when a conversation was created, from its Snowflake id.
func convTime(convID int64) time.Time { return snowflake.Time(convID) }
