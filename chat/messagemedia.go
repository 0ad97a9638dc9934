package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/ringchat/ringchat/repo"
)

// mediaDescriptor is what a message carries for each attached item.
type mediaDescriptor struct {
	ID          string `json:"id"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

// attachMedia checks the media of a send (the sender's own ready message
// media) and returns the descriptors as JSON for the message row.
func (a *App) attachMedia(ctx context.Context, sender int64, ids []int64) (string, error) {
	if len(ids) == 0 {
		return "", nil
	}
	if a.objects == nil {
		return "", errNoObjects()
	}
	if len(ids) > a.cfg.Media.MaxPerMsg {
		return "", invalid("at most %d media items per message", a.cfg.Media.MaxPerMsg)
	}
	descs := make([]mediaDescriptor, 0, len(ids))
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return "", invalid("media %d is attached twice", id)
		}
		m, err := a.store.GetMedia(ctx, id)
		if repo.IsCode(err, repo.CodeNotFound) || (err == nil && m.OwnerID != sender) {
			return "", invalid("media %d is not yours", id)
		}
		if err != nil {
			return "", err
		}
		if m.State != repo.MediaReady {
			return "", invalid("media %d is not complete: call POST /v1/media/%d/complete after uploading", id, id)
		}
		descs = append(descs, mediaDescriptor{ID: IDString(m.ID), ContentType: m.ContentType, Size: m.Size})
	}
	b, err := json.Marshal(descs)
	return string(b), err
}

// revokeMedia deletes the grants of a recalled message's media (its row as
// read before the recall says which).
func (a *App) revokeMedia(ctx context.Context, msg repo.Message) error {
	if msg.Media == "" || msg.Media == "[]" {
		return nil
	}
	var descs []mediaDescriptor
	if err := json.Unmarshal([]byte(msg.Media), &descs); err != nil {
		return fmt.Errorf("media of message %d: %w", msg.ID, err)
	}
	for _, d := range descs {
		id, err := strconv.ParseInt(d.ID, 10, 64)
		if err != nil {
			return fmt.Errorf("media id %q of message %d: %w", d.ID, msg.ID, err)
		}
		if err := a.store.RevokeMedia(ctx, id, msg.ConvID, msg.ID); err != nil {
			return err
		}
	}
	return nil
}
