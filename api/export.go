package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/chat"
	"github.com/ringchat/ringchat/repo"
)

// Export (docs/export.md): GET /v1/me/export streams JSON lines; the last
// says "end", or "more" with the cursor to ask for the rest.

// exportLine is one line of the stream: type and, by type, one of the rest.
type exportLine struct {
	Type         string            `json:"type"`
	User         *userJSON         `json:"user,omitempty"`
	Contact      *exportContact    `json:"contact,omitempty"`
	Block        *exportBlock      `json:"block,omitempty"`
	Conversation *exportConv       `json:"conversation,omitempty"`
	Message      *chat.MessageJSON `json:"message,omitempty"`
	Error        *errorDetail      `json:"error,omitempty"`
	// Cursor goes on after this line (on "more" and "error": where to resume).
	Cursor string `json:"cursor,omitempty"`
}

type exportContact struct {
	UserID    string    `json:"user_id"`
	State     string    `json:"state"`
	UpdatedAt time.Time `json:"updated_at"`
}

type exportBlock struct {
	UserID string `json:"user_id"`
}

type exportConv struct {
	chat.ConversationJSON
	MutedUntil *time.Time `json:"muted_until"`
	Pinned     bool       `json:"pinned"`
	Archived   bool       `json:"archived"`
	Previews   bool       `json:"previews"`
}

func (s *Server) exportMe(c echo.Context) error {
	pos := chat.ExportPosition{}
	if raw := c.QueryParam("cursor"); raw != "" {
		var err error
		if pos, err = decodeExportCursor(raw); err != nil {
			return err
		}
	}
	res := c.Response()
	// A reader that stops reading must not hold its export slot past the
	// request's time: writes fail at its deadline.
	if d, ok := c.Request().Context().Deadline(); ok {
		_ = http.NewResponseController(res.Writer).SetWriteDeadline(d)
	}
	enc := json.NewEncoder(res)
	started := false
	write := func(l exportLine) error {
		if !started { // headers at the first line: an error before it is a plain error answer
			started = true
			res.Header().Set(echo.HeaderContentType, "application/x-ndjson")
			res.Header().Set(echo.HeaderCacheControl, "no-store")
			res.WriteHeader(http.StatusOK)
		}
		return enc.Encode(l)
	}
	lines := 0
	next, err := s.app.Export(c.Request().Context(), session(c), pos, func(l chat.ExportLine) error {
		out := exportLineOf(l)
		out.Cursor = encodeExportCursor(l.Next)
		pos = l.Next
		if lines++; lines%100 == 0 {
			res.Flush()
		}
		return write(out)
	})
	// The last line gets a moment of its own: the store may have used the
	// request's time up, and Export has freed its slot by now.
	_ = http.NewResponseController(res.Writer).SetWriteDeadline(time.Now().Add(time.Second))
	switch {
	case err != nil && !started:
		return err
	case err != nil:
		// Mid-stream: the status is sent; the last line says what failed
		// and where to resume.
		code, msg, status := classify(err)
		if status >= 500 {
			s.log.Error("export failed mid-stream", "user", session(c).UserID, "code", code, "err", err)
		}
		_ = write(exportLine{Type: "error", Error: &errorDetail{Code: code, Message: msg}, Cursor: encodeExportCursor(pos)})
	case next.Phase == chat.ExportDone:
		_ = write(exportLine{Type: "end"})
	default:
		_ = write(exportLine{Type: "more", Cursor: encodeExportCursor(next)})
	}
	res.Flush()
	return nil
}

func exportLineOf(l chat.ExportLine) exportLine {
	out := exportLine{Type: l.Type}
	switch d := l.Data.(type) {
	case repo.User:
		u := privateUser(d)
		out.User = &u
	case repo.Contact:
		out.Contact = &exportContact{UserID: chat.IDString(d.ContactID), State: d.State, UpdatedAt: d.UpdatedAt.UTC()}
	case int64:
		out.Block = &exportBlock{UserID: chat.IDString(d)}
	case chat.ExportedConversation:
		st := d.Settings
		out.Conversation = &exportConv{ConversationJSON: d.View.JSON(), MutedUntil: chat.TimeOrNull(st.MutedUntil),
			Pinned: st.Pinned, Archived: st.Archived, Previews: !st.HidePreviews}
	case chat.MessageJSON:
		out.Message = &d
	}
	return out
}

// Export cursors: base64url of "export:<phase>.<conv>.<after>".
func encodeExportCursor(p chat.ExportPosition) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("export:%d.%d.%d", p.Phase, p.Conv, p.After)))
}

func decodeExportCursor(s string) (chat.ExportPosition, error) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	rest, ok := strings.CutPrefix(string(raw), "export:")
	var p chat.ExportPosition
	if err != nil || !ok {
		return p, invalid("malformed cursor")
	}
	var tail string
	if n, err := fmt.Sscanf(rest, "%d.%d.%d%s", &p.Phase, &p.Conv, &p.After, &tail); (err != nil && n != 3) || tail != "" ||
		p.Phase < chat.ExportProfile || p.Phase > chat.ExportDone || p.Conv < 0 || p.After < 0 ||
		encodeExportCursor(p) != s {
		return chat.ExportPosition{}, invalid("malformed cursor")
	}
	return p, nil
}
