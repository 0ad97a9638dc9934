package apns_test

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestLongBodyShortened(t *testing.T) {
	f := setup(t)
	target := f.device(t)
	bodies := map[string]string{
		"ascii":     strings.Repeat("a", 10000),
		"multibyte": strings.Repeat("é日🙂", 1000),
		"escaped":   strings.Repeat("<\"&\\\n", 2000), // each grows in JSON
		"control":   strings.Repeat("\x01é", 3000),    // \u0001: six bytes each
		"invalid":   strings.Repeat("a\xff", 3000),    // each \xff a U+FFFD
		"spaces":    strings.Repeat("word ", 2000),
	}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			n := notice(name)
			n.Body = body
			if err := f.sender.Send(t.Context(), target, n); err != nil {
				t.Fatal(err)
			}
			acc := f.srv.Accepted()
			r := acc[len(acc)-1]
			if len(r.Body) > 4096 {
				t.Fatalf("payload is %d bytes", len(r.Body))
			}
			aps, _ := r.Payload["aps"].(map[string]any)
			alert, _ := aps["alert"].(map[string]any)
			got := str(alert["body"])
			if !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
				t.Fatalf("body %.40q… is not valid UTF-8 ending in an ellipsis", got)
			}
			kept := strings.TrimSuffix(got, "…")
			if !strings.HasPrefix(strings.ToValidUTF8(body, "\uFFFD"), kept) {
				t.Fatalf("shortened body is not a prefix of the original")
			}
			if len(r.Body) < 4096-64 {
				t.Errorf("payload cut to %d bytes, far below 4096", len(r.Body))
			}
		})
	}
}

func TestShortBodyUntouched(t *testing.T) {
	f := setup(t)
	n := notice("n1")
	n.Body = strings.Repeat("x", 3000)
	if err := f.sender.Send(t.Context(), f.device(t), n); err != nil {
		t.Fatal(err)
	}
	aps, _ := f.srv.Accepted()[0].Payload["aps"].(map[string]any)
	alert, _ := aps["alert"].(map[string]any)
	if str(alert["body"]) != n.Body {
		t.Fatal("a body that fits was changed")
	}
}
