package api

import (
	"github.com/labstack/echo/v4"

	"github.com/ringchat/ringchat/chat"
)

// routeScopes is the scope a bot's token needs for each authenticated route
// (chat.Allows); a login's token needs none. A route missing here is refused
// to every bot token, and the authorization tests walk the router, so a new
// route cannot go without a row.
var routeScopes = map[string]string{
	"POST /v1/auth/logout":                 chat.ScopeAnyToken,
	"POST /v1/auth/logout-all":             chat.ScopePeopleOnly,
	"POST /v1/me/password":                 chat.ScopePeopleOnly,
	"POST /v1/me/delete":                   chat.ScopePeopleOnly,
	"GET /v1/me/export":                    chat.ScopePeopleOnly,
	"GET /v1/me":                           chat.ScopeAnyToken,
	"PATCH /v1/me":                         chat.ScopePeopleOnly,
	"GET /v1/me/devices":                   chat.ScopePeopleOnly,
	"DELETE /v1/me/devices/:device_id":     chat.ScopePeopleOnly,
	"GET /v1/me/push":                      chat.ScopeMessagesRead,
	"PUT /v1/me/push":                      chat.ScopeMessagesRead,
	"DELETE /v1/me/push":                   chat.ScopeMessagesRead,
	"GET /v1/users/:user_id":               chat.ScopeMessagesRead,
	"GET /v1/users":                        chat.ScopeMessagesRead,
	"GET /v1/contacts":                     chat.ScopePeopleOnly,
	"PUT /v1/contacts/:user_id":            chat.ScopePeopleOnly,
	"DELETE /v1/contacts/:user_id":         chat.ScopePeopleOnly,
	"GET /v1/blocks":                       chat.ScopePeopleOnly,
	"PUT /v1/blocks/:user_id":              chat.ScopePeopleOnly,
	"DELETE /v1/blocks/:user_id":           chat.ScopePeopleOnly,
	"POST /v1/conversations":               chat.ScopeConversationsWrite,
	"GET /v1/conversations":                chat.ScopeMessagesRead,
	"PUT /v1/conversations/:conv_id/me":    chat.ScopeConversationsWrite,
	"POST /v1/conversations/:conv_id/read": chat.ScopeMessagesWrite,
	"GET /v1/conversations/:conv_id/messages/:msg_id/receipts": chat.ScopeMessagesRead,
	"PATCH /v1/conversations/:conv_id/messages/:msg_id":        chat.ScopeMessagesWrite,
	"DELETE /v1/conversations/:conv_id/messages/:msg_id":       chat.ScopeMessagesWrite,
	"GET /v1/conversations/:conv_id":                           chat.ScopeMessagesRead,
	"PATCH /v1/conversations/:conv_id":                         chat.ScopeConversationsWrite,
	"DELETE /v1/conversations/:conv_id":                        chat.ScopeConversationsWrite,
	"GET /v1/conversations/:conv_id/members":                   chat.ScopeMessagesRead,
	"PUT /v1/conversations/:conv_id/members/:user_id":          chat.ScopeConversationsWrite,
	"DELETE /v1/conversations/:conv_id/members/:user_id":       chat.ScopeConversationsWrite,
	"POST /v1/conversations/:conv_id/messages":                 chat.ScopeMessagesWrite,
	"GET /v1/conversations/:conv_id/messages":                  chat.ScopeMessagesRead,
	"GET /v1/sync":                      chat.ScopeMessagesRead,
	"GET /v1/presence":                  chat.ScopeMessagesRead,
	"POST /v1/ws/tickets":               chat.ScopeMessagesRead,
	"POST /v1/media":                    chat.ScopeMessagesWrite,
	"POST /v1/media/:media_id/complete": chat.ScopeMessagesWrite,
	"GET /v1/media/:media_id":           chat.ScopeMessagesRead,
	// The socket authenticates itself (serveWS); its frames have their own table (api/socket).
	"GET /v1/ws": chat.ScopeMessagesRead,
}

// RouteScopes is routeScopes, for the tests that walk the router.
func RouteScopes() map[string]string { return routeScopes }

// scopeOf is the scope c's route needs; a route without a row is for people alone.
func scopeOf(c echo.Context) string {
	scope, ok := routeScopes[c.Request().Method+" "+c.Path()]
	if !ok {
		return chat.ScopePeopleOnly
	}
	return scope
}
