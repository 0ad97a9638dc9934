// The internal listener: what other nodes call to deliver to this node's
// sockets, signed with the cluster secret (sign.go).

package delivery

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/ringchat/ringchat/repo"
)

// InternalDeliverPath is the node-to-node endpoint on the internal listener.
const InternalDeliverPath = "/internal/v1/deliver"

// maxInternalBody bounds one internal call (256 items of at most a few KiB each).
const maxInternalBody = 8 << 20

// InternalHandler serves the internal listener: only calls signed with the
// cluster secret for this process, fresh and not seen before, may deliver.
func (c *Node) InternalHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+InternalDeliverPath, func(w http.ResponseWriter, r *http.Request) {
		// The signature covers the body's hash, so it is checked before a
		// byte of the body is read: a caller without the secret gets a node
		// to buffer nothing.
		if c.cfg.Secret == "" {
			refuse(w, http.StatusUnauthorized, repo.CodeUnauthenticated, "signed internal call required")
			return
		}
		switch err := c.verifyHeaders(r, time.Now()); {
		case errors.Is(err, errNonceFull):
			w.Header().Set("Retry-After", "1")
			refuse(w, http.StatusServiceUnavailable, repo.CodeUnavailable, "too many internal calls")
			return
		case err != nil:
			refuse(w, http.StatusUnauthorized, repo.CodeUnauthenticated, "signed internal call required")
			return
		}
		if r.ContentLength < 0 {
			refuse(w, http.StatusLengthRequired, repo.CodeInvalidArgument, "internal call needs a Content-Length")
			return
		}
		if r.ContentLength > maxInternalBody {
			refuse(w, http.StatusRequestEntityTooLarge, repo.CodeTooLarge, "internal call too large")
			return
		}
		body := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			refuse(w, http.StatusBadRequest, repo.CodeInvalidArgument, "unreadable internal call")
			return
		}
		if !bodyMatches(r, body) {
			refuse(w, http.StatusUnauthorized, repo.CodeUnauthenticated, "signed internal call required")
			return
		}
		var b batch
		if err := json.Unmarshal(body, &b); err != nil {
			refuse(w, http.StatusBadRequest, repo.CodeInvalidArgument, "malformed batch")
			return
		}
		c.internalCalls.Add(1)
		for _, it := range b.Items {
			if it.Close != nil {
				for _, uid := range it.UserIDs {
					c.hub.CloseDevice(uid, it.Close.DeviceID, it.Close.Code, it.Close.Reason)
				}
				continue
			}
			var sentAt time.Time
			if it.SentAtMs > 0 {
				sentAt = time.UnixMilli(it.SentAtMs)
			}
			c.delivered(c.hub.Deliver(it.UserIDs, it.Frame), sentAt, true)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

// refuse answers an internal call with the API's error shape.
func refuse(w http.ResponseWriter, status int, code repo.Code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`+"\n", code, msg)
}
