package api

import (
	"context"
	"net/http"

	"github.com/sortographer/sortographer/internal/store"
)

// RecentWrites remembers which users wrote a moment ago (cache.RedisRecentWrites, shared
// by every server replica, or cache.MemoryRecentWrites for one).
type RecentWrites interface {
	// Wrote records that user wrote just now.
	Wrote(ctx context.Context, userID int64) error
	// WroteRecently reports whether user wrote within the window; on an error the
	// answer is unknown.
	WroteRecently(ctx context.Context, userID int64) (bool, error)
}

// readYourWrites runs a signed-in user's request so that they see their own writes even
// when lag-tolerant reads go to a lagging read replica:
//   - a request that may write (any method but GET, HEAD and OPTIONS) marks the user as
//     having written, before it runs and again as its response starts, and reads from
//     the writer itself;
//   - a request by a user marked within the window reads from the writer too, whichever
//     server replica took the write.
//
// Marking before the response leaves is what makes the mark visible to the user's very
// next request, which may reach another replica. When the marks cannot be read (Redis
// down), reads go to the writer: fresh answers cost load, never correctness.
func (s *Server) readYourWrites(w http.ResponseWriter, r *http.Request, u store.User, h func(http.ResponseWriter, *http.Request, store.User)) {
	marks := s.d.RecentWrites
	if marks == nil {
		h(w, r, u)
		return
	}
	ctx := r.Context()
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		recent, err := marks.WroteRecently(ctx, u.ID)
		if err != nil {
			s.log(ctx).Debug("found no recent-writes mark; reading from the database writer", "error", err)
		}
		if recent || err != nil {
			r = r.WithContext(store.WithPrimaryReads(ctx))
		}
		h(w, r, u)
	default:
		s.markWrote(ctx, u.ID)
		r = r.WithContext(store.WithPrimaryReads(ctx))
		h(&markOnResponse{ResponseWriter: w, mark: func() { s.markWrote(ctx, u.ID) }}, r, u)
	}
}

func (s *Server) markWrote(ctx context.Context, userID int64) {
	if err := s.d.RecentWrites.Wrote(context.WithoutCancel(ctx), userID); err != nil {
		// The user may briefly miss their own write on another request; logged at
		// debug, since the cache reports Redis going down once by itself.
		s.log(ctx).Debug("recorded no recent-writes mark", "error", err)
	}
}

// markOnResponse calls mark once, just before the response's header goes out.
type markOnResponse struct {
	http.ResponseWriter
	mark   func()
	marked bool
}

func (m *markOnResponse) markOnce() {
	if !m.marked {
		m.marked = true
		m.mark()
	}
}

func (m *markOnResponse) WriteHeader(code int) {
	m.markOnce()
	m.ResponseWriter.WriteHeader(code)
}

func (m *markOnResponse) Write(b []byte) (int, error) {
	m.markOnce()
	return m.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flush, deadlines).
func (m *markOnResponse) Unwrap() http.ResponseWriter { return m.ResponseWriter }
