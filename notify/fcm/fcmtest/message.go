package fcmtest

import "encoding/json"

// Message is an accepted FCM v1 message, decoded for assertions. Fields the
// client sent in lowerCamelCase (which FCM also accepts) are here too.
type Message struct {
	// Name is the message's resource name, as answered to the client.
	Name string
	// Project is the project in the request's path.
	Project string
	// Exactly one of Token, Topic and Condition is set.
	Token        string
	Topic        string
	Condition    string
	Data         map[string]string
	Notification *Notification
	Android      *Android
	APNs         *APNs
	// Raw is the "message" object exactly as sent, for anything else.
	Raw json.RawMessage
}

// Notification is the message's cross-platform notification.
type Notification struct {
	Title string
	Body  string
	Image string
}

// Android is the message's android config.
type Android struct {
	CollapseKey  string
	Priority     string
	TTL          string
	Data         map[string]string
	Notification *AndroidNotification
}

// AndroidNotification is android.notification.
type AndroidNotification struct {
	Title             string
	Body              string
	Tag               string
	ChannelID         string
	NotificationCount *int
}

// APNs is the message's apns config.
type APNs struct {
	Headers map[string]string
	// Payload is apns.payload as sent.
	Payload json.RawMessage
	// Aps is payload.aps, decoded; nil when absent.
	Aps *Aps
}

// Aps is the APNs payload's aps dictionary (the keys ringchat uses).
type Aps struct {
	Badge            *int   `json:"badge"`
	ThreadID         string `json:"thread-id"`
	Category         string `json:"category"`
	Sound            any    `json:"sound"`
	Alert            any    `json:"alert"`
	ContentAvailable int    `json:"content-available"`
	MutableContent   int    `json:"mutable-content"`
}
