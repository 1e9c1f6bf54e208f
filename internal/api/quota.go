package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/sortographer/sortographer/internal/photos"
	"github.com/sortographer/sortographer/internal/store"
)

// Upload refusals for the quota. The database decides (store.CreateImageWithinQuota,
// atomically, however many uploads of one user run at once); the checks here refuse
// earlier: each new photo before its thumbnail is made or anything of it stored, and
// the request's photos together once more before any is recorded, so that a request
// over the quota usually keeps nothing. A photo the user already has is answered as a
// duplicate even with a full quota: it takes no room.

// Error codes of an upload over the quota.
const (
	// quotaExceededCode (507): the quota has no room for the photos; deleting some
	// makes room.
	quotaExceededCode = "quota_exceeded"
	// largerThanQuotaCode (413): one photo is larger than the whole storage quota.
	largerThanQuotaCode = "larger_than_quota"
)

// quotaRoom is what a request may still add to its user's storage, as the user stood
// when the request began: the photos it has staged so far count against it.
type quotaRoom struct {
	quota        store.Quota
	usedBytes    int64
	usedPhotos   int64
	stagedBytes  int64
	stagedPhotos int64
}

func (s *Server) newQuotaRoom(u store.User) *quotaRoom {
	return &quotaRoom{quota: u.QuotaOverride.Apply(s.d.Quota), usedBytes: u.UsedBytes, usedPhotos: u.UsedPhotos}
}

// admit counts a new photo of size bytes in, or refuses it: 413 when it is larger than
// the whole storage quota, 507 when it does not fit.
func (q *quotaRoom) admit(size int64) *rejection {
	e := &store.QuotaError{Quota: q.quota, UsedBytes: q.usedBytes + q.stagedBytes, UsedPhotos: q.usedPhotos + q.stagedPhotos, ImageBytes: size}
	if e.ImageLargerThanQuota() ||
		q.quota.Bytes != nil && e.UsedBytes+size > *q.quota.Bytes ||
		q.quota.Photos != nil && e.UsedPhotos+1 > *q.quota.Photos {
		rej := quotaErrorRejection(e)
		return &rej
	}
	q.stagedBytes += size
	q.stagedPhotos++
	return nil
}

// quotaErrorRejection is the answer to a photo over the quota: 413 for one larger than
// the whole storage quota, 507 otherwise.
func quotaErrorRejection(e *store.QuotaError) rejection {
	if e.ImageLargerThanQuota() {
		return rejection{http.StatusRequestEntityTooLarge, largerThanQuotaCode,
			fmt.Sprintf("this photo (%s) is larger than your whole storage quota (%s)", formatBytes(e.ImageBytes), formatBytes(*e.Quota.Bytes))}
	}
	msg := "your storage quota is full"
	if e.Quota.Bytes != nil {
		msg += fmt.Sprintf(": %s of %s used", formatBytes(e.UsedBytes), formatBytes(*e.Quota.Bytes))
	}
	if e.Quota.Photos != nil {
		msg += fmt.Sprintf("; %d of %d photos", e.UsedPhotos, *e.Quota.Photos)
	}
	return rejection{http.StatusInsufficientStorage, quotaExceededCode, msg + ". Delete photos to make room, or ask an admin for a larger quota"}
}

// batchFitsQuota checks a request's new photos against the user's quota as it is now
// (a concurrent upload may have taken room while this one was read), before any of
// them is recorded: when they do not fit it removes their objects, answers and returns
// false, so that the request keeps nothing. The database has the last word, atomically
// (store.CreateImageWithinQuota); this only makes a refusal whole in the usual case.
func (s *Server) batchFitsQuota(ctx context.Context, w http.ResponseWriter, r *http.Request, userID int64, batch []photos.Photo) bool {
	u, err := s.d.Store.UserByID(ctx, userID)
	if err != nil {
		s.photos().Discard(ctx, batch)
		s.internalError(w, r, "reading the quota", err)
		return false
	}
	room := s.newQuotaRoom(u)
	for _, ph := range batch {
		if ph.State != photos.Staged {
			continue
		}
		if rej := room.admit(ph.Image.SizeBytes); rej != nil {
			s.photos().Discard(ctx, batch)
			s.rejectUpload(w, r, *rej)
			return false
		}
	}
	return true
}

// recorded counts the photos of a request that it recorded.
func recorded(batch []photos.Photo) int {
	n := 0
	for _, ph := range batch {
		if ph.State == photos.Recorded {
			n++
		}
	}
	return n
}

// formatBytes writes a size in binary units, as the quota is set ("10Gi").
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
