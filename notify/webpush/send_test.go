package webpush_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ringchat/ringchat/notify"
	"github.com/ringchat/ringchat/notify/webpush"
	"github.com/ringchat/ringchat/notify/webpush/webpushtest"
)

func TestSendDelivers(t *testing.T) {
	srv := webpushtest.New(t)
	s := newSender(t, srv, nil)
	sub := srv.NewSubscription()
	n := notice()
	if err := s.Send(t.Context(), sub.Target(), n); err != nil {
		t.Fatalf("Send: %v (rejections %+v)", err, srv.Rejections())
	}
	p := onlyPush(t, srv)
	want := webpush.Payload{
		Title: n.Title, Body: n.Body, ConversationID: n.ConversationID, MessageID: n.MessageID,
		Count: n.Count, Badge: n.Badge, Event: n.Event, ID: n.ID,
	}
	if got := decodePayload(t, p.Plaintext); got != want {
		t.Errorf("decrypted payload\n got %+v\nwant %+v", got, want)
	}
	for _, key := range []string{"title", "body", "conversation_id", "message_id", "count", "badge", "event", "id"} {
		if !strings.Contains(string(p.Plaintext), `"`+key+`":`) {
			t.Errorf("plaintext %s lacks %q", p.Plaintext, key)
		}
	}
	if p.SubscriptionID != sub.ID || p.TTL != 300 || p.Urgency != "high" {
		t.Errorf("push headers: sub %q TTL %d Urgency %q, want %q 300 high", p.SubscriptionID, p.TTL, p.Urgency, sub.ID)
	}
	if p.Subject != subject || p.VAPIDKey != s.PublicKey() {
		t.Errorf("VAPID sub %q k %q, want %q %q", p.Subject, p.VAPIDKey, subject, s.PublicKey())
	}
	if s.Kind() != notify.KindWebPush {
		t.Errorf("Kind = %q", s.Kind())
	}
}

func TestSendHeadersFromConfig(t *testing.T) {
	srv := webpushtest.New(t)
	s := newSender(t, srv, func(c *webpush.Config) {
		c.Urgency = "low"
		c.DefaultTTL = 90 * time.Second
		c.Subject = "https://ringchat.test/ops"
	})
	sub := srv.NewSubscription()
	n := notice()
	n.TTL = 0
	if err := s.Send(t.Context(), sub.Target(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	n.TTL = 1500 * time.Millisecond // rounds up, never to 0
	if err := s.Send(t.Context(), sub.Target(), n); err != nil {
		t.Fatalf("Send: %v", err)
	}
	pushes := srv.Pushes()
	if len(pushes) != 2 || pushes[0].TTL != 90 || pushes[1].TTL != 2 || pushes[0].Urgency != "low" {
		t.Fatalf("pushes %+v: want TTL 90 then 2, Urgency low", pushes)
	}
	if pushes[0].Subject != "https://ringchat.test/ops" {
		t.Errorf("sub = %q", pushes[0].Subject)
	}
}

var topicRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

func TestTopicStablePerCollapseKey(t *testing.T) {
	srv := webpushtest.New(t)
	s := newSender(t, srv, nil)
	sub := srv.NewSubscription()
	send := func(collapse, id string) string {
		t.Helper()
		n := notice()
		n.CollapseKey, n.ID = collapse, id
		before := len(srv.Pushes())
		if err := s.Send(t.Context(), sub.Target(), n); err != nil {
			t.Fatalf("Send: %v", err)
		}
		p := srv.Pushes()[before]
		if !topicRE.MatchString(p.Topic) {
			t.Fatalf("Topic %q is not 1-32 base64url characters", p.Topic)
		}
		return p.Topic
	}
	long := strings.Repeat("conversation:", 20) // longer than a topic may be
	a1, a2 := send("conv:a", "n-1"), send("conv:a", "n-2")
	b := send("conv:b", "n-1")
	l := send(long, "n-3")
	if a1 != a2 {
		t.Errorf("same collapse key, topics %q and %q", a1, a2)
	}
	if a1 == b || a1 == l {
		t.Errorf("different collapse keys share topic %q", a1)
	}
	if byID1, byID2 := send("", "n-9"), send("", "n-9"); byID1 != byID2 {
		t.Errorf("no collapse key: topic not stable per ID: %q %q", byID1, byID2)
	}
}

func TestLongBodyShortened(t *testing.T) {
	srv := webpushtest.New(t)
	s := newSender(t, srv, nil)
	sub := srv.NewSubscription()
	n := notice()
	// Multi-byte runes and characters JSON escapes, so a byte cut would split them.
	n.Body = strings.Repeat("héllo wörld 😀 \"quoted\"\n", 400)
	if err := s.Send(t.Context(), sub.Target(), n); err != nil {
		t.Fatalf("Send: %v (rejections %+v)", err, srv.Rejections())
	}
	p := onlyPush(t, srv)
	if len(p.Plaintext) > webpush.MaxPayload {
		t.Fatalf("plaintext %d bytes, limit %d", len(p.Plaintext), webpush.MaxPayload)
	}
	if !utf8.Valid(p.Plaintext) {
		t.Fatal("plaintext is not valid UTF-8")
	}
	got := decodePayload(t, p.Plaintext)
	kept, ok := strings.CutSuffix(got.Body, "…")
	if !ok || !strings.HasPrefix(n.Body, kept) || len(kept) < 3000 {
		t.Fatalf("body not a long prefix plus ellipsis: %d bytes, ends %q", len(got.Body), got.Body[max(0, len(got.Body)-20):])
	}
	if got.Title != n.Title || got.MessageID != n.MessageID {
		t.Errorf("other fields changed: %+v", got)
	}
	// The cut is the longest that fits: one more rune would not.
	next := n.Body[len(kept):]
	r, size := utf8.DecodeRuneInString(next)
	if r != ' ' && r != '\n' && len(p.Plaintext)+size+jsonExtra(r) <= webpush.MaxPayload {
		t.Errorf("cut at %d leaves room for %q", len(kept), r)
	}
}

// jsonExtra is what JSON escaping adds to r.
func jsonExtra(r rune) int {
	switch r {
	case '"', '\\', '\n':
		return 1
	}
	return 0
}

// TestPayloadLimitExact pins MaxPayload to what webpush-go can encrypt into
// 4096 bytes: a payload of exactly MaxPayload bytes goes out whole.
func TestPayloadLimitExact(t *testing.T) {
	srv := webpushtest.New(t)
	s := newSender(t, srv, nil)
	sub := srv.NewSubscription()
	n := notice()
	n.Body = ""
	empty := len(fmt.Sprintf(`{"title":%q,"body":"","conversation_id":%q,"message_id":%q,"count":%d,"badge":%d,"event":%q,"id":%q}`,
		n.Title, n.ConversationID, n.MessageID, n.Count, n.Badge, n.Event, n.ID))
	for _, extra := range []int{0, 1} {
		n.Body = strings.Repeat("x", webpush.MaxPayload-empty+extra)
		if err := s.Send(t.Context(), sub.Target(), n); err != nil {
			t.Fatalf("Send with %d extra: %v (rejections %+v)", extra, err, srv.Rejections())
		}
		pushes := srv.Pushes()
		p := pushes[len(pushes)-1]
		body := decodePayload(t, p.Plaintext).Body
		switch {
		case extra == 0 && (len(p.Plaintext) != webpush.MaxPayload || body != n.Body):
			t.Errorf("exactly MaxPayload: sent %d bytes, body shortened=%v", len(p.Plaintext), body != n.Body)
		case extra == 1 && !strings.HasSuffix(body, "…"):
			t.Errorf("one byte over: body not shortened (%d bytes)", len(p.Plaintext))
		}
	}
}

func TestSendConcurrent(t *testing.T) {
	srv := webpushtest.New(t)
	s := newSender(t, srv, nil)
	subs := []webpushtest.Subscription{srv.NewSubscription(), srv.NewSubscription(), srv.NewSubscription()}
	const workers, each = 8, 5
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				n := notice()
				n.ID = fmt.Sprintf("n-%d-%d", w, i)
				if err := s.Send(t.Context(), subs[(w+i)%len(subs)].Target(), n); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	pushes, err := srv.WaitPushes(t.Context(), workers*each)
	if err != nil || len(pushes) != workers*each {
		t.Fatalf("%d pushes (%v), want %d", len(pushes), err, workers*each)
	}
	seen := map[string]bool{}
	for _, p := range pushes {
		seen[decodePayload(t, p.Plaintext).ID] = true
	}
	if len(seen) != workers*each {
		t.Errorf("%d distinct notices decrypted, want %d", len(seen), workers*each)
	}
}

// TestWaitPushes: a test of an asynchronous sender waits on the server
// rather than sleeping.
func TestWaitPushes(t *testing.T) {
	srv := webpushtest.New(t)
	s := newSender(t, srv, nil)
	sub := srv.NewSubscription()
	done := make(chan error, 1)
	go func() { done <- s.Send(t.Context(), sub.Target(), notice()) }()
	pushes, err := srv.WaitPushes(t.Context(), 1)
	if err != nil || len(pushes) != 1 {
		t.Fatalf("WaitPushes: %d pushes, %v", len(pushes), err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if pushes, err := srv.WaitPushes(ctx, 2); !errors.Is(err, context.DeadlineExceeded) || len(pushes) != 1 {
		t.Fatalf("WaitPushes(2) = %d pushes, %v; want 1 and the deadline", len(pushes), err)
	}
}

func TestOversizedNotice(t *testing.T) {
	srv := webpushtest.New(t)
	s := newSender(t, srv, nil)
	sub := srv.NewSubscription()

	n := notice()
	n.Body, n.Title = "", strings.Repeat("t", 5000) // a title alone too long is cut too
	if err := s.Send(t.Context(), sub.Target(), n); err != nil {
		t.Fatalf("long title: %v", err)
	}
	if got := decodePayload(t, onlyPush(t, srv).Plaintext); !strings.HasSuffix(got.Title, "…") || got.Body != "" {
		t.Errorf("long title not cut: %d bytes, body %q", len(got.Title), got.Body)
	}

	n = notice()
	n.ConversationID = strings.Repeat("c", 5000) // nothing to cut: refused
	err := s.Send(t.Context(), sub.Target(), n)
	if !errors.Is(asPermanent(t, err), webpush.ErrPayloadTooLarge) {
		t.Fatalf("err = %v, want ErrPayloadTooLarge", err)
	}
	if len(srv.Pushes())+len(srv.Rejections()) != 1 {
		t.Error("the oversized notice reached the server")
	}
}
