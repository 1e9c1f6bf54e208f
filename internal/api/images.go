package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sortographer/sortographer/internal/imaging"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/store"
)

type labelJSON struct {
	Name       string   `json:"name"`
	Confidence float64  `json:"confidence"`
	Categories []string `json:"categories,omitempty"`
	// DerivedFrom is the label this broader word comes from ("cat" for "animal").
	DerivedFrom string `json:"derivedFrom,omitempty"`
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
	// DisplayURL is what a full view shows: the original, or a JPEG of it where
	// browsers cannot display the original (display.go).
	DisplayURL string `json:"displayUrl"`
	// Duplicate is set in an upload's answer when the user already had this photo (same
	// bytes): the existing image is returned and nothing new is stored.
	Duplicate bool `json:"duplicate,omitempty"`
	// Text is the writing read in the photo (an image's own page only); absent when
	// none was read.
	Text *textJSON `json:"text,omitempty"`
	// Rank and Matches say why a search (?q=) found the photo: its weakest term's best
	// match, and how each term matched.
	Rank    string      `json:"rank,omitempty"`
	Matches []matchJSON `json:"matches,omitempty"`
}

type textJSON struct {
	Content    string    `json:"content"`
	Confidence float64   `json:"confidence"`
	Provider   string    `json:"provider"`
	Model      string    `json:"model"`
	ReadAt     time.Time `json:"readAt"`
}

// matchJSON is how one search term matched a photo.
type matchJSON struct {
	Term string `json:"term"`
	// Kind is label (the classifier's own), parent (a broader label derived from one of
	// its labels) or text (words in the photo).
	Kind    string `json:"kind"`
	Label   string `json:"label,omitempty"`
	From    string `json:"from,omitempty"`
	Snippet string `json:"snippet,omitempty"`
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
		DisplayURL:   "/api/images/" + img.ID + "/display",
	}
	for _, l := range labels {
		j.Labels = append(j.Labels, labelJSON{Name: l.Name, Confidence: l.Confidence, Categories: l.Categories, DerivedFrom: l.DerivedFrom})
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
	ids := make([]string, len(page.Images))
	for i, img := range page.Images {
		ids[i] = img.ID
	}
	// One query for the whole page; an image deleted meanwhile just has no labels.
	labels, err := s.d.Store.LabelsOfImages(r.Context(), u.ID, ids)
	if err != nil {
		s.internalError(w, r, "reading labels", err)
		return
	}
	for _, img := range page.Images {
		out.Images = append(out.Images, toImageJSON(img, labels[img.ID]))
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

// maxSearchLabels caps the labels (or terms) of one search.
const maxSearchLabels = 10

// search finds the user's images. ?q=dog,서울 is the search box: each term (separated
// by commas) matches a label, a broader label derived from one, or the words in a
// photo, every term must match, and the photos come ranked (find). ?label=dog&label=beach
// or ?labels=dog,beach matches labels only, newest first: what a label album opens.
func (s *Server) search(w http.ResponseWriter, r *http.Request, u store.User) {
	q := r.URL.Query()
	if _, ok := q["q"]; ok {
		if len(q["label"])+len(q["labels"]) > 0 {
			writeError(w, r, http.StatusBadRequest, "bad_query", "give either q (labels and words) or label/labels (labels only), not both")
			return
		}
		s.find(w, r, u, searchTerms(q["q"], true))
		return
	}
	names := searchTerms(append(searchTerms(q["label"], false), searchTerms(q["labels"], true)...), false)
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

// searchTerms reads search terms, each value one term or (split) several separated
// by commas: lower case, spaces collapsed, without repeats.
func searchTerms(values []string, split bool) []string {
	var terms []string
	seen := map[string]bool{}
	for _, v := range values {
		parts := []string{v}
		if split {
			parts = strings.Split(v, ",")
		}
		for _, p := range parts {
			if n := strings.ToLower(strings.Join(strings.Fields(p), " ")); n != "" && !seen[n] {
				seen[n] = true
				terms = append(terms, n)
			}
		}
	}
	return terms
}

// find answers ?q=: a ranked page (store.Search), each photo with its labels, its rank
// and how each term matched it, the labels and texts of the whole page in one query
// each.
func (s *Server) find(w http.ResponseWriter, r *http.Request, u store.User, terms []string) {
	if len(terms) == 0 || len(terms) > maxSearchLabels {
		writeError(w, r, http.StatusBadRequest, "bad_query", fmt.Sprintf("give 1 to %d terms separated by commas: ?q=dog,seoul", maxSearchLabels))
		return
	}
	p, ok := pageRequest(w, r)
	if !ok {
		return
	}
	page, err := s.d.Store.Search(r.Context(), u.ID, terms, p)
	if errors.Is(err, store.ErrInvalidCursor) {
		writeError(w, r, http.StatusBadRequest, "bad_cursor", "invalid page cursor")
		return
	}
	if err != nil {
		s.internalError(w, r, "searching images", err)
		return
	}
	ids := make([]string, len(page.Results))
	for i, res := range page.Results {
		ids[i] = res.Image.ID
	}
	labels, err := s.d.Store.LabelsOfImages(r.Context(), u.ID, ids)
	if err != nil {
		s.internalError(w, r, "reading labels", err)
		return
	}
	texts, err := s.d.Store.TextsOfImages(r.Context(), u.ID, ids)
	if err != nil {
		s.internalError(w, r, "reading texts", err)
		return
	}
	out := pageJSON{Images: make([]imageJSON, 0, len(page.Results))}
	if page.Next != "" {
		out.Next = &page.Next
	}
	for _, res := range page.Results {
		j := toImageJSON(res.Image, labels[res.Image.ID])
		j.Rank = res.Rank.String()
		for _, term := range terms {
			// A photo relabelled since the search found it may no longer match a term.
			if m, ok := store.ExplainMatch(term, labels[res.Image.ID], texts[res.Image.ID].Content); ok {
				j.Matches = append(j.Matches, matchJSON{Term: m.Term, Kind: m.Kind.String(), Label: m.Label, From: m.From, Snippet: m.Snippet})
			}
		}
		out.Images = append(out.Images, j)
	}
	writeJSON(w, http.StatusOK, out)
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
	switch t, err := s.d.Store.ImageText(r.Context(), u.ID, img.ID); {
	case err == nil:
		j.Text = &textJSON{Content: t.Content, Confidence: t.Confidence, Provider: t.Provider, Model: t.Model, ReadAt: t.ReadAt}
	case !isNotFound(err):
		s.internalError(w, r, "reading the text", err)
		return
	}
	writeJSON(w, http.StatusOK, j)
}

// deleteImage deletes one of the user's images: its rows, then its objects
// (photos.Delete decides the order). Once the rows are gone the image is deleted: an
// object left behind is logged and removed later by the orphan sweep.
func (s *Server) deleteImage(w http.ResponseWriter, r *http.Request, u store.User) {
	img, ok := s.image(w, r, u)
	if !ok {
		return
	}
	ctx, cancel := detached(r.Context())
	defer cancel()
	// A concurrent delete may have removed the rows since the read above: the image is
	// gone all the same.
	if _, err := s.photos().Delete(ctx, u.ID, img.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
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

// ownPhotoCaching: ids are never reused and photos never change, so the browser may keep
// a user's own photos, but only for this user.
const ownPhotoCaching = "private, max-age=86400, immutable"

// serveObject streams one of the user's stored objects (see streamObject).
func (s *Server) serveObject(w http.ResponseWriter, r *http.Request, img store.Image, key, contentType string) {
	s.streamObject(w, r, img, key, contentType, ownPhotoCaching, notFound)
}

// streamObject streams a stored object. The content type is the one recorded when the
// content was checked, never a guess, and browsers are told not to sniff or run it.
// missing answers when the object is gone.
func (s *Server) streamObject(w http.ResponseWriter, r *http.Request, img store.Image, key, contentType, cacheControl string, missing http.HandlerFunc) {
	body, info, err := s.d.Objects.Get(r.Context(), key)
	if isNotFound(err) {
		missing(w, r)
		return
	}
	if err != nil {
		s.internalError(w, r, "reading the photo", err)
		return
	}
	defer body.Close()
	setPhotoHeaders(w.Header(), contentType, info.Size, cacheControl)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, body); err != nil {
		s.log(r.Context()).Info("sending photo interrupted", "imageId", img.ID, "error", err)
	}
}

// setPhotoHeaders sets the headers of a photo answered: its content type and size, the
// caching, and the rules that stop browsers sniffing or running it.
func setPhotoHeaders(h http.Header, contentType string, size int64, cacheControl string) {
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.FormatInt(size, 10))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", cacheControl)
}
