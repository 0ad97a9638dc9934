package main

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"
)

// Frames as chatd sends them (api/dto.go encodePush, ws Reply) and hostile
// variants: the scanner reads what encoding/json reads or declines.
var frameSeeds = []string{
	`{"type":"message.new","event_id":"77","data":{"id":"123","conversation_id":"9","sender_id":"5","client_msg_id":"0193b0c4-7d7e-7c3a-9a1b-3c2d1e0f4a5b","body":"1764640000000000000|😀😀","media":[],"created_at":"2026-12-02T00:00:00Z","recalled":false}}`,
	`{"type":"ack","ref":"42","data":{"message":{"id":"123","conversation_id":"9","body":"1|x","media":[{"id":"m1"}]}}}`,
	`{"type":"error","ref":"42","data":{"code":"unavailable","message":"retry"}}`,
	`{"type":"sync.required","data":null}`,
	`{"data":{"body":"17|a","id":"1"},"type":"message.new"}`,
	` { "type" : "message.new" , "data" : { "id" : "1" , "body" : "12|" } } `,
	`{"type":"message.new","data":{"id":"1","body":"1\"2|\\"}}`,
	`{"type":"message.new","data":{"id":"1","body":"12\u007cx"}}`,
	`{"type":"message.new","data":{"id":"1\u0032","body":"12|x"}}`,
	`{"TYPE":"message.new","data":{"ID":"1","body":"12|x"}}`,
	`{"type":"message.new","data":{"id":"1","body":"99999999999999999999|x"}}`,
	`{"type":"message.new","data":{"id":"1","body":"-12|x"}}`,
	`{"type":"message.new","data":{"id":"1","body":"|x"},"x":[{"y":"}]"},[],{}]}`,
	`{"type":"message.new","data":{"id":"1","body":"12|x"}`,
	`{"type":"message.new","data":{"id":"1","body":"12|x"}}x`,
	`{"type":"ack","ref":"1","data":{"message":"oops"}}`,
	`{"type":"ack","ref":"1","data":{"message":{"id":"2"},"message":{"id":"3"}}}`,
	`{"type":"message.new","data":{"id":"1","id":"2","body":"1|","body":"2|"}}`,
	`[]`, `null`, ``, `{`, `{"type":`, `{"type":"a",}`,
}

func TestScanFrameReadsChatdFrames(t *testing.T) {
	sent := time.Now().UnixNano()
	frame := `{"type":"message.new","event_id":"77","data":{"id":"123","conversation_id":"9","sender_id":"5","client_msg_id":"x","body":` +
		strconv.Quote(paddedBody(sent, 4000)) + `,"media":[],"recalled":false}}`
	v, ok := scanFrame([]byte(frame))
	if !ok || string(v.typ) != "message.new" || string(v.id) != "123" || !v.hasSent || v.sentNs != sent {
		t.Fatalf("scanFrame = %+v, %v", v, ok)
	}
	v, ok = scanFrame([]byte(frameSeeds[1]))
	if !ok || string(v.typ) != "ack" || string(v.ref) != "42" || string(v.msgID) != "123" || len(v.id) != 0 {
		t.Fatalf("ack: scanFrame = %+v, %v", v, ok)
	}
	for _, declined := range []string{frameSeeds[7], frameSeeds[8], frameSeeds[9], frameSeeds[13], frameSeeds[14]} {
		if _, ok := scanFrame([]byte(declined)); ok {
			t.Errorf("scanFrame read %s; it must leave it to encoding/json", declined)
		}
	}
}

// FuzzScanFrame: whenever the scanner reads a frame that encoding/json
// decodes, both find the same type, ref, ids and send time.
func FuzzScanFrame(f *testing.F) {
	for _, s := range frameSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := scanFrame(b)
		var d decodedFrame
		if !ok || json.Unmarshal(b, &d) != nil {
			return
		}
		w := d.view()
		if string(v.typ) != string(w.typ) || string(v.ref) != string(w.ref) || string(v.id) != string(w.id) ||
			string(v.msgID) != string(w.msgID) || v.hasSent != w.hasSent || v.sentNs != w.sentNs {
			t.Fatalf("%q: scanner %+v, encoding/json %+v", b, v, w)
		}
	})
}

// A 4 KB message.new frame as chatd pushes it: what the generator handles
// 50,000 times a second in a 1,000-member group at 50 msg/s.
func benchFrame() []byte {
	return []byte(`{"type":"message.new","event_id":"77","data":{"id":"123456789012345678","conversation_id":"9","sender_id":"5","client_msg_id":"0193b0c4-7d7e-7c3a-9a1b-3c2d1e0f4a5b","body":` +
		strconv.Quote(paddedBody(time.Now().UnixNano(), 4000)) + `,"media":[],"reply_to":null,"created_at":"2026-12-02T00:00:00Z","edited_at":null,"recalled":false}}`)
}

func BenchmarkScanFrame(b *testing.B) {
	raw := benchFrame()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if v, ok := scanFrame(raw); !ok || !v.hasSent {
			b.Fatal("not read")
		}
	}
}

// BenchmarkDecodeFrame is what the generator did before scanFrame.
func BenchmarkDecodeFrame(b *testing.B) {
	raw := benchFrame()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		var f decodedFrame
		if json.Unmarshal(raw, &f) != nil || f.Data.ID == "" {
			b.Fatal("not decoded")
		}
	}
}
