package fcmtest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/jwt"

	"github.com/ringchat/ringchat/notify/fcm/fcmtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const project = "fcmtest-proj"

// accessToken gets a token for a new account of project the way a client
// does (oauth2's JWT flow).
func accessToken(t *testing.T, srv *fcmtest.Server) string {
	t.Helper()
	var key struct {
		ClientEmail  string `json:"client_email"`
		PrivateKey   string `json:"private_key"`
		PrivateKeyID string `json:"private_key_id"`
		TokenURI     string `json:"token_uri"`
	}
	if err := json.Unmarshal(srv.NewServiceAccount(project), &key); err != nil {
		t.Fatal(err)
	}
	c := &jwt.Config{Email: key.ClientEmail, PrivateKey: []byte(key.PrivateKey), PrivateKeyID: key.PrivateKeyID,
		Scopes: []string{fcmtest.Scope}, TokenURL: key.TokenURI}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	tok, err := c.TokenSource(ctx).Token()
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	return tok.AccessToken
}

// fcmAnswer is FCM's error JSON, as much as the tests read.
type fcmAnswer struct {
	Name  string `json:"name"`
	Error struct {
		Code    int    `json:"code"`
		Status  string `json:"status"`
		Message string `json:"message"`
		Details []struct {
			Type            string `json:"@type"`
			ErrorCode       string `json:"errorCode"`
			FieldViolations []struct {
				Field string `json:"field"`
			} `json:"fieldViolations"`
		} `json:"details"`
	} `json:"error"`
}

func (a fcmAnswer) errorCode() string {
	for _, d := range a.Error.Details {
		if d.ErrorCode != "" {
			return d.ErrorCode
		}
	}
	return ""
}

func (a fcmAnswer) field() string {
	for _, d := range a.Error.Details {
		for _, f := range d.FieldViolations {
			return f.Field
		}
	}
	return ""
}

func post(t *testing.T, srv *fcmtest.Server, bearer, proj, body string) (int, http.Header, fcmAnswer) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL()+"/v1/projects/"+proj+"/messages:send", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a fcmAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("answer %d is not JSON: %q", resp.StatusCode, b)
	}
	if resp.StatusCode != 200 && (a.Error.Code != resp.StatusCode || a.Error.Status == "" || a.Error.Message == "") {
		t.Errorf("answer %d is not in FCM's error shape: %s", resp.StatusCode, b)
	}
	return resp.StatusCode, resp.Header, a
}

func TestSendChecksCredentials(t *testing.T) {
	srv := fcmtest.NewServer(t)
	tok := accessToken(t, srv)
	dev := srv.NewToken(project)
	msg := fmt.Sprintf(`{"message":{"token":%q}}`, dev)
	for _, c := range []struct {
		name, bearer, proj string
		status             int
		grpc               string
	}{
		{"no bearer", "", project, 401, "UNAUTHENTICATED"},
		{"unknown bearer", "ya29.made-up", project, 401, "UNAUTHENTICATED"},
		{"other project", tok, "not-" + project, 403, "PERMISSION_DENIED"},
		{"good", tok, project, 200, ""},
	} {
		status, _, a := post(t, srv, c.bearer, c.proj, msg)
		if status != c.status || a.Error.Status != c.grpc {
			t.Errorf("%s: %d %s, want %d %s", c.name, status, a.Error.Status, c.status, c.grpc)
		}
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages recorded, want 1", n)
	}
}

func TestSendRefusesExpiredToken(t *testing.T) {
	srv := fcmtest.NewServer(t)
	srv.SetTokenLifetime(time.Second)
	tok := accessToken(t, srv)
	msg := fmt.Sprintf(`{"message":{"token":%q}}`, srv.NewToken(project))
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for {
		if status, _, _ := post(t, srv, tok, project, msg); status == 401 {
			return
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("a one-second token still accepted after 10 s")
		}
	}
}

func TestSendChecksMessageShape(t *testing.T) {
	srv := fcmtest.NewServer(t)
	tok := accessToken(t, srv)
	dev := srv.NewToken(project)
	big := strings.Repeat("x", 4097)
	for _, c := range []struct {
		name, message string // the "message" object; %[1]q is a registered token
		field         string // "" for accepted
	}{
		{"minimal", `{"token":%[1]q}`, ""},
		{"topic", `{"topic":"news"}`, ""},
		{"camelCase", `{"token":%[1]q,"android":{"collapseKey":"k","ttl":"1.5s","notification":{"notificationCount":"2","channelId":"c"}},"fcmOptions":{"analyticsLabel":"l"}}`, ""},
		{"no target", `{"notification":{"title":"t"}}`, "message"},
		{"two targets", `{"token":%[1]q,"topic":"news"}`, "message"},
		{"bad topic", `{"topic":"a b"}`, "message.topic"},
		{"token with space", `{"token":"a b"}`, "message.token"},
		{"unknown field", `{"token":%[1]q,"colapse_key":"k"}`, "message.colapse_key"},
		{"data number", `{"token":%[1]q,"data":{"count":3}}`, "message.data.count"},
		{"reserved data key", `{"token":%[1]q,"data":{"from":"x"}}`, "message.data.from"},
		{"title number", `{"token":%[1]q,"notification":{"title":1}}`, "message.notification.title"},
		{"body object", `{"token":%[1]q,"notification":{"body":{}}}`, "message.notification.body"},
		{"ttl without s", `{"token":%[1]q,"android":{"ttl":"3600"}}`, "message.android.ttl"},
		{"ttl ten decimals", `{"token":%[1]q,"android":{"ttl":"1.0123456789s"}}`, "message.android.ttl"},
		{"ttl number", `{"token":%[1]q,"android":{"ttl":3600}}`, "message.android.ttl"},
		{"priority", `{"token":%[1]q,"android":{"priority":"URGENT"}}`, "message.android.priority"},
		{"android unknown", `{"token":%[1]q,"android":{"notification":{"badge":1}}}`, "message.android.notification.badge"},
		{"count fraction", `{"token":%[1]q,"android":{"notification":{"notification_count":1.5}}}`, "message.android.notification.notification_count"},
		{"collapse id", `{"token":%[1]q,"apns":{"headers":{"apns-collapse-id":"` + strings.Repeat("c", 65) + `"}}}`, "message.apns.headers.apns-collapse-id"},
		{"header number", `{"token":%[1]q,"apns":{"headers":{"apns-priority":10}}}`, "message.apns.headers.apns-priority"},
		{"badge string", `{"token":%[1]q,"apns":{"payload":{"aps":{"badge":"3"}}}}`, "message.apns.payload.aps.badge"},
		{"too big", `{"token":%[1]q,"data":{"x":"` + big + `"}}`, "message"},
	} {
		body := `{"message":` + strings.ReplaceAll(c.message, "%[1]q", fmt.Sprintf("%q", dev)) + `}`
		status, _, a := post(t, srv, tok, project, body)
		switch {
		case c.field == "" && status != 200:
			t.Errorf("%s: %d %s, want it accepted", c.name, status, a.Error.Message)
		case c.field != "" && (status != 400 || a.Error.Status != "INVALID_ARGUMENT" || a.field() != c.field):
			t.Errorf("%s: %d %s field %q (%s), want 400 INVALID_ARGUMENT on %q", c.name, status, a.Error.Status, a.field(), a.Error.Message, c.field)
		}
	}
	for _, body := range []string{`not json`, `{"message":{"token":"x"}} {}`, `{"msg":{}}`, `{}`, `[]`} {
		if status, _, _ := post(t, srv, tok, project, body); status != 400 {
			t.Errorf("%q: %d, want 400", body, status)
		}
	}
	msgs := srv.Messages()
	if len(msgs) != 3 {
		t.Fatalf("%d messages recorded, want 3", len(msgs))
	}
	if a := msgs[2].Android; a.CollapseKey != "k" || a.TTL != "1.5s" || *a.Notification.NotificationCount != 2 || a.Notification.ChannelID != "c" {
		t.Errorf("camelCase message decoded as %+v %+v", a, a.Notification)
	}
}

func TestTokensAndInjection(t *testing.T) {
	srv := fcmtest.NewServer(t)
	tok := accessToken(t, srv)
	dev := srv.NewToken(project)
	msg := func(to string) string { return fmt.Sprintf(`{"message":{"token":%q}}`, to) }

	if status, _, a := post(t, srv, tok, project, msg("unknown")); status != 404 || a.Error.Status != "NOT_FOUND" || a.errorCode() != "UNREGISTERED" {
		t.Errorf("unknown token: %d %s %s", status, a.Error.Status, a.errorCode())
	}
	if status, _, a := post(t, srv, tok, project, msg(srv.NewToken("other"))); status != 403 || a.errorCode() != "SENDER_ID_MISMATCH" {
		t.Errorf("other project's token: %d %s", status, a.errorCode())
	}

	srv.Inject(fcmtest.Answer{Status: 429, ErrorCode: "QUOTA_EXCEEDED", RetryAfter: "30"}, fcmtest.Answer{Status: 503, ErrorCode: "UNAVAILABLE"})
	status, h, a := post(t, srv, tok, project, msg(dev))
	if status != 429 || a.Error.Status != "RESOURCE_EXHAUSTED" || a.errorCode() != "QUOTA_EXCEEDED" || h.Get("Retry-After") != "30" {
		t.Errorf("first injected: %d %s %s %q", status, a.Error.Status, a.errorCode(), h.Get("Retry-After"))
	}
	// A malformed request is refused for itself, and leaves the injection queued.
	if status, _, _ := post(t, srv, tok, project, `{"message":{}}`); status != 400 {
		t.Errorf("malformed: %d", status)
	}
	if status, _, a := post(t, srv, tok, project, msg(dev)); status != 503 || a.errorCode() != "UNAVAILABLE" {
		t.Errorf("second injected: %d %s", status, a.errorCode())
	}
	if status, _, a := post(t, srv, tok, project, msg(dev)); status != 200 || !strings.HasPrefix(a.Name, "projects/"+project+"/messages/") {
		t.Errorf("after the injections: %d %q", status, a.Name)
	}
	if status, _, _ := post(t, srv, tok, project, `{"message":{"token":"`+dev+`"},"validate_only":true}`); status != 200 {
		t.Errorf("validate_only: %d", status)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages recorded, want 1 (validate_only delivers nothing)", n)
	}
	if n := srv.SendRequests(); n != 7 {
		t.Errorf("SendRequests = %d, want 7", n)
	}
}

func TestWaitMessages(t *testing.T) {
	srv := fcmtest.NewServer(t)
	tok := accessToken(t, srv)
	dev := srv.NewToken(project)
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		msgs, err := srv.WaitMessages(ctx, 2)
		if err == nil && len(msgs) != 2 {
			err = fmt.Errorf("%d messages", len(msgs))
		}
		done <- err
	}()
	for range 2 {
		post(t, srv, tok, project, fmt.Sprintf(`{"message":{"token":%q}}`, dev))
	}
	if err := <-done; err != nil {
		t.Fatalf("WaitMessages: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := srv.WaitMessages(ctx, 3); err == nil {
		t.Error("WaitMessages for a third message returned without one")
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, srv.Messages()[0].Raw)
	if buf.String() != fmt.Sprintf(`{"token":%q}`, dev) {
		t.Errorf("Raw = %s", buf.String())
	}
}
