package photos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/store"
)

// DefaultOrphanGrace is how long an image's objects may go without a row before
// SweepOrphans takes them for orphans. An upload stores its objects before it records
// the row, and a restore copies photos before it loads the rows, so objects without a
// row are normal for as long as a request or a restore runs: far under a day.
const DefaultOrphanGrace = 24 * time.Hour

// imagesPrefix is the folder of every image's objects (objects.ImageKeys).
const imagesPrefix = "images/"

// Orphan is one image's objects that no row points to.
type Orphan struct {
	OwnerID int64
	ImageID string
	// Keys are its objects, in key order.
	Keys []string
	// Modified is when the newest of them was written.
	Modified time.Time
}

// Orphans calls fn for each image whose objects under images/ have no row in the
// database and were all written before writtenBefore, in key order. Only the keys that
// objects.ImageKeys makes are considered; anything else under images/ is left alone.
// Each image costs one read of its row, from the writer, so that a row just recorded
// is never missed on a lagging reader. It stops at the first error (fn's, listing, or
// a read other than store.ErrNotFound): an image whose row cannot be read is never
// taken for an orphan.
//
// The objects store must be an objects.Lister (both stores are). Never point it at
// storage that another database's rows also use, such as a Gallery restored from an S3
// backup into the same bucket: the other gallery's photos would all be orphans here.
func (p *Photos) Orphans(ctx context.Context, writtenBefore time.Time, fn func(Orphan) error) error {
	lister, ok := p.objects.(objects.Lister)
	if !ok {
		return fmt.Errorf("find orphaned photos: the object store %T cannot list its objects", p.objects)
	}
	// A folder's keys come together, in key order: gather one image's, then decide.
	var cur Orphan
	flush := func() error {
		if len(cur.Keys) == 0 || !cur.Modified.Before(writtenBefore) {
			return nil
		}
		_, err := p.store.Image(store.WithPrimaryReads(ctx), cur.OwnerID, cur.ImageID)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, store.ErrNotFound):
			return fn(cur)
		default:
			return fmt.Errorf("find orphaned photos: read image %s: %w", cur.ImageID, err)
		}
	}
	err := lister.List(ctx, imagesPrefix, func(i objects.Info) error {
		ownerID, imageID, ok := imageOf(i.Key)
		if !ok {
			return nil
		}
		if ownerID != cur.OwnerID || imageID != cur.ImageID {
			if err := flush(); err != nil {
				return err
			}
			cur = Orphan{OwnerID: ownerID, ImageID: imageID}
		}
		cur.Keys = append(cur.Keys, i.Key)
		if i.Modified.After(cur.Modified) {
			cur.Modified = i.Modified
		}
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

// imageOf names the image whose object key is one that objects.ImageKeys makes.
func imageOf(key string) (ownerID int64, imageID string, ok bool) {
	parts := strings.Split(key, "/")
	if len(parts) != 4 || parts[0]+"/" != imagesPrefix {
		return 0, "", false
	}
	ownerID, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || strconv.FormatInt(ownerID, 10) != parts[1] {
		return 0, "", false
	}
	keys, err := Keys(ownerID, parts[2])
	if err != nil || !slices.Contains(keys.All(), key) {
		return 0, "", false
	}
	return ownerID, parts[2], true
}

// SweepOrphans removes the objects of every image that has had no row for longer than
// grace (Orphans), and returns how many images' objects it removed. Crashes between
// the steps of an upload or a delete leave such objects (see the package comment); so
// do the uploads that kept their objects because their row may have been committed,
// when it was not.
func (p *Photos) SweepOrphans(ctx context.Context, grace time.Duration) (int, error) {
	n := 0
	err := p.Orphans(ctx, time.Now().Add(-grace), func(o Orphan) error {
		for _, k := range o.Keys {
			if err := p.objects.Delete(ctx, k); err != nil {
				return fmt.Errorf("remove orphaned photo: %w", err)
			}
		}
		n++
		p.log(ctx).Info("removed the objects of an image without a row", "imageId", o.ImageID, "ownerId", o.OwnerID,
			"objects", len(o.Keys), "modified", o.Modified)
		return nil
	})
	return n, err
}
