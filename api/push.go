package api

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/repo"
)

// pushTargetJSON is a device's push target as the API shows it.
type pushTargetJSON struct {
	Kind        string          `json:"kind"`
	Token       string          `json:"token,omitempty"`
	Topic       string          `json:"topic,omitempty"`
	Environment string          `json:"environment,omitempty"` // apns: production | development
	Endpoint    string          `json:"endpoint,omitempty"`    // webpush
	Keys        *webPushKeys    `json:"keys,omitempty"`        // webpush
	URL         string          `json:"url,omitempty"`         // webhook
	Secret      string          `json:"secret,omitempty"`      // webhook, once, when registered
	Previews    *bool           `json:"previews,omitempty"`
	QuietHours  *quietHoursJSON `json:"quiet_hours,omitempty"`
	UpdatedAt   *time.Time      `json:"updated_at,omitempty"`
}

type webPushKeys struct {
	P256DH string `json:"p256dh"`
	Auth   string `json:"auth"`
}

type quietHoursJSON struct {
	Start    string `json:"start"`
	End      string `json:"end"`
	TimeZone string `json:"time_zone"`
}

// putPushTarget registers the calling device's push target.
func (s *Server) putPushTarget(c echo.Context) error {
	var in pushTargetJSON
	if err := bindJSON(c, &in); err != nil {
		return err
	}
	// secret and updated_at are the server's (readOnly): a client sending
	// back what it was given is not refused, and they are not taken.
	pi := chat.PushTargetInput{Kind: in.Kind, Token: in.Token, Topic: in.Topic, Previews: in.Previews}
	switch in.Environment {
	case "", "production":
	case "development":
		pi.Sandbox = true
	default:
		return invalid("environment must be production or development")
	}
	switch in.Kind {
	case "webpush":
		pi.Endpoint = in.Endpoint
		if in.Keys != nil { // missing keys are refused by the use case, after "push is off"
			pi.P256DH, pi.Auth = in.Keys.P256DH, in.Keys.Auth
		}
	case "webhook":
		pi.Endpoint = in.URL
	}
	if q := in.QuietHours; q != nil {
		pi.QuietStart, pi.QuietEnd, pi.TimeZone = q.Start, q.End, q.TimeZone
	}
	t, err := s.app.SetPushTarget(c.Request().Context(), session(c), pi)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pushTargetOut(t))
}

func (s *Server) getPushTarget(c echo.Context) error {
	t, err := s.app.GetPushTarget(c.Request().Context(), session(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, pushTargetOut(t))
}

func (s *Server) deletePushTarget(c echo.Context) error {
	if err := s.app.DeletePushTarget(c.Request().Context(), session(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func pushTargetOut(t repo.PushTarget) pushTargetJSON {
	previews, at := t.Previews, t.UpdatedAt.UTC()
	out := pushTargetJSON{Kind: t.Kind, Previews: &previews, UpdatedAt: &at, Secret: t.Secret}
	switch t.Kind {
	case "fcm":
		out.Token = t.Token
	case "apns":
		out.Token, out.Topic, out.Environment = t.Token, t.Topic, "production"
		if t.Sandbox {
			out.Environment = "development"
		}
	case "webpush":
		out.Endpoint, out.Keys = t.Endpoint, &webPushKeys{P256DH: t.P256DH, Auth: t.Auth}
	case "webhook":
		out.URL = t.Endpoint
	}
	if t.TimeZone != "" {
		out.QuietHours = &quietHoursJSON{Start: clock(t.QuietStart), End: clock(t.QuietEnd), TimeZone: t.TimeZone}
	}
	return out
}

func clock(minutes int) string {
	return time.Date(0, 1, 1, minutes/60, minutes%60, 0, 0, time.UTC).Format("15:04")
}
