package api

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/chat"
)

// messagePath reads a message route's conversation and message ids.
func messagePath(c echo.Context) (convID, msgID int64, err error) {
	if convID, err = parseID("conversation id", c.Param("conv_id")); err != nil {
		return 0, 0, err
	}
	msgID, err = parseID("message id", c.Param("msg_id"))
	return convID, msgID, err
}

type editRequest struct {
	Body string `json:"body"`
}

// editMessage is chat.App.Edit: the sender changes the body within EditWindow.
func (s *Server) editMessage(c echo.Context) error {
	convID, msgID, err := messagePath(c)
	if err != nil {
		return err
	}
	var req editRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	msg, err := s.app.Edit(c.Request().Context(), session(c), convID, msgID, req.Body)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"message": chat.MessageOut(msg)})
}

// recallMessage is chat.App.Recall: the message is withdrawn for everyone.
func (s *Server) recallMessage(c echo.Context) error {
	convID, msgID, err := messagePath(c)
	if err != nil {
		return err
	}
	if err := s.app.Recall(c.Request().Context(), session(c), convID, msgID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
