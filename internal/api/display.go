package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/sortographer/sortographer/internal/imaging"
	"github.com/sortographer/sortographer/internal/photos"
	"github.com/sortographer/sortographer/internal/store"
)

// Display images: what the web UI's full view and a share link's page show of a photo.
//
// Originals are stored as uploaded, and browsers display only some of the accepted
// formats: an iPhone's HEIC, a TIFF or a camera RAW would show as a broken image. So
// …/display answers the original itself when the browser asking displays it, and
// otherwise a JPEG (imaging.DisplayJPEG: upright, sRGB, at most imaging.DisplaySide
// pixels a side) made from the original on the first request and kept beside the
// thumbnail (objects.Keys.Display), so a photo is decoded for display at most once.
// Deleting the image deletes it (photos.Delete). …/original always answers the
// uploaded bytes, for downloading.
//
// It is made on first view rather than at upload: an upload then decodes once (the
// thumbnail), and a photo nobody opens full size costs nothing more.

// webFormats are the media types every browser displays: their originals are shown as
// uploaded.
var webFormats = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// displaysOriginal reports whether the browser asking displays the original as stored:
// one of webFormats, or a type its Accept header names. Browsers list there the image
// types they display beyond the common ones (current Chrome, Firefox and Safari list
// image/avif), so an AVIF is shown as uploaded where it can be and as a JPEG elsewhere.
// A wildcard (image/*, */*) promises nothing.
func displaysOriginal(contentType, accept string) bool {
	return webFormats[contentType] || accepts(accept, contentType)
}

// accepts reports whether an Accept header names the media type with a non-zero q.
func accepts(accept, mediaType string) bool {
	for item := range strings.SplitSeq(accept, ",") {
		name, params, _ := strings.Cut(item, ";")
		if !strings.EqualFold(strings.TrimSpace(name), mediaType) {
			continue
		}
		for p := range strings.SplitSeq(params, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
			if q, err := strconv.ParseFloat(strings.TrimSpace(v), 64); strings.EqualFold(k, "q") && err == nil && q <= 0 {
				return false
			}
		}
		return true
	}
	return false
}

// displayTimeout bounds making one display image, waiting for decode memory included:
// past it the request answers 503 and the browser may try again.
const displayTimeout = 30 * time.Second

func (s *Server) display(w http.ResponseWriter, r *http.Request, u store.User) {
	if img, ok := s.image(w, r, u); ok {
		s.serveDisplay(w, r, img, ownPhotoCaching, notFound)
	}
}

// sharedDisplay is serveDisplay through a link, where an original the browser displays
// is answered by its shared copy unless the gallery keeps location (shares.go).
func (s *Server) sharedDisplay(w http.ResponseWriter, r *http.Request, _ string, sh store.Share) {
	img, ok := s.sharedImage(w, r, sh)
	if !ok {
		return
	}
	if !s.d.ShareKeepsLocation && displaysOriginal(img.ContentType, r.Header.Get("Accept")) {
		if !webFormats[img.ContentType] {
			w.Header().Add("Vary", "Accept")
		}
		s.serveSharedCopy(w, r, img)
		return
	}
	s.serveDisplay(w, r, img, sharedPhotoCaching, shareNotFound)
}

// serveDisplay answers the display image of img: the original when the browser displays
// it, else the stored display JPEG, made first if there is none yet.
func (s *Server) serveDisplay(w http.ResponseWriter, r *http.Request, img store.Image, cacheControl string, missing http.HandlerFunc) {
	if !webFormats[img.ContentType] {
		// The answer depends on the Accept header.
		w.Header().Add("Vary", "Accept")
	}
	if displaysOriginal(img.ContentType, r.Header.Get("Accept")) {
		s.streamObject(w, r, img, img.ObjectKey, img.ContentType, cacheControl, missing)
		return
	}
	keys, err := photos.Keys(img.OwnerID, img.ID)
	if err != nil {
		s.internalError(w, r, "naming the display image", err)
		return
	}
	s.serveDerived(w, r, img, derived{
		what: "display image", key: keys.Display, contentType: imaging.DisplayContentType, render: imaging.DisplayJPEG,
		tooLarge: "this photo cannot be shown at display size: %v; download the original instead",
	}, cacheControl, missing)
}

// derived is a picture made from an original on its first request and stored beside it
// (objects.Keys): the display JPEG, or the shared copy without location (shares.go).
type derived struct {
	// what names it in logs and errors.
	what        string
	key         string
	contentType string
	render      func(ctx context.Context, original []byte) ([]byte, error)
	// tooLarge is the message (a format with one %v, the reason) when the original
	// can never be decoded within the budget.
	tooLarge string
}

// serveDerived answers d for img: stored, or made first.
func (s *Server) serveDerived(w http.ResponseWriter, r *http.Request, img store.Image, d derived, cacheControl string, missing http.HandlerFunc) {
	s.streamObject(w, r, img, d.key, d.contentType, cacheControl, func(w http.ResponseWriter, r *http.Request) {
		s.makeDerived(w, r, img, d, cacheControl, missing)
	})
}

// makeDerived makes, stores and answers d. Requests for the same picture at once share
// one decode (a shared album's link opened by many), which finishes and is stored even
// if they all go away: the next view is then served from storage.
func (s *Server) makeDerived(w http.ResponseWriter, r *http.Request, img store.Image, d derived, cacheControl string, missing http.HandlerFunc) {
	made := s.displays.DoChan(d.key, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), displayTimeout)
		defer cancel()
		return s.storeDerived(ctx, img, d)
	})
	var res singleflight.Result
	select {
	case res = <-made:
	case <-r.Context().Done():
		s.log(r.Context()).Info("client went away while its picture was made; it is stored for the next view", "imageId", img.ID, "picture", d.what)
		w.WriteHeader(statusClientClosedRequest)
		return
	}
	switch err := res.Err; {
	case err == nil:
	case isNotFound(err):
		missing(w, r)
		return
	case errors.Is(err, imaging.ErrDecodeTooLarge):
		writeError(w, r, http.StatusRequestEntityTooLarge, "too_large_to_decode", fmt.Sprintf(d.tooLarge, err))
		return
	case errors.Is(err, context.DeadlineExceeded):
		w.Header().Set("Retry-After", "10")
		writeError(w, r, http.StatusServiceUnavailable, "busy", "the server is busy decoding other photos; try again shortly")
		return
	default:
		s.internalError(w, r, "making the "+d.what, err)
		return
	}
	pic := res.Val.([]byte)
	setPhotoHeaders(w.Header(), d.contentType, int64(len(pic)), cacheControl)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := w.Write(pic); err != nil {
		s.log(r.Context()).Info("sending photo interrupted", "imageId", img.ID, "error", err)
	}
}

// storeDerived renders d from img's original and stores it under d.key, unless it is
// stored already: a request that missed it just before another's render stored it comes
// here, and must not decode it again.
func (s *Server) storeDerived(ctx context.Context, img store.Image, d derived) ([]byte, error) {
	if pic, err := s.readObject(ctx, d.key); !isNotFound(err) {
		return pic, err
	}
	data, err := s.readObject(ctx, img.ObjectKey)
	if err != nil {
		return nil, fmt.Errorf("read the original: %w", err)
	}
	pic, err := d.render(ctx, data)
	if err != nil {
		return nil, err
	}
	if err := s.d.Objects.Put(ctx, d.key, bytes.NewReader(pic), int64(len(pic)), d.contentType); err != nil {
		return nil, fmt.Errorf("store the %s: %w", d.what, err)
	}
	// The image may have been deleted while this ran: photos.Delete removes the rows,
	// then the derived pictures, so one stored after that removal finds the row gone
	// here and removes what it stored, and one stored before it is removed there.
	_, err = s.d.Store.Image(store.WithPrimaryReads(ctx), img.OwnerID, img.ID)
	if isNotFound(err) {
		if err := s.d.Objects.Delete(ctx, d.key); err != nil {
			s.log(ctx).Error("deleting a picture of a deleted photo failed; it is orphaned", "imageId", img.ID, "key", d.key, "error", err)
		}
		return nil, fmt.Errorf("image deleted while its %s was made: %w", d.what, err)
	}
	if err != nil {
		s.log(ctx).Warn("checking the image after storing a picture of it failed; keeping it", "imageId", img.ID, "picture", d.what, "error", err)
	}
	s.log(ctx).Info("made "+d.what, "imageId", img.ID, "bytes", len(pic))
	return pic, nil
}

// readObject reads a whole stored object.
func (s *Server) readObject(ctx context.Context, key string) ([]byte, error) {
	body, _, err := s.d.Objects.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return io.ReadAll(body)
}
