package chat

import (
	"context"
	"strconv"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// Account deletion (docs/accounts.md). The request checks the password,
// records the deletion, marks the account (no login matches it from then
// on) and ends every session and socket before it is answered; the rest runs
// in the background and, if the node dies, on whichever node's sweep finds
// the record. Every step is idempotent, so running it again, or twice at
// once, is safe.

// DeletionConfig tunes account deletion; zero values take the defaults.
// (How long the handle is held is the store's: repo.Retention.HandleHold.)
type DeletionConfig struct {
	// Sweep is how often a node looks for deletions left unfinished
	// (default 30 s); one recorded less than four sweeps ago is left to its
	// own request.
	Sweep time.Duration
	// SessionEndBound is the nodes' --session-end-bound: a socket whose
	// close order was lost acts for at most this long (default
	// repo.DefaultSessionEndBound).
	SessionEndBound time.Duration
	// DebugStepDelay pauses before each conversation left. Testing only:
	// it holds a deletion half-way, for a node to be killed there.
	DebugStepDelay time.Duration
}

func (c *DeletionConfig) defaults() {
	if c.Sweep <= 0 {
		c.Sweep = 30 * time.Second
	}
	if c.SessionEndBound <= 0 {
		c.SessionEndBound = repo.DefaultSessionEndBound
	}
}

// quiet is how long after the mark every request and socket that found the
// account live has written all it will: a request's timeout, a socket's
// session-end bound, and the skew between two nodes' clocks.
func (a *App) quiet() time.Duration { return quietTime(a.cfg) }

// quietTime is quiet for cfg (a run's bound adds it to deletionTime).
func quietTime(cfg Config) time.Duration {
	return cfg.RequestTimeout + cfg.Deletion.SessionEndBound + 2*repo.ClockSkew
}

// deletionSlots bounds deletions worked at once on one node; deletionTime
// bounds one run (a later sweep resumes a longer one).
const (
	deletionSlots = 2
	deletionTime  = 10 * time.Minute
	deletionPage  = 200
)

// DeleteAccount deletes the caller's account after re-checking its
// password (as a password change does: rate-limited, hashed in the pool).
//
// Codes: invalid_argument (no password); permission_denied (wrong
// password, or a bot: the admin API deletes bots); rate_limited; unavailable.
func (a *App) DeleteAccount(ctx context.Context, me repo.Session, password string) error {
	if password == "" {
		return invalid("password is required")
	}
	u, err := a.store.GetUser(ctx, me.UserID)
	if err != nil {
		return err
	}
	if u.Bot {
		return repo.Errorf(repo.CodePermissionDenied, "a bot is deleted through the admin API")
	}
	// A retry of a deletion whose answer was lost, or that failed after
	// the mark, has no password left to check (its hash is empty).
	if !u.Deleted() {
		if err := a.checkOwnPassword(ctx, u, password); err != nil {
			return err
		}
	}
	return a.startDeletion(ctx, u)
}

// DeleteBot deletes a bot account (the admin API); not_found for a
// person's account or none.
func (a *App) DeleteBot(ctx context.Context, botID int64) error {
	u, err := a.store.GetUser(ctx, botID)
	if repo.IsCode(err, repo.CodeNotFound) || err == nil && !u.Bot {
		return repo.Errorf(repo.CodeNotFound, "no bot %d", botID)
	}
	if err != nil {
		return err
	}
	return a.startDeletion(ctx, u)
}

// startDeletion records the deletion, then does what must be done before
// the answer: the account marked (unless a first attempt did), its sessions
// and sockets ended. A retry does the same again, and starts the run or
// leaves it to the one running.
func (a *App) startDeletion(ctx context.Context, u repo.User) error {
	now := a.now()
	if err := a.store.StartDeletion(ctx, u.ID, now); err != nil {
		return err
	}
	if !u.Deleted() {
		if err := a.store.MarkUserDeleted(ctx, u.ID, now); err != nil {
			return err
		}
	}
	if err := a.endDevices(ctx, u.ID, 0, "account deleted"); err != nil {
		return err
	}
	a.runDeletion(u.ID, "account deletion")
	return nil
}

// runDeletion starts finishDeletion in the background, unless it runs on
// this node already or every slot is taken (a sweep starts it later).
func (a *App) runDeletion(userID int64, what string) {
	a.deletions.start(userID, what, func(ctx context.Context) error { return a.finishDeletion(ctx, userID) })
}

// RunDeletionSweeps sweeps every DeletionConfig.Sweep until ctx ends.
func (a *App) RunDeletionSweeps(ctx context.Context) {
	t := time.NewTicker(a.cfg.Deletion.Sweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := a.SweepDeletions(ctx); err != nil {
				a.log.Warn("sweep account deletions", "err", err)
			}
		}
	}
}

// SweepDeletions finishes deletions that were left unfinished (their node
// died, or their run failed); chatd runs it every DeletionConfig.Sweep.
func (a *App) SweepDeletions(ctx context.Context) error {
	pending, err := a.store.PendingDeletions(ctx, deletionPage, 10)
	if err != nil {
		return err
	}
	for _, p := range pending {
		// A live run writes the time before each step; it waits out the
		// quiet period (finishDeletion) once, without writing.
		if a.now().Sub(p.StartedAt) < 4*a.cfg.Deletion.Sweep+a.quiet()+2*repo.ClockSkew {
			continue
		}
		a.runDeletion(p.UserID, "account deletion (resumed)")
	}
	return nil
}

// finishDeletion does every step of a recorded deletion, then forgets it.
func (a *App) finishDeletion(ctx context.Context, userID int64) error {
	u, err := a.store.GetUser(ctx, userID)
	if repo.IsCode(err, repo.CodeNotFound) {
		return a.store.FinishDeletion(ctx, userID)
	}
	if err != nil {
		return err
	}
	if !u.Deleted() {
		u.DeletedAt = a.now()
		if err := a.store.MarkUserDeleted(ctx, userID, u.DeletedAt); err != nil {
			return err
		}
	}
	// Quiet first: a request that found the account live before the mark
	// (a group add, a new DM, a contact request, a login, a bot token, a
	// profile change) has written all it will once its request timeout has
	// passed; the steps then undo it too.
	if err := sleep(ctx, time.Until(u.DeletedAt.Add(a.quiet()))); err != nil {
		return err
	}
	// The profile first: a step failing for good (the media store refusing)
	// must not keep the name, phone and avatar.
	if err := a.store.ClearProfile(ctx, userID); err != nil {
		return err
	}
	me := repo.Session{UserID: userID}
	dropMedia := func(ctx context.Context, me repo.Session) error { return a.dropMedia(ctx, me, u.CreatedAt) }
	steps := []func(context.Context, repo.Session) error{a.endAllDevices, a.dropContacts, a.leaveConversations, dropMedia}
	for _, step := range steps {
		if err := a.touchDeletion(ctx, userID); err != nil {
			return err
		}
		if err := step(ctx, me); err != nil {
			return err
		}
	}
	// The handle stays claimed by the account, which a registration takes
	// over once repo.Retention.HandleHold has passed since the deletion.
	a.log.Info("account deleted", "user", userID)
	return a.store.FinishDeletion(ctx, userID)
}

// touchDeletion writes the record's time again: sweeps leave a deletion
// that moves to its run, and take one over four sweeps after it stopped.
func (a *App) touchDeletion(ctx context.Context, userID int64) error {
	return a.store.StartDeletion(ctx, userID, a.now())
}

// endAllDevices ends every device again: one made by a login or a bot
// token racing the mark.
func (a *App) endAllDevices(ctx context.Context, me repo.Session) error {
	return a.endDevices(ctx, me.UserID, 0, "account deleted")
}

// dropContacts ends every contact and request of the account.
func (a *App) dropContacts(ctx context.Context, me repo.Session) error {
	after := int64(0)
	for {
		page, err := a.store.ListContacts(ctx, me.UserID, after, deletionPage)
		if err != nil {
			return err
		}
		for _, c := range page {
			after = c.ContactID
			if _, err := a.store.ChangeContact(ctx, me.UserID, c.ContactID, repo.ContactRemove, a.now()); err != nil {
				return err
			}
		}
		if len(page) < deletionPage {
			return nil
		}
	}
}

// leaveConversations leaves every group (as leaving does: an heir for an
// owner, the group deleted with its last member) and blocks the other
// member of every direct conversation, whose sends to the account are then
// refused; the conversation stays theirs to read.
func (a *App) leaveConversations(ctx context.Context, me repo.Session) error {
	after := int64(0)
	for {
		page, err := a.store.ListUserConversations(ctx, me.UserID, after, deletionPage)
		if err != nil {
			return err
		}
		if err := a.touchDeletion(ctx, me.UserID); err != nil {
			return err
		}
		for _, uc := range page {
			after = uc.ConvID
			if err := sleep(ctx, a.cfg.Deletion.DebugStepDelay); err != nil {
				return err
			}
			switch {
			case uc.Kind == repo.KindDirect:
				err = a.closeDirect(ctx, me, uc)
			case uc.Kind == repo.KindGroup:
				err = a.RemoveMember(ctx, me, uc.ConvID, me.UserID)
			}
			if repo.IsCode(err, repo.CodeNotFound) || repo.IsCode(err, repo.CodePermissionDenied) {
				err = nil // gone already, or left by an earlier run
			}
			if err != nil {
				return err
			}
		}
		if len(page) < deletionPage {
			return nil
		}
	}
}

// closeDirect blocks the other member of a direct conversation (its row
// names them since v0003; an older one is read from the members).
func (a *App) closeDirect(ctx context.Context, me repo.Session, uc repo.UserConversation) error {
	peer := uc.PeerID
	if peer == 0 {
		members, err := a.store.ListMembers(ctx, uc.ConvID)
		if err != nil {
			return err
		}
		for _, m := range members {
			if m.UserID != me.UserID {
				peer = m.UserID
			}
		}
	}
	if peer == 0 || peer == me.UserID {
		return nil // a conversation with oneself
	}
	return a.Block(ctx, me, peer)
}

// dropMedia deletes the account's uploads since it was made: the objects, then their rows.
func (a *App) dropMedia(ctx context.Context, me repo.Session, since time.Time) error {
	for _, bucket := range repo.MediaBuckets(since, a.now()) {
		after := int64(0)
		for {
			ids, err := a.store.OwnerMedia(ctx, me.UserID, bucket, after, deletionPage)
			if err != nil {
				return err
			}
			if err := a.touchDeletion(ctx, me.UserID); err != nil {
				return err
			}
			for _, id := range ids {
				after = id
				if err := a.dropOneMedia(ctx, me.UserID, id); err != nil {
					return err
				}
			}
			if len(ids) < deletionPage {
				break
			}
		}
	}
	return nil
}

func (a *App) dropOneMedia(ctx context.Context, owner, id int64) error {
	m, err := a.store.GetMedia(ctx, id)
	if err != nil && !repo.IsCode(err, repo.CodeNotFound) {
		return err
	}
	if err == nil && m.Purpose == repo.PurposeGroupPhoto {
		return nil // the photo of a group others still use: it stays with the group
	}
	if err == nil && m.OwnerID == owner {
		switch {
		case a.objects == nil:
			// No media store on this node: the rows go, the object's key is
			// logged for the operator, and the deletion is not held up.
			a.log.Warn("deleted account's object left in the media store (no store configured)", "user", owner, "key", m.ObjectKey)
		default:
			if err := a.objects.Delete(ctx, m.ObjectKey); err != nil {
				return err
			}
		}
	}
	return a.store.DeleteMedia(ctx, owner, id)
}

// checkOwnPassword verifies a signed-in user's password, as a password
// change does: bounded per account, hashed in the pool.
func (a *App) checkOwnPassword(ctx context.Context, u repo.User, password string) error {
	now := a.now()
	key := "password|" + strconv.FormatInt(u.ID, 10)
	if !a.authLimit.byHandle.take(key, now) {
		return rateLimited("password check")
	}
	var ok bool
	if busy := a.hashes.do(func() { ok = verifyPassword(password, u.PasswordHash) }); busy != nil {
		a.authLimit.byHandle.refund(key, now)
		return busy
	}
	if !ok {
		return repo.Errorf(repo.CodePermissionDenied, "wrong password")
	}
	a.authLimit.byHandle.refund(key, now)
	return nil
}

// sleep waits d (nothing when d <= 0), or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
