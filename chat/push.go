package chat

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// NotifyConfig says which push kinds this deployment carries
// (docs/notifications.md). Kinds empty: notifications are off, sends write no
// outbox rows, and registering a target is refused.
type NotifyConfig struct {
	Kinds []string
	// InsecureTargets lets webhook and Web Push URLs be http:// and name
	// private addresses: local test servers only, never production (a
	// client-supplied URL must not make chatd call its own network).
	InsecureTargets bool
	// Events: the operator's event webhook is configured (its rows are
	// written even with no push kinds; removals write one too).
	Events bool
}

// On reports whether any push kind is configured.
func (n NotifyConfig) On() bool { return len(n.Kinds) > 0 }

// Outbox reports whether sends and membership changes write outbox rows:
// for pushes, or for the operator's events.
func (n NotifyConfig) Outbox() bool { return n.On() || n.Events }

// PushTargetInput is what a device registers.
type PushTargetInput struct {
	Kind     string
	Token    string // fcm, apns
	Topic    string // apns
	Sandbox  bool   // apns
	Endpoint string // webpush endpoint, webhook URL
	P256DH   string // webpush
	Auth     string // webpush
	Previews *bool  // nil: true
	// QuietStart and QuietEnd are "HH:MM" in TimeZone (IANA), both or neither.
	QuietStart, QuietEnd, TimeZone string
}

var (
	apnsTopic = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`)
	clockTime = regexp.MustCompile(`^([01][0-9]|2[0-3]):([0-5][0-9])$`)
)

const maxTargetURL = 2048

// SetPushTarget registers (or replaces) the calling device's push target. A
// webhook target gets a signing secret, returned here (GET leaves it out).
func (a *App) SetPushTarget(ctx context.Context, me repo.Session, in PushTargetInput) (repo.PushTarget, error) {
	t, err := a.pushTarget(me, in)
	if err != nil {
		return repo.PushTarget{}, err
	}
	if t.Kind == "webhook" {
		// The same URL keeps its secret (a change of quiet hours must not
		// break the integration's verification); a new URL gets a new one.
		old, err := a.store.GetPushTarget(ctx, me.UserID, me.DeviceID)
		switch {
		case err == nil && old.Kind == t.Kind && old.Endpoint == t.Endpoint && old.Secret != "":
			t.Secret = old.Secret
		case err != nil && !repo.IsCode(err, repo.CodeNotFound):
			return repo.PushTarget{}, err
		default:
			if t.Secret, err = webhookSecret(); err != nil {
				return repo.PushTarget{}, err
			}
		}
	}
	if err := a.store.PutPushTarget(ctx, t); err != nil {
		return repo.PushTarget{}, err
	}
	return t, nil
}

// GetPushTarget returns the calling device's push target, its secret left out.
func (a *App) GetPushTarget(ctx context.Context, me repo.Session) (repo.PushTarget, error) {
	t, err := a.store.GetPushTarget(ctx, me.UserID, me.DeviceID)
	if repo.IsCode(err, repo.CodeNotFound) {
		return repo.PushTarget{}, repo.Errorf(repo.CodeNotFound, "this device has no push target")
	}
	t.Secret = ""
	return t, err
}

// DeletePushTarget removes the calling device's push target (done when there is none).
func (a *App) DeletePushTarget(ctx context.Context, me repo.Session) error {
	return a.store.DeletePushTarget(ctx, me.UserID, me.DeviceID)
}

func (a *App) pushTarget(me repo.Session, in PushTargetInput) (repo.PushTarget, error) {
	n := a.cfg.Notify
	if !n.On() {
		return repo.PushTarget{}, repo.Errorf(repo.CodeUnavailable, "push notifications are not configured on this server")
	}
	if !slices.Contains(n.Kinds, in.Kind) {
		return repo.PushTarget{}, invalid("kind must be one of %s", strings.Join(n.Kinds, ", "))
	}
	t := repo.PushTarget{UserID: me.UserID, DeviceID: me.DeviceID, Kind: in.Kind, Previews: in.Previews == nil || *in.Previews,
		UpdatedAt: a.now().UTC().Truncate(time.Millisecond)}
	var err error
	switch in.Kind {
	case "fcm":
		t.Token, err = fcmToken(in.Token)
	case "apns":
		t.Token, t.Topic, t.Sandbox, err = apnsTarget(in)
	case "webpush":
		t.Endpoint, t.P256DH, t.Auth, err = webPushTarget(in, n.InsecureTargets)
	case "webhook":
		t.Endpoint, err = targetURL("url", in.Endpoint, n.InsecureTargets)
	}
	if err != nil {
		return repo.PushTarget{}, err
	}
	if t.QuietStart, t.QuietEnd, t.TimeZone, err = quietHours(in); err != nil {
		return repo.PushTarget{}, err
	}
	return t, nil
}

// fcmToken: FCM's registration tokens are printable ASCII.
func fcmToken(tok string) (string, error) {
	if tok == "" || len(tok) > 4096 || strings.IndexFunc(tok, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0 {
		return "", invalid("token must be an FCM registration token (1 to 4,096 printable ASCII characters, no spaces)")
	}
	return tok, nil
}

func apnsTarget(in PushTargetInput) (token, topic string, sandbox bool, err error) {
	token = strings.ToLower(in.Token)
	if _, herr := hex.DecodeString(token); herr != nil || len(token) < 64 || len(token) > 200 {
		return "", "", false, invalid("token must be an APNs device token: 64 to 200 hex digits")
	}
	if !apnsTopic.MatchString(in.Topic) {
		return "", "", false, invalid("topic must be the app's bundle id")
	}
	return token, in.Topic, in.Sandbox, nil
}

func webPushTarget(in PushTargetInput, insecure bool) (endpoint, p256dh, auth string, err error) {
	if endpoint, err = targetURL("endpoint", in.Endpoint, insecure); err != nil {
		return "", "", "", err
	}
	key, kerr := decodeB64URL(in.P256DH)
	if kerr != nil || len(key) != 65 || key[0] != 4 {
		return "", "", "", invalid("keys.p256dh must be an uncompressed P-256 point, base64url")
	}
	secret, serr := decodeB64URL(in.Auth)
	if serr != nil || len(secret) != 16 {
		return "", "", "", invalid("keys.auth must be 16 bytes, base64url")
	}
	return endpoint, in.P256DH, in.Auth, nil
}

func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// targetURL checks a client-supplied URL chatd will call: absolute https
// (http only when insecure), no credentials, bounded. Names that resolve to
// private addresses are refused again when called (the senders' dialers).
func targetURL(field, raw string, insecure bool) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || len(raw) > maxTargetURL || u.Host == "" || u.User != nil || u.Fragment != "" {
		return "", invalid("%s must be an absolute https URL without credentials, at most %d characters", field, maxTargetURL)
	}
	if u.Scheme != "https" && !(insecure && u.Scheme == "http") {
		return "", invalid("%s must be an https URL", field)
	}
	if u.Hostname() == "" || (!insecure && repo.PrivateHost(u.Hostname())) {
		return "", invalid("%s must name a public host", field)
	}
	if out := u.String(); len(out) <= maxTargetURL {
		return out, nil
	}
	return "", invalid("%s must be at most %d characters", field, maxTargetURL)
}

func webhookSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook secret: %w", err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b), nil
}

func quietHours(in PushTargetInput) (start, end int, zone string, err error) {
	if in.QuietStart == "" && in.QuietEnd == "" {
		if in.TimeZone != "" {
			return 0, 0, "", invalid("quiet_hours.time_zone needs start and end")
		}
		return 0, 0, "", nil
	}
	s, ok1 := minuteOfDay(in.QuietStart)
	e, ok2 := minuteOfDay(in.QuietEnd)
	if !ok1 || !ok2 {
		return 0, 0, "", invalid("quiet_hours.start and end must both be HH:MM (24 h)")
	}
	if s == e {
		return 0, 0, "", invalid("quiet_hours.start and end must differ")
	}
	// "Local" would mean the server's zone, whatever the device's.
	if in.TimeZone == "" || in.TimeZone == "Local" || len(in.TimeZone) > 64 {
		return 0, 0, "", invalid("quiet_hours.time_zone must be an IANA time zone such as Europe/Paris")
	}
	if _, lerr := time.LoadLocation(in.TimeZone); lerr != nil {
		return 0, 0, "", invalid("quiet_hours.time_zone %q is not a known IANA time zone", in.TimeZone)
	}
	return s, e, in.TimeZone, nil
}

func minuteOfDay(s string) (int, bool) {
	m := clockTime.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	return int(m[1][0]-'0')*600 + int(m[1][1]-'0')*60 + int(m[2][0]-'0')*10 + int(m[2][1]-'0'), true
}

// InQuietHours reports whether at falls in t's quiet hours (which may wrap
// midnight: 22:00 to 07:00); zone loads a time zone (time.LoadLocation, or
// a cache of it).
func InQuietHours(t repo.PushTarget, at time.Time, zone func(string) (*time.Location, error)) bool {
	if t.QuietStart == t.QuietEnd || t.TimeZone == "" {
		return false
	}
	loc, err := zone(t.TimeZone)
	if err != nil {
		return false
	}
	local := at.In(loc)
	m := local.Hour()*60 + local.Minute()
	if t.QuietStart < t.QuietEnd {
		return m >= t.QuietStart && m < t.QuietEnd
	}
	return m >= t.QuietStart || m < t.QuietEnd
}
