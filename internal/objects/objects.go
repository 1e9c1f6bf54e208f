// Package objects stores photos and thumbnails: on a local filesystem (one machine, or a
// ReadWriteMany volume) or in an S3 bucket (any S3-compatible store).
//
// Keys are never built from what a user typed: ImageKeys makes them from server-generated
// ids only, and every Store refuses a key that could escape its root or prefix.
package objects

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrNotFound is returned (wrapped) by Get and Head for a key that holds no object.
var ErrNotFound = errors.New("object not found")

// ErrInvalidKey is returned (wrapped) for a key that ValidateKey refuses.
var ErrInvalidKey = errors.New("invalid object key")

// ErrSizeMismatch is returned (wrapped) by Put when the reader's length differs from the
// size the caller declared. Nothing is stored then.
var ErrSizeMismatch = errors.New("object size mismatch")

// DefaultContentType is reported for an object stored without a content type.
const DefaultContentType = "application/octet-stream"

// Info describes a stored object.
type Info struct {
	Key         string
	Size        int64
	ContentType string
	// Modified is when the object was last written; List reports it (the photos'
	// orphan sweep leaves young objects alone), Get and Head leave it zero.
	Modified time.Time
}

// Store keeps objects by key. Implementations are safe for concurrent use.
type Store interface {
	// Put stores size bytes from r under key, replacing any object there. Readers see
	// either the old object or the new one, never a part. A size of -1 means unknown;
	// otherwise a reader of another length fails with ErrSizeMismatch and stores nothing.
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Get opens the object under key. The caller closes the reader. A missing object
	// fails with ErrNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// Head describes the object under key without reading it. A missing object fails
	// with ErrNotFound.
	Head(ctx context.Context, key string) (Info, error)
	// Delete removes the object under key. Deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// Ping reports whether the store can be used now: for a readiness probe.
	Ping(ctx context.Context) error
}

// Exists reports whether an object is stored under key.
func Exists(ctx context.Context, s Store, key string) (bool, error) {
	_, err := s.Head(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	default:
		return false, err
	}
}

// maxKeyLen is S3's limit on a key, in bytes, less room for a prefix.
const maxKeyLen = 900

// ValidateKey accepts a key made of slash-separated segments of letters, digits, '-', '_'
// and '.', where no segment is empty or starts with a dot. That rules out absolute
// paths, "..", backslashes and hidden files (the filesystem store keeps its own
// metadata in dot-files).
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrInvalidKey)
	}
	if len(key) > maxKeyLen || !utf8.ValidString(key) {
		return fmt.Errorf("%w: %.40q…: too long or not UTF-8", ErrInvalidKey, key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" {
			return fmt.Errorf("%w: %q: empty segment or leading or trailing slash", ErrInvalidKey, key)
		}
		if seg[0] == '.' {
			return fmt.Errorf("%w: %q: segment starts with a dot", ErrInvalidKey, key)
		}
		for _, c := range seg {
			if !keyChar(c) {
				return fmt.Errorf("%w: %q: character %q not allowed", ErrInvalidKey, key, c)
			}
		}
	}
	return nil
}

func keyChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
}

// Lister is a Store that can enumerate its keys, which backups need (to find earlier
// backups and the photos no kept backup still uses). Both stores implement it.
type Lister interface {
	// List calls fn for every object whose key starts with prefix, in ascending key
	// order, stopping at fn's first error. A prefix that holds nothing is not an error.
	List(ctx context.Context, prefix string, fn func(Info) error) error
}

// Syncer is a Store whose Puts may be buffered until Sync (a Batched Filesystem).
type Syncer interface {
	Sync(ctx context.Context) error
}

// Sync syncs s when it buffers writes (Syncer), and does nothing otherwise (S3 stores
// an object durably before PutObject answers).
func Sync(ctx context.Context, s Store) error {
	if sy, ok := s.(Syncer); ok {
		return sy.Sync(ctx)
	}
	return nil
}
