package ws

import (
	"encoding/json"
	"strconv"
)

// AppendPush builds a server event's frame, {"type","event_id","data"},
// around data as its caller made it (JSON from json.Marshal, not parsed
// again: encoding/json re-validated and compacted every 4 KB body, a tenth
// of chatd's CPU in the closed-loop benchmark). eventID 0 leaves the id out;
// empty data is null.
func AppendPush(kind string, eventID int64, data []byte) []byte {
	k, _ := json.Marshal(kind)
	if len(data) == 0 {
		data = []byte("null")
	}
	b := make([]byte, 0, len(k)+len(data)+48)
	b = append(b, `{"type":`...)
	b = append(b, k...)
	if eventID != 0 {
		b = append(b, `,"event_id":"`...)
		b = strconv.AppendInt(b, eventID, 10)
		b = append(b, '"')
	}
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}')
}
