package store

import (
	"errors"
	"testing"
)

// FuzzDecodeCursor feeds arbitrary ?cursor= values to the cursor decoder. Properties: a
// refusal is ErrInvalidCursor (the API's 400, never a 500); an accepted cursor has an
// id and re-encodes to a cursor that decodes to the same position (a round trip).
func FuzzDecodeCursor(f *testing.F) {
	for _, s := range []string{
		encodeCursor(cursor{createdAt: 1717243200123456, id: NewImageID()}),
		encodeCursor(cursor{createdAt: -1, id: "x.y"}),
		encodeCursor(cursor{createdAt: 0, id: "'; DROP TABLE images; --"}),
		"", "!!!", "djEuMTIz", "djEuLTkyMjMzNzIwMzY4NTQ3NzU4MDkuYQ", "v1.1.a",
		encodeRankedCursor(rankedCursor{rank: MatchText, cursor: cursor{createdAt: 1717243200123456, id: NewImageID()}}),
		encodeRankedCursor(rankedCursor{rank: 7, cursor: cursor{createdAt: 1, id: "a"}}),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkRankedCursor(t, s)
		c, err := decodeCursor(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidCursor) {
				t.Fatalf("decodeCursor(%q) = %v, want ErrInvalidCursor", s, err)
			}
			return
		}
		if c.id == "" {
			t.Fatalf("decodeCursor(%q) accepted an empty id", s)
		}
		again, err := decodeCursor(encodeCursor(c))
		if err != nil || again != c {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", c, again, err)
		}
		limit, after, err := pageBounds(PageRequest{Cursor: s, Limit: len(s) - 10})
		if err != nil || after == nil || *after != c || limit < 1 || limit > MaxPageSize {
			t.Fatalf("pageBounds(%q) = %d, %v, %v", s, limit, after, err)
		}
	})
}

// FuzzCursorRoundTrip encodes any position a listing can end on and decodes it back.
func FuzzCursorRoundTrip(f *testing.F) {
	f.Add(int64(1717243200123456), NewImageID())
	f.Add(int64(-9223372036854775808), ".")
	f.Fuzz(func(t *testing.T, createdAt int64, id string) {
		c := cursor{createdAt: createdAt, id: id}
		got, err := decodeCursor(encodeCursor(c))
		if id == "" {
			if !errors.Is(err, ErrInvalidCursor) {
				t.Fatalf("a cursor without an id decoded to %+v, %v", got, err)
			}
			return
		}
		if err != nil || got != c {
			t.Fatalf("decode(encode(%+v)) = %+v, %v", c, got, err)
		}
	})
}

// checkRankedCursor holds Search's cursors to FuzzDecodeCursor's properties: refused
// as ErrInvalidCursor, or a known rank that round-trips.
func checkRankedCursor(t *testing.T, s string) {
	c, err := decodeRankedCursor(s)
	if err != nil {
		if !errors.Is(err, ErrInvalidCursor) {
			t.Fatalf("decodeRankedCursor(%q) = %v, want ErrInvalidCursor", s, err)
		}
		return
	}
	if c.id == "" || c.rank < MatchLabel || c.rank > MatchText {
		t.Fatalf("decodeRankedCursor(%q) accepted %+v", s, c)
	}
	if again, err := decodeRankedCursor(encodeRankedCursor(c)); err != nil || again != c {
		t.Fatalf("decode(encode(%+v)) = %+v, %v", c, again, err)
	}
	if _, err := decodeCursor(s); err == nil {
		t.Fatalf("%q decodes as both a ranked and a listing cursor", s)
	}
}
