package hook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ringchat/ringchat/chat"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func checkWith(t *testing.T, h http.HandlerFunc) (chat.Verdict, error) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	b, err := NewBeforeSend(srv.URL, secret)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return b.Check(ctx, chat.BeforeSendMessage{Event: chat.CheckSend, SenderID: 1, ConvID: 2, ClientMsgID: "c", Body: "hi"})
}

// Answers that are not a verdict are errors (chat's fail policy decides),
// never a verdict read from half an answer.
func TestCheckRefusesWhatIsNotAVerdict(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusTemporaryRedirect)
		},
		"500":             func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) },
		"not json":        func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) },
		"replace no body": func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"action":"replace"}`)) },
		"over the bound": func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"action":"replace","body":"` + strings.Repeat("a", maxAnswer) + `"}`))
		},
		"too slow": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(3 * time.Second):
			case <-r.Context().Done():
			}
		},
	} {
		began := time.Now()
		if v, err := checkWith(t, h); err == nil {
			t.Errorf("%s: verdict %+v, want an error", name, v)
		}
		if took := time.Since(began); took > 5*time.Second {
			t.Errorf("%s: took %s past the context's 2 s", name, took)
		}
	}
}

func TestCheckReadsVerdicts(t *testing.T) {
	for answer, want := range map[string]chat.Verdict{
		``:                                      {Action: chat.VerdictAccept}, // 204
		`{"action":"accept"}`:                   {Action: chat.VerdictAccept},
		`{"action":"reject","reason":"spam"}`:   {Action: chat.VerdictReject, Reason: "spam"},
		`{"action":"replace","body":""}`:        {Action: chat.VerdictReplace},
		`{"action":"replace","body":"*** ok"}`:  {Action: chat.VerdictReplace, Body: "*** ok"},
		`{"action":"later","body":"who knows"}`: {Action: "later"}, // chat counts it a failed check
	} {
		v, err := checkWith(t, func(w http.ResponseWriter, r *http.Request) {
			if answer == "" {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			_, _ = w.Write([]byte(answer))
		})
		if err != nil || v != want {
			t.Errorf("answer %q: %+v %v, want %+v", answer, v, err, want)
		}
	}
}

func TestNewBeforeSendChecksItsConfig(t *testing.T) {
	for _, c := range [][2]string{{"ftp://x/y", secret}, {"http://", secret}, {"https://ok.example/check", "not-a-secret"}} {
		if _, err := NewBeforeSend(c[0], c[1]); err == nil {
			t.Errorf("NewBeforeSend(%q, %q) accepted", c[0], c[1])
		}
	}
}

// One send's retries share a webhook-id while their content is the same;
// other content, another sender, or an edit is another id.
func TestCheckIDs(t *testing.T) {
	send := chat.BeforeSendMessage{Event: chat.CheckSend, SenderID: 7, ClientMsgID: "m1"}
	body := []byte(`{"body":"hi"}`)
	if checkID(send, body) != checkID(send, body) {
		t.Error("a send's retry got another webhook-id")
	}
	if checkID(send, body) == checkID(send, []byte(`{"body":"something else"}`)) {
		t.Error("one client_msg_id with another body kept the webhook-id")
	}
	other := send
	other.SenderID = 8
	if checkID(send, body) == checkID(other, body) {
		t.Error("two senders' client_msg_id share a webhook-id")
	}
	edit := chat.BeforeSendMessage{Event: chat.CheckEdit, SenderID: 7, MsgID: 9}
	if checkID(edit, body) == checkID(edit, body) {
		t.Error("two edits share a webhook-id")
	}
}
