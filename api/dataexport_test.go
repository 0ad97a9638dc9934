package api_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/ringchat/ringchat/api"
	"github.com/ringchat/ringchat/delivery/ws"
	"github.com/ringchat/ringchat/repo"
)

// exportAll reads c's whole export, resuming from each "more" line (and,
// when resumeAt > 0, also starting over from the cursor of line resumeAt,
// as a client whose download broke there would). Every line is checked
// against the document's ExportLine schema.
func exportAll(t *testing.T, o *oapi, e *env, c *client) []map[string]any {
	t.Helper()
	var lines []map[string]any
	cursor := ""
	for round := 0; ; round++ {
		if round > 50 {
			t.Fatal("the export never ended")
		}
		path := "/v1/me/export"
		if cursor != "" {
			path += "?cursor=" + cursor
		}
		r := o.exchange(t, e, "GET", path, c.token, nil, nil, true)
		if r.status != 200 || r.header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("export: %d %s %s", r.status, r.header.Get("Content-Type"), r.raw)
		}
		sc := bufio.NewScanner(bytes.NewReader(r.raw))
		sc.Buffer(nil, 1<<20)
		last := ""
		for sc.Scan() {
			var v map[string]any
			if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
				t.Fatalf("export line %q: %v", sc.Text(), err)
			}
			if err := o.doc.Components.Schemas["ExportLine"].Value.VisitJSON(v); err != nil {
				t.Fatalf("export line %s is not an ExportLine: %v", sc.Text(), err)
			}
			last, _ = v["type"].(string)
			switch last {
			case "more":
				cursor = v["cursor"].(string)
			case "end":
			case "error":
				t.Fatalf("export failed: %s", sc.Text())
			default:
				lines = append(lines, v)
			}
		}
		if last == "end" {
			return lines
		}
		if last != "more" {
			t.Fatalf("the export's last line is %q, want more or end", last)
		}
	}
}

// The export holds what history and the lists hold: the profile, contacts,
// blocks, conversations and every message of each, in order, once; it
// resumes from any line's cursor; bad cursors are refused.
func TestExportMatchesHistory(t *testing.T) {
	e := newEnv(t)
	o := loadOAPI(t, e)
	a, b, c := e.newUser("exa"), e.newUser("exb"), e.newUser("exc")
	expect(t, a.do("PUT", "/v1/contacts/"+b.userID, nil), 200)
	expect(t, a.do("PUT", "/v1/blocks/"+c.userID, nil), 204)
	dm := a.direct(b)
	var sent []string
	for i := range 7 {
		m := a.mustSend(dm, fmt.Sprintf("dm %d", i))
		sent = append(sent, m["id"].(string))
		m = b.mustSend(dm, fmt.Sprintf("reply %d", i))
		sent = append(sent, m["id"].(string))
	}
	g := a.do("POST", "/v1/conversations", map[string]any{"kind": "group", "name": "exg", "member_ids": []string{b.userID}})
	expect(t, g, 201)
	group := g.body["conversation"].(map[string]any)["id"].(string)
	var groupSent []string
	for i := range 3 {
		groupSent = append(groupSent, b.mustSend(group, fmt.Sprintf("group %d", i))["id"].(string))
	}
	expect(t, a.do("PUT", "/v1/conversations/"+group+"/me", map[string]any{"pinned": true, "previews": false}), 200)

	lines := exportAll(t, o, e, a)
	var types []string
	byConv := map[string][]string{}
	convs := map[string]map[string]any{}
	for _, l := range lines {
		typ := l["type"].(string)
		if len(types) == 0 || types[len(types)-1] != typ {
			types = append(types, typ)
		}
		switch typ {
		case "profile":
			if l["user"].(map[string]any)["id"] != a.userID {
				t.Errorf("profile %v", l)
			}
		case "contact":
			if ct := l["contact"].(map[string]any); ct["user_id"] != b.userID || ct["state"] != "requested" {
				t.Errorf("contact %v", ct)
			}
		case "block":
			if l["block"].(map[string]any)["user_id"] != c.userID {
				t.Errorf("block %v", l)
			}
		case "conversation":
			cv := l["conversation"].(map[string]any)
			convs[cv["id"].(string)] = cv
		case "message":
			m := l["message"].(map[string]any)
			byConv[m["conversation_id"].(string)] = append(byConv[m["conversation_id"].(string)], m["id"].(string))
		}
	}
	if want := "profile contact block conversation message"; strings.Join(types, " ") != want {
		t.Errorf("line types in order %v, want %s", types, want)
	}
	if len(convs) != 2 || convs[group]["pinned"] != true || convs[group]["previews"] != false || convs[dm]["pinned"] != false {
		t.Errorf("conversations %v", convs)
	}
	if strings.Join(byConv[dm], ",") != strings.Join(sent, ",") || strings.Join(byConv[group], ",") != strings.Join(groupSent, ",") {
		t.Errorf("messages by conversation %v, want dm %v, group %v (oldest first, once each)", byConv, sent, groupSent)
	}

	// In responses of three lines each (another node on the same data):
	// the same lines, through "more" and its cursor.
	small := newEnv(t, func(c *api.Config, _ *repo.Retention, _ *ws.Config) { c.ExportLines = 3 })
	paged := *a
	paged.e = small
	if got := exportAll(t, loadOAPI(t, small), small, &paged); toJSON(got) != toJSON(lines) {
		t.Errorf("paged by three: %d lines, unlike the %d of one response", len(got), len(lines))
	}

	// Resumed from a line's cursor: exactly the lines after it.
	mid := lines[len(lines)/2]
	r := o.exchange(t, e, "GET", "/v1/me/export?cursor="+mid["cursor"].(string), a.token, nil, nil, true)
	rest := strings.Split(strings.TrimSpace(string(r.raw)), "\n")
	if want := len(lines) - len(lines)/2 - 1 + 1; len(rest) != want { // the rest, then "end"
		t.Errorf("resumed after line %d of %d: %d lines, want %d", len(lines)/2, len(lines), len(rest), want)
	}
	var first map[string]any
	_ = json.Unmarshal([]byte(rest[0]), &first)
	if next := lines[len(lines)/2+1]; toJSON(first) != toJSON(next) {
		t.Errorf("resumed at %v, want %v", first, next)
	}

	// A cursor naming a conversation the caller is not in: nothing of it.
	other := e.newUser("exo")
	theirs := other.direct(e.newUser("exp"))
	other.mustSend(theirs, "not yours")
	conv, _ := strconv.ParseInt(theirs, 10, 64)
	r = o.exchange(t, e, "GET", "/v1/me/export?cursor="+api.EncodeExportCursorForTest(4, conv, 0), c.token, nil, nil, true)
	if r.status != 200 || strings.Contains(string(r.raw), "not yours") || strings.Contains(string(r.raw), theirs) {
		t.Errorf("an export resumed in someone else's conversation: %d %s", r.status, r.raw)
	}

	for _, bad := range []string{"x", "ZXhwb3J0Ojk5LjAuMA", api.EncodeHistoryCursorForTest(5), "ZXhwb3J0OjQuLTEuMA"} {
		if r := o.exchange(t, e, "GET", "/v1/me/export?cursor="+bad, a.token, nil, nil, true); r.status != http.StatusBadRequest {
			t.Errorf("cursor %q: %d, want 400", bad, r.status)
		}
	}
}
