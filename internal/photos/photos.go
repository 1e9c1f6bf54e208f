// Package photos is the life of a photo in the gallery: its objects in storage (the
// original, the thumbnail and, once viewed, the display JPEG) and its rows in the
// database, created and removed in the one order decided here. The HTTP handlers read
// and check what a user sends and answer; this package stores and removes.
//
// The rule behind the order: a row is never without its objects, since a row is a
// photo the user sees and a lost object cannot be made again; objects without a row
// only waste space, and SweepOrphans finds and removes them. So objects are stored
// before the row is recorded, and removed after it is deleted. What a crash between
// two steps leaves:
//
// Upload (Stage each new photo, then Record the request's rows, then Enqueue):
//   - during or after Stage, before Record: objects without a row, an orphan;
//   - during Record: the photos recorded are complete (their objects exist), the rest
//     are orphans; a photo whose INSERT may have committed when the connection broke
//     keeps its objects (dberr.MayHaveCommitted), an orphan if it did not commit;
//   - after Record, before Enqueue: a row queued without a job, which the workers'
//     sweep of images queued too long enqueues again (internal/worker, Sweep).
//
// Delete (the rows in one transaction, then the objects):
//   - before the rows are deleted: nothing changed, the image is still there;
//   - after the rows, before the objects are removed: objects without a row, an
//     orphan.
package photos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/sortographer/sortographer/internal/dberr"
	"github.com/sortographer/sortographer/internal/imaging"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/store"
)

// Store is the database side of a photo's life.
type Store interface {
	// CreateImageWithinQuota records an image's row when it fits in its owner's quota
	// (a *store.QuotaError otherwise); store.ErrDuplicate when the owner has one of the
	// same content (the database's unique index).
	CreateImageWithinQuota(ctx context.Context, img store.Image, defaults store.Quota) (store.Image, error)
	// ImageBySHA256 returns owner's image with this content.
	ImageBySHA256(ctx context.Context, ownerID int64, sha256 string) (store.Image, error)
	// Image returns one of owner's images, or store.ErrNotFound.
	Image(ctx context.Context, ownerID int64, id string) (store.Image, error)
	// DeleteImage deletes one of owner's images with its labels, album entries and
	// share links, in one transaction, and returns it.
	DeleteImage(ctx context.Context, ownerID int64, id string) (store.Image, error)
}

// Queue takes the classification jobs of new photos.
type Queue interface {
	Enqueue(ctx context.Context, j queue.Job) error
}

// Photos stores and removes photos. Its methods are safe for concurrent use.
type Photos struct {
	store   Store
	objects objects.Store
	queue   Queue
	log     func(context.Context) *slog.Logger
	// quota is the Gallery's default quota, which Record keeps every owner within.
	quota store.Quota
}

// New returns the photos kept in st and objs, queued on q. log gives the logger of a
// request's context (nil: slog.Default()).
func New(st Store, objs objects.Store, q Queue, log func(context.Context) *slog.Logger) *Photos {
	if log == nil {
		log = func(context.Context) *slog.Logger { return slog.Default() }
	}
	return &Photos{store: st, objects: objs, queue: q, log: log}
}

// WithQuota returns p recording photos within the Gallery's default quota q (each
// owner's override applied): Record refuses a photo that does not fit.
func (p *Photos) WithQuota(q store.Quota) *Photos {
	out := *p
	out.quota = q
	return &out
}

// OwnerPrefix is the folder of every object of owner's images.
func OwnerPrefix(ownerID int64) (string, error) {
	return objects.OwnerPrefix(strconv.FormatInt(ownerID, 10))
}

// Keys are where the objects of an owner's image live.
func Keys(ownerID int64, imageID string) (objects.Keys, error) {
	return objects.ImageKeys(strconv.FormatInt(ownerID, 10), imageID)
}

// cleanupTimeout bounds removing what a failed step stored, which runs even when the
// request's context has ended (its client went away).
const cleanupTimeout = 30 * time.Second

// detached is a context for finishing a step whatever happens to ctx's request: its
// values, without its cancellation, bounded by cleanupTimeout.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// State is where a photo of an upload request is.
type State int

const (
	// Staged: its original and thumbnail are stored, its row is not recorded yet.
	Staged State = iota
	// Recorded: a new photo whose row this request recorded.
	Recorded
	// Duplicate: the user's existing image of the same content, which this request
	// must neither queue nor remove; nothing is stored for it.
	Duplicate
	// Repeat: an earlier photo of the same request holds the same bytes; nothing is
	// stored for it.
	Repeat
)

// Photo is one photo of an upload request.
type Photo struct {
	State State
	// Image is the row to record (Staged), the recorded row, or the existing image
	// (Duplicate; Repeat once recorded).
	Image store.Image
	// Keys are the stored objects of a new photo.
	Keys objects.Keys
	// First is, for a Repeat, the index in the request of its first photo with these
	// bytes.
	First int
}

// Stage stores a new photo's original and then its thumbnail under a new image id,
// and returns it Staged with its row prepared but not recorded: img gives the row's
// owner and what was read from the photo (content type, size, dimensions, SHA-256,
// time taken); the id and keys are filled in. Record records it once every photo of
// the request is staged. If storing fails, what was stored is removed.
func (p *Photos) Stage(ctx context.Context, img store.Image, original, thumbnail []byte) (Photo, error) {
	img.ID = store.NewImageID()
	keys, err := Keys(img.OwnerID, img.ID)
	if err != nil {
		return Photo{}, err
	}
	img.ObjectKey, img.ThumbnailKey = keys.Original, keys.Thumbnail
	cleanup := func() {
		ctx, cancel := detached(ctx)
		defer cancel()
		p.deleteObjects(ctx, keys.All())
	}
	if err := p.objects.Put(ctx, keys.Original, bytes.NewReader(original), int64(len(original)), img.ContentType); err != nil {
		cleanup()
		return Photo{}, fmt.Errorf("store original: %w", err)
	}
	if err := p.objects.Put(ctx, keys.Thumbnail, bytes.NewReader(thumbnail), int64(len(thumbnail)), imaging.ThumbnailContentType); err != nil {
		cleanup()
		return Photo{}, fmt.Errorf("store thumbnail: %w", err)
	}
	return Photo{State: Staged, Image: img, Keys: keys}, nil
}

// Record records the rows of a request's staged photos one by one, once every photo
// has been checked. Each row's objects already exist, so a row is complete the moment
// another request can see it, and it is never removed again for this request's sake.
// A photo that a concurrent upload recorded first (the database's unique index)
// becomes a Duplicate of that one, and its own objects are removed; a Repeat takes the
// row of its first copy. On a failure the photos not yet recorded have their objects
// removed; those recorded stay, since another request may already have answered them
// as duplicates, and so do the objects of a photo whose row may have been committed
// when the connection broke (dberr.MayHaveCommitted). A photo over its owner's quota
// is such a failure: the error wraps the *store.QuotaError.
func (p *Photos) Record(ctx context.Context, ownerID int64, batch []Photo) error {
	for i := range batch {
		ph := &batch[i]
		switch ph.State {
		case Repeat:
			// The first copy comes earlier, so it is settled by now.
			ph.Image = batch[ph.First].Image
			continue
		case Staged:
		default:
			continue
		}
		img, err := p.store.CreateImageWithinQuota(ctx, ph.Image, p.quota)
		if errors.Is(err, store.ErrDuplicate) {
			p.deleteObjects(ctx, ph.Keys.All())
			ph.State, ph.Keys = Duplicate, objects.Keys{}
			winner, err := p.store.ImageBySHA256(ctx, ownerID, ph.Image.SHA256)
			if err != nil {
				p.Discard(ctx, batch[i+1:])
				return fmt.Errorf("read the concurrent upload of the same photo: %w", err)
			}
			p.log(ctx).Info("a concurrent upload of the same photo was recorded first; removed this one's objects", "imageId", winner.ID)
			ph.Image = winner
			continue
		}
		if err != nil {
			if dberr.MayHaveCommitted(err) {
				// The connection broke after the INSERT was sent: the row may exist (it
				// may even reach the promoted replica). Objects without a row waste
				// space; a row without its objects is a photo lost for good, and the
				// client's retry would be answered with it as a duplicate.
				p.log(ctx).Warn("the database connection was lost while recording the image; kept its objects, which are orphaned if it was not recorded",
					"imageId", ph.Image.ID, "original", ph.Keys.Original, "thumbnail", ph.Keys.Thumbnail, "error", err)
				i++
			}
			p.Discard(ctx, batch[i:])
			return fmt.Errorf("record image: %w", err)
		}
		if img.Status == "" {
			img.Status = store.StatusQueued
		}
		ph.Image, ph.State = img, Recorded
	}
	return nil
}

// Enqueue queues a recorded photo for classification; requestID names the upload in
// the worker's logs. A failed enqueue loses nothing: the image is recorded as queued,
// and the workers' sweep of images queued too long enqueues it again. So it is logged,
// not returned.
func (p *Photos) Enqueue(ctx context.Context, img store.Image, requestID string) {
	job := queue.Job{ImageID: img.ID, OwnerID: img.OwnerID, Priority: queue.PriorityNormal, RequestID: requestID}
	if err := p.queue.Enqueue(ctx, job); err != nil {
		p.log(ctx).Warn("enqueuing classification failed; the sweep will retry", "imageId", img.ID, "error", err)
	}
}

// Discard removes the objects of the staged photos, which no row points to, so no
// other request has seen them.
func (p *Photos) Discard(ctx context.Context, batch []Photo) {
	for _, ph := range batch {
		if ph.State == Staged {
			p.deleteObjects(ctx, ph.Keys.All())
		}
	}
}

// Delete deletes one of owner's images: its rows first (the image with its labels,
// album entries and share links, in one transaction), then its objects (original,
// thumbnail, display JPEG). It returns the deleted image, or store.ErrNotFound when
// there is none (another user's, or deleted meanwhile). Once the rows are gone the
// image is deleted whatever happens to its objects: one that cannot be removed is
// logged and left to SweepOrphans.
//
// A display JPEG or shared copy being made while this runs is removed by its maker, which checks the
// row after storing it (internal/api, storeDerived).
func (p *Photos) Delete(ctx context.Context, ownerID int64, id string) (store.Image, error) {
	keys, err := Keys(ownerID, id)
	if err != nil {
		return store.Image{}, fmt.Errorf("name the objects of image %s: %w", id, err)
	}
	img, err := p.store.DeleteImage(ctx, ownerID, id)
	if err != nil {
		return store.Image{}, err
	}
	p.deleteObjects(ctx, []string{img.ObjectKey, img.ThumbnailKey, keys.Display, keys.Shared})
	return img, nil
}

// deleteObjects removes objects, logging those it cannot: they are orphans, which
// SweepOrphans removes later.
func (p *Photos) deleteObjects(ctx context.Context, keys []string) {
	for _, k := range keys {
		if k == "" {
			continue
		}
		if err := p.objects.Delete(ctx, k); err != nil {
			p.log(ctx).Error("deleting object failed; it is orphaned", "key", k, "error", err)
		}
	}
}
