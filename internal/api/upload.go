package api

import (
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
	"github.com/sortographer/sortographer/internal/photos"
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
// queued. A refused part only ever removes objects that no row points to. The steps
// and their order are internal/photos'.
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
	batch, ok := s.readUpload(w, r, u, mr)
	if !ok {
		return
	}
	// Everything is checked and stored: what follows finishes even if the client has
	// gone, so that no photo is left half-stored.
	ctx, cancel := detached(r.Context())
	defer cancel()
	if !s.batchFitsQuota(ctx, w, r, u.ID, batch) {
		return
	}
	recordErr := s.photos().Record(ctx, u.ID, batch)
	s.queueRecorded(ctx, batch)
	var overQuota *store.QuotaError
	if errors.As(recordErr, &overQuota) {
		// A concurrent upload of the same user took the room: the photos recorded
		// before this one stay (Record), the rest were removed.
		rej := quotaErrorRejection(overQuota)
		if n := recorded(batch); n > 0 {
			rej.message += fmt.Sprintf(" (%d photos of this request were stored before the quota was reached)", n)
		}
		s.rejectUpload(w, r, rej)
		return
	}
	if errors.Is(recordErr, store.ErrNotFound) {
		writeError(w, r, http.StatusUnauthorized, "account_deleted", "this account has been deleted")
		return
	}
	if recordErr != nil {
		s.metrics.uploads.WithLabelValues(uploadFailed).Inc()
		s.internalError(w, r, "recording the images", recordErr)
		return
	}
	for _, ph := range batch {
		if ph.State == photos.Duplicate || ph.State == photos.Repeat {
			s.metrics.uploads.WithLabelValues(uploadDuplicate).Inc()
			s.log(ctx).Info("upload is a duplicate; returned the existing image", "imageId", ph.Image.ID)
		}
	}
	s.answerUpload(w, r, u, batch)
}

// readUpload reads and checks every part of an upload, staging the new photos (their
// objects stored). When a part is refused or storing fails, it removes what it stored,
// answers, and returns false.
func (s *Server) readUpload(w http.ResponseWriter, r *http.Request, u store.User, mr *multipart.Reader) ([]photos.Photo, bool) {
	ownerID := u.ID
	var batch []photos.Photo
	room := s.newQuotaRoom(u)
	// firstBySHA256 is the index of the request's first photo with given bytes.
	firstBySHA256 := map[string]int{}
	fail := func() {
		ctx, cancel := detached(r.Context())
		defer cancel()
		s.photos().Discard(ctx, batch)
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
		if len(batch) == s.d.MaxFilesPerUpload {
			fail()
			s.refuseUpload(w, r, rejection{http.StatusRequestEntityTooLarge, "too_many_files",
				fmt.Sprintf("at most %d photos per request", s.d.MaxFilesPerUpload)})
			return nil, false
		}
		ph, sum, rej, err := s.stage(r.Context(), ownerID, part, firstBySHA256, room)
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
		if ph.State != photos.Repeat {
			firstBySHA256[sum] = len(batch)
		}
		batch = append(batch, ph)
	}
	if len(batch) == 0 {
		s.rejectUpload(w, r, rejection{http.StatusBadRequest, "no_files", "no photos in the request: send each in a \"file\" part"})
		return nil, false
	}
	return batch, true
}

// photos is the life of the server's photos: storing, recording and removing them in
// the order internal/photos decides.
func (s *Server) photos() *photos.Photos {
	return photos.New(s.d.Store, s.d.Objects, s.d.Queue, s.log).WithQuota(s.d.Quota)
}

// queueRecorded queues the photos this request recorded for classification and counts
// them.
func (s *Server) queueRecorded(ctx context.Context, batch []photos.Photo) {
	for _, ph := range batch {
		if ph.State != photos.Recorded {
			continue
		}
		s.photos().Enqueue(ctx, ph.Image, requestID(ctx))
		s.metrics.uploads.WithLabelValues(uploadAccepted).Inc()
		s.metrics.uploadBytes.Add(float64(ph.Image.SizeBytes))
		s.log(ctx).Info("uploaded image", "imageId", ph.Image.ID, "bytes", ph.Image.SizeBytes, "contentType", ph.Image.ContentType)
	}
}

// answerUpload answers a stored upload: 202 when it recorded a new image, 200 when
// every photo was a duplicate.
func (s *Server) answerUpload(w http.ResponseWriter, r *http.Request, u store.User, batch []photos.Photo) {
	out := pageJSON{Images: make([]imageJSON, 0, len(batch))}
	status := http.StatusOK // only duplicates: nothing new
	for _, ph := range batch {
		if ph.State == photos.Recorded {
			status = http.StatusAccepted
			j := toImageJSON(ph.Image, nil)
			j.QueuePosition = s.queuePosition(r.Context(), ph.Image)
			out.Images = append(out.Images, j)
			continue
		}
		j, err := s.duplicateJSON(r.Context(), u, ph.Image)
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
// stores nothing. A new one that the user's quota has no room for, with the request's
// photos before it (room), is refused. A new one has its thumbnail made and is staged (both objects stored,
// its row prepared but not recorded): the photos' Record does that once every part is
// checked. A bad file is a rejection; err is a server failure. Nothing is left behind
// either way.
func (s *Server) stage(ctx context.Context, ownerID int64, part *multipart.Part, firstBySHA256 map[string]int, room *quotaRoom) (photos.Photo, string, *rejection, error) {
	data, info, err := imaging.Inspect(part, s.d.MaxUploadBytes)
	if err != nil {
		return photos.Photo{}, "", imageRejection(err), nil
	}
	sum := sha256.Sum256(data)
	sumHex := hex.EncodeToString(sum[:])
	if i, ok := firstBySHA256[sumHex]; ok {
		return photos.Photo{State: photos.Repeat, First: i}, sumHex, nil, nil
	}
	// The user's own copy of these bytes is returned as it is: no object, thumbnail,
	// row or job. Two uploads racing past this check meet at the database's unique
	// index in Record.
	existing, err := s.d.Store.ImageBySHA256(ctx, ownerID, sumHex)
	switch {
	case err == nil:
		return photos.Photo{State: photos.Duplicate, Image: existing}, sumHex, nil, nil
	case !errors.Is(err, store.ErrNotFound):
		return photos.Photo{}, "", nil, fmt.Errorf("look for a duplicate: %w", err)
	}
	// A new photo must fit in the quota before anything is made or stored of it.
	if rej := room.admit(int64(len(data))); rej != nil {
		return photos.Photo{}, "", rej, nil
	}
	// The thumbnail waits for room in the process's decode budget, which in-process
	// workers share; an image that can never fit is refused.
	thumb, err := imaging.Thumbnail(ctx, data, info)
	if err != nil {
		if errors.Is(err, ctx.Err()) {
			return photos.Photo{}, "", nil, err
		}
		return photos.Photo{}, "", imageRejection(err), nil
	}
	width, height := info.DisplaySize()
	ph, err := s.photos().Stage(ctx, store.Image{
		OwnerID: ownerID, ContentType: info.ContentType(), SizeBytes: int64(len(data)), Width: width, Height: height,
		SHA256: sumHex, TakenAt: info.TakenAt,
	}, data, thumb)
	if err != nil {
		return photos.Photo{}, "", nil, err
	}
	return ph, sumHex, nil, nil
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
