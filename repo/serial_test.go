package repo_test

import (
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gocql/gocql"

	"github.com/ringchat/ringchat/repo"
	"github.com/ringchat/ringchat/repo/cqltest"
	"github.com/ringchat/ringchat/schema"
	"github.com/ringchat/ringchat/snowflake"
)

// Every lightweight transaction goes on the wire with its claim's serial
// consistency: SERIAL for the claims that must hold across data centres,
// --serial-consistency for the rest (docs/cluster.md). Read from the frames
// the driver sends, through a proxy that decodes them, not from the code.
func TestLWTSerialConsistencyOnTheWire(t *testing.T) {
	across := []string{
		"INSERT INTO users_by_handle", "UPDATE users SET password_hash", "INSERT INTO direct_conversations",
		"INSERT INTO contact_pairs", "UPDATE contact_pairs", "UPDATE messages_by_conversation SET body = ?, edited_at",
		"UPDATE messages_by_conversation SET body = ''", "INSERT INTO snowflake_leases", "UPDATE snowflake_leases",
		"DELETE FROM snowflake_leases", "INSERT INTO ringchat_settings",
	}
	within := []string{
		"INSERT INTO send_dedupe", "INSERT INTO group_create_dedupe", "DELETE FROM ws_tickets",
		"UPDATE users SET updated_at",
	}
	for _, flag := range []string{"LOCAL_SERIAL", "SERIAL"} {
		t.Run(flag, func(t *testing.T) {
			sn := startSniffer(t)
			st, s := sniffedStore(t, sn, flag)
			runEveryLWT(t, st, s)
			seen := sn.lwts()
			check := func(prefixes []string, want uint16) {
				for _, p := range prefixes {
					got, ok := seen[p]
					switch {
					case !ok:
						t.Errorf("no conditional statement starting %q went through the proxy (saw %v)", p, seen)
					case len(got) != 1 || !got[want]:
						t.Errorf("%q sent with serial consistency %v, want only %s", p, got, serialName[want])
					}
				}
			}
			check(across, serial)
			if flag == "SERIAL" {
				check(within, serial) // the flag set to SERIAL makes every claim global
			} else {
				check(within, localSerial)
			}
			if r := sn.pairReads(); r[localSerial] > 0 || r[serial] == 0 {
				t.Errorf("contact pair reads by consistency %v: want SERIAL only (they see pair LWTs in every DC)", r)
			}
		})
	}
}

// runEveryLWT drives each store call that takes a claim.
func runEveryLWT(t *testing.T, st *repo.Store, s *gocql.Session) {
	c := ctx(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	a := repo.User{ID: gen.Next(), Handle: "wire_" + strings.ToLower(randHex()), PasswordHash: "h", CreatedAt: now, UpdatedAt: now}
	b := repo.User{ID: gen.Next(), Handle: "wire_" + strings.ToLower(randHex()), PasswordHash: "h", CreatedAt: now, UpdatedAt: now}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("create user", st.CreateUser(c, a))
	must("create user", st.CreateUser(c, b))
	// The losing side of each claim reads the winner from the CAS answer by column name.
	twin := b
	twin.ID, twin.Handle = gen.Next(), a.Handle
	if err := st.CreateUser(c, twin); !repo.IsCode(err, repo.CodeConflict) {
		t.Fatalf("second user with handle %q: %v, want conflict", a.Handle, err)
	}
	must("set password", st.SetPasswordHash(c, a.ID, "h", "h2", now))
	name := "W"
	must("update profile", st.UpdateProfile(c, a.ID, repo.ProfileUpdate{DisplayName: &name}, now))
	conv, _, err := st.GetOrCreateDirect(c, a.ID, b.ID, gen.Next())
	must("direct", err)
	if again, created, err := st.GetOrCreateDirect(c, b.ID, a.ID, gen.Next()); err != nil || created || again.ID != conv.ID {
		t.Fatalf("direct again: %v created=%v id %d, want %d", err, created, again.ID, conv.ID)
	}
	_, err = st.ChangeContact(c, a.ID, b.ID, repo.ContactAdd, now)
	must("contact request", err)
	_, err = st.ChangeContact(c, b.ID, a.ID, repo.ContactAdd, now)
	must("contact accept", err)
	m := repo.Message{ID: gen.Next(), ConvID: conv.ID, SenderID: a.ID, ClientMsgID: "w1", Body: "x"}
	_, err = st.ClaimSend(c, a.ID, m.ClientMsgID, m.ConvID, m.ID)
	must("claim send", err)
	if again, err := st.ClaimSend(c, a.ID, m.ClientMsgID, m.ConvID, gen.Next()); err != nil || again.Won || again.MsgID != m.ID || again.ConvID != m.ConvID {
		t.Fatalf("claim send again: %+v %v, want the first claim's ids %d/%d", again, err, m.ConvID, m.ID)
	}
	must("put message", st.PutMessage(c, m))
	m.Body, m.EditedAt = "y", now
	must("edit", st.EditMessage(c, m))
	must("recall", st.RecallMessage(c, m))
	key, groupID := "g-"+randHex(), gen.Next()
	_, err = st.ClaimGroupCreate(c, a.ID, key, groupID)
	must("claim group", err)
	if again, err := st.ClaimGroupCreate(c, a.ID, key, gen.Next()); err != nil || again.Won || again.ConvID != groupID || again.Done {
		t.Fatalf("claim group again: %+v %v, want conv %d, not done", again, err, groupID)
	}
	must("set role", st.SetRole(c, conv.ID, a.ID, "member"))
	pinned := true
	must("chat settings", st.UpdateSettings(c, a.ID, conv.ID, repo.ConversationSettings{Pinned: &pinned}))
	ticket := []byte("ticket-" + randHex())
	must("ticket", st.CreateTicket(c, ticket, []byte("s"), repo.Session{UserID: a.ID, DeviceID: 1}))
	if _, _, err = st.ConsumeTicket(c, ticket); !repo.IsCode(err, repo.CodeUnauthenticated) {
		t.Fatalf("consume ticket: %v, want the LWT taken and no session found", err) // no session row was written
	}
	lease, err := snowflake.AcquireLease(c, s, snowflake.LeaseConfig{TTL: 3 * time.Second, RenewEvery: 200 * time.Millisecond})
	must("lease", err)
	deadline := time.Now().Add(10 * time.Second)
	for lease.Valid() == nil && time.Now().Before(deadline) && !sniffed(s, "UPDATE snowflake_leases") {
		time.Sleep(20 * time.Millisecond) // polling for the first renewal
	}
	must("release lease", lease.Release(c))
	_, err = schema.Migrate(c, s, schema.Settings{MessageBucket: layout.MessageBucket, InboxBucket: layout.InboxBucket})
	must("migrate (claims settings)", err)
}

func randHex() string { return strings.TrimPrefix(gocql.TimeUUID().String()[:8], "-") }

const (
	serial      uint16 = 0x0008
	localSerial uint16 = 0x0009
)

var serialName = map[uint16]string{serial: "SERIAL", localSerial: "LOCAL_SERIAL", 0: "none"}

// sniffers lets the lease loop above ask whether a statement went out yet.
var sniffers sync.Map // *gocql.Session -> *sniffer

func sniffed(s *gocql.Session, prefix string) bool {
	sn, _ := sniffers.Load(s)
	_, ok := sn.(*sniffer).lwts()[prefix]
	return ok
}

func sniffedStore(t *testing.T, sn *sniffer, serialFlag string) (*repo.Store, *gocql.Session) {
	cfg := cqltest.Config(ks)
	cfg.Hosts = []string{sn.ln.Addr().String()}
	cfg.SerialConsistency = serialFlag
	cluster, err := repo.NewCluster(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cluster.ProtoVersion = 4 // the sniffer reads v4 frames (v5 wraps them in checksummed segments)
	port := sn.ln.Addr().(*net.TCPAddr).Port
	cluster.AddressTranslator = gocql.AddressTranslatorFunc(func(ip net.IP, _ int) (net.IP, int) { return ip, port })
	s, err := cluster.CreateSession()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	sniffers.Store(s, sn)
	return repo.NewStore(s, layout, repo.DefaultRetention()), s
}

// sniffer is a TCP proxy to the test node that decodes CQL v4 request frames
// (QUERY, PREPARE, EXECUTE) and records each conditional statement's serial
// consistency, and the consistency of serial reads of contact_pairs.
type sniffer struct {
	ln       net.Listener
	mu       sync.Mutex
	prepared map[string]string          // prepared id -> statement
	pending  map[string]string          // conn/stream -> statement being prepared
	seen     map[string]map[uint16]bool // statement prefix -> serial levels
	reads    map[uint16]int             // contact_pairs SELECT consistency -> count
}

func startSniffer(t *testing.T) *sniffer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sn := &sniffer{ln: ln, prepared: map[string]string{}, pending: map[string]string{},
		seen: map[string]map[uint16]bool{}, reads: map[uint16]int{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go sn.serve(c)
		}
	}()
	return sn
}

func (sn *sniffer) serve(client net.Conn) {
	server, err := net.Dial("tcp", cqltest.Hosts()[0])
	if err != nil {
		client.Close()
		return
	}
	id := client.RemoteAddr().String()
	go func() { sn.frames(server, client, id, sn.response); client.Close() }()
	sn.frames(client, server, id, sn.request)
	server.Close()
}

// frames copies src to dst frame by frame, handing each to look.
func (sn *sniffer) frames(src, dst net.Conn, id string, look func(id string, stream uint16, op byte, r *reader)) {
	head := make([]byte, 9)
	for {
		if _, err := io.ReadFull(src, head); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(head[5:9]))
		if _, err := io.ReadFull(src, body); err != nil {
			return
		}
		if head[0]&0x7f == 4 && head[1]&0x01 == 0 { // v4, not compressed
			look(id, binary.BigEndian.Uint16(head[2:4]), head[4], frameBody(head[1], body))
		}
		if _, err := dst.Write(append(append([]byte{}, head...), body...)); err != nil {
			return
		}
	}
}

func (sn *sniffer) request(id string, stream uint16, op byte, r *reader) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	var stmt string
	switch op {
	case 0x09: // PREPARE
		sn.pending[id+"/"+strconv.Itoa(int(stream))] = string(r.long())
		return
	case 0x07: // QUERY
		stmt = string(r.long())
	case 0x0A: // EXECUTE
		pid := string(r.short())
		if stmt = sn.prepared[pid]; stmt == "" {
			stmt = "unknown prepared id IF " + strconv.Quote(pid)
		}
	default:
		return
	}
	cons, serialCons := r.params()
	if r.bad {
		return
	}
	if strings.HasPrefix(stmt, "SELECT state, requester, version FROM contact_pairs") {
		sn.reads[cons]++
	}
	if !strings.Contains(stmt, " IF ") || strings.HasPrefix(stmt, "CREATE ") || strings.HasPrefix(stmt, "ALTER ") {
		return
	}
	// Record under the longest known-prefix form: the first words up to the
	// first placeholder are enough to tell the claims apart.
	key := stmt
	if i := strings.Index(key, "?"); i > 0 {
		key = key[:i+1]
	}
	for _, p := range wirePrefixes {
		if strings.HasPrefix(stmt, p) {
			key = p
		}
	}
	if sn.seen[key] == nil {
		sn.seen[key] = map[uint16]bool{}
	}
	sn.seen[key][serialCons] = true
}

func (sn *sniffer) response(id string, stream uint16, op byte, r *reader) {
	if op != 0x08 { // RESULT
		return
	}
	if r.int32() != 4 { // Prepared
		return
	}
	pid := string(r.short())
	sn.mu.Lock()
	defer sn.mu.Unlock()
	if stmt, ok := sn.pending[id+"/"+strconv.Itoa(int(stream))]; ok && !r.bad {
		sn.prepared[pid] = stmt
	}
}

var wirePrefixes = []string{
	"INSERT INTO users_by_handle", "UPDATE users_by_handle", "DELETE FROM users_by_handle", "UPDATE users SET password_hash",
	"UPDATE users SET updated_at", "INSERT INTO direct_conversations", "INSERT INTO contact_pairs", "UPDATE contact_pairs",
	"UPDATE messages_by_conversation SET body = ?, edited_at", "UPDATE messages_by_conversation SET body = ''",
	"INSERT INTO snowflake_leases", "UPDATE snowflake_leases", "DELETE FROM snowflake_leases", "INSERT INTO ringchat_settings",
	"INSERT INTO send_dedupe", "INSERT INTO group_create_dedupe", "DELETE FROM ws_tickets",
	"UPDATE members_by_conversation SET role",
}

func (sn *sniffer) lwts() map[string]map[uint16]bool {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	out := map[string]map[uint16]bool{}
	for k, v := range sn.seen {
		out[k] = map[uint16]bool{}
		for l := range v {
			out[k][l] = true
		}
	}
	return out
}

func (sn *sniffer) pairReads() map[uint16]int {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	out := map[uint16]int{}
	for k, v := range sn.reads {
		out[k] = v
	}
	return out
}

// frameBody skips what the header flags put before a frame's message: a
// tracing id, warnings, a custom payload.
func frameBody(flags byte, body []byte) *reader {
	r := &reader{b: body}
	if flags&0x02 != 0 {
		r.take(16)
	}
	if flags&0x08 != 0 {
		for n := r.uint16(); n > 0 && !r.bad; n-- {
			r.short()
		}
	}
	if flags&0x04 != 0 {
		for n := r.uint16(); n > 0 && !r.bad; n-- {
			r.short()
			r.long()
		}
	}
	return r
}

// reader decodes the CQL v4 notations it needs; bad is set on a short body.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) take(n int) []byte {
	if n < 0 || len(r.b) < n {
		r.bad, r.b = true, nil
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) uint16() uint16 {
	if v := r.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) int32() int32 {
	if v := r.take(4); v != nil {
		return int32(binary.BigEndian.Uint32(v))
	}
	return 0
}

func (r *reader) long() []byte  { return r.take(int(r.int32())) }
func (r *reader) short() []byte { return r.take(int(r.uint16())) }

// params reads <query_parameters>: consistency, flags, values, page size,
// paging state, then the serial consistency (0 when the flag is absent).
func (r *reader) params() (cons, serialCons uint16) {
	cons = r.uint16()
	flags := r.take(1)
	if flags == nil {
		return cons, 0
	}
	f := flags[0]
	if f&0x01 != 0 {
		for n := r.uint16(); n > 0 && !r.bad; n-- {
			if f&0x40 != 0 {
				r.short()
			}
			if l := r.int32(); l > 0 {
				r.take(int(l))
			}
		}
	}
	if f&0x04 != 0 {
		r.int32()
	}
	if f&0x08 != 0 {
		r.long()
	}
	if f&0x10 != 0 {
		serialCons = r.uint16()
	}
	return cons, serialCons
}
