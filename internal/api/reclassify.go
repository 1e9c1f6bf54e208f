package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/sortographer/sortographer/internal/store"
)

// Reclassification marks images in the database and answers 202 at once; the workers
// drain the marks into the low-priority queue (see internal/worker/reclassify.go), which
// is read only when no upload waits. An image keeps its status and old labels until the
// new ones replace them.

// reclassifyImage asks for one of the user's labelled or failed images to be classified
// again.
func (s *Server) reclassifyImage(w http.ResponseWriter, r *http.Request, u store.User) {
	// Reclassification costs classifier calls as uploads do, and counts with them.
	if s.limited(w, r, s.d.UploadLimiter, "user:"+strconv.FormatInt(u.ID, 10)) {
		return
	}
	img, err := s.d.Store.RequestReclassify(r.Context(), u.ID, r.PathValue("id"))
	switch {
	case isNotFound(err):
		notFound(w, r)
		return
	case errors.Is(err, store.ErrStillQueued):
		writeError(w, r, http.StatusConflict, "still_queued", "the image is still waiting for its first classification")
		return
	case err != nil:
		s.internalError(w, r, "requesting reclassification", err)
		return
	}
	labels, err := s.d.Store.ImageLabels(r.Context(), u.ID, img.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internalError(w, r, "reading labels", err)
		return
	}
	s.log(r.Context()).Info("requested reclassification", "imageId", img.ID)
	writeJSON(w, http.StatusAccepted, toImageJSON(img, labels))
}

type reclassifyAllJSON struct {
	// Images is how many of the user's images will be classified again.
	Images int64 `json:"images"`
}

// reclassifyAll asks for all of the user's labelled and failed images to be classified
// again: one database statement, however many images.
func (s *Server) reclassifyAll(w http.ResponseWriter, r *http.Request, u store.User) {
	if s.limited(w, r, s.d.UploadLimiter, "user:"+strconv.FormatInt(u.ID, 10)) {
		return
	}
	n, err := s.d.Store.RequestReclassifyAll(r.Context(), u.ID)
	if err != nil {
		s.internalError(w, r, "requesting reclassification", err)
		return
	}
	s.log(r.Context()).Info("requested reclassification of all images", "images", n)
	writeJSON(w, http.StatusAccepted, reclassifyAllJSON{Images: n})
}
