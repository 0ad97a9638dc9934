package chat

import (
	"context"

	"github.com/ringchat/ringchat/repo"
)

// GroupUpdate is a change of a group's profile: nil fields stay as they are;
// a PhotoMediaID of 0 removes the photo.
type GroupUpdate struct {
	Name         *string
	Announcement *string
	PhotoMediaID *int64
}

// UpdateGroup changes a group's name, announcement or photo (owner or admin)
// and tells the members (conversation.updated).
//
// Codes: invalid_argument (not a group; a field's bounds; the photo not a
// ready group_photo of me); permission_denied (not a member, or a plain
// member); not_found (no conversation).
func (a *App) UpdateGroup(ctx context.Context, me repo.Session, convID int64, upd GroupUpdate) (ConversationView, error) {
	conv, members, member, err := a.membership(ctx, convID, me.UserID)
	if err != nil {
		return ConversationView{}, err
	}
	if err := requireGroup(conv); err != nil {
		return ConversationView{}, err
	}
	if err := requireRole(member, repo.RoleOwner, repo.RoleAdmin); err != nil {
		return ConversationView{}, err
	}
	var change repo.GroupUpdate
	if upd.Name != nil {
		if err := validateText("name", *upd.Name, 1, 64); err != nil {
			return ConversationView{}, err
		}
		change.Name, conv.Name = upd.Name, *upd.Name
	}
	if upd.Announcement != nil {
		if err := validateText("announcement", *upd.Announcement, 0, 1000); err != nil {
			return ConversationView{}, err
		}
		change.Announcement, conv.Announcement = upd.Announcement, *upd.Announcement
	}
	if upd.PhotoMediaID != nil {
		if err := a.checkOwnMedia(ctx, me.UserID, *upd.PhotoMediaID, "photo_media_id", repo.PurposeGroupPhoto); err != nil {
			return ConversationView{}, err
		}
		change.PhotoMediaID, conv.PhotoMediaID = upd.PhotoMediaID, *upd.PhotoMediaID
	}
	if err := a.store.UpdateGroup(ctx, conv.ID, change, a.now()); err != nil {
		return ConversationView{}, err
	}
	view := ConversationView{Conversation: conv, MemberCount: len(members), Role: member.Role}
	data := map[string]any{"conversation": view.JSON(), "by": IDString(me.UserID)}
	if err := a.emit(ctx, memberIDs(members), repo.EventConvUpdated, conv.ID, 0, data); err != nil {
		return ConversationView{}, err
	}
	return view, nil
}

// DeleteGroup deletes a group (its owner) and tells the members
// (conversation.updated with deleted true).
//
// Codes: invalid_argument (not a group); permission_denied (not a member,
// not the owner); not_found (no conversation).
func (a *App) DeleteGroup(ctx context.Context, me repo.Session, convID int64) error {
	conv, members, member, err := a.membership(ctx, convID, me.UserID)
	if err != nil {
		return err
	}
	if err := requireGroup(conv); err != nil {
		return err
	}
	if err := requireRole(member, repo.RoleOwner); err != nil {
		return err
	}
	if err := a.store.DeleteGroup(ctx, conv.ID, memberIDs(members), a.now()); err != nil {
		return err
	}
	data := map[string]any{"conversation": ConversationOut(conv, 0, ""), "deleted": true, "by": IDString(me.UserID)}
	return a.emit(ctx, memberIDs(members), repo.EventConvUpdated, conv.ID, 0, data)
}
