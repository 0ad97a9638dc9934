package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

var seeds = []string{
	`{"type":"message.send","ref":"1","data":{"conversation_id":"2","client_msg_id":"x","body":"hi \"there\" \u00e9\n"}}`,
	`[1,-0.5e+3,true,false,null,"",{},[]]`, ` {"a" : [ 1 , 2 ] } `, `"\ud800"`, `"\x"`, `"\u12"`, "\"a\x01\"",
	`01`, `-`, `1.`, `1e`, `.5`, `+1`, `[1,]`, `{"a":1,}`, `{"a"}`, `{1:2}`, `tru`, `nul`, `[`, `{`, `"`,
	`{"a":1}{}`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
	"\"\xff\"", `1e400`, `-0`, `{"a":"b","a":"c"}`,
}

// FuzzValue: every value Value accepts is valid JSON to encoding/json, and
// every valid JSON text within MaxDepth is accepted whole.
func FuzzValue(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		i := Space(b, 0)
		end, ok := Value(b, i)
		whole := ok && Space(b, end) == len(b)
		valid := json.Valid(b)
		if whole && !valid {
			t.Fatalf("%q accepted, but encoding/json finds it invalid", b)
		}
		if valid && !whole && strings.Count(string(b), "[")+strings.Count(string(b), "{") <= MaxDepth {
			t.Fatalf("%q is valid JSON, yet Value stopped (end %d, ok %v)", b, end, ok)
		}
	})
}

func TestValueOnSeeds(t *testing.T) {
	for _, s := range seeds {
		b := []byte(s)
		end, ok := Value(b, Space(b, 0))
		whole := ok && Space(b, end) == len(b)
		deep := strings.Count(s, "[") > MaxDepth
		if whole != (json.Valid(b) && !deep) {
			t.Errorf("%q: accepted whole %v, encoding/json valid %v", s, whole, json.Valid(b))
		}
	}
}
