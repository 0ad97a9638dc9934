// Package presence answers who is online and tells people when that changes.
//
// Online means: some socket of the user is open on a live chatd node, i.e. the
// user has a route hint (routes_by_user, a TTL table) pointing at a node whose
// row in the nodes table is alive. A node that dies stops counting within its
// node TTL. Last seen is written, without TTL, when a user's last socket closes.
package presence

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// Status is one user's presence.
type Status struct {
	UserID   int64
	Online   bool
	LastSeen time.Time // zero: never seen, or online now
}

// Liveness tells whether users have a socket on a live node (delivery).
type Liveness interface {
	Online(ctx context.Context, userIDs []int64) (map[int64]bool, error)
}

// Pusher pushes an event to users' connected devices, on any node
// (delivery.Node.Push; chat.Delivery has the same method).
type Pusher interface {
	Push(userIDs []int64, kind string, eventID int64, data []byte, sentAt time.Time) int
}

// Service is presence for one chatd node.
type Service struct {
	store *repo.Store
	live  Liveness
	out   Pusher
	log   *slog.Logger
}

// New builds the service; SetOutputs wires what it needs from the cluster.
func New(store *repo.Store, log *slog.Logger) *Service {
	return &Service{store: store, log: log}
}

// SetOutputs connects liveness and delivery (they are built after the service).
func (s *Service) SetOutputs(live Liveness, out Pusher) { s.live, s.out = live, out }

// MaxQuery bounds one presence query.
const MaxQuery = 100

// Query returns the presence of each user, in the order asked.
func (s *Service) Query(ctx context.Context, userIDs []int64) ([]Status, error) {
	online, err := s.live.Online(ctx, userIDs)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(userIDs))
	for _, uid := range userIDs {
		st := Status{UserID: uid, Online: online[uid]}
		if !st.Online {
			if st.LastSeen, err = s.store.LastSeen(ctx, uid); err != nil {
				return nil, err
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// maxAudience bounds how many partners one presence change is pushed to.
const maxAudience = 1000

// Changed pushes a presence event to the user's direct-conversation partners
// (who receive it only where they are connected). Called by the cluster on a
// cluster-wide online/offline transition.
func (s *Service) Changed(userID int64, online bool, lastSeen time.Time) {
	if s.out == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	audience, err := s.audience(ctx, userID)
	if err != nil {
		s.log.Warn("presence audience", "user", userID, "err", err)
		return
	}
	if len(audience) == 0 {
		return
	}
	data, _ := json.Marshal(ToJSON(Status{UserID: userID, Online: online, LastSeen: lastSeen}))
	s.out.Push(audience, "presence", 0, data, time.Time{})
}

// The rule (docs/chat.md "Presence"), the same for GET /v1/presence and for
// presence events: a user's presence and last-seen are visible to themselves,
// to their accepted contacts and to their direct-conversation partners (a
// direct conversation exists between the two), never to anyone they block.
// Sharing a group is not enough: a group of up to 1,000 strangers would make
// presence public, and checking it would read group member lists.

// Visible applies the rule to one viewer and subject: at most three point
// reads (block, contact, direct conversation).
func (s *Service) Visible(ctx context.Context, viewer, subject int64) (bool, error) {
	if viewer == subject {
		return true, nil
	}
	if blocked, err := s.store.Blocks(ctx, subject, viewer); err != nil || blocked {
		return false, err
	}
	c, err := s.store.GetContact(ctx, subject, viewer)
	if err == nil && c.State == repo.ContactAccepted {
		return true, nil
	}
	if err != nil && !repo.IsCode(err, repo.CodeNotFound) {
		return false, err
	}
	if _, err := s.store.DirectConversation(ctx, viewer, subject); repo.IsCode(err, repo.CodeNotFound) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	return true, nil
}

// audience is who sees userID's presence change, by the rule above: accepted
// contacts and direct-conversation partners, never anyone userID blocks. Each
// list is read up to maxAudience rows (a user past that many is told through
// GET /v1/presence only).
func (s *Service) audience(ctx context.Context, userID int64) ([]int64, error) {
	convs, err := s.store.ListUserConversations(ctx, userID, 0, maxAudience)
	if err != nil {
		return nil, err
	}
	contacts, err := s.store.ListContacts(ctx, userID, 0, maxAudience)
	if err != nil {
		return nil, err
	}
	blocked, err := s.store.ListBlocks(ctx, userID, 0, maxAudience)
	if err != nil {
		return nil, err
	}
	seen := map[int64]bool{}
	for _, id := range blocked {
		seen[id] = true // never told
	}
	var ids []int64
	add := func(id int64) {
		if id != 0 && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, c := range convs {
		if c.Kind == repo.KindDirect {
			add(c.PeerID)
		}
	}
	for _, c := range contacts {
		if c.State == repo.ContactAccepted {
			add(c.ContactID)
		}
	}
	return ids, nil
}

// JSON is a Status as the API and events render it.
type JSON struct {
	UserID   string     `json:"user_id"`
	Online   bool       `json:"online"`
	LastSeen *time.Time `json:"last_seen"`
}

// ToJSON renders a status.
func ToJSON(st Status) JSON {
	j := JSON{UserID: strconv.FormatInt(st.UserID, 10), Online: st.Online}
	if !st.LastSeen.IsZero() {
		t := st.LastSeen.UTC()
		j.LastSeen = &t
	}
	return j
}
