package api

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// sendRequest is the body of POST .../messages and of the message.send frame.
type sendRequest struct {
	ConversationID string   `json:"conversation_id"` // frames only; REST takes it from the path
	ClientMsgID    string   `json:"client_msg_id"`
	Body           string   `json:"body"`
	MediaIDs       []string `json:"media_ids"`
	ReplyTo        string   `json:"reply_to"`
}

// pullChatMoveEvery bounds how often one node moves a pull-mode group's rows
// in its members' chat lists; pullMoveSlots how many such moves one node runs
// at once (past it a move is skipped: the group's next message moves it).
const (
	pullChatMoveEvery = time.Second
	pullMoveMembers   = 100
	pullMoveSlots     = 4
	firstVersionSlots = 4 // writes of first members versions at once (keyedWork)
)

// pullMoveEvery is how often one node moves a pull-mode group of members
// members: pullChatMoveEvery per pullMoveMembers of them, so a group's moves
// cost a node at most about 2 × pullMoveMembers statements a second whatever
// its size (a 1,000-member group: every 10 s).
func pullMoveEvery(members int) time.Duration {
	return pullChatMoveEvery * time.Duration(max(1, members/pullMoveMembers))
}

// send stores a message and its inbox events, then pushes it to connected
// devices. It returns created=false for a retry of an earlier send (same
// client_msg_id), with the earlier message. A send over the node's bound
// waits for a slot while waitCtx lasts (the client is there), ctx bounding
// the work (sendgate.go).
//
// Acknowledged means durable: it returns success only after the message row
// and every member's inbox row are written at the configured consistency,
// within SendDeadline of the id's creation (docs/sync.md says why).
//
// rendered, if not nil, gets the returned message's JSON when the send
// rendered it (nil otherwise: a retry answered with a recalled message).
func (s *Server) send(waitCtx, ctx context.Context, sess repo.Session, convID int64, req sendRequest, rendered *[]byte) (repo.Message, bool, error) {
	if err := validateClientMsgID(req.ClientMsgID); err != nil {
		return repo.Message{}, false, err
	}
	if err := s.sendLimit.allow(sess.UserID, s.now()); err != nil {
		return repo.Message{}, false, err
	}
	if err := s.cfg.Limits.validateBody(req.Body, len(req.MediaIDs) > 0); err != nil {
		return repo.Message{}, false, err
	}
	var replyTo int64
	if req.ReplyTo != "" {
		id, err := parseID("reply_to", req.ReplyTo)
		if err != nil {
			return repo.Message{}, false, err
		}
		replyTo = id
	}
	return s.admitSend(waitCtx, ctx, func() (repo.Message, bool, error) {
		return s.storeSend(ctx, sess, convID, req, replyTo, rendered)
	})
}

// admitSend runs store once the gate admits it. The slot is given back even
// if store panics (the socket recovers a frame's panic and lives on), and
// only the ring's failure shrinks the bound: a send cut short by its own
// caller (a client that left, a socket closing) says nothing about the ring.
func (s *Server) admitSend(waitCtx, ctx context.Context, store func() (repo.Message, bool, error)) (msg repo.Message, created bool, err error) {
	leave, err := s.sendGate.enter(waitCtx, time.Now(), s.sendWaitBudget(ctx))
	if err != nil {
		return repo.Message{}, false, err
	}
	admitted := time.Now()
	defer func() {
		cancelled := errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled)
		leave(time.Since(admitted), !cancelled && repo.IsCode(err, repo.CodeUnavailable))
	}()
	return store()
}

// sendWaitBudget is how long a send may wait for a slot: what its request
// has left beyond SendDeadline, so the send still has all of it once admitted.
func (s *Server) sendWaitBudget(ctx context.Context) time.Duration {
	left := s.cfg.RequestTimeout
	if d, ok := ctx.Deadline(); ok {
		left = time.Until(d)
	}
	return left - s.cfg.SendDeadline
}

// storeSend is a validated, admitted send: audience and block checks, the
// idempotency claim (or, for a UUIDv7 client_msg_id, its derived id), the
// writes, and the push.
func (s *Server) storeSend(ctx context.Context, sess repo.Session, convID int64, req sendRequest, replyTo int64, rendered *[]byte) (repo.Message, bool, error) {
	conv, recipients, err := s.sendAudience(ctx, convID, sess.UserID)
	if err != nil {
		return repo.Message{}, false, err
	}
	var positions *[2]repo.DirectPosition
	if conv.Kind == repo.KindDirect {
		if positions, err = s.directPositions(ctx, convID, sess.UserID, recipients); err != nil {
			return repo.Message{}, false, err
		}
	}
	media, mediaIDs, err := s.attachMedia(ctx, sess.UserID, req.MediaIDs)
	if err != nil {
		return repo.Message{}, false, err
	}
	w := sendWrite{conv: conv, recipients: recipients, mediaIDs: mediaIDs, positions: positions, rendered: rendered,
		msg: repo.Message{ConvID: convID, SenderID: sess.UserID, ClientMsgID: req.ClientMsgID,
			Body: req.Body, Media: media, ReplyTo: replyTo}}
	if clientMs, ok := uuidV7Millis(req.ClientMsgID); ok && s.sendKey != nil {
		return s.storeDerived(ctx, w, clientMs)
	}
	return s.storeClaimed(ctx, w)
}

// storeClaimed makes a send idempotent with a lightweight transaction on
// send_dedupe: client_msg_ids that carry no time.
func (s *Server) storeClaimed(ctx context.Context, w sendWrite) (repo.Message, bool, error) {
	msgID, err := s.newID()
	if err != nil {
		return repo.Message{}, false, err
	}
	if s.cfg.DebugSendDelay > 0 {
		time.Sleep(s.cfg.DebugSendDelay)
	}
	w.deadline = snowflake.Time(msgID).Add(s.cfg.SendDeadline)
	sctx, cancel := context.WithDeadline(ctx, w.deadline)
	defer cancel()

	claim, err := s.store.ClaimSend(sctx, w.msg.SenderID, w.msg.ClientMsgID, w.conv.ID, msgID)
	if err != nil {
		return repo.Message{}, false, err
	}
	if claim.ConvID != w.conv.ID {
		return repo.Message{}, false, repo.Errorf(repo.CodeConflict, "client_msg_id was already used in another conversation")
	}
	w.msg.ID, w.eventID = claim.MsgID, claim.MsgID
	if !claim.Won {
		// A retry. The first attempt may have died half-way, so write again what may
		// be missing: the message row unless it is stored, and the inbox event under
		// a fresh id so a device whose sync cursor has passed the old id still gets
		// it. Devices that already had it drop the repeat by message id.
		if m, err := s.store.GetMessage(sctx, w.conv.ID, claim.MsgID); err == nil {
			w.msg, w.stored = m, true
		} else if !repo.IsCode(err, repo.CodeNotFound) {
			return repo.Message{}, false, err
		}
		if w.msg.Recalled {
			// Withdrawn: the retry gets the recalled message and writes nothing,
			// so no copy of the content comes back into anyone's inbox.
			return w.msg, false, nil
		}
		if w.eventID, err = s.newID(); err != nil {
			return repo.Message{}, false, err
		}
		w.deadline, w.behindCursors = snowflake.Time(w.eventID).Add(s.cfg.SendDeadline), true
	}
	msg, err := s.writeSend(ctx, w)
	return msg, claim.Won, err
}

// sendWrite is what one send attempt writes.
type sendWrite struct {
	conv       repo.Conversation
	recipients []int64
	msg        repo.Message
	mediaIDs   []int64
	eventID    int64
	// deadline: nothing is acknowledged unless every row is written by then.
	deadline time.Time
	// stored: the message row is already there (a retry): it is not rewritten.
	stored bool
	// behindCursors: the message id may be older than members' sync cursors
	// (a retry, or a late UUIDv7), so even a pull-mode group gets inbox rows.
	behindCursors bool
	// writeMicros: the message row's write timestamp (0: now).
	writeMicros int64
	// positions: a direct conversation's members' chat positions as the
	// send read them (repo/directsend.go); nil: moved by TouchChats.
	positions *[2]repo.DirectPosition
	// rendered, if not nil, gets the message's JSON (messageOut) when the
	// send returns the message it pushed, so the ack need not encode the
	// body again.
	rendered *[]byte
}

// writeSend writes a send's rows at once and, when all are written within
// the deadline, pushes it.
func (s *Server) writeSend(ctx context.Context, w sendWrite) (repo.Message, error) {
	sctx, cancel := context.WithDeadline(ctx, w.deadline)
	defer cancel()
	msg, convID, conv := w.msg, w.conv.ID, w.conv
	msg.CreatedAt = snowflake.Time(msg.ID)
	if !w.stored && msg.ReplyTo != 0 {
		// Checked only for a message not stored yet: a retry returns what was
		// accepted, even if its target was recalled since. A refusal leaves the
		// claim unused, so the same client_msg_id with a valid reply_to still works.
		if err := s.checkReplyTo(sctx, convID, msg.ReplyTo); err != nil {
			return repo.Message{}, err
		}
	}
	// Grant before the message exists, so no member ever sees media they cannot
	// fetch (a stored message's grants were written before it).
	for _, id := range w.mediaIDs {
		if w.stored {
			break
		}
		if err := s.store.GrantMedia(sctx, id, convID, msg.ID); err != nil {
			return repo.Message{}, err
		}
	}
	payload, err := json.Marshal(messageOut(msg))
	if err != nil {
		return repo.Message{}, err
	}
	// The push frame is assembled around the payload bytes; the event carries
	// them as a string only where a row stores them (a copy of 4 KB less a
	// send for a direct conversation's reference rows).
	ev := repo.Event{ID: w.eventID, Kind: repo.EventMessageNew, ConvID: convID, MsgID: msg.ID}
	// The message row, the chat-list cell and rows and payload inbox rows do not
	// depend on each other: written at once, the send waits for one round trip
	// instead of three (two for references, which wait for the message row).
	// Nothing is acknowledged unless all of them are written.
	g, gctx := errgroup.WithContext(sctx)
	// written is closed once the message row is acknowledged at the configured
	// consistency (at once for a stored one). A reference is appended only
	// after: a timed-out row write may still be applied later (a queued
	// mutation, a hint), and a reference to a row that lands after a device's
	// cursor passed it would be skipped by that device for good.
	written := make(chan struct{})
	put := func(err error) error {
		if err == nil {
			close(written)
		}
		return err
	}
	switch {
	case w.stored:
		// A stored row needs no repair, and rewriting its body could race a recall.
		close(written)
	case w.writeMicros != 0:
		g.Go(func() error { return put(s.store.PutMessageAt(gctx, msg, w.writeMicros)) })
	default:
		g.Go(func() error { return put(s.store.PutMessage(gctx, msg)) })
	}
	switch {
	case w.positions != nil:
		g.Go(func() error { return s.store.MoveDirect(gctx, convID, msg.ID, *w.positions) })
	default:
		g.Go(func() error { return s.store.TouchConversation(gctx, convID, msg.ID) })
		// A pull-mode group's move costs a read and a batch per member (up to the
		// group bound): one per pullMoveEvery per node, so a busy group's place
		// in its members' lists lags its newest message by less than that. It
		// runs beside the send, not in it: a 1,000-member move took a second,
		// which the one send in fifty that made it waited for (P99), and could
		// overrun the send deadline under load. The list is a view of the
		// timeline, written again by the next message's move.
		switch {
		case conv.Fanout != repo.FanoutPull:
			g.Go(func() error { return s.store.TouchChats(gctx, convID, w.recipients, msg.ID) })
		case s.chatMoves.allowEvery([2]int64{convID, 0}, time.Now(), pullMoveEvery(len(w.recipients))):
			// One move per group at a time: a move slower than its interval
			// (a loaded ring) is not joined by the next one.
			s.pullMoves.start(convID, "pull group's chat-list move failed; its next message moves it", func(ctx context.Context) error {
				return s.store.TouchChats(ctx, convID, w.recipients, msg.ID)
			})
		}
	}
	// Push mode: a row in every member's inbox. Pull mode (large groups): none;
	// members' sync reads the group's timeline instead (docs/fanout.md) -- except
	// when the message may sit at an id that cursors have passed.
	if conv.Fanout != repo.FanoutPull || w.behindCursors {
		row := ev
		// A reference (no payload) in a direct conversation: sync reads the
		// body from the message row (withdraw.go), so it is stored once, not
		// once more per member. Only for direct conversations, whose two
		// members never change: a reference renders the message as it is now,
		// and a removed group member must not read an edit made after their
		// removal (guarantee 4; an edit rewrites only current members' rows).
		if conv.Kind != repo.KindDirect || !s.cfg.InboxReferences {
			row.Payload = string(payload)
		}
		g.Go(func() error {
			if row.IsRef() {
				select {
				case <-written:
				case <-gctx.Done():
					// Never nil: the send must not be acknowledged without its rows.
					return repo.Errorf(repo.CodeUnavailable, "send not written, retry with the same client_msg_id")
				}
			}
			return s.store.AppendEvent(gctx, w.recipients, row)
		})
	}
	if err := g.Wait(); err != nil {
		return repo.Message{}, err
	}
	if s.cfg.DebugAckDelay > 0 {
		time.Sleep(s.cfg.DebugAckDelay)
	}
	if time.Now().After(w.deadline) {
		// Too late for the sync invariant: do not acknowledge; the retry re-appends with a fresh id.
		return repo.Message{}, repo.Errorf(repo.CodeUnavailable, "send took too long, retry with the same client_msg_id")
	}
	if w.stored {
		// A recall may have landed while this retry wrote its copy: sync withdraws
		// that copy (completeEvents), and the push must not carry it either.
		if now, err := s.store.GetMessage(sctx, convID, msg.ID); err != nil || now.Recalled {
			return now, err
		}
	}
	s.hub.DeliverSent(w.recipients, appendPush(ev, payload), snowflake.Time(ev.ID))
	s.metrics.Fanout(len(w.recipients))
	if w.rendered != nil {
		*w.rendered = payload
	}
	return msg, nil
}

// checkReplyTo fails with invalid_argument unless replyTo is a message of the
// conversation that is not recalled (an id of another conversation is simply
// not found here: the key includes the conversation).
func (s *Server) checkReplyTo(ctx context.Context, convID, replyTo int64) error {
	target, err := s.store.GetMessage(ctx, convID, replyTo)
	switch {
	case repo.IsCode(err, repo.CodeNotFound):
		return invalid("reply_to: message %d is not in this conversation", replyTo)
	case err != nil:
		return err
	case target.Recalled:
		return invalid("reply_to: message %d was recalled", replyTo)
	}
	return nil
}

// sendAudience returns the conversation (its kind and fan-out mode matter
// here) and every member's id, and fails unless sender is a member. Direct
// conversations come from the node's cache after their first send.
func (s *Server) sendAudience(ctx context.Context, convID, sender int64) (repo.Conversation, []int64, error) {
	if ids, ok := s.direct.get(convID); ok {
		if ids[0] != sender && ids[1] != sender {
			return repo.Conversation{}, nil, repo.Errorf(repo.CodePermissionDenied, "not a member of this conversation")
		}
		return repo.Conversation{ID: convID, Kind: repo.KindDirect, Fanout: repo.FanoutPush}, ids[:], nil
	}
	// The row first, then the members: a list is cached under the members
	// version seen before it was read (groupMembers), never after.
	conv, err := s.store.GetConversation(ctx, convID)
	if repo.IsCode(err, repo.CodeNotFound) {
		err = repo.Errorf(repo.CodeNotFound, "conversation not found")
	}
	if err != nil {
		return repo.Conversation{}, nil, err
	}
	ids, cached := s.groups.get(convID, conv.MembersVersion)
	if !cached {
		members, err := s.store.ListMembers(ctx, convID)
		if err != nil {
			return repo.Conversation{}, nil, err
		}
		s.direct.remember(conv, members)
		ids = memberIDs(members)
		switch {
		case conv.Kind != repo.KindGroup:
		case conv.MembersVersion == 0:
			// A group made before v0015: its first version, written in the
			// background, makes its list cacheable without a membership
			// change. A bump is always safe: it only retires lists read before it.
			if s.cfg.GroupCache > 0 {
				s.firstVersions.start(convID, "first members version not written; the group's list is read per send until a later one is", func(ctx context.Context) error {
					return s.store.BumpMembers(ctx, convID)
				})
			}
		default:
			s.groups.remember(convID, conv.MembersVersion, ids)
		}
	}
	if !slices.Contains(ids, sender) {
		return repo.Conversation{}, nil, repo.Errorf(repo.CodePermissionDenied, "not a member of this conversation")
	}
	return conv, ids, nil
}

// conversationAndMembers reads a conversation's row and member list at once.
func (s *Server) conversationAndMembers(ctx context.Context, convID int64) (repo.Conversation, []repo.Member, error) {
	var conv repo.Conversation
	var members []repo.Member
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		conv, err = s.store.GetConversation(gctx, convID)
		if repo.IsCode(err, repo.CodeNotFound) {
			err = repo.Errorf(repo.CodeNotFound, "conversation not found")
		}
		return err
	})
	g.Go(func() (err error) {
		members, err = s.store.ListMembers(gctx, convID)
		return err
	})
	return conv, members, g.Wait()
}

// membership reads a conversation and its members at once and finds userID
// among them: not_found for no such conversation, permission_denied for a
// non-member.
func (s *Server) membership(ctx context.Context, convID, userID int64) (repo.Conversation, []repo.Member, repo.Member, error) {
	conv, members, err := s.conversationAndMembers(ctx, convID)
	if err != nil {
		return repo.Conversation{}, nil, repo.Member{}, err
	}
	me, ok := findMember(members, userID)
	if !ok {
		return repo.Conversation{}, nil, repo.Member{}, repo.Errorf(repo.CodePermissionDenied, "not a member of this conversation")
	}
	return conv, members, me, nil
}
