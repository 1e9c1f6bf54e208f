// Package accounts erases a user's account (the GDPR erasure an admin or the user asks
// for): their photos' objects in storage, every row of theirs in the database, and
// finally the user's row.
//
// The order, and what a crash between two steps leaves:
//
//  1. The account is marked for erasure (store.RequestErasure, by the API). From then
//     on it is gone for sign-in and every request, and no upload is recorded for it.
//     A crash after the mark: the mark stays, and ResumeErasures finishes the job.
//  2. Each image is deleted as a user deletes one (internal/photos, Delete): its rows,
//     then its objects. A crash between: objects without a row, which step 3 finds.
//  3. Everything still stored under the owner's folder (images/<ownerID>/: orphans of
//     crashed uploads or deletes, a display image made meanwhile) is removed. A
//     failure here stops the erasure before step 4, so the mark stays and it resumes.
//  4. What rows are left (albums, share links) and the user's row go, in one
//     transaction (store.DeleteErasedUser). After that nothing names the user.
//
// Queued classification jobs of the erased images find no row and end (internal/worker);
// the label-count cache entry is dropped with the row (internal/cache).
package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/photos"
	"github.com/sortographer/sortographer/internal/store"
)

// Store is the database side of an erasure.
type Store interface {
	photos.Store
	// ListImages pages through owner's images.
	ListImages(ctx context.Context, ownerID int64, page store.PageRequest) (store.Page, error)
	// ErasuresPending lists accounts marked for erasure.
	ErasuresPending(ctx context.Context, limit int) ([]int64, error)
	// DeleteErasedUser deletes what rows are left of a marked account, and its row.
	DeleteErasedUser(ctx context.Context, userID int64) error
}

// Eraser erases accounts marked for erasure. Its methods are safe for concurrent use,
// also by several server replicas at once: every step is idempotent.
type Eraser struct {
	store   Store
	objects objects.Store
	log     *slog.Logger
}

// NewEraser returns an Eraser of accounts in st whose photos are in objs. log may be
// nil.
func NewEraser(st Store, objs objects.Store, log *slog.Logger) *Eraser {
	if log == nil {
		log = slog.Default()
	}
	return &Eraser{store: st, objects: objs, log: log}
}

// Erase erases an account already marked for erasure (store.RequestErasure): all of it,
// or, on an error, what it could, leaving the mark so that a later Erase or
// ResumeErasures finishes. An account already erased is not an error.
func (e *Eraser) Erase(ctx context.Context, userID int64) error {
	// The writer, so that the listing shows every image the user has now.
	ctx = store.WithPrimaryReads(ctx)
	ph := photos.New(e.store, e.objects, nil, func(context.Context) *slog.Logger { return e.log })
	images := 0
	for {
		page, err := e.store.ListImages(ctx, userID, store.PageRequest{Limit: store.MaxPageSize})
		if err != nil {
			return fmt.Errorf("erase user %d: list images: %w", userID, err)
		}
		if len(page.Images) == 0 {
			break
		}
		for _, img := range page.Images {
			if _, err := ph.Delete(ctx, userID, img.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("erase user %d: delete image %s: %w", userID, img.ID, err)
			}
			images++
		}
	}
	left, err := e.removeFolder(ctx, userID)
	if err != nil {
		return fmt.Errorf("erase user %d: %w", userID, err)
	}
	err = e.store.DeleteErasedUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // erased meanwhile by another replica
	}
	if err != nil {
		return fmt.Errorf("erase user %d: %w", userID, err)
	}
	e.log.Info("erased account", "userId", userID, "images", images, "leftoverObjects", left)
	return nil
}

// removeFolder removes every object under the owner's folder and returns how many.
func (e *Eraser) removeFolder(ctx context.Context, userID int64) (int, error) {
	lister, ok := e.objects.(objects.Lister)
	if !ok {
		return 0, fmt.Errorf("the object store %T cannot list the account's objects", e.objects)
	}
	prefix, err := photos.OwnerPrefix(userID)
	if err != nil {
		return 0, err
	}
	var keys []string
	if err := lister.List(ctx, prefix, func(i objects.Info) error {
		keys = append(keys, i.Key)
		return nil
	}); err != nil {
		return 0, fmt.Errorf("list the account's objects: %w", err)
	}
	for _, k := range keys {
		if err := e.objects.Delete(ctx, k); err != nil {
			return 0, fmt.Errorf("remove object %s: %w", k, err)
		}
	}
	return len(keys), nil
}

// pendingBatch is how many marked accounts one ResumePending pass takes.
const pendingBatch = 100

// ResumePending erases the accounts marked for erasure, oldest mark first, and returns
// how many it finished. One that fails is logged and left for the next pass.
func (e *Eraser) ResumePending(ctx context.Context) (int, error) {
	ids, err := e.store.ErasuresPending(ctx, pendingBatch)
	if err != nil {
		return 0, err
	}
	done := 0
	var errs []error
	for _, id := range ids {
		if err := e.Erase(ctx, id); err != nil {
			errs = append(errs, err)
			continue
		}
		done++
	}
	return done, errors.Join(errs...)
}

// DefaultResumeInterval is how often a server looks for erasures to resume.
const DefaultResumeInterval = time.Minute

// ResumeErasures runs ResumePending at once and then every interval until ctx ends: a
// server started after a crash finishes the erasures it interrupted.
func (e *Eraser) ResumeErasures(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := e.ResumePending(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("resuming account erasures failed; will retry", "erased", n, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
