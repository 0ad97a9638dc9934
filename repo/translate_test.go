package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"testing"

	"github.com/gocql/gocql"
)

func TestTranslate(t *testing.T) {
	cases := []struct {
		in   error
		want Code
	}{
		{gocql.ErrNotFound, CodeNotFound},
		{fmt.Errorf("wrapped: %w", gocql.ErrNotFound), CodeNotFound},
		{context.DeadlineExceeded, CodeUnavailable},
		{gocql.ErrNoConnections, CodeUnavailable},
		{gocql.ErrTimeoutNoResponse, CodeUnavailable},
		{&gocql.RequestErrWriteTimeout{}, CodeUnavailable},
		{&gocql.RequestErrUnavailable{}, CodeUnavailable},
		{io.EOF, CodeUnavailable},
		{fmt.Errorf("dial: %w", syscall.ECONNREFUSED), CodeUnavailable},
		{errors.New("something else"), CodeInternal},
		{Errorf(CodeConflict, "kept"), CodeConflict},
	}
	for _, c := range cases {
		got := translate("op", c.in)
		if ErrorCode(got) != c.want {
			t.Errorf("translate(%v) = %v, want %s", c.in, got, c.want)
		}
		if c.want != CodeConflict && !errors.Is(got, c.in) {
			t.Errorf("translate(%v) lost the cause", c.in)
		}
	}
	if translate("op", nil) != nil {
		t.Error("nil became an error")
	}
}
