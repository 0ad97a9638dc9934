package fcmtest

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxPayload is FCM's limit on a message's payload (all but its target).
const maxPayload = 4096

var (
	ttlPattern   = regexp.MustCompile(`^\d+(\.\d{1,9})?s$`)
	topicPattern = regexp.MustCompile(`^[a-zA-Z0-9\-_.~%]+$`)
)

// Fields FCM's v1 Message and its parts have (snake_case names).
var (
	messageFields      = []string{"name", "data", "notification", "android", "webpush", "apns", "fcm_options", "token", "topic", "condition"}
	notificationFields = []string{"title", "body", "image"}
	androidFields      = []string{"collapse_key", "priority", "ttl", "restricted_package_name", "data", "notification", "fcm_options", "direct_boot_ok", "bandwidth_constrained_ok", "restricted_satellite_ok"}
	androidNoteFields  = []string{"title", "body", "icon", "color", "sound", "tag", "click_action", "body_loc_key", "body_loc_args", "title_loc_key", "title_loc_args", "channel_id", "ticker", "sticky", "event_time", "local_only", "notification_priority", "default_sound", "default_vibrate_timings", "default_light_settings", "vibrate_timings", "visibility", "notification_count", "light_settings", "image", "bypass_proxy_notification", "proxy"}
	apnsFields         = []string{"headers", "payload", "fcm_options", "live_activity_token"}
	webpushFields      = []string{"headers", "data", "notification", "fcm_options"}
)

// parseSendRequest checks a send request's body as FCM does and decodes its
// message. validateOnly is the request's validate_only.
func parseSendRequest(body []byte) (m *Message, validateOnly bool, err error) {
	var raw struct {
		Message json.RawMessage `json:"message"`
	}
	var top map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, false, invalid("", "Invalid JSON payload received. %v", err)
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber() // so integers are checked as written
	if err := d.Decode(&top); err != nil || top == nil {
		return nil, false, invalid("", "Invalid JSON payload received: the body must be an object")
	}
	req := object{path: "", m: top}
	if err := req.known("message", "validate_only"); err != nil {
		return nil, false, err
	}
	if v, path, ok := req.get("validate_only"); ok {
		b, isBool := v.(bool)
		if !isBool {
			return nil, false, invalid(path, "Invalid value at 'validate_only' (TYPE_BOOL), %s", show(v))
		}
		validateOnly = b
	}
	mo, ok, err := req.obj("message")
	if err != nil {
		return nil, false, err
	}
	if !ok {
		return nil, false, invalid("message", "The message is not set.")
	}
	mo.path = "message"
	if m, err = parseMessage(mo); err != nil {
		return nil, false, err
	}
	if n := payloadSize(raw.Message); n > maxPayload {
		return nil, false, invalid("message", "Message is too big: its payload is %d bytes, more than %d", n, maxPayload)
	}
	m.Raw = append(json.RawMessage(nil), raw.Message...)
	return m, validateOnly, nil
}

// payloadSize is what counts against maxPayload: the compact JSON of the
// message's parts other than its target and options.
func payloadSize(msg json.RawMessage) int {
	var parts map[string]json.RawMessage
	if json.Unmarshal(msg, &parts) != nil {
		return 0
	}
	n := 0
	for k, v := range parts {
		switch snake(k) {
		case "notification", "data", "android", "apns", "webpush":
			var b bytes.Buffer
			if json.Compact(&b, v) == nil {
				n += b.Len()
			}
		}
	}
	return n
}

func parseMessage(o object) (*Message, error) {
	if err := o.known(messageFields...); err != nil {
		return nil, err
	}
	m := &Message{}
	var err error
	targets := 0
	for _, f := range []struct {
		name string
		dst  *string
	}{{"token", &m.Token}, {"topic", &m.Topic}, {"condition", &m.Condition}} {
		if *f.dst, err = o.str(f.name); err != nil {
			return nil, err
		}
		if *f.dst != "" {
			targets++
		}
	}
	switch {
	case targets == 0:
		return nil, invalid("message", "Recipient of the message is not set: one of message.token, message.topic and message.condition is needed.")
	case targets > 1:
		return nil, invalid("message", "Only one of message.token, message.topic and message.condition may be set.")
	case m.Token != "" && !plausibleToken(m.Token):
		return nil, invalid("message.token", "The registration token is not a valid FCM registration token")
	case m.Topic != "" && !topicPattern.MatchString(strings.TrimPrefix(m.Topic, "/topics/")):
		return nil, invalid("message.topic", "Invalid topic name %q", m.Topic)
	}
	if m.Data, err = dataMap(o, "data"); err != nil {
		return nil, err
	}
	if m.Notification, err = parseNotification(o); err != nil {
		return nil, err
	}
	if m.Android, err = parseAndroid(o); err != nil {
		return nil, err
	}
	if m.APNs, err = parseAPNs(o); err != nil {
		return nil, err
	}
	if err := checkWebpush(o); err != nil {
		return nil, err
	}
	if fo, ok, err := o.obj("fcm_options"); err != nil {
		return nil, err
	} else if ok {
		if err := fo.known("analytics_label"); err != nil {
			return nil, err
		}
		if _, err := fo.str("analytics_label"); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// plausibleToken refuses what no registration token can be.
func plausibleToken(t string) bool {
	if len(t) > 4096 || !utf8.ValidString(t) {
		return false
	}
	return !strings.ContainsFunc(t, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}

// dataMap reads a data map, whose keys must not be FCM's reserved words.
func dataMap(o object, name string) (map[string]string, error) {
	data, err := o.stringMap(name)
	if err != nil {
		return nil, err
	}
	for k := range data {
		lk := strings.ToLower(k)
		if k == "" || lk == "from" || lk == "message_type" || lk == "notification" ||
			strings.HasPrefix(lk, "google") || strings.HasPrefix(lk, "gcm") {
			path := o.path + "." + name + "." + k
			return nil, invalid(path, "Invalid data payload key %q: it is empty or reserved", k)
		}
	}
	return data, nil
}

func parseNotification(o object) (*Notification, error) {
	no, ok, err := o.obj("notification")
	if err != nil || !ok {
		return nil, err
	}
	if err := no.known(notificationFields...); err != nil {
		return nil, err
	}
	n := &Notification{}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"title", &n.Title}, {"body", &n.Body}, {"image", &n.Image}} {
		if *f.dst, err = no.str(f.name); err != nil {
			return nil, err
		}
	}
	return n, nil
}

func checkWebpush(o object) error {
	wo, ok, err := o.obj("webpush")
	if err != nil || !ok {
		return err
	}
	if err := wo.known(webpushFields...); err != nil {
		return err
	}
	if _, err := wo.stringMap("headers"); err != nil {
		return err
	}
	if _, err := dataMap(wo, "data"); err != nil {
		return err
	}
	_, _, err = wo.obj("notification")
	return err
}
