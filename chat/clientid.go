package chat

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"time"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/snowflake"
)

// uuidV7Millis returns the Unix millisecond a canonical UUIDv7 carries (RFC
// 9562: 8-4-4-4-12 hex digits, version 7, variant 10), and false for any other
// string. Hex digits may be of either case; the client_msg_id string itself,
// as sent, is the idempotency key.
func uuidV7Millis(s string) (int64, bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return 0, false
	}
	var ms int64
	for i := 0; i < len(s); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		v, ok := hexDigit(s[i])
		if !ok {
			return 0, false
		}
		if i < 13 { // the first 48 bits: unix_ts_ms
			ms = ms<<4 | int64(v)
		}
	}
	version, _ := hexDigit(s[14])
	variant, _ := hexDigit(s[19])
	if version != 7 || variant&0xc != 0x8 {
		return 0, false
	}
	return ms, true
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// writeLead is how far before a deterministic id's time its message row is
// written. The id's time is at most repo.ClockSkew ahead of the accepting
// node's clock, and Cassandra coordinators' clocks (which time an edit's or a
// recall's Paxos ballot) may be as far behind it: three skews put every
// attempt's cells below any edit or recall, which can only follow an ack.
const writeLead = 3 * repo.ClockSkew

// sendIDKey derives message ids from UUIDv7 client_msg_ids (docs/sync.md).
type sendIDKey []byte

// messageID is the message id of sender's send with clientMsgID at unixMs
// (the UUID's time, raised to just after the conversation's creation), and
// the µs timestamp its row is written at: identical for every attempt on
// every node. Keyed, so no client can aim an id at another user's message.
func (k sendIDKey) messageID(sender int64, clientMsgID string, unixMs int64) (id, writeMicros int64) {
	mac := hmac.New(sha256.New, k)
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(sender))
	mac.Write(b[:])
	mac.Write([]byte(clientMsgID))
	h := int64(binary.BigEndian.Uint64(mac.Sum(nil)) >> 1)
	// Bits above the id's 22 pick the microsecond, so two messages that share
	// an id (docs/sync.md: rare) still differ in timestamp and one of them
	// wins whole, not cell by cell.
	writeMicros = (unixMs-writeLead.Milliseconds())*1000 + (h>>22)%1000
	return snowflake.Compose(unixMs, h), writeMicros
}

// idMillis is the millisecond a UUIDv7 send's message id carries: the
// client's time, but never at or before the conversation's creation (history
// does not look before it). Refusing such a time instead would refuse the
// first message of a new conversation from any device whose clock lags the
// server's by more than the moment between creating and sending.
func idMillis(clientMs, convID int64) int64 {
	return max(clientMs, snowflake.Time(convID).UnixMilli()+1)
}

// isDeterministic tells a message whose id was derived from its client id
// (a UUIDv7 send) from one whose id a generator made (its first inbox event
// has the message's id; a derived id's events have ids of their own).
func (a *App) isDeterministic(m repo.Message) bool {
	id, ok := a.DerivedMessageID(m.SenderID, m.ConvID, m.ClientMsgID)
	return ok && id == m.ID
}

// DerivedMessageID is the message id a send of sender with clientMsgID gets
// in convID when clientMsgID is a UUIDv7 (docs/sync.md); ok is false for
// another client id, or when this node derives none (no send id key).
func (a *App) DerivedMessageID(sender, convID int64, clientMsgID string) (id int64, ok bool) {
	ms, ok := uuidV7Millis(clientMsgID)
	if !ok || a.sendKey == nil {
		return 0, false
	}
	id, _ = a.sendKey.messageID(sender, clientMsgID, idMillis(ms, convID))
	return id, true
}

// freshWindow is how far behind now a UUIDv7's time may be for its send to
// be written blind (no read): well under the send deadline, which the id's
// time starts too, so the writes keep at least two thirds of it.
func freshWindow(sendDeadline time.Duration) time.Duration { return sendDeadline / 3 }
