package chat

import (
	"context"
	"slices"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// GroupInput is a group to create. MemberIDs may hold the creator and
// repeats (dropped); PhotoMediaID 0 is none.
type GroupInput struct {
	Name         string
	MemberIDs    []int64
	PhotoMediaID int64
	// ClientGroupID makes the create idempotent: a retry with the same key
	// returns the same group ("": none).
	ClientGroupID string
}

// CreateGroup makes a group of me (its owner) and the members, with push
// fan-out up to PushMaxMembers members and pull past it, and tells every
// member (member.added). created is false for a retry of a create with the
// same ClientGroupID, answered with the group as it is now.
//
// Codes: invalid_argument (name, client_group_id or member bounds, the
// photo not a ready group_photo of me); not_found (a member does not exist;
// the group a retried key made was deleted); permission_denied (a member
// blocks me); conflict (a member is in MaxPullGroups pull groups already);
// unavailable (the id lease is gone).
func (a *App) CreateGroup(ctx context.Context, me repo.Session, in GroupInput) (ConversationView, bool, error) {
	if err := validateText("name", in.Name, 1, 64); err != nil {
		return ConversationView{}, false, err
	}
	if in.ClientGroupID != "" && (len(in.ClientGroupID) > 64 || !utf8.ValidString(in.ClientGroupID)) {
		return ConversationView{}, false, invalid("client_group_id must be 1-64 bytes")
	}
	limit := a.cfg.Groups.MaxMembers
	if len(in.MemberIDs) > limit {
		return ConversationView{}, false, invalid("a group has at most %d members, creator included", limit)
	}
	var others []int64
	for _, id := range in.MemberIDs {
		if id != me.UserID && !slices.Contains(others, id) {
			others = append(others, id)
		}
	}
	if err := a.existingUsers(ctx, others); err != nil {
		return ConversationView{}, false, err
	}
	if len(others)+1 > limit {
		return ConversationView{}, false, invalid("a group has at most %d members, creator included", limit)
	}
	convID, err := a.newID()
	if err != nil {
		return ConversationView{}, false, err
	}
	claim := repo.GroupClaim{ConvID: convID, Won: true}
	if in.ClientGroupID != "" { // claimed before the checks: a retry answers with what its first attempt made
		if claim, err = a.store.ClaimGroupCreate(ctx, me.UserID, in.ClientGroupID, claim.ConvID); err != nil {
			return ConversationView{}, false, err
		}
		if claim.Done {
			v, err := a.Conversation(ctx, me, claim.ConvID)
			return v, false, err
		}
		if !claim.Won {
			if v, resumed, err := a.resumeGroupCreate(ctx, me, in.ClientGroupID, claim.ConvID); resumed || err != nil {
				return v, false, err
			}
		}
	}
	for _, other := range others {
		if err := a.blockedBy(ctx, other, me.UserID); err != nil {
			return ConversationView{}, false, err
		}
	}
	if err := a.checkOwnMedia(ctx, me.UserID, in.PhotoMediaID, "photo_media_id", repo.PurposeGroupPhoto); err != nil {
		return ConversationView{}, false, err
	}
	all := append([]int64{me.UserID}, others...)
	fanout := repo.FanoutPush
	if len(all) > a.cfg.Groups.PushMaxMembers {
		fanout = repo.FanoutPull
		if err := a.checkPullRoom(ctx, all); err != nil {
			return ConversationView{}, false, err
		}
	}
	// Every cell derives from the id and the request, and is written at the
	// id's time: a retry racing its first attempt writes the same rows, and
	// loses to any later change of them.
	conv := repo.Conversation{ID: claim.ConvID, Kind: repo.KindGroup, Name: in.Name, PhotoMediaID: in.PhotoMediaID,
		CreatedBy: me.UserID, CreatedAt: snowflake.Time(claim.ConvID), Fanout: fanout}
	view := ConversationView{Conversation: conv, MemberCount: len(all), Role: repo.RoleOwner}
	change, err := a.newChange(conv.ID, repo.EventMemberAdded, me.UserID, memberEvent(conv.ID, all, me.UserID, view.JSON()))
	if err != nil {
		return ConversationView{}, false, err
	}
	change.ID = conv.ID // one record however often the create is retried
	if err := a.store.CreateGroup(ctx, conv, me.UserID, others, fanout, change); err != nil {
		return ConversationView{}, false, err
	}
	if err := a.sendChange(ctx, *change, all); err != nil {
		return ConversationView{}, false, err
	}
	if in.ClientGroupID != "" {
		if err := a.store.FinishGroupCreate(ctx, me.UserID, in.ClientGroupID, conv.ID); err != nil {
			return ConversationView{}, false, err
		}
	}
	return view, claim.Won, nil
}

// resumeGroupCreate finishes a retried create whose first attempt wrote the
// group but did not finish: the group may have changed since (members left,
// ownership moved, deleted), so the retry rewrites nothing. It sends the
// member.added event if the first attempt did not, marks the key done and
// answers with the group as it is now (not_found once deleted). resumed is
// false when the first attempt never got to the group's row: create it then.
func (a *App) resumeGroupCreate(ctx context.Context, me repo.Session, key string, convID int64) (ConversationView, bool, error) {
	exists, deleted, err := a.store.GroupWritten(ctx, convID)
	if err != nil || !exists {
		return ConversationView{}, false, err
	}
	if !deleted {
		members, err := a.store.ListMembers(ctx, convID)
		if err != nil {
			return ConversationView{}, true, err
		}
		if _, err := a.repairChanges(ctx, convID, memberIDs(members)); err != nil {
			return ConversationView{}, true, err
		}
	}
	if err := a.store.FinishGroupCreate(ctx, me.UserID, key, convID); err != nil {
		return ConversationView{}, true, err
	}
	if deleted {
		return ConversationView{}, true, repo.Errorf(repo.CodeNotFound, "the group this client_group_id created was deleted")
	}
	v, err := a.Conversation(ctx, me, convID)
	return v, true, err
}

// checkPullRoom refuses to add users to one more pull-mode group past
// MaxPullGroups: each one costs their every sync a read (docs/chat.md). A group
// switching to pull checks every member, so no one passes the bound.
func (a *App) checkPullRoom(ctx context.Context, users []int64) error {
	limit := a.cfg.Groups.MaxPullGroups
	if limit <= 0 {
		return nil
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for _, u := range users {
		g.Go(func() error {
			n, err := a.store.PullGroupCount(gctx, u, limit)
			if err == nil && n >= limit {
				err = repo.Errorf(repo.CodeConflict, "user %d is already in %d large groups, the most allowed; they must leave one first", u, limit)
			}
			return err
		})
	}
	return g.Wait()
}

// checkOwnMedia accepts 0 (none) or a completed upload of owner's for
// purpose, named field in the answer.
func (a *App) checkOwnMedia(ctx context.Context, owner, id int64, field, purpose string) error {
	if id == 0 {
		return nil
	}
	m, err := a.store.GetMedia(ctx, id)
	if repo.IsCode(err, repo.CodeNotFound) || (err == nil && m.OwnerID != owner) {
		return invalid("%s %d is not your media", field, id)
	}
	if err != nil {
		return err
	}
	if m.Purpose != purpose || m.State != repo.MediaReady {
		return invalid("%s %d must be a completed upload with purpose %s", field, id, purpose)
	}
	return nil
}

func requireGroup(conv repo.Conversation) error {
	if conv.Kind != repo.KindGroup {
		return invalid("only groups have this operation")
	}
	return nil
}

func requireRole(me repo.Member, roles ...string) error {
	if !slices.Contains(roles, me.Role) {
		return repo.Errorf(repo.CodePermissionDenied, "your role (%s) may not do this", me.Role)
	}
	return nil
}
