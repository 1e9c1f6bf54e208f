package store

import (
	"encoding/base64"
	"strconv"
	"strings"
)

// Page cursors. A listing is ordered by a time and the image id, both descending (an
// image's created_at, or when it was added to an album), and each page asks for one row
// more than it shows: that row only tells that a next page exists, which starts strictly
// after the last row shown.

// cursor is the last row of a page: its time (Unix microseconds) and image id.
type cursor struct {
	createdAt int64
	id        string
}

// Cursors are opaque to clients, and versioned so the format can change.
const cursorPrefix = "v1."

func encodeCursor(c cursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(c.createdAt, 10) + "." + c.id))
}

func decodeCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, ErrInvalidCursor
	}
	rest, ok := strings.CutPrefix(string(b), cursorPrefix)
	if !ok {
		return cursor{}, ErrInvalidCursor
	}
	ts, id, ok := strings.Cut(rest, ".")
	created, err := strconv.ParseInt(ts, 10, 64)
	if !ok || err != nil || id == "" {
		return cursor{}, ErrInvalidCursor
	}
	return cursor{createdAt: created, id: id}, nil
}

// pageBounds reads a page request: the page size and where to start (nil: the top).
func pageBounds(p PageRequest) (int, *cursor, error) {
	limit := p.Limit
	switch {
	case limit <= 0:
		limit = DefaultPageSize
	case limit > MaxPageSize:
		limit = MaxPageSize
	}
	if p.Cursor == "" {
		return limit, nil, nil
	}
	c, err := decodeCursor(p.Cursor)
	if err != nil {
		return 0, nil, err
	}
	return limit, &c, nil
}

// pageRow is a listed image and the time its listing is ordered by.
type pageRow struct {
	img Image
	at  int64
}

// toPage makes a page of the rows of a listing that asked for limit+1.
func toPage(rows []pageRow, limit int) Page {
	shown := rows[:min(len(rows), limit)]
	p := Page{Images: make([]Image, len(shown))}
	for i, r := range shown {
		p.Images[i] = r.img
	}
	if len(rows) > limit {
		last := shown[limit-1]
		p.Next = encodeCursor(cursor{createdAt: last.at, id: last.img.ID})
	}
	return p
}

// Ranked cursors, for Search: its pages are ordered by rank, then by time and id
// within a rank, so its cursor holds the last row's rank too. They are a format of
// their own: a ranked cursor given to a listing, or a listing's to Search, is
// ErrInvalidCursor.
const rankedCursorPrefix = "r1."

// rankedCursor is the last row of a ranked page.
type rankedCursor struct {
	rank MatchKind
	cursor
}

func encodeRankedCursor(c rankedCursor) string {
	return base64.RawURLEncoding.EncodeToString([]byte(rankedCursorPrefix + strconv.Itoa(int(c.rank)) + "." +
		strconv.FormatInt(c.createdAt, 10) + "." + c.id))
}

func decodeRankedCursor(s string) (rankedCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return rankedCursor{}, ErrInvalidCursor
	}
	rest, ok := strings.CutPrefix(string(b), rankedCursorPrefix)
	if !ok {
		return rankedCursor{}, ErrInvalidCursor
	}
	r, rest, ok1 := strings.Cut(rest, ".")
	ts, id, ok2 := strings.Cut(rest, ".")
	rank, err1 := strconv.Atoi(r)
	created, err2 := strconv.ParseInt(ts, 10, 64)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || id == "" || rank < int(MatchLabel) || rank > int(MatchText) {
		return rankedCursor{}, ErrInvalidCursor
	}
	return rankedCursor{rank: MatchKind(rank), cursor: cursor{createdAt: created, id: id}}, nil
}

// rankedPageBounds reads a page request of Search: the page size and where to start
// (nil: the top).
func rankedPageBounds(p PageRequest) (int, *rankedCursor, error) {
	limit, _, err := pageBounds(PageRequest{Limit: p.Limit})
	if err != nil || p.Cursor == "" {
		return limit, nil, err
	}
	c, err := decodeRankedCursor(p.Cursor)
	if err != nil {
		return 0, nil, err
	}
	return limit, &c, nil
}
