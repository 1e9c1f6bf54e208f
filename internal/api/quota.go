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
// earlier, before a request's photos are stored or while none of them is recorded, so
// that a request over the quota usually keeps nothing.

// Error codes of an upload over the quota.
const (
	// quotaExceededCode (507): the quota has no room for the photos; deleting some
	// makes room.
	quotaExceededCode = "quota_exceeded"
	// largerThanQuotaCode (413): one photo is larger than the whole storage quota.
	largerThanQuotaCode = "larger_than_quota"
)

// quotaRejection refuses adding photos of addBytes in total to u's storage, or nil
// when they fit. With addPhotos 0 it asks whether u has any room left.
func (s *Server) quotaRejection(u store.User, addBytes, addPhotos int64) *rejection {
	q := u.QuotaOverride.Apply(s.d.Quota)
	full := q.Bytes != nil && (u.UsedBytes+addBytes > *q.Bytes || addPhotos == 0 && u.UsedBytes >= *q.Bytes) ||
		q.Photos != nil && (u.UsedPhotos+addPhotos > *q.Photos || addPhotos == 0 && u.UsedPhotos >= *q.Photos)
	if !full {
		return nil
	}
	rej := quotaErrorRejection(&store.QuotaError{Quota: q, UsedBytes: u.UsedBytes, UsedPhotos: u.UsedPhotos})
	return &rej
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

// batchFitsQuota checks a request's new photos against the user's quota as it is now,
// before any of them is recorded: when they do not fit it removes their objects,
// answers and returns false, so that the request keeps nothing.
func (s *Server) batchFitsQuota(ctx context.Context, w http.ResponseWriter, r *http.Request, userID int64, batch []photos.Photo) bool {
	var addBytes, addPhotos, largest int64
	for _, ph := range batch {
		if ph.State == photos.Staged {
			addBytes += ph.Image.SizeBytes
			addPhotos++
			largest = max(largest, ph.Image.SizeBytes)
		}
	}
	if addPhotos == 0 {
		return true
	}
	u, err := s.d.Store.UserByID(ctx, userID)
	if err != nil {
		s.photos().Discard(ctx, batch)
		s.internalError(w, r, "reading the quota", err)
		return false
	}
	q := u.QuotaOverride.Apply(s.d.Quota)
	var rej *rejection
	if q.Bytes != nil && largest > *q.Bytes {
		r := quotaErrorRejection(&store.QuotaError{Quota: q, UsedBytes: u.UsedBytes, UsedPhotos: u.UsedPhotos, ImageBytes: largest})
		rej = &r
	} else {
		rej = s.quotaRejection(u, addBytes, addPhotos)
	}
	if rej == nil {
		return true
	}
	s.photos().Discard(ctx, batch)
	s.rejectUpload(w, r, *rej)
	return false
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
