package api

import (
	"archive/zip"
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sortographer/sortographer/internal/imaging"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/store"
)

// Data export: GET /api/me/export answers one zip of everything the gallery keeps about
// the signed-in user (docs/data-export.md describes the archive, ExportFormat names it):
//
//	export.json       the format, when, the account, counts, originals that were missing
//	photos/<id>.<ext> every original, byte for byte (stored, not compressed again)
//	photos.json       every photo: sizes, dates, SHA-256, labels with their parents and
//	                  confidences, the words read in it
//	photos.csv        the same, one row a photo, for a spreadsheet
//	albums.json       named albums and the ids of their photos
//	share-links.json  share links: what each shares and when it expires; never a token,
//	                  which the gallery does not keep (only its SHA-256)
//
// The archive is written as it is read: a page of photos at a time from the database, each
// original copied from the object store into the response, so memory does not grow with
// the number of photos. The per-photo metadata of each page goes to temporary files (in
// the pod's /tmp) and into the archive after the originals, so photos.json lists exactly
// the photos whose originals the archive holds. Nothing can be sent after the headers: an
// error midway, or a client that goes away, aborts the connection (http.ErrAbortHandler)
// so the client sees a failed download, never a short archive that looks whole.
//
// An export reads every byte a user stored, so it is bounded three ways: one at a time per
// user on each replica (a second answers 429 export_running), Deps.ExportLimiter per user
// across replicas, and maxConcurrentExports per replica (503 busy).

// ExportFormat names the archive's layout, in export.json; a change that breaks readers
// gets a new number.
const ExportFormat = "sortographer-export/1"

// maxConcurrentExports bounds the exports one replica runs at once: each holds a database
// connection, an object-store read and a client's bandwidth for as long as it runs.
const maxConcurrentExports = 2

// exportWriteTimeout is how long one write of the archive may take before the client is
// taken for gone. The server's own write timeout (http.Server.WriteTimeout) would end
// an export of many photos; each write pushes the deadline this far instead.
const exportWriteTimeout = 2 * time.Minute

// exports tracks the exports running on this replica.
type exports struct {
	running sync.Map // user id → struct{}
	slots   chan struct{}
}

func newExports() *exports { return &exports{slots: make(chan struct{}, maxConcurrentExports)} }

// exportStore is used by export.go: all of one user's rows, page by page.
type exportStore interface {
	ListImages(ctx context.Context, ownerID int64, page store.PageRequest) (store.Page, error)
	LabelsOfImages(ctx context.Context, ownerID int64, imageIDs []string) (map[string][]store.Label, error)
	TextsOfImages(ctx context.Context, ownerID int64, imageIDs []string) (map[string]store.Text, error)
	Albums(ctx context.Context, ownerID int64) ([]store.Album, error)
	AlbumImages(ctx context.Context, ownerID int64, albumID string, page store.PageRequest) (store.Page, error)
	Shares(ctx context.Context, ownerID int64) ([]store.Share, error)
}

// The archive's records.
type (
	exportManifestJSON struct {
		Format     string            `json:"format"`
		ExportedAt time.Time         `json:"exportedAt"`
		Account    exportAccountJSON `json:"account"`
		Photos     int               `json:"photos"`
		Albums     int               `json:"albums"`
		ShareLinks int               `json:"shareLinks"`
		// MissingOriginals are photos whose original the object store did not have
		// (deleted while the export ran, or lost): not in photos/ nor photos.json.
		MissingOriginals []string `json:"missingOriginals"`
	}
	exportAccountJSON struct {
		ID        int64     `json:"id"`
		Email     string    `json:"email"`
		IsAdmin   bool      `json:"isAdmin"`
		CreatedAt time.Time `json:"createdAt"`
	}
	exportPhotoJSON struct {
		ID string `json:"id"`
		// File is the original's path in the archive.
		File        string     `json:"file"`
		ContentType string     `json:"contentType"`
		SizeBytes   int64      `json:"sizeBytes"`
		Width       int        `json:"width"`
		Height      int        `json:"height"`
		SHA256      string     `json:"sha256"`
		TakenAt     *time.Time `json:"takenAt"`
		UploadedAt  time.Time  `json:"uploadedAt"`
		// Status is classification's: queued, labelled or failed.
		Status        string            `json:"status"`
		FailureReason string            `json:"failureReason,omitempty"`
		LabelledAt    *time.Time        `json:"labelledAt"`
		Classifier    *exportModelJSON  `json:"classifier"`
		Labels        []exportLabelJSON `json:"labels"`
		Text          *exportTextJSON   `json:"text"`
	}
	exportModelJSON struct {
		Provider string `json:"provider"`
		Model    string `json:"model"`
	}
	exportLabelJSON struct {
		Name       string   `json:"name"`
		Confidence float64  `json:"confidence"`
		Categories []string `json:"categories"`
		// DerivedFrom is the label this one was added as a parent of.
		DerivedFrom string `json:"derivedFrom,omitempty"`
		Provider    string `json:"provider"`
		Model       string `json:"model"`
	}
	exportTextJSON struct {
		Content    string    `json:"content"`
		Confidence float64   `json:"confidence"`
		Provider   string    `json:"provider"`
		Model      string    `json:"model"`
		ReadAt     time.Time `json:"readAt"`
	}
	exportAlbumJSON struct {
		ID        string    `json:"id"`
		Name      string    `json:"name"`
		CreatedAt time.Time `json:"createdAt"`
		UpdatedAt time.Time `json:"updatedAt"`
		// Photos are the ids of its photos, newest added first.
		Photos []string `json:"photos"`
	}
)

// exportPhotosCSVHeader is photos.csv's first row.
var exportPhotosCSVHeader = []string{"id", "file", "contentType", "sizeBytes", "width", "height", "sha256", "takenAt", "uploadedAt", "status", "labels", "text"}

func (s *Server) exportData(w http.ResponseWriter, r *http.Request, u store.User) {
	if _, running := s.exports.running.LoadOrStore(u.ID, struct{}{}); running {
		w.Header().Set("Retry-After", "60")
		writeError(w, r, http.StatusTooManyRequests, "export_running", "an export of your data is already running; wait for it to finish")
		return
	}
	defer s.exports.running.Delete(u.ID)
	if s.limited(w, r, s.d.ExportLimiter, "export:"+strconv.FormatInt(u.ID, 10)) {
		return
	}
	select {
	case s.exports.slots <- struct{}{}:
		defer func() { <-s.exports.slots }()
	default:
		w.Header().Set("Retry-After", "60")
		writeError(w, r, http.StatusServiceUnavailable, "busy", "the server is exporting other users' data; try again in a minute")
		return
	}

	ex, err := newExporter(s, u)
	if err != nil {
		s.internalError(w, r, "preparing the export", err)
		return
	}
	defer ex.close()
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", `attachment; filename="sortographer-export-`+ex.now.Format("2006-01-02")+`.zip"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)

	ctx := r.Context()
	s.log(ctx).Info("export started", "userId", u.ID)
	rc := http.NewResponseController(w)
	err = ex.write(ctx, &deadlineWriter{w: w, rc: rc})
	switch {
	case err == nil:
		s.log(ctx).Info("export finished", "userId", u.ID, "photos", ex.manifest.Photos, "albums", ex.manifest.Albums)
		return
	case ctx.Err() != nil || errors.Is(err, errExportWrite):
		s.log(ctx).Info("export interrupted: the client went away", "userId", u.ID, "photosWritten", ex.manifest.Photos, "error", err)
	default:
		s.log(ctx).Error("export failed midway; the connection is aborted", "userId", u.ID, "photosWritten", ex.manifest.Photos, "error", err)
	}
	panic(http.ErrAbortHandler)
}

// errExportWrite marks a failure to write to the client.
var errExportWrite = errors.New("write the archive to the client")

// deadlineWriter writes to the client, pushing the connection's write deadline on before
// each write (see exportWriteTimeout), and marks its errors errExportWrite.
type deadlineWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (d *deadlineWriter) Write(p []byte) (int, error) {
	// ErrNotSupported (a test's recorder) leaves the deadline as it is.
	_ = d.rc.SetWriteDeadline(time.Now().Add(exportWriteTimeout))
	n, err := d.w.Write(p)
	if err != nil {
		return n, fmt.Errorf("%w: %w", errExportWrite, err)
	}
	return n, nil
}

// Flush sends what the server holds of the response to the client.
func (d *deadlineWriter) Flush() error {
	if err := d.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("%w: %w", errExportWrite, err)
	}
	return nil
}

// exporter writes one user's archive.
type exporter struct {
	s        *Server
	user     store.User
	now      time.Time
	manifest exportManifestJSON
	// photosJSON and photosCSV collect the photo records while the originals are
	// written, to be copied into the archive after them.
	photosJSON, photosCSV *os.File
	jsonOut, csvBuf       *bufio.Writer
	csvOut                *csv.Writer
	recorded              int
	flush                 func() error
}

func newExporter(s *Server, u store.User) (*exporter, error) {
	now := time.Now().UTC()
	ex := &exporter{s: s, user: u, now: now, manifest: exportManifestJSON{
		Format: ExportFormat, ExportedAt: now, MissingOriginals: []string{},
		Account: exportAccountJSON{ID: u.ID, Email: u.Email, IsAdmin: u.IsAdmin, CreatedAt: u.CreatedAt.UTC()},
	}}
	var err error
	if ex.photosJSON, err = os.CreateTemp("", "sortographer-export-*.json"); err != nil {
		return nil, fmt.Errorf("create the temporary photos.json: %w", err)
	}
	if ex.photosCSV, err = os.CreateTemp("", "sortographer-export-*.csv"); err != nil {
		ex.close()
		return nil, fmt.Errorf("create the temporary photos.csv: %w", err)
	}
	ex.jsonOut = bufio.NewWriter(ex.photosJSON)
	ex.csvBuf = bufio.NewWriter(ex.photosCSV)
	ex.csvOut = csv.NewWriter(ex.csvBuf)
	return ex, nil
}

// close removes the temporary files.
func (ex *exporter) close() {
	for _, f := range []*os.File{ex.photosJSON, ex.photosCSV} {
		if f != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}
}

// write writes the whole archive to w, flushing it to the client after each original
// when w can (so the client sees the download move, and a stalled client is found).
func (ex *exporter) write(ctx context.Context, w io.Writer) error {
	zw := zip.NewWriter(w)
	ex.flush = func() error {
		if err := zw.Flush(); err != nil {
			return fmt.Errorf("flush the archive: %w", err)
		}
		if f, ok := w.(interface{ Flush() error }); ok {
			return f.Flush()
		}
		return nil
	}
	if _, err := ex.jsonOut.WriteString("[\n"); err != nil {
		return fmt.Errorf("write the temporary photos.json: %w", err)
	}
	if err := ex.csvOut.Write(exportPhotosCSVHeader); err != nil {
		return fmt.Errorf("write the temporary photos.csv: %w", err)
	}
	if err := ex.writePhotos(ctx, zw); err != nil {
		return err
	}
	if _, err := ex.jsonOut.WriteString("\n]\n"); err != nil {
		return fmt.Errorf("write the temporary photos.json: %w", err)
	}
	ex.csvOut.Flush()
	for _, part := range []struct {
		name string
		buf  *bufio.Writer
		file *os.File
	}{{"photos.json", ex.jsonOut, ex.photosJSON}, {"photos.csv", ex.csvBuf, ex.photosCSV}} {
		if err := ex.copyTemp(zw, part.name, part.buf, part.file); err != nil {
			return err
		}
	}
	if err := ex.writeAlbums(ctx, zw); err != nil {
		return err
	}
	if err := ex.writeShares(ctx, zw); err != nil {
		return err
	}
	if err := writeZipJSON(zw, "export.json", ex.now, ex.manifest); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("finish the archive: %w", err)
	}
	return nil
}

// writePhotos writes every original into photos/ and its record into the temporary
// files, a page at a time.
func (ex *exporter) writePhotos(ctx context.Context, zw *zip.Writer) error {
	st := ex.s.d.Store
	page := store.PageRequest{Limit: store.MaxPageSize}
	for {
		p, err := st.ListImages(ctx, ex.user.ID, page)
		if err != nil {
			return fmt.Errorf("list photos: %w", err)
		}
		ids := make([]string, len(p.Images))
		for i, img := range p.Images {
			ids[i] = img.ID
		}
		labels, err := st.LabelsOfImages(ctx, ex.user.ID, ids)
		if err != nil {
			return fmt.Errorf("read labels: %w", err)
		}
		texts, err := st.TextsOfImages(ctx, ex.user.ID, ids)
		if err != nil {
			return fmt.Errorf("read the words read in photos: %w", err)
		}
		for _, img := range p.Images {
			file, err := ex.writeOriginal(ctx, zw, img)
			if err != nil {
				return err
			}
			if file == "" {
				continue
			}
			text, hasText := texts[img.ID]
			if err := ex.recordPhoto(exportPhoto(img, file, labels[img.ID], text, hasText)); err != nil {
				return err
			}
		}
		if p.Next == "" {
			return nil
		}
		page.Cursor = p.Next
	}
}

// exportFileName is a photo's path in the archive: its id (server-made, letters, digits,
// '-' and '_', so unique and safe in any unzip) and its format's extension.
func exportFileName(img store.Image) (string, error) {
	if err := objects.ValidateID(img.ID); err != nil {
		return "", fmt.Errorf("photo id: %w", err)
	}
	ext := "bin"
	for _, f := range imaging.Formats() {
		if f.ContentType() == img.ContentType {
			ext = string(f)
		}
	}
	return "photos/" + img.ID + "." + ext, nil
}

// writeOriginal copies img's original into the archive, and returns its path there, or
// "" when the object store does not have it (deleted since it was listed).
func (ex *exporter) writeOriginal(ctx context.Context, zw *zip.Writer, img store.Image) (string, error) {
	name, err := exportFileName(img)
	if err != nil {
		return "", err
	}
	body, _, err := ex.s.d.Objects.Get(ctx, img.ObjectKey)
	if isNotFound(err) {
		ex.s.log(ctx).Warn("export: a listed photo's original is missing; left out", "userId", ex.user.ID, "imageId", img.ID)
		ex.manifest.MissingOriginals = append(ex.manifest.MissingOriginals, img.ID)
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the original of %s: %w", img.ID, err)
	}
	defer body.Close()
	// Photos are compressed already: stored as they are, they appear byte for byte.
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store, Modified: img.CreatedAt.UTC()})
	if err != nil {
		return "", fmt.Errorf("add %s: %w", name, err)
	}
	if _, err := io.Copy(fw, body); err != nil {
		return "", fmt.Errorf("copy the original of %s: %w", img.ID, err)
	}
	if err := ex.flush(); err != nil {
		return "", err
	}
	ex.manifest.Photos++
	return name, nil
}

func exportPhoto(img store.Image, file string, labels []store.Label, text store.Text, hasText bool) exportPhotoJSON {
	j := exportPhotoJSON{
		ID: img.ID, File: file, ContentType: img.ContentType, SizeBytes: img.SizeBytes,
		Width: img.Width, Height: img.Height, SHA256: img.SHA256,
		TakenAt: timeJSON(img.TakenAt), UploadedAt: img.CreatedAt.UTC(),
		Status: string(img.Status), FailureReason: img.FailureReason, LabelledAt: timeJSON(img.LabelledAt),
		Labels: make([]exportLabelJSON, 0, len(labels)),
	}
	if img.Provider != "" {
		j.Classifier = &exportModelJSON{Provider: img.Provider, Model: img.Model}
	}
	for _, l := range labels {
		cats := l.Categories
		if cats == nil {
			cats = []string{}
		}
		j.Labels = append(j.Labels, exportLabelJSON{Name: l.Name, Confidence: l.Confidence, Categories: cats, DerivedFrom: l.DerivedFrom, Provider: l.Provider, Model: l.Model})
	}
	if hasText {
		j.Text = &exportTextJSON{Content: text.Content, Confidence: text.Confidence, Provider: text.Provider, Model: text.Model, ReadAt: text.ReadAt.UTC()}
	}
	return j
}

// recordPhoto appends a photo's record to the temporary photos.json and photos.csv.
func (ex *exporter) recordPhoto(j exportPhotoJSON) error {
	b, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encode the record of %s: %w", j.ID, err)
	}
	if ex.recorded++; ex.recorded > 1 {
		if _, err := ex.jsonOut.WriteString(",\n"); err != nil {
			return fmt.Errorf("write the temporary photos.json: %w", err)
		}
	}
	if _, err := ex.jsonOut.Write(b); err != nil {
		return fmt.Errorf("write the temporary photos.json: %w", err)
	}
	labels := make([]string, len(j.Labels))
	for i, l := range j.Labels {
		labels[i] = l.Name + " (" + strconv.FormatFloat(l.Confidence, 'f', -1, 64) + ")"
	}
	var text string
	if j.Text != nil {
		text = j.Text.Content
	}
	row := []string{j.ID, j.File, j.ContentType, strconv.FormatInt(j.SizeBytes, 10), strconv.Itoa(j.Width), strconv.Itoa(j.Height),
		j.SHA256, csvTime(j.TakenAt), j.UploadedAt.Format(time.RFC3339), j.Status, strings.Join(labels, "; "), text}
	for i := range row {
		row[i] = csvCell(row[i])
	}
	if err := ex.csvOut.Write(row); err != nil {
		return fmt.Errorf("write the temporary photos.csv: %w", err)
	}
	return nil
}

func csvTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.Format(time.RFC3339)
}

// csvCell keeps a spreadsheet from taking a cell for a formula: the words read in a
// photo are anyone's (a sign reading "=HYPERLINK(…)"), so a cell that starts as a
// formula does is prefixed with an apostrophe, as OWASP's CSV injection advice says.
func csvCell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// copyTemp flushes a temporary file and copies it into the archive as name.
func (ex *exporter) copyTemp(zw *zip.Writer, name string, buf *bufio.Writer, f *os.File) error {
	if err := buf.Flush(); err != nil {
		return fmt.Errorf("write the temporary %s: %w", name, err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read the temporary %s: %w", name, err)
	}
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: ex.now})
	if err != nil {
		return fmt.Errorf("add %s: %w", name, err)
	}
	if _, err := io.Copy(fw, f); err != nil {
		return fmt.Errorf("copy %s: %w", name, err)
	}
	return nil
}

// writeAlbums writes albums.json: each named album with its photos' ids, read a page at
// a time.
func (ex *exporter) writeAlbums(ctx context.Context, zw *zip.Writer) error {
	albums, err := ex.s.d.Store.Albums(ctx, ex.user.ID)
	if err != nil {
		return fmt.Errorf("list albums: %w", err)
	}
	out := make([]exportAlbumJSON, 0, len(albums))
	for _, a := range albums {
		j := exportAlbumJSON{ID: a.ID, Name: a.Name, CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(), Photos: []string{}}
		page := store.PageRequest{Limit: store.MaxPageSize}
		for {
			p, err := ex.s.d.Store.AlbumImages(ctx, ex.user.ID, a.ID, page)
			if isNotFound(err) {
				break // deleted since it was listed
			}
			if err != nil {
				return fmt.Errorf("list the photos of album %s: %w", a.ID, err)
			}
			for _, img := range p.Images {
				j.Photos = append(j.Photos, img.ID)
			}
			if p.Next == "" {
				break
			}
			page.Cursor = p.Next
		}
		out = append(out, j)
	}
	ex.manifest.Albums = len(out)
	return writeZipJSON(zw, "albums.json", ex.now, out)
}

// writeShares writes share-links.json: each link as its owner's list shows it. The
// token is not there: the gallery keeps only its SHA-256.
func (ex *exporter) writeShares(ctx context.Context, zw *zip.Writer) error {
	shares, err := ex.s.d.Store.Shares(ctx, ex.user.ID)
	if err != nil {
		return fmt.Errorf("list share links: %w", err)
	}
	out := make([]shareJSON, 0, len(shares))
	for _, sh := range shares {
		out = append(out, toShareJSON(sh, ex.now))
	}
	ex.manifest.ShareLinks = len(out)
	return writeZipJSON(zw, "share-links.json", ex.now, out)
}

// writeZipJSON adds name to the archive holding v as indented JSON.
func writeZipJSON(zw *zip.Writer, name string, modified time.Time, v any) error {
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: modified})
	if err != nil {
		return fmt.Errorf("add %s: %w", name, err)
	}
	enc := json.NewEncoder(fw)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}
