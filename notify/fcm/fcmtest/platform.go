package fcmtest

import (
	"encoding/json"
	"strconv"
)

func parseAndroid(o object) (*Android, error) {
	ao, ok, err := o.obj("android")
	if err != nil || !ok {
		return nil, err
	}
	if err := ao.known(androidFields...); err != nil {
		return nil, err
	}
	a := &Android{}
	if a.CollapseKey, err = ao.str("collapse_key"); err != nil {
		return nil, err
	}
	if a.Priority, err = ao.str("priority"); err != nil {
		return nil, err
	}
	if p := a.Priority; p != "" && p != "NORMAL" && p != "HIGH" {
		return nil, invalid("message.android.priority", "Invalid value at 'message.android.priority' (type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), %q: want NORMAL or HIGH", p)
	}
	if a.TTL, err = ao.str("ttl"); err != nil {
		return nil, err
	}
	if a.TTL != "" && !ttlPattern.MatchString(a.TTL) {
		return nil, invalid("message.android.ttl", "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), %q: want seconds with an s suffix, e.g. \"3.5s\"", a.TTL)
	}
	if _, err := ao.str("restricted_package_name"); err != nil {
		return nil, err
	}
	if a.Data, err = dataMap(ao, "data"); err != nil {
		return nil, err
	}
	no, ok, err := ao.obj("notification")
	if err != nil {
		return nil, err
	}
	if ok {
		if a.Notification, err = parseAndroidNotification(no); err != nil {
			return nil, err
		}
	}
	return a, nil
}

func parseAndroidNotification(no object) (*AndroidNotification, error) {
	if err := no.known(androidNoteFields...); err != nil {
		return nil, err
	}
	n := &AndroidNotification{}
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{{"title", &n.Title}, {"body", &n.Body}, {"tag", &n.Tag}, {"channel_id", &n.ChannelID}} {
		if *f.dst, err = no.str(f.name); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"icon", "color", "sound", "click_action", "ticker", "image", "body_loc_key", "title_loc_key"} {
		if _, err := no.str(name); err != nil {
			return nil, err
		}
	}
	if n.NotificationCount, err = no.int32("notification_count"); err != nil {
		return nil, err
	}
	return n, nil
}

func parseAPNs(o object) (*APNs, error) {
	ao, ok, err := o.obj("apns")
	if err != nil || !ok {
		return nil, err
	}
	if err := ao.known(apnsFields...); err != nil {
		return nil, err
	}
	a := &APNs{}
	if a.Headers, err = ao.stringMap("headers"); err != nil {
		return nil, err
	}
	if err := checkAPNsHeaders(a.Headers); err != nil {
		return nil, err
	}
	po, ok, err := ao.obj("payload")
	if err != nil || !ok {
		return a, err
	}
	if a.Payload, err = json.Marshal(po.m); err != nil {
		return nil, invalid(po.path, "unencodable payload: %v", err)
	}
	apso, ok, err := po.obj("aps") // free-form JSON: keys are APNs's own, not proto names
	if err != nil || !ok {
		return a, err
	}
	if v, present := apso.m["badge"]; present {
		if n, isNum := v.(json.Number); !isNum || !isInt(n) {
			return nil, invalid(apso.at("badge"), "Invalid value at '%s': badge must be an integer, not %s", apso.at("badge"), show(v))
		}
	}
	for _, k := range []string{"thread-id", "category"} {
		if v, present := apso.m[k]; present {
			if _, isStr := v.(string); !isStr {
				return nil, invalid(apso.at(k), "Invalid value at '%s': %s must be a string", apso.at(k), show(v))
			}
		}
	}
	b, _ := json.Marshal(apso.m) // it was just decoded from JSON
	a.Aps = &Aps{}
	if err := json.Unmarshal(b, a.Aps); err != nil {
		return nil, invalid(apso.path, "Invalid aps dictionary: %v", err)
	}
	return a, nil
}

// checkAPNsHeaders refuses what APNs would refuse once FCM passed it on.
func checkAPNsHeaders(h map[string]string) error {
	const at = "message.apns.headers."
	if id, ok := h["apns-collapse-id"]; ok && len(id) > 64 {
		return invalid(at+"apns-collapse-id", "apns-collapse-id is %d bytes; APNs allows 64", len(id))
	}
	if p, ok := h["apns-priority"]; ok && p != "1" && p != "5" && p != "10" {
		return invalid(at+"apns-priority", "apns-priority %q is not 1, 5 or 10", p)
	}
	if e, ok := h["apns-expiration"]; ok {
		if _, err := strconv.ParseUint(e, 10, 64); err != nil {
			return invalid(at+"apns-expiration", "apns-expiration %q is not a UNIX time", e)
		}
	}
	return nil
}

func isInt(n json.Number) bool {
	_, err := n.Int64()
	return err == nil
}
