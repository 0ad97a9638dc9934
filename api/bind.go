package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"reflect"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
)

// bindJSON decodes a JSON request body strictly: a wrong content type, malformed
// JSON, a wrongly typed field or trailing data is a 400 naming the problem.
func bindJSON(c echo.Context, dst any) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if mt, _, err := mime.ParseMediaType(ct); ct != "" && (err != nil || mt != echo.MIMEApplicationJSON) {
		return invalid("content type must be application/json")
	}
	// Read it whole (Echo's BodyLimit bounds it) so invalid UTF-8 is refused
	// instead of silently turned into U+FFFD by encoding/json.
	raw, err := io.ReadAll(c.Request().Body)
	if err != nil {
		return decodeError(err)
	}
	if !utf8.Valid(raw) {
		return invalid("request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return invalid("request body has data after the JSON object")
	}
	return nil
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he):
		return he // body limit
	case errors.Is(err, io.EOF):
		return invalid("request body is empty")
	case errors.As(err, &syn):
		return invalid("malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ) && typ.Field == "":
		return invalid("request body must be a JSON object")
	case errors.As(err, &typ):
		return invalid("field %q must be %s", typ.Field, jsonKind(typ.Type))
	case err.Error() == "http: request body too large":
		return tooLarge("request body too large")
	}
	// encoding/json's own text names Go types: never surface it.
	return invalid("malformed JSON")
}

// jsonKind names a Go type in JSON's words (the client never sees Go's).
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number in range"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "an object"
}
