// Package strictjson decodes one JSON document the way every Syndicate
// input is decoded: unknown fields refused, nothing after the document,
// and errors worded for the person who sent it (where, and what was
// expected). The API's bodies and queue messages go through it alike.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Decode reads exactly one JSON document from body into v.
func Decode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New(Describe(err))
	}
	// More is false at the end and at a closing bracket; only the end is
	// good.
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON document")
	}
	return nil
}

// Describe words a decode error for a human.
func Describe(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("invalid JSON at byte %d: %v", syn.Offset, err)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q: expected %s, got %s", typ.Field, typ.Type, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "invalid JSON: the document ends before it is complete"
	case errors.Is(err, io.EOF):
		return "empty body: expected a JSON document"
	}
	return err.Error()
}
