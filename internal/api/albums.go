package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sortographer/sortographer/internal/store"
)

// Albums: the automatic ones (one per label, read-only: opening one is a label search)
// and the user's named ones. Another user's album answers 404 like a missing one, and
// so does adding another user's image to one's album.

type labelAlbumJSON struct {
	Label  string `json:"label"`
	Images int64  `json:"images"`
	// CoverImageID is the newest image with the label.
	CoverImageID      string `json:"coverImageId"`
	CoverThumbnailURL string `json:"coverThumbnailUrl"`
}

type albumJSON struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Images int64  `json:"images"`
	// CoverImageID is the image added last; null for an empty album.
	CoverImageID      *string   `json:"coverImageId"`
	CoverThumbnailURL *string   `json:"coverThumbnailUrl"`
	CreatedAt         time.Time `json:"createdAt"`
	UpdatedAt         time.Time `json:"updatedAt"`
}

func thumbnailURL(imageID string) string { return "/api/images/" + imageID + "/thumbnail" }

func toAlbumJSON(a store.Album) albumJSON {
	j := albumJSON{ID: a.ID, Name: a.Name, Images: a.Images, CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC()}
	if a.CoverImageID != "" {
		id, url := a.CoverImageID, thumbnailURL(a.CoverImageID)
		j.CoverImageID, j.CoverThumbnailURL = &id, &url
	}
	return j
}

func albumNotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, http.StatusNotFound, "not_found", "no such album")
}

// albumError answers a store error about an album: 404, 400 for a bad name, or 500.
func (s *Server) albumError(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		albumNotFound(w, r)
	case errors.Is(err, store.ErrInvalidName):
		writeError(w, r, http.StatusBadRequest, "bad_name", err.Error())
	default:
		s.internalError(w, r, what, err)
	}
}

func (s *Server) labelAlbums(w http.ResponseWriter, r *http.Request, u store.User) {
	albums, err := s.d.Store.LabelAlbums(r.Context(), u.ID)
	if err != nil {
		s.internalError(w, r, "listing label albums", err)
		return
	}
	out := struct {
		Albums []labelAlbumJSON `json:"albums"`
	}{Albums: make([]labelAlbumJSON, 0, len(albums))}
	for _, a := range albums {
		out.Albums = append(out.Albums, labelAlbumJSON{Label: a.Label, Images: a.Images, CoverImageID: a.CoverImageID, CoverThumbnailURL: thumbnailURL(a.CoverImageID)})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) listAlbums(w http.ResponseWriter, r *http.Request, u store.User) {
	albums, err := s.d.Store.Albums(r.Context(), u.ID)
	if err != nil {
		s.internalError(w, r, "listing albums", err)
		return
	}
	out := struct {
		Albums []albumJSON `json:"albums"`
	}{Albums: make([]albumJSON, 0, len(albums))}
	for _, a := range albums {
		out.Albums = append(out.Albums, toAlbumJSON(a))
	}
	writeJSON(w, http.StatusOK, out)
}

// albumName is the body of creating or renaming an album.
type albumName struct {
	Name string `json:"name"`
}

// readAlbumName reads {"name": …} and checks the name, answering 400 for a bad one.
func readAlbumName(w http.ResponseWriter, r *http.Request) (string, bool) {
	var body albumName
	if !readJSON(w, r, &body) {
		return "", false
	}
	name, err := store.NormaliseAlbumName(body.Name)
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "bad_name", "album "+err.Error())
		return "", false
	}
	return name, true
}

func (s *Server) createAlbum(w http.ResponseWriter, r *http.Request, u store.User) {
	name, ok := readAlbumName(w, r)
	if !ok {
		return
	}
	a, err := s.d.Store.CreateAlbum(r.Context(), u.ID, name)
	if err != nil {
		s.albumError(w, r, "creating the album", err)
		return
	}
	s.log(r.Context()).Info("created album", "albumId", a.ID)
	w.Header().Set("Location", "/api/albums/"+a.ID)
	writeJSON(w, http.StatusCreated, toAlbumJSON(a))
}

func (s *Server) getAlbum(w http.ResponseWriter, r *http.Request, u store.User) {
	a, err := s.d.Store.Album(r.Context(), u.ID, r.PathValue("id"))
	if err != nil {
		s.albumError(w, r, "reading the album", err)
		return
	}
	writeJSON(w, http.StatusOK, toAlbumJSON(a))
}

func (s *Server) renameAlbum(w http.ResponseWriter, r *http.Request, u store.User) {
	name, ok := readAlbumName(w, r)
	if !ok {
		return
	}
	a, err := s.d.Store.RenameAlbum(r.Context(), u.ID, r.PathValue("id"), name)
	if err != nil {
		s.albumError(w, r, "renaming the album", err)
		return
	}
	writeJSON(w, http.StatusOK, toAlbumJSON(a))
}

func (s *Server) deleteAlbum(w http.ResponseWriter, r *http.Request, u store.User) {
	if err := s.d.Store.DeleteAlbum(r.Context(), u.ID, r.PathValue("id")); err != nil {
		s.albumError(w, r, "deleting the album", err)
		return
	}
	s.log(r.Context()).Info("deleted album", "albumId", r.PathValue("id"))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) albumImages(w http.ResponseWriter, r *http.Request, u store.User) {
	p, ok := pageRequest(w, r)
	if !ok {
		return
	}
	page, err := s.d.Store.AlbumImages(r.Context(), u.ID, r.PathValue("id"), p)
	if errors.Is(err, store.ErrNotFound) {
		albumNotFound(w, r)
		return
	}
	s.writePage(w, r, u, page, err)
}

// addToAlbum adds images given as {"imageIds": [...]}, all or none, and answers the
// album as it now is.
func (s *Server) addToAlbum(w http.ResponseWriter, r *http.Request, u store.User) {
	var body struct {
		ImageIDs []string `json:"imageIds"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	if len(body.ImageIDs) == 0 || len(body.ImageIDs) > store.MaxAlbumBatch {
		writeError(w, r, http.StatusBadRequest, "bad_images", fmt.Sprintf("give 1 to %d image ids in imageIds", store.MaxAlbumBatch))
		return
	}
	id := r.PathValue("id")
	// The album first, so that a missing album and a missing image say which.
	if _, err := s.d.Store.Album(r.Context(), u.ID, id); err != nil {
		s.albumError(w, r, "reading the album", err)
		return
	}
	err := s.d.Store.AddToAlbum(r.Context(), u.ID, id, body.ImageIDs)
	if errors.Is(err, store.ErrNotFound) {
		// The album was just there, so it is an image (or the album went meanwhile).
		writeError(w, r, http.StatusNotFound, "not_found", "no such image, or no such album: nothing was added")
		return
	}
	if err != nil {
		s.internalError(w, r, "adding images to the album", err)
		return
	}
	a, err := s.d.Store.Album(r.Context(), u.ID, id)
	if err != nil {
		s.albumError(w, r, "reading the album", err)
		return
	}
	writeJSON(w, http.StatusOK, toAlbumJSON(a))
}

// removeFromAlbum takes one image out of an album; the image itself stays. An image not
// in the album is 404, so a client learns its request did nothing.
func (s *Server) removeFromAlbum(w http.ResponseWriter, r *http.Request, u store.User) {
	n, err := s.d.Store.RemoveFromAlbum(r.Context(), u.ID, r.PathValue("id"), []string{r.PathValue("imageId")})
	if err != nil {
		s.albumError(w, r, "removing the image from the album", err)
		return
	}
	if n == 0 {
		writeError(w, r, http.StatusNotFound, "not_found", "the image is not in the album")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
