package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sortographer/sortographer/internal/imaging"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/store"
)

type labelJSON struct {
	Name       string   `json:"name"`
	Confidence float64  `json:"confidence"`
	Categories []string `json:"categories,omitempty"`
}

type imageJSON struct {
	ID          string            `json:"id"`
	Status      store.ImageStatus `json:"status"`
	ContentType string            `json:"contentType"`
	SizeBytes   int64             `json:"sizeBytes"`
	Width       int               `json:"width"`
	Height      int               `json:"height"`
	TakenAt     *time.Time        `json:"takenAt"`
	CreatedAt   time.Time         `json:"createdAt"`
	LabelledAt  *time.Time        `json:"labelledAt"`
	// FailureReason says why classification failed (status "failed").
	FailureReason string `json:"failureReason,omitempty"`
	// QueuePosition is how many jobs are ahead while queued (0: next or in progress);
	// null when not queued or unknown.
	QueuePosition *int64      `json:"queuePosition"`
	Labels        []labelJSON `json:"labels"`
	OriginalURL   string      `json:"originalUrl"`
	ThumbnailURL  string      `json:"thumbnailUrl"`
	// Duplicate is set in an upload's answer when the user already had this photo (same
	// bytes): the existing image is returned and nothing new is stored.
	Duplicate bool `json:"duplicate,omitempty"`
}

type pageJSON struct {
	Images []imageJSON `json:"images"`
	// Next is the cursor of the following page, for ?cursor=; null on the last page.
	Next *string `json:"next"`
}

func toImageJSON(img store.Image, labels []store.Label) imageJSON {
	j := imageJSON{
		ID: img.ID, Status: img.Status, ContentType: img.ContentType, SizeBytes: img.SizeBytes,
		Width: img.Width, Height: img.Height, TakenAt: timeJSON(img.TakenAt), CreatedAt: img.CreatedAt.UTC(),
		LabelledAt: timeJSON(img.LabelledAt), FailureReason: img.FailureReason,
		Labels:       make([]labelJSON, 0, len(labels)),
		OriginalURL:  "/api/images/" + img.ID + "/original",
		ThumbnailURL: "/api/images/" + img.ID + "/thumbnail",
	}
	for _, l := range labels {
		j.Labels = append(j.Labels, labelJSON{Name: l.Name, Confidence: l.Confidence, Categories: l.Categories})
	}
	return j
}

// queuePosition asks the queue where a queued image stands; nil when it cannot say.
func (s *Server) queuePosition(ctx context.Context, img store.Image) *int64 {
	if img.Status != store.StatusQueued {
		return nil
	}
	n, err := s.d.Queue.Position(ctx, img.ID)
	if err != nil {
		if !errors.Is(err, queue.ErrNotQueued) {
			s.log(ctx).Warn("reading queue position failed", "imageId", img.ID, "error", err)
		}
		return nil
	}
	return &n
}

// uploadField is the multipart field holding photos; repeat it for several.
const uploadField = "file"

// multipartOverhead allows for part headers and boundaries on top of the file bytes.
const multipartOverhead = 64 << 10

// staged is an upload stored and recorded but not yet queued, or (duplicate) the
// user's existing image of the same content, which the upload must neither queue nor
// remove.
type staged struct {
	img       store.Image
	keys      objects.Keys
	duplicate bool
}

// rejection is a bad file: its status and message.
type rejection struct {
	status  int
	code    string
	message string
}

// upload takes one or many photos as multipart/form-data, each in a "file" part. Parts
// are read one at a time, so memory holds one photo at once. Every file is checked;
// if any is refused the request fails and nothing of it is kept. The accepted photos
// are queued for classification only once all of them are stored. A photo the user
// already has (same SHA-256) is answered with the existing image, flagged duplicate,
// and nothing is stored for it; a request of duplicates only answers 200, not 202.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, u store.User) {
	if s.limited(w, r, s.d.UploadLimiter, "user:"+strconv.FormatInt(u.ID, 10)) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, int64(s.d.MaxFilesPerUpload)*(s.d.MaxUploadBytes+multipartOverhead))
	mr, err := r.MultipartReader()
	if err != nil {
		s.metrics.uploads.WithLabelValues(uploadRejected).Inc()
		writeError(w, r, http.StatusBadRequest, "bad_upload", "send the photos as multipart/form-data, each in a \"file\" part")
		return
	}
	var done []staged
	rollback := func() {
		ctx, cancel := detached(r.Context())
		defer cancel()
		for _, st := range done {
			if !st.duplicate {
				s.discard(ctx, u.ID, st)
			}
		}
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			rollback()
			s.rejectUpload(w, r, readRejection(err))
			return
		}
		if part.FormName() != uploadField {
			_ = part.Close()
			continue
		}
		if len(done) == s.d.MaxFilesPerUpload {
			rollback()
			s.rejectUpload(w, r, rejection{http.StatusRequestEntityTooLarge, "too_many_files",
				fmt.Sprintf("at most %d photos per request", s.d.MaxFilesPerUpload)})
			return
		}
		st, rej, err := s.stage(r.Context(), u.ID, part)
		_ = part.Close()
		if err != nil {
			rollback()
			s.metrics.uploads.WithLabelValues(uploadFailed).Inc()
			s.internalError(w, r, "storing the photo", err)
			return
		}
		if rej != nil {
			rollback()
			if name := part.FileName(); name != "" {
				rej.message = fmt.Sprintf("%s: %s", strings.ToValidUTF8(name, "?"), rej.message)
			}
			s.rejectUpload(w, r, *rej)
			return
		}
		done = append(done, st)
	}
	if len(done) == 0 {
		s.rejectUpload(w, r, rejection{http.StatusBadRequest, "no_files", "no photos in the request: send each in a \"file\" part"})
		return
	}
	out := pageJSON{Images: make([]imageJSON, 0, len(done))}
	status := http.StatusOK // only duplicates: nothing new
	for _, st := range done {
		if st.duplicate {
			j, err := s.duplicateJSON(r.Context(), u, st.img)
			if err != nil {
				s.internalError(w, r, "reading the existing image", err)
				return
			}
			out.Images = append(out.Images, j)
			s.metrics.uploads.WithLabelValues(uploadDuplicate).Inc()
			s.log(r.Context()).Info("upload is a duplicate; returned the existing image", "imageId", st.img.ID)
			continue
		}
		status = http.StatusAccepted
		// A failed enqueue loses nothing: the image is recorded as queued, and the
		// workers' sweep of images queued too long enqueues it again.
		if err := s.d.Queue.Enqueue(r.Context(), queue.Job{ImageID: st.img.ID, OwnerID: u.ID, Priority: queue.PriorityNormal}); err != nil {
			s.log(r.Context()).Warn("enqueuing classification failed; the sweep will retry", "imageId", st.img.ID, "error", err)
		}
		j := toImageJSON(st.img, nil)
		j.QueuePosition = s.queuePosition(r.Context(), st.img)
		out.Images = append(out.Images, j)
		s.metrics.uploads.WithLabelValues(uploadAccepted).Inc()
		s.metrics.uploadBytes.Add(float64(st.img.SizeBytes))
		s.log(r.Context()).Info("uploaded image", "imageId", st.img.ID, "bytes", st.img.SizeBytes, "contentType", st.img.ContentType)
	}
	writeJSON(w, status, out)
}

// duplicateJSON is the existing image an upload duplicated, with its labels.
func (s *Server) duplicateJSON(ctx context.Context, u store.User, img store.Image) (imageJSON, error) {
	labels, err := s.d.Store.ImageLabels(ctx, u.ID, img.ID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return imageJSON{}, err
	}
	j := toImageJSON(img, labels)
	j.QueuePosition = s.queuePosition(ctx, img)
	j.Duplicate = true
	return j, nil
}

func (s *Server) rejectUpload(w http.ResponseWriter, r *http.Request, rej rejection) {
	s.metrics.uploads.WithLabelValues(uploadRejected).Inc()
	s.log(r.Context()).Info("rejected upload", "status", rej.status, "reason", rej.code)
	writeError(w, r, rej.status, rej.code, rej.message)
}

// readRejection classifies a failure to read the request body.
func readRejection(err error) rejection {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return rejection{http.StatusRequestEntityTooLarge, "too_large", "the request is too large"}
	}
	return rejection{http.StatusBadRequest, "bad_upload", "malformed multipart body"}
}

// stage checks one photo, makes its thumbnail and stores both, then records the image.
// A bad file is a rejection; err is a server failure. Nothing is left behind either way.
func (s *Server) stage(ctx context.Context, ownerID int64, part *multipart.Part) (staged, *rejection, error) {
	data, info, err := imaging.Inspect(part, s.d.MaxUploadBytes)
	if err != nil {
		return staged{}, imageRejection(err), nil
	}
	sum := sha256.Sum256(data)
	sumHex := hex.EncodeToString(sum[:])
	// The user's own copy of these bytes is returned as it is: no object, thumbnail,
	// row or job. Two uploads racing past this check meet at the database's unique
	// index below.
	existing, err := s.d.Store.ImageBySHA256(ctx, ownerID, sumHex)
	switch {
	case err == nil:
		return staged{img: existing, duplicate: true}, nil, nil
	case !errors.Is(err, store.ErrNotFound):
		return staged{}, nil, fmt.Errorf("look for a duplicate: %w", err)
	}
	thumb, err := s.makeThumbnail(ctx, data, info)
	if err != nil {
		if errors.Is(err, ctx.Err()) {
			return staged{}, nil, err
		}
		return staged{}, imageRejection(err), nil
	}
	id := store.NewImageID()
	keys, err := objects.ImageKeys(strconv.FormatInt(ownerID, 10), id)
	if err != nil {
		return staged{}, nil, err
	}
	st := staged{keys: keys}
	width, height := info.DisplaySize()
	cleanup := func() {
		ctx, cancel := detached(ctx)
		defer cancel()
		s.deleteObjects(ctx, keys)
	}
	if err := s.d.Objects.Put(ctx, keys.Original, bytes.NewReader(data), int64(len(data)), info.ContentType()); err != nil {
		cleanup()
		return staged{}, nil, fmt.Errorf("store original: %w", err)
	}
	if err := s.d.Objects.Put(ctx, keys.Thumbnail, bytes.NewReader(thumb), int64(len(thumb)), imaging.ThumbnailContentType); err != nil {
		cleanup()
		return staged{}, nil, fmt.Errorf("store thumbnail: %w", err)
	}
	// The row is recorded even when the client has just gone: a cancelled INSERT may
	// still commit, and the cleanup below would then leave a row whose objects are
	// deleted (found by TestUploadBurstOfCancelledUploads). A gone client's upload is
	// removed whole by the request's rollback instead.
	recordCtx, cancelRecord := detached(ctx)
	defer cancelRecord()
	st.img, err = s.d.Store.CreateImage(recordCtx, store.Image{
		ID: id, OwnerID: ownerID, ObjectKey: keys.Original, ThumbnailKey: keys.Thumbnail,
		ContentType: info.ContentType(), SizeBytes: int64(len(data)), Width: width, Height: height,
		SHA256: sumHex, TakenAt: info.TakenAt,
	})
	if errors.Is(err, store.ErrDuplicate) {
		// A concurrent upload of the same photo recorded it first: return that one and
		// remove what this upload stored.
		cleanup()
		existing, err := s.d.Store.ImageBySHA256(ctx, ownerID, sumHex)
		if err != nil {
			return staged{}, nil, fmt.Errorf("read the concurrent upload of the same photo: %w", err)
		}
		s.log(ctx).Info("a concurrent upload of the same photo was recorded first; removed this one's objects", "imageId", existing.ID)
		return staged{img: existing, duplicate: true}, nil, nil
	}
	if err != nil {
		cleanup()
		return staged{}, nil, fmt.Errorf("record image: %w", err)
	}
	if st.img.Status == "" {
		st.img.Status = store.StatusQueued
	}
	return st, nil, nil
}

func imageRejection(err error) *rejection {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		r := readRejection(err)
		return &r
	}
	status := imaging.HTTPStatus(err)
	code := map[int]string{
		http.StatusBadRequest:            "bad_image",
		http.StatusRequestEntityTooLarge: "too_large",
		http.StatusUnsupportedMediaType:  "unsupported_type",
		http.StatusUnprocessableEntity:   "too_many_pixels",
	}[status]
	if code == "" {
		// Reading the body failed (the client went away): a bad request, not ours.
		return &rejection{http.StatusBadRequest, "bad_upload", "the upload could not be read"}
	}
	return &rejection{status, code, err.Error()}
}

// makeThumbnail decodes within the server-wide pixel budget, waiting for room.
func (s *Server) makeThumbnail(ctx context.Context, data []byte, info imaging.Info) ([]byte, error) {
	weight := min(int64(info.Width)*int64(info.Height), imaging.MaxPixels)
	if err := s.decode.Acquire(ctx, max(weight, 1)); err != nil {
		return nil, err
	}
	defer s.decode.Release(max(weight, 1))
	return imaging.Thumbnail(data, info)
}

// discard removes a staged upload: its rows, then its objects.
func (s *Server) discard(ctx context.Context, ownerID int64, st staged) {
	if _, err := s.d.Store.DeleteImage(ctx, ownerID, st.img.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log(ctx).Error("removing a rejected upload's row failed", "imageId", st.img.ID, "error", err)
	}
	s.deleteObjects(ctx, st.keys)
}

func (s *Server) deleteObjects(ctx context.Context, keys objects.Keys) {
	for _, k := range keys.All() {
		if err := s.d.Objects.Delete(ctx, k); err != nil {
			s.log(ctx).Error("deleting object failed; it is orphaned", "key", k, "error", err)
		}
	}
}

// pageRequest reads ?limit= and ?cursor=.
func pageRequest(w http.ResponseWriter, r *http.Request) (store.PageRequest, bool) {
	p := store.PageRequest{Cursor: r.URL.Query().Get("cursor")}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxPageSize {
			writeError(w, r, http.StatusBadRequest, "bad_limit", fmt.Sprintf("limit must be 1 to %d", store.MaxPageSize))
			return p, false
		}
		p.Limit = n
	}
	return p, true
}

// writePage answers a page of images, each with its labels.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, u store.User, page store.Page, err error) {
	if errors.Is(err, store.ErrInvalidCursor) {
		writeError(w, r, http.StatusBadRequest, "bad_cursor", "invalid page cursor")
		return
	}
	if err != nil {
		s.internalError(w, r, "listing images", err)
		return
	}
	out := pageJSON{Images: make([]imageJSON, 0, len(page.Images))}
	if page.Next != "" {
		out.Next = &page.Next
	}
	for _, img := range page.Images {
		labels, err := s.d.Store.ImageLabels(r.Context(), u.ID, img.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) { // deleted meanwhile
			s.internalError(w, r, "reading labels", err)
			return
		}
		out.Images = append(out.Images, toImageJSON(img, labels))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listImages(w http.ResponseWriter, r *http.Request, u store.User) {
	p, ok := pageRequest(w, r)
	if !ok {
		return
	}
	page, err := s.d.Store.ListImages(r.Context(), u.ID, p)
	s.writePage(w, r, u, page, err)
}

// maxSearchLabels caps the labels of one search.
const maxSearchLabels = 10

// search finds the user's images carrying every label given, as ?label=dog&label=beach
// or ?labels=dog,beach.
func (s *Server) search(w http.ResponseWriter, r *http.Request, u store.User) {
	var names []string
	seen := map[string]bool{}
	q := r.URL.Query()
	add := func(v string) {
		n := strings.ToLower(strings.Join(strings.Fields(v), " "))
		if n != "" && !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, v := range q["label"] {
		add(v)
	}
	for _, v := range q["labels"] {
		for l := range strings.SplitSeq(v, ",") {
			add(l)
		}
	}
	if len(names) == 0 || len(names) > maxSearchLabels {
		writeError(w, r, http.StatusBadRequest, "bad_labels", fmt.Sprintf("give 1 to %d labels: ?label=dog&label=beach", maxSearchLabels))
		return
	}
	p, ok := pageRequest(w, r)
	if !ok {
		return
	}
	page, err := s.d.Store.SearchByLabels(r.Context(), u.ID, names, p)
	s.writePage(w, r, u, page, err)
}

type labelCountJSON struct {
	Name   string `json:"name"`
	Images int64  `json:"images"`
}

// labels lists the user's labels with their image counts. `serve` hands the server a
// cache.Store, which answers this from a short-TTL cache that uploads, deletes and label
// commits invalidate, and falls back to the database whenever the cache fails.
func (s *Server) labels(w http.ResponseWriter, r *http.Request, u store.User) {
	counts, err := s.d.Store.LabelCounts(r.Context(), u.ID)
	if err != nil {
		s.internalError(w, r, "counting labels", err)
		return
	}
	out := struct {
		Labels []labelCountJSON `json:"labels"`
	}{Labels: make([]labelCountJSON, 0, len(counts))}
	for _, c := range counts {
		out.Labels = append(out.Labels, labelCountJSON{Name: c.Name, Images: c.Images})
	}
	writeJSON(w, http.StatusOK, out)
}

// image reads the image named in the path, answering 404 for a missing one and for
// another user's alike.
func (s *Server) image(w http.ResponseWriter, r *http.Request, u store.User) (store.Image, bool) {
	img, err := s.d.Store.Image(r.Context(), u.ID, r.PathValue("id"))
	if isNotFound(err) {
		notFound(w, r)
		return img, false
	}
	if err != nil {
		s.internalError(w, r, "reading the image", err)
		return img, false
	}
	return img, true
}

func (s *Server) getImage(w http.ResponseWriter, r *http.Request, u store.User) {
	img, ok := s.image(w, r, u)
	if !ok {
		return
	}
	labels, err := s.d.Store.ImageLabels(r.Context(), u.ID, img.ID)
	if isNotFound(err) {
		notFound(w, r)
		return
	}
	if err != nil {
		s.internalError(w, r, "reading labels", err)
		return
	}
	j := toImageJSON(img, labels)
	j.QueuePosition = s.queuePosition(r.Context(), img)
	writeJSON(w, http.StatusOK, j)
}

// deleteImage removes the objects first, then the rows: should the second step fail,
// the image is still listed and deleting it again finishes the job (deleting a missing
// object succeeds), so nothing is ever orphaned in storage.
func (s *Server) deleteImage(w http.ResponseWriter, r *http.Request, u store.User) {
	img, ok := s.image(w, r, u)
	if !ok {
		return
	}
	ctx, cancel := detached(r.Context())
	defer cancel()
	for _, k := range []string{img.ObjectKey, img.ThumbnailKey} {
		if k == "" {
			continue
		}
		if err := s.d.Objects.Delete(ctx, k); err != nil {
			s.internalError(w, r, "deleting the photo from storage", err)
			return
		}
	}
	if _, err := s.d.Store.DeleteImage(ctx, u.ID, img.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internalError(w, r, "deleting the image", err)
		return
	}
	s.log(r.Context()).Info("deleted image", "imageId", img.ID)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) original(w http.ResponseWriter, r *http.Request, u store.User) {
	img, ok := s.image(w, r, u)
	if !ok {
		return
	}
	s.serveObject(w, r, img, img.ObjectKey, img.ContentType)
}

func (s *Server) thumbnail(w http.ResponseWriter, r *http.Request, u store.User) {
	img, ok := s.image(w, r, u)
	if !ok {
		return
	}
	s.serveObject(w, r, img, img.ThumbnailKey, imaging.ThumbnailContentType)
}

// serveObject streams a stored object. The content type is the one recorded when the
// content was checked, never a guess, and browsers are told not to sniff or run it.
func (s *Server) serveObject(w http.ResponseWriter, r *http.Request, img store.Image, key, contentType string) {
	body, info, err := s.d.Objects.Get(r.Context(), key)
	if isNotFound(err) {
		notFound(w, r)
		return
	}
	if err != nil {
		s.internalError(w, r, "reading the photo", err)
		return
	}
	defer body.Close()
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.FormatInt(info.Size, 10))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	// Ids are never reused and photos never change: the browser may keep them, but
	// only for this user.
	h.Set("Cache-Control", "private, max-age=86400, immutable")
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, body); err != nil {
		s.log(r.Context()).Info("sending photo interrupted", "imageId", img.ID, "error", err)
	}
}
