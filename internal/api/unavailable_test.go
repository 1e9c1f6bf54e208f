package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/store"
)

// lostWriterStore fails calls as a database whose writer is lost does. cmd/sortographer
// TestFailoverToPromotedReplica kills a real writer; this makes each failure happen at
// a chosen step, which killing a server cannot.
type lostWriterStore struct {
	api.Store
	mu sync.Mutex
	// createErr, when set, is what CreateImage answers; with committed it records the
	// row first, as when the connection breaks between the commit and its reply.
	createErr error
	committed bool
	// userErr, when set, is what UserByID answers.
	userErr error
}

func (s *lostWriterStore) fail(createErr error, committed bool, userErr error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.createErr, s.committed, s.userErr = createErr, committed, userErr
}

func (s *lostWriterStore) CreateImageWithinQuota(ctx context.Context, img store.Image, defaults store.Quota) (store.Image, error) {
	s.mu.Lock()
	createErr, committed := s.createErr, s.committed
	s.mu.Unlock()
	if createErr == nil {
		return s.Store.CreateImageWithinQuota(ctx, img, defaults)
	}
	if committed {
		if _, err := s.Store.CreateImageWithinQuota(ctx, img, defaults); err != nil {
			return store.Image{}, err
		}
	}
	return store.Image{}, fmt.Errorf("create image: %w", createErr)
}

func (s *lostWriterStore) UserByID(ctx context.Context, id int64) (store.User, error) {
	s.mu.Lock()
	userErr := s.userErr
	s.mu.Unlock()
	if userErr != nil {
		return store.User{}, fmt.Errorf("get user %d: %w", id, userErr)
	}
	return s.Store.UserByID(ctx, id)
}

// refused is the error of a connection to a writer that is gone.
var refused = &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 3306},
	Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}

// TestUnavailableDatabase: a request that fails because the database cannot be reached
// (its writer lost, failing over, or read-only) is answered 503 with a Retry-After and
// the API's JSON error, saying nothing of the database; other failures stay 500. An
// upload whose row may have been committed when the connection broke keeps its objects,
// so that a retry answered as a duplicate finds its photo; one that surely wrote
// nothing keeps none.
func TestUnavailableDatabase(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		committed bool
		status    int
		// images and objects are what the failed upload leaves.
		images, objects int
	}{
		{"the writer refuses connections", refused, false, http.StatusServiceUnavailable, 0, 0},
		{"the connection broke after the commit", io.ErrUnexpectedEOF, true, http.StatusServiceUnavailable, 1, 2},
		{"the connection broke before the commit", mysql.ErrInvalidConn, false, http.StatusServiceUnavailable, 0, 2},
		{"the session was terminated", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, false, http.StatusServiceUnavailable, 0, 2},
		{"the server is a reader", &mysql.MySQLError{Number: 1290, Message: "The MariaDB server is running with the --read-only option"}, false, http.StatusServiceUnavailable, 0, 0},
		{"the standby refuses writes", &pgconn.PgError{Code: "25006", Message: "cannot execute INSERT in a read-only transaction"}, false, http.StatusServiceUnavailable, 0, 0},
		{"the query failed", errors.New("no such column: content_key"), false, http.StatusInternalServerError, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lost := &lostWriterStore{}
			g := newGallery(t, sqlite, filesystem, func(d *api.Deps) { lost.Store = d.Store; d.Store = lost })
			alice := g.signUp("alice")
			jpg := photo(t, 32, 32, 1)

			lost.fail(tc.err, tc.committed, nil)
			res, body := g.do(alice, "POST", "/api/images", multipartBody(t, file{"a.jpg", jpg}))
			checkRefused(t, res, body, tc.status)
			lost.fail(nil, false, nil)
			if n, objs := g.imageCount(alice), g.countObjects(); n != tc.images || objs != tc.objects {
				t.Errorf("%d images, %d objects after the failed upload; want %d, %d", n, objs, tc.images, tc.objects)
			}

			// The client retries: a committed row is answered as a duplicate, with its
			// photo.
			want := http.StatusAccepted
			if tc.images == 1 {
				want = http.StatusOK
			}
			retried := alice.uploadAs(want, file{"a.jpg", jpg})
			if _, got := g.get(alice, retried[0].OriginalURL, ""); string(got) != string(jpg) {
				t.Errorf("the retried upload's original is %d bytes, want the photo's %d", len(got), len(jpg))
			}
		})
	}

	t.Run("every request reads the user from the writer", func(t *testing.T) {
		lost := &lostWriterStore{}
		g := newGallery(t, sqlite, filesystem, func(d *api.Deps) { lost.Store = d.Store; d.Store = lost })
		alice := g.signUp("alice")
		lost.fail(nil, false, refused)
		res, body := g.do(alice, "GET", "/api/images", nil)
		checkRefused(t, res, body, http.StatusServiceUnavailable)
	})
}

// checkRefused checks a failed request's answer: status, the API's JSON error, a
// Retry-After on a 503, and nothing of the database in the body.
func checkRefused(t *testing.T, res *http.Response, body []byte, status int) {
	t.Helper()
	if res.StatusCode != status {
		t.Fatalf("answered %d %s, want %d", res.StatusCode, body, status)
	}
	var e struct {
		Error struct{ Code, Message, RequestID string }
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" || e.Error.RequestID == "" {
		t.Errorf("body is not the API's JSON error: %s", body)
	}
	if retry := res.Header.Get("Retry-After"); (status == http.StatusServiceUnavailable) != (retry != "") {
		t.Errorf("%d with Retry-After %q", status, retry)
	}
	// The request id is random hex, which can hold "3306" by chance.
	answer := string(body)
	if e.Error.RequestID != "" {
		answer = strings.ReplaceAll(answer, e.Error.RequestID, "<request id>")
	}
	for _, leak := range []string{"10.0.0.7", "3306", "dial", "refused", "EOF", "invalid connection", "read-only", "administrator", "content_key"} {
		if strings.Contains(answer, leak) {
			t.Errorf("the answer mentions %q: %s", leak, body)
		}
	}
}
