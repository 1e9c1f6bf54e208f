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

	"github.com/sortographer/sortographer/internal/imaging"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/store"
)

// uploadField is the multipart field holding photos; repeat it for several.
const uploadField = "file"

// multipartOverhead allows for part headers and boundaries on top of the file bytes.
const multipartOverhead = 64 << 10

// badUploadCode is the error code of a body that could not be read or parsed.
const badUploadCode = "bad_upload"

// statusClientClosedRequest is what the request log and metrics record for an upload
// whose client went away before the answer (nginx's 499): no client reads it.
const statusClientClosedRequest = 499

// stagedKind says what a checked photo of an upload request is.
type stagedKind int

const (
	// stagedNew: its original and thumbnail are stored, its row is not recorded yet.
	stagedNew stagedKind = iota
	// stagedRecorded: a new photo whose row this request recorded.
	stagedRecorded
	// stagedDuplicate: the user's existing image of the same content (that this
	// request must neither queue nor remove); nothing is stored for it.
	stagedDuplicate
	// stagedRepeat: an earlier part of the same request holds the same bytes; nothing
	// is stored for it.
	stagedRepeat
)

// staged is one checked photo of an upload request.
type staged struct {
	kind stagedKind
	// img is the row to record (stagedNew), the recorded row, or the existing image.
	img store.Image
	// keys are the stored objects of a new photo.
	keys objects.Keys
	// first is, for a repeat, the index of the request's first photo with these bytes.
	first int
}

// rejection is a bad file: its status and message.
type rejection struct {
	status  int
	code    string
	message string
}

// upload takes one or many photos as multipart/form-data, each in a "file" part. Parts
// are read one at a time, so memory holds one photo at once. Every file is checked;
// if any is refused the request fails and nothing of it is kept. A photo the user
// already has (same SHA-256) is answered with the existing image, flagged duplicate,
// and nothing is stored for it; a request of duplicates only answers 200, not 202.
//
// A request works in two steps so that no other request ever sees what it may still
// have to remove: while reading, new photos' objects are stored but no row is
// recorded; once every part has been checked, the rows are recorded and the photos
// queued. A refused part only ever removes objects that no row points to.
func (s *Server) upload(w http.ResponseWriter, r *http.Request, u store.User) {
	if s.limited(w, r, s.d.UploadLimiter, "user:"+strconv.FormatInt(u.ID, 10)) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, int64(s.d.MaxFilesPerUpload)*(s.d.MaxUploadBytes+multipartOverhead))
	mr, err := r.MultipartReader()
	if err != nil {
		s.metrics.uploads.WithLabelValues(uploadRejected).Inc()
		writeError(w, r, http.StatusBadRequest, badUploadCode, "send the photos as multipart/form-data, each in a \"file\" part")
		return
	}
	photos, ok := s.readUpload(w, r, u.ID, mr)
	if !ok {
		return
	}
	// Everything is checked and stored: what follows finishes even if the client has
	// gone, so that no photo is left half-stored.
	ctx, cancel := detached(r.Context())
	defer cancel()
	recordErr := s.record(ctx, u.ID, photos)
	s.queueRecorded(ctx, u.ID, photos)
	if recordErr != nil {
		s.metrics.uploads.WithLabelValues(uploadFailed).Inc()
		s.internalError(w, r, "recording the images", recordErr)
		return
	}
	for _, st := range photos {
		if st.kind == stagedDuplicate || st.kind == stagedRepeat {
			s.metrics.uploads.WithLabelValues(uploadDuplicate).Inc()
			s.log(ctx).Info("upload is a duplicate; returned the existing image", "imageId", st.img.ID)
		}
	}
	s.answerUpload(w, r, u, photos)
}

// readUpload reads and checks every part of an upload, storing the objects of the new
// photos. When a part is refused or storing fails, it removes what it stored, answers,
// and returns false.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request, ownerID int64, mr *multipart.Reader) ([]staged, bool) {
	var photos []staged
	// firstBySHA256 is the index of the request's first photo with given bytes.
	firstBySHA256 := map[string]int{}
	fail := func() {
		ctx, cancel := detached(r.Context())
		defer cancel()
		s.discardStaged(ctx, photos)
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			fail()
			s.refuseUpload(w, r, readRejection(err))
			return nil, false
		}
		if part.FormName() != uploadField {
			_ = part.Close()
			continue
		}
		if len(photos) == s.d.MaxFilesPerUpload {
			fail()
			s.refuseUpload(w, r, rejection{http.StatusRequestEntityTooLarge, "too_many_files",
				fmt.Sprintf("at most %d photos per request", s.d.MaxFilesPerUpload)})
			return nil, false
		}
		st, sum, rej, err := s.stage(r.Context(), ownerID, part, firstBySHA256)
		_ = part.Close()
		if err != nil {
			fail()
			if !s.clientGone(w, r, "storing the photo", err) {
				s.metrics.uploads.WithLabelValues(uploadFailed).Inc()
				s.internalError(w, r, "storing the photo", err)
			}
			return nil, false
		}
		if rej != nil {
			fail()
			if name := part.FileName(); name != "" {
				rej.message = fmt.Sprintf("%s: %s", strings.ToValidUTF8(name, "?"), rej.message)
			}
			s.refuseUpload(w, r, *rej)
			return nil, false
		}
		if st.kind != stagedRepeat {
			firstBySHA256[sum] = len(photos)
		}
		photos = append(photos, st)
	}
	if len(photos) == 0 {
		s.rejectUpload(w, r, rejection{http.StatusBadRequest, "no_files", "no photos in the request: send each in a \"file\" part"})
		return nil, false
	}
	return photos, true
}

// record records the rows of a request's new photos one by one, once every part has
// been checked. Each row's objects already exist, so a row is complete the moment
// another request can see it, and it is never removed again for this request's sake.
// A photo that a concurrent upload recorded first (the database's unique index)
// becomes a duplicate of that one, and its own objects are removed. On a failure the
// photos not yet recorded have their objects removed; those recorded stay, since
// another request may already have answered them as duplicates, and so do the objects
// of a photo whose row may have been committed when the connection broke.
func (s *Server) record(ctx context.Context, ownerID int64, photos []staged) error {
	for i := range photos {
		st := &photos[i]
		switch st.kind {
		case stagedRepeat:
			// The first copy comes earlier, so it is settled by now.
			st.img = photos[st.first].img
			continue
		case stagedNew:
		default:
			continue
		}
		img, err := s.d.Store.CreateImage(ctx, st.img)
		if errors.Is(err, store.ErrDuplicate) {
			s.deleteObjects(ctx, st.keys)
			st.kind, st.keys = stagedDuplicate, objects.Keys{}
			winner, err := s.d.Store.ImageBySHA256(ctx, ownerID, st.img.SHA256)
			if err != nil {
				s.discardStaged(ctx, photos[i+1:])
				return fmt.Errorf("read the concurrent upload of the same photo: %w", err)
			}
			s.log(ctx).Info("a concurrent upload of the same photo was recorded first; removed this one's objects", "imageId", winner.ID)
			st.img = winner
			continue
		}
		if err != nil {
			if mayHaveCommitted(err) {
				// The connection broke after the INSERT was sent: the row may exist (it
				// may even reach the promoted replica). Objects without a row waste
				// space; a row without its objects is a photo lost for good, and the
				// client's retry would be answered with it as a duplicate.
				s.log(ctx).Warn("the database connection was lost while recording the image; kept its objects, which are orphaned if it was not recorded",
					"imageId", st.img.ID, "original", st.keys.Original, "thumbnail", st.keys.Thumbnail, "error", err)
				i++
			}
			s.discardStaged(ctx, photos[i:])
			return fmt.Errorf("record image: %w", err)
		}
		if img.Status == "" {
			img.Status = store.StatusQueued
		}
		st.img, st.kind = img, stagedRecorded
	}
	return nil
}

// queueRecorded queues the photos this request recorded for classification and counts
// them.
func (s *Server) queueRecorded(ctx context.Context, ownerID int64, photos []staged) {
	for _, st := range photos {
		if st.kind != stagedRecorded {
			continue
		}
		// A failed enqueue loses nothing: the image is recorded as queued, and the
		// workers' sweep of images queued too long enqueues it again.
		job := queue.Job{ImageID: st.img.ID, OwnerID: ownerID, Priority: queue.PriorityNormal, RequestID: requestID(ctx)}
		if err := s.d.Queue.Enqueue(ctx, job); err != nil {
			s.log(ctx).Warn("enqueuing classification failed; the sweep will retry", "imageId", st.img.ID, "error", err)
		}
		s.metrics.uploads.WithLabelValues(uploadAccepted).Inc()
		s.metrics.uploadBytes.Add(float64(st.img.SizeBytes))
		s.log(ctx).Info("uploaded image", "imageId", st.img.ID, "bytes", st.img.SizeBytes, "contentType", st.img.ContentType)
	}
}

// answerUpload answers a stored upload: 202 when it recorded a new image, 200 when
// every photo was a duplicate.
func (s *Server) answerUpload(w http.ResponseWriter, r *http.Request, u store.User, photos []staged) {
	out := pageJSON{Images: make([]imageJSON, 0, len(photos))}
	status := http.StatusOK // only duplicates: nothing new
	for _, st := range photos {
		if st.kind == stagedRecorded {
			status = http.StatusAccepted
			j := toImageJSON(st.img, nil)
			j.QueuePosition = s.queuePosition(r.Context(), st.img)
			out.Images = append(out.Images, j)
			continue
		}
		j, err := s.duplicateJSON(r.Context(), u, st.img)
		if err != nil {
			if r.Context().Err() != nil {
				s.log(r.Context()).Info("client went away before the answer; its photos are stored", "error", err)
				w.WriteHeader(statusClientClosedRequest)
				return
			}
			s.internalError(w, r, "reading the existing image", err)
			return
		}
		out.Images = append(out.Images, j)
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

// clientGone handles an upload that failed because its client went away (the
// request's context is cancelled): the client's doing, not a server error, so it is
// logged at INFO and counted as cancelled, and the 499 is for the request log and
// metrics only. It returns false, doing nothing, while the client is still there.
func (s *Server) clientGone(w http.ResponseWriter, r *http.Request, during string, err error) bool {
	if r.Context().Err() == nil {
		return false
	}
	s.metrics.uploads.WithLabelValues(uploadCancelled).Inc()
	s.log(r.Context()).Info("client went away during the upload; kept nothing of it", "during", during, "error", err)
	w.WriteHeader(statusClientClosedRequest)
	return true
}

// refuseUpload answers a refused upload, unless the body could not be read because
// the client went away.
func (s *Server) refuseUpload(w http.ResponseWriter, r *http.Request, rej rejection) {
	if rej.code == badUploadCode && s.clientGone(w, r, "reading the upload", errors.New(rej.message)) {
		return
	}
	s.rejectUpload(w, r, rej)
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
	return rejection{http.StatusBadRequest, badUploadCode, "malformed multipart body"}
}

// stage checks one photo of an upload and returns it with its SHA-256. A photo that
// an earlier part of the request holds (firstBySHA256) or that the user already has
// stores nothing. A new one has its thumbnail made and both objects stored, and its
// row prepared but not recorded: record does that once every part is checked. A bad
// file is a rejection; err is a server failure. Nothing is left behind either way.
func (s *Server) stage(ctx context.Context, ownerID int64, part *multipart.Part, firstBySHA256 map[string]int) (staged, string, *rejection, error) {
	data, info, err := imaging.Inspect(part, s.d.MaxUploadBytes)
	if err != nil {
		return staged{}, "", imageRejection(err), nil
	}
	sum := sha256.Sum256(data)
	sumHex := hex.EncodeToString(sum[:])
	if i, ok := firstBySHA256[sumHex]; ok {
		return staged{kind: stagedRepeat, first: i}, sumHex, nil, nil
	}
	// The user's own copy of these bytes is returned as it is: no object, thumbnail,
	// row or job. Two uploads racing past this check meet at the database's unique
	// index in record.
	existing, err := s.d.Store.ImageBySHA256(ctx, ownerID, sumHex)
	switch {
	case err == nil:
		return staged{kind: stagedDuplicate, img: existing}, sumHex, nil, nil
	case !errors.Is(err, store.ErrNotFound):
		return staged{}, "", nil, fmt.Errorf("look for a duplicate: %w", err)
	}
	// The thumbnail waits for room in the process's decode budget, which in-process
	// workers share; an image that can never fit is refused.
	thumb, err := imaging.Thumbnail(ctx, data, info)
	if err != nil {
		if errors.Is(err, ctx.Err()) {
			return staged{}, "", nil, err
		}
		return staged{}, "", imageRejection(err), nil
	}
	id := store.NewImageID()
	keys, err := imageKeys(ownerID, id)
	if err != nil {
		return staged{}, "", nil, err
	}
	cleanup := func() {
		ctx, cancel := detached(ctx)
		defer cancel()
		s.deleteObjects(ctx, keys)
	}
	if err := s.d.Objects.Put(ctx, keys.Original, bytes.NewReader(data), int64(len(data)), info.ContentType()); err != nil {
		cleanup()
		return staged{}, "", nil, fmt.Errorf("store original: %w", err)
	}
	if err := s.d.Objects.Put(ctx, keys.Thumbnail, bytes.NewReader(thumb), int64(len(thumb)), imaging.ThumbnailContentType); err != nil {
		cleanup()
		return staged{}, "", nil, fmt.Errorf("store thumbnail: %w", err)
	}
	width, height := info.DisplaySize()
	return staged{kind: stagedNew, keys: keys, img: store.Image{
		ID: id, OwnerID: ownerID, ObjectKey: keys.Original, ThumbnailKey: keys.Thumbnail,
		ContentType: info.ContentType(), SizeBytes: int64(len(data)), Width: width, Height: height,
		SHA256: sumHex, TakenAt: info.TakenAt,
	}}, sumHex, nil, nil
}

func imageRejection(err error) *rejection {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		r := readRejection(err)
		return &r
	}
	status := imaging.HTTPStatus(err)
	code := ""
	for _, c := range []struct {
		err  error
		code string
	}{
		{imaging.ErrEmpty, "bad_image"},
		{imaging.ErrCorrupt, "bad_image"},
		{imaging.ErrFileTooLarge, "too_large"},
		{imaging.ErrDecodeTooLarge, "too_large_to_decode"},
		{imaging.ErrUnsupportedFormat, "unsupported_type"},
		{imaging.ErrUnsupportedRAW, "unsupported_type"},
		{imaging.ErrTooManyPixels, "too_many_pixels"},
		{imaging.ErrNoPreview, "no_preview"},
	} {
		if errors.Is(err, c.err) {
			code = c.code
			break
		}
	}
	if code == "" {
		// Reading the body failed: the client went away, or sent a broken body.
		return &rejection{http.StatusBadRequest, badUploadCode, "the upload could not be read"}
	}
	return &rejection{status, code, err.Error()}
}

// discardStaged removes the objects of the new photos not recorded: no row points to
// them, so no other request has seen them.
func (s *Server) discardStaged(ctx context.Context, photos []staged) {
	for _, st := range photos {
		if st.kind == stagedNew {
			s.deleteObjects(ctx, st.keys)
		}
	}
}

func (s *Server) deleteObjects(ctx context.Context, keys objects.Keys) {
	for _, k := range keys.All() {
		if err := s.d.Objects.Delete(ctx, k); err != nil {
			s.log(ctx).Error("deleting object failed; it is orphaned", "key", k, "error", err)
		}
	}
}
