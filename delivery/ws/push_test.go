package ws

import (
	"encoding/json"
	"strconv"
	"testing"
)

func TestAppendPushIsValidJSON(t *testing.T) {
	for _, e := range []struct {
		ID      int64
		Kind    string
		Payload string
	}{
		{ID: 42, Kind: "message.new", Payload: `{"id":"7","body":"h\u00e9 \"quoted\""}`},
		{Kind: "typing", Payload: `{"user_id":"3"}`},
		{ID: 1, Kind: "receipt"},
	} {
		var got struct {
			Type    string          `json:"type"`
			EventID *string         `json:"event_id"`
			Data    json.RawMessage `json:"data"`
		}
		raw := AppendPush(e.Kind, e.ID, []byte(e.Payload))
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		wantData := e.Payload
		if wantData == "" {
			wantData = "null"
		}
		if got.Type != e.Kind || string(got.Data) != wantData || (got.EventID == nil) != (e.ID == 0) ||
			(got.EventID != nil && *got.EventID != strconv.FormatInt(e.ID, 10)) {
			t.Errorf("%s decoded as %+v", raw, got)
		}
	}
}
