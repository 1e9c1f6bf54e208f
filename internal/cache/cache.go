// Package cache keeps each user's label counts (GET /api/labels, a GROUP BY over all
// their labels) for a few seconds: in Redis, shared by every server replica and worker
// of the Gallery, or in this process when there is no Redis (the embedded default).
//
// The database stays the source of truth. Every write that changes an owner's labels
// (upload, delete, a worker committing labels) invalidates the owner's entry, and the
// entries expire after a short TTL, so an invalidation that was lost (Redis down at the
// time) heals by itself. A cache that is down, slow or flushed costs a database query,
// never a failed request.
//
// Store is where this happens: a store.Store whose LabelCounts reads through the cache
// and whose label-changing writes invalidate it. `serve` and `work` wrap their store
// with it.
package cache

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/sortographer/sortographer/internal/store"
)

// LabelCounts caches label counts per owner.
type LabelCounts interface {
	// Get returns owner's cached counts and true; on a miss, a token to hand to Put.
	Get(ctx context.Context, ownerID int64) (counts []store.LabelCount, token string, hit bool, err error)
	// Put caches counts read from the database after the Get that returned token. It
	// keeps nothing when owner was invalidated since that Get, so a read that raced a
	// write cannot cache what the write replaced.
	Put(ctx context.Context, ownerID int64, token string, counts []store.LabelCount) error
	// Invalidate drops owner's counts, and makes Put refuse fills begun before it.
	Invalidate(ctx context.Context, ownerID int64) error
	// TTL is how long an entry lives.
	TTL() time.Duration
}

// Defaults of Options.
const (
	DefaultTTL        = 30 * time.Second
	DefaultTimeout    = 100 * time.Millisecond
	DefaultMaxEntries = 1000
)

// Options tune a cache. Zero values take the defaults.
type Options struct {
	// TTL is how long counts are served before they are read again. It bounds how stale
	// an answer can be when an invalidation was lost.
	TTL time.Duration
	// Timeout bounds each Redis call; past it the request reads the database.
	Timeout time.Duration
	// MaxEntries bounds the owners an in-process cache holds.
	MaxEntries int
}

func (o Options) withDefaults() Options {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	return o
}

// Store is a store.Store whose LabelCounts is served from a cache, and whose writes that
// change an owner's labels (CreateImage, DeleteImage, SetLabels) invalidate it. Every
// other method goes straight to the database.
type Store struct {
	store.Store
	cache LabelCounts
	ttl   time.Duration
	log   *slog.Logger
}

// NewStore wraps st. log may be nil.
func NewStore(st store.Store, c LabelCounts, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{Store: st, cache: c, ttl: c.TTL(), log: log}
}

// LabelCounts answers from the cache, or reads the database and caches the answer. A
// cache error only costs the database read.
func (s *Store) LabelCounts(ctx context.Context, ownerID int64) ([]store.LabelCount, error) {
	counts, token, hit, err := s.cache.Get(ctx, ownerID)
	if hit {
		return counts, nil
	}
	if err != nil {
		s.logCacheError(ctx, "read", ownerID, err)
	}
	start := time.Now()
	// The fill reads the writer, not a read replica: a replica lagging behind the write
	// that invalidated the entry would have its stale answer cached for the whole TTL.
	// Misses are few, so the writer's load stays small.
	counts, err = s.Store.LabelCounts(store.WithPrimaryReads(ctx), ownerID)
	if err != nil {
		return nil, err
	}
	// Put's check against racing writes relies on the record of an invalidation (in
	// Redis, the generation key) outliving the fill, so a read slower than the TTL is
	// served but not kept.
	if time.Since(start) < s.ttl {
		if err := s.cache.Put(ctx, ownerID, token, counts); err != nil {
			s.logCacheError(ctx, "fill", ownerID, err)
		}
	}
	return counts, nil
}

// CreateImage records the image, then invalidates its owner's counts. A new image has
// no labels yet, so this only guards against a store that ever records labels at
// upload, for one cache call per upload.
func (s *Store) CreateImage(ctx context.Context, img store.Image) (store.Image, error) {
	out, err := s.Store.CreateImage(ctx, img)
	if err == nil {
		s.invalidate(ctx, out.OwnerID)
	}
	return out, err
}

// CreateImageWithinQuota is CreateImage within the owner's quota (the upload's).
func (s *Store) CreateImageWithinQuota(ctx context.Context, img store.Image, defaults store.Quota) (store.Image, error) {
	out, err := s.Store.CreateImageWithinQuota(ctx, img, defaults)
	if err == nil {
		s.invalidate(ctx, out.OwnerID)
	}
	return out, err
}

// DeleteErasedUser deletes what is left of an erased account, then drops its counts.
func (s *Store) DeleteErasedUser(ctx context.Context, userID int64) error {
	err := s.Store.DeleteErasedUser(ctx, userID)
	if err == nil {
		s.invalidate(ctx, userID)
	}
	return err
}

// DeleteImage deletes the image and its labels, then invalidates its owner's counts.
func (s *Store) DeleteImage(ctx context.Context, ownerID int64, id string) (store.Image, error) {
	img, err := s.Store.DeleteImage(ctx, ownerID, id)
	if err == nil {
		s.invalidate(ctx, ownerID)
	}
	return img, err
}

// SetLabels commits the labels, then invalidates the image owner's counts. The owner is
// read back by id, since a worker knows only the image.
func (s *Store) SetLabels(ctx context.Context, imageID string, c store.Classification) error {
	if err := s.Store.SetLabels(ctx, imageID, c); err != nil {
		return err
	}
	img, err := s.ImageForJob(ctx, imageID)
	if err != nil {
		// Deleted meanwhile (its delete invalidated), or the database is gone: the TTL
		// heals what is missed.
		if !errors.Is(err, store.ErrNotFound) {
			s.log.WarnContext(ctx, "found no owner to invalidate label counts for; they refresh within the TTL", "imageId", imageID, "ttl", s.ttl.String(), "error", err)
		}
		return nil
	}
	s.invalidate(ctx, img.OwnerID)
	return nil
}

// invalidate runs even when ctx is done: the write it follows has happened. A failure is
// logged every time, since it leaves the owner's counts stale for up to the TTL.
func (s *Store) invalidate(ctx context.Context, ownerID int64) {
	if err := s.cache.Invalidate(context.WithoutCancel(ctx), ownerID); err != nil {
		s.log.WarnContext(ctx, "invalidated no label counts; they refresh within the TTL", "userId", ownerID, "ttl", s.ttl.String(), "error", err)
	}
}

// logCacheError logs a failed read or fill, unless it is the cache being unreachable,
// which the cache reports once when it happens rather than on every request.
func (s *Store) logCacheError(ctx context.Context, op string, ownerID int64, err error) {
	if errors.Is(err, errUnavailable) {
		return
	}
	s.log.WarnContext(ctx, "label count cache failed; the database answered", "operation", op, "userId", ownerID, "error", err)
}

// errUnavailable wraps the errors of a cache that cannot be reached.
var errUnavailable = errors.New("label count cache unavailable")
