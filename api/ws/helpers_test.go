package ws

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/gorilla/websocket"
)

func itoa(i int) string { return strconv.Itoa(i) }

func fmtSscan(s string, p *int64) (int, error) { return fmt.Sscan(s, p) }

func asClose(err error, ce **websocket.CloseError) bool { return errors.As(err, ce) }
