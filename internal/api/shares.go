package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sortographer/sortographer/internal/imaging"
	"github.com/sortographer/sortographer/internal/photos"
	"github.com/sortographer/sortographer/internal/store"
)

// Share links.
//
// A signed-in user makes a link to one image or one named album (POST /api/shares) and
// is shown its token once: only a SHA-256 of it is stored, so it cannot be shown again
// (a lost link is revoked and made anew). Anyone with the token reads, without a
// session, exactly what was shared under /api/shared/{token}: the image, or the album's
// images as they are now (images added later appear, removed ones vanish). Any other
// image id through a link, and a link that is unknown, expired or revoked, is 404 — one
// answer for all, so a token cannot be probed for having existed.
//
// Photos through a link carry no location by default (Deps.ShareKeepsLocation): the
// original and a display that would be the original are answered by a copy without
// metadata (serveSharedCopy); thumbnails and display JPEGs have none already.
//
// Responses under /api/shared carry Referrer-Policy: no-referrer (the token is in the
// URL) and are kept out of shared caches; the server's ShareLimiter bounds requests per
// client address. The cross-origin protection in front of /api lets every GET through,
// so a link opens from anywhere.

// shareJSON is a link as its owner sees it; Token and URL only in the answer that
// made it.
type shareJSON struct {
	ID        string     `json:"id"`
	Kind      string     `json:"kind"`
	ImageID   *string    `json:"imageId"`
	AlbumID   *string    `json:"albumId"`
	AlbumName *string    `json:"albumName"`
	CreatedAt time.Time  `json:"createdAt"`
	ExpiresAt *time.Time `json:"expiresAt"`
	Expired   bool       `json:"expired"`
	Token     string     `json:"token,omitempty"`
	URL       string     `json:"url,omitempty"`
}

// Kinds of share link.
const (
	shareImage = "image"
	shareAlbum = "album"
)

func toShareJSON(sh store.Share, now time.Time) shareJSON {
	j := shareJSON{ID: sh.ID, CreatedAt: sh.CreatedAt.UTC(), ExpiresAt: timeJSON(sh.ExpiresAt), Expired: sh.Expired(now)}
	if sh.ImageID != "" {
		id := sh.ImageID
		j.Kind, j.ImageID = shareImage, &id
	} else {
		id, name := sh.AlbumID, sh.AlbumName
		j.Kind, j.AlbumID, j.AlbumName = shareAlbum, &id, &name
	}
	return j
}

// sharePath is the web page of a link.
func sharePath(token string) string { return "/s/" + token }

func (s *Server) createShare(w http.ResponseWriter, r *http.Request, u store.User) {
	if s.d.SharingDisabled {
		writeError(w, r, http.StatusForbidden, "sharing_disabled", "sharing is turned off on this gallery")
		return
	}
	var body struct {
		ImageID string `json:"imageId"`
		AlbumID string `json:"albumId"`
		// ExpiresAt (RFC 3339) or ExpiresInSeconds, or neither for no expiry.
		ExpiresAt        *time.Time `json:"expiresAt"`
		ExpiresInSeconds *int64     `json:"expiresInSeconds"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if (body.ImageID == "") == (body.AlbumID == "") {
		writeError(w, r, http.StatusBadRequest, "bad_share", "give exactly one of imageId and albumId")
		return
	}
	now := time.Now()
	var expires time.Time
	switch {
	case body.ExpiresAt != nil && body.ExpiresInSeconds != nil:
		writeError(w, r, http.StatusBadRequest, "bad_expiry", "give at most one of expiresAt and expiresInSeconds")
		return
	case body.ExpiresAt != nil:
		if !body.ExpiresAt.After(now) {
			writeError(w, r, http.StatusBadRequest, "bad_expiry", "expiresAt must be in the future")
			return
		}
		expires = *body.ExpiresAt
	case body.ExpiresInSeconds != nil:
		// About a hundred years at most, so the sum cannot overflow.
		if *body.ExpiresInSeconds < 1 || *body.ExpiresInSeconds > 100*365*24*3600 {
			writeError(w, r, http.StatusBadRequest, "bad_expiry", "expiresInSeconds must be a positive number of seconds")
			return
		}
		expires = now.Add(time.Duration(*body.ExpiresInSeconds) * time.Second)
	}
	// The gallery's cap applies to links without an expiry and to longer ones.
	if maxLife := s.d.ShareMaxLifetime; maxLife > 0 {
		if limit := now.Add(maxLife); expires.IsZero() || expires.After(limit) {
			expires = limit
		}
	}
	token, hash := store.NewShareToken()
	sh, err := s.d.Store.CreateShare(r.Context(), store.NewShare{
		OwnerID: u.ID, ImageID: body.ImageID, AlbumID: body.AlbumID, TokenHash: hash, ExpiresAt: expires,
	})
	if errors.Is(err, store.ErrNotFound) {
		what := "image"
		if body.AlbumID != "" {
			what = "album"
		}
		writeError(w, r, http.StatusNotFound, "not_found", "no such "+what)
		return
	}
	if err != nil {
		s.internalError(w, r, "creating the share link", err)
		return
	}
	s.log(r.Context()).Info("created share link", "shareId", sh.ID, "imageId", sh.ImageID, "albumId", sh.AlbumID)
	j := toShareJSON(sh, now)
	j.Token, j.URL = token, sharePath(token)
	writeJSON(w, http.StatusCreated, j)
}

func (s *Server) listShares(w http.ResponseWriter, r *http.Request, u store.User) {
	shares, err := s.d.Store.Shares(r.Context(), u.ID)
	if err != nil {
		s.internalError(w, r, "listing share links", err)
		return
	}
	now := time.Now()
	out := struct {
		Shares []shareJSON `json:"shares"`
	}{Shares: make([]shareJSON, 0, len(shares))}
	for _, sh := range shares {
		out.Shares = append(out.Shares, toShareJSON(sh, now))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) revokeShare(w http.ResponseWriter, r *http.Request, u store.User) {
	err := s.d.Store.DeleteShare(r.Context(), u.ID, r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, r, http.StatusNotFound, "not_found", "no such share link")
		return
	}
	if err != nil {
		s.internalError(w, r, "revoking the share link", err)
		return
	}
	s.log(r.Context()).Info("revoked share link", "shareId", r.PathValue("id"))
	w.WriteHeader(http.StatusNoContent)
}

// ---- the public side

// sharedImageJSON is an image as a link shows it: the picture, never the owner's
// labels or anything else about them.
type sharedImageJSON struct {
	ID           string     `json:"id"`
	ContentType  string     `json:"contentType"`
	Width        int        `json:"width"`
	Height       int        `json:"height"`
	TakenAt      *time.Time `json:"takenAt"`
	OriginalURL  string     `json:"originalUrl"`
	ThumbnailURL string     `json:"thumbnailUrl"`
	DisplayURL   string     `json:"displayUrl"`
}

func toSharedImageJSON(token string, img store.Image) sharedImageJSON {
	base := "/api/shared/" + token + "/images/" + img.ID
	return sharedImageJSON{
		ID: img.ID, ContentType: img.ContentType, Width: img.Width, Height: img.Height, TakenAt: timeJSON(img.TakenAt),
		OriginalURL: base + "/original", ThumbnailURL: base + "/thumbnail", DisplayURL: base + "/display",
	}
}

// validShareToken accepts only what NewShareToken makes, so nothing else reaches the
// database.
func validShareToken(t string) bool {
	if len(t) != store.ShareTokenLength {
		return false
	}
	for _, c := range t {
		urlSafe := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		if !urlSafe {
			return false
		}
	}
	return true
}

func shareNotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, http.StatusNotFound, "not_found", "no such link: it may have expired or been revoked")
}

// shared runs a handler for the link named in the path: no session, the link's own
// headers, the rate limit, and 404 for a link that does not open.
func (s *Server) shared(h func(http.ResponseWriter, *http.Request, string, store.Share)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("Referrer-Policy", "no-referrer")
		hdr.Set("X-Robots-Tag", "noindex, nofollow")
		if s.limited(w, r, s.d.ShareLimiter, "share:"+s.clientAddr(r)) {
			return
		}
		if s.d.SharingDisabled {
			writeError(w, r, http.StatusForbidden, "sharing_disabled", "sharing is turned off on this gallery")
			return
		}
		token := r.PathValue("token")
		if !validShareToken(token) {
			shareNotFound(w, r)
			return
		}
		sh, err := s.d.Store.ShareByTokenHash(r.Context(), store.HashShareToken(token), time.Now())
		if errors.Is(err, store.ErrNotFound) {
			shareNotFound(w, r)
			return
		}
		if err != nil {
			s.internalError(w, r, "reading the share link", err)
			return
		}
		// What a link shows is read from the writer, as the link itself is: a photo its
		// owner took out of a shared album must stop showing at once, not when a
		// replica catches up (MySQL replicas' lag is not even measured).
		h(w, r.WithContext(store.WithPrimaryReads(r.Context())), token, sh)
	})
}

// getShared describes what a link shows: the image, or the album's name and size.
func (s *Server) getShared(w http.ResponseWriter, r *http.Request, token string, sh store.Share) {
	out := struct {
		Kind      string           `json:"kind"`
		ExpiresAt *time.Time       `json:"expiresAt"`
		Image     *sharedImageJSON `json:"image,omitempty"`
		Album     *struct {
			Name   string `json:"name"`
			Images int64  `json:"images"`
		} `json:"album,omitempty"`
	}{ExpiresAt: timeJSON(sh.ExpiresAt)}
	if sh.ImageID != "" {
		img, err := s.d.Store.Image(r.Context(), sh.OwnerID, sh.ImageID)
		if isNotFound(err) {
			shareNotFound(w, r)
			return
		}
		if err != nil {
			s.internalError(w, r, "reading the shared image", err)
			return
		}
		j := toSharedImageJSON(token, img)
		out.Kind, out.Image = shareImage, &j
	} else {
		a, err := s.d.Store.Album(r.Context(), sh.OwnerID, sh.AlbumID)
		if isNotFound(err) {
			shareNotFound(w, r)
			return
		}
		if err != nil {
			s.internalError(w, r, "reading the shared album", err)
			return
		}
		out.Kind = shareAlbum
		out.Album = &struct {
			Name   string `json:"name"`
			Images int64  `json:"images"`
		}{a.Name, a.Images}
	}
	writeJSON(w, http.StatusOK, out)
}

// sharedImages pages through what a link shows: the album's images, newest added
// first, or the one image.
func (s *Server) sharedImages(w http.ResponseWriter, r *http.Request, token string, sh store.Share) {
	p, ok := pageRequest(w, r)
	if !ok {
		return
	}
	var page store.Page
	var err error
	if sh.ImageID != "" {
		var img store.Image
		if img, err = s.d.Store.Image(r.Context(), sh.OwnerID, sh.ImageID); err == nil {
			page.Images = []store.Image{img}
		}
	} else {
		page, err = s.d.Store.AlbumImages(r.Context(), sh.OwnerID, sh.AlbumID, p)
	}
	switch {
	case errors.Is(err, store.ErrInvalidCursor):
		writeError(w, r, http.StatusBadRequest, "bad_cursor", "invalid page cursor")
		return
	case isNotFound(err):
		shareNotFound(w, r)
		return
	case err != nil:
		s.internalError(w, r, "listing shared images", err)
		return
	}
	out := struct {
		Images []sharedImageJSON `json:"images"`
		Next   *string           `json:"next"`
	}{Images: make([]sharedImageJSON, 0, len(page.Images))}
	if page.Next != "" {
		out.Next = &page.Next
	}
	for _, img := range page.Images {
		out.Images = append(out.Images, toSharedImageJSON(token, img))
	}
	writeJSON(w, http.StatusOK, out)
}

// sharedImage finds the image in the path if the link covers it: the shared image
// itself, or an image in the shared album now.
func (s *Server) sharedImage(w http.ResponseWriter, r *http.Request, sh store.Share) (store.Image, bool) {
	id := r.PathValue("id")
	var img store.Image
	var err error
	switch {
	case sh.ImageID != "" && id == sh.ImageID:
		img, err = s.d.Store.Image(r.Context(), sh.OwnerID, id)
	case sh.AlbumID != "":
		img, err = s.d.Store.AlbumImage(r.Context(), sh.OwnerID, sh.AlbumID, id)
	default:
		err = store.ErrNotFound
	}
	if isNotFound(err) {
		shareNotFound(w, r)
		return img, false
	}
	if err != nil {
		s.internalError(w, r, "reading the shared image", err)
		return img, false
	}
	return img, true
}

// sharedOriginal answers the original through a link: its shared copy, without the
// metadata that tells where it was taken, unless the gallery keeps location.
func (s *Server) sharedOriginal(w http.ResponseWriter, r *http.Request, _ string, sh store.Share) {
	img, ok := s.sharedImage(w, r, sh)
	if !ok {
		return
	}
	if s.d.ShareKeepsLocation {
		s.serveSharedObject(w, r, img, img.ObjectKey, img.ContentType)
		return
	}
	s.serveSharedCopy(w, r, img)
}

// serveSharedCopy answers img's shared copy (imaging.SharedCopy: every pixel, upright,
// no metadata), made on its first request and stored beside the original
// (objects.Keys.Shared), as the display JPEG is. Thumbnails and display JPEGs carry no
// metadata already, so they are served through links as they are.
func (s *Server) serveSharedCopy(w http.ResponseWriter, r *http.Request, img store.Image) {
	keys, err := photos.Keys(img.OwnerID, img.ID)
	if err != nil {
		s.internalError(w, r, "naming the shared copy", err)
		return
	}
	s.serveDerived(w, r, img, derived{
		what: "shared copy", key: keys.Shared, contentType: imaging.SharedContentType(img.ContentType), render: imaging.SharedCopy,
		tooLarge: "this photo is too large to share without its location: %v; its owner may download and share it",
	}, sharedPhotoCaching, shareNotFound)
}

func (s *Server) sharedThumbnail(w http.ResponseWriter, r *http.Request, _ string, sh store.Share) {
	if img, ok := s.sharedImage(w, r, sh); ok {
		s.serveSharedObject(w, r, img, img.ThumbnailKey, imaging.ThumbnailContentType)
	}
}

// sharedObjectMaxAge is how long a browser may keep a shared photo: short, so a revoked
// link stops showing it soon even from the viewer's cache. Never in shared caches.
const sharedObjectMaxAge = 5 * time.Minute

// sharedPhotoCaching is the Cache-Control of a photo answered through a link.
var sharedPhotoCaching = "private, max-age=" + strconv.Itoa(int(sharedObjectMaxAge/time.Second))

// serveSharedObject streams a photo as serveObject does, with the link's caching.
func (s *Server) serveSharedObject(w http.ResponseWriter, r *http.Request, img store.Image, key, contentType string) {
	s.streamObject(w, r, img, key, contentType, sharedPhotoCaching, shareNotFound)
}

// loggedPath is a request path as the log shows it: a share token, in the API's or the
// web page's path, is a secret and is replaced by "…".
func loggedPath(path string) string {
	for _, prefix := range []string{"/api/shared/", "/s/"} {
		if rest, ok := strings.CutPrefix(path, prefix); ok {
			_, after, found := strings.Cut(rest, "/")
			if found {
				return prefix + "…/" + after
			}
			return prefix + "…"
		}
	}
	return path
}
