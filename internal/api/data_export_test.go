package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/ratelimit"
	"github.com/sortographer/sortographer/internal/store"
)

// The archive's records as a reader decodes them (docs/data-export.md).
type (
	exportManifest struct {
		Format     string
		ExportedAt time.Time
		Account    struct {
			ID        int64
			Email     string
			IsAdmin   bool
			CreatedAt time.Time
		}
		Photos, Albums, ShareLinks int
		MissingOriginals           []string
	}
	exportPhoto struct {
		ID, File, ContentType string
		SizeBytes             int64
		Width, Height         int
		SHA256                string
		TakenAt               *time.Time
		UploadedAt            time.Time
		Status                string
		LabelledAt            *time.Time
		Classifier            *struct{ Provider, Model string }
		Labels                []exportLabel
		Text                  *struct {
			Content         string
			Confidence      float64
			Provider, Model string
			ReadAt          time.Time
		}
	}
	exportLabel struct {
		Name        string
		Confidence  float64
		Categories  []string
		DerivedFrom string
		Provider    string
		Model       string
	}
	exportAlbum struct {
		ID, Name             string
		CreatedAt, UpdatedAt time.Time
		Photos               []string
	}
)

// exportArchive is an export read back: its files by name.
type exportArchive struct {
	files    map[string][]byte
	manifest exportManifest
	photos   []exportPhoto
	albums   []exportAlbum
	shares   []map[string]any
	csv      [][]string
}

// export asks for u's export and reads it back, failing the test unless it is a valid zip.
func (g *gallery) export(u *user) exportArchive {
	g.t.Helper()
	res, data := g.do(u, "GET", "/api/me/export", nil)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/zip" ||
		!strings.HasPrefix(res.Header.Get("Content-Disposition"), `attachment; filename="sortographer-export-`) || res.Header.Get("Cache-Control") != "no-store" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
		g.t.Fatalf("export: %d %v", res.StatusCode, res.Header)
	}
	return readExport(g.t, data)
}

func readExport(t *testing.T, data []byte) exportArchive {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("the export is not a zip: %v", err)
	}
	a := exportArchive{files: map[string][]byte{}}
	for _, f := range zr.File {
		// Safe paths: relative, clean, no way up, no duplicates.
		if f.Name != path.Clean(f.Name) || path.IsAbs(f.Name) || strings.Contains(f.Name, "..") || strings.Contains(f.Name, `\`) {
			t.Errorf("unsafe path in the archive: %q", f.Name)
		}
		if _, dup := a.files[f.Name]; dup {
			t.Errorf("two files named %q", f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("open %s: %v", f.Name, err)
		}
		b, err := io.ReadAll(rc) // checks the CRC too
		_ = rc.Close()
		if err != nil {
			t.Fatalf("read %s: %v", f.Name, err)
		}
		a.files[f.Name] = b
	}
	for name, v := range map[string]any{"export.json": &a.manifest, "photos.json": &a.photos, "albums.json": &a.albums, "share-links.json": &a.shares} {
		if err := json.Unmarshal(a.files[name], v); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, a.files[name])
		}
	}
	if a.csv, err = csv.NewReader(bytes.NewReader(a.files["photos.csv"])).ReadAll(); err != nil {
		t.Fatalf("photos.csv: %v", err)
	}
	return a
}

// TestExportHasEverything: on PostgreSQL and S3, and MariaDB and S3, a user with photos
// (labelled with parents and confidences, with words read in one), albums and share links
// exports an archive holding every original byte for byte under a name of its own, and
// every field the database holds of them, compared with the database's own answers; none
// of another user's data; no share token.
func TestExportHasEverything(t *testing.T) {
	for _, b := range []struct {
		name string
		db   database
	}{{"postgres+s3", postgres}, {"mariadb+s3", mariadb}} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testExportHasEverything(t, newGallery(t, b.db, s3Storage))
		})
	}
}

func testExportHasEverything(t *testing.T, g *gallery) {
	ctx := context.Background()
	u, other := g.signUp("exporter"), g.signUp("neighbour")
	uploads := []file{
		{"a.jpg", photo(t, 64, 48, 41)},
		{"a.jpg", photo(t, 64, 48, 42)}, // the same name: stored names must not collide
		{"dated.jpg", exifPhoto(t)},
		{"halves.png", halves(t, 30, 20)},
	}
	imgs := u.upload(uploads...)
	byID := map[string][]byte{}
	for i, img := range imgs {
		byID[img.ID] = uploads[i].data
	}
	theirs := other.upload(file{"theirs.jpg", photo(t, 64, 48, 43)})[0]
	g.read(imgs[0].ID, "EXIT\n출구\n=HYPERLINK(\"x\")", store.Label{Name: "dog", Confidence: 97.5, Categories: []string{"animal", "pet"}}, store.Label{Name: "grass", Confidence: 61.25})
	g.label(imgs[1].ID, "cat")
	g.label(theirs.ID, "theirlabel")
	holiday, empty := u.createAlbum("Holiday"), u.createAlbum("Empty")
	u.addToAlbum(holiday, imgs[0], imgs[2])
	other.addToAlbum(other.createAlbum("Their album"), theirs)
	imgShare := u.share(map[string]any{"imageId": imgs[1].ID})
	albumShare := u.share(map[string]any{"albumId": holiday.ID, "expiresInSeconds": 3600})
	theirShare := other.share(map[string]any{"imageId": theirs.ID})

	a := g.export(u)

	// export.json
	m := a.manifest
	if m.Format != api.ExportFormat || m.Account.ID != u.id || m.Account.Email != u.email || m.Account.IsAdmin ||
		m.Photos != len(imgs) || m.Albums != 2 || m.ShareLinks != 2 || len(m.MissingOriginals) != 0 || time.Since(m.ExportedAt) > time.Minute {
		t.Errorf("export.json = %+v", m)
	}
	account, err := g.store.UserByID(ctx, u.id)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Account.CreatedAt.Equal(account.CreatedAt) {
		t.Errorf("account createdAt %v, the database says %v", m.Account.CreatedAt, account.CreatedAt)
	}

	// photos/ and photos.json, against the database.
	wantFiles := []string{"albums.json", "export.json", "photos.csv", "photos.json", "share-links.json"}
	if len(a.photos) != len(imgs) {
		t.Fatalf("photos.json lists %d photos, want %d", len(a.photos), len(imgs))
	}
	for _, p := range a.photos {
		wantFiles = append(wantFiles, p.File)
		img, err := g.store.Image(ctx, u.id, p.ID)
		if err != nil {
			t.Fatalf("photos.json lists %s, which is not the user's: %v", p.ID, err)
		}
		original := a.files[p.File]
		sum := sha256.Sum256(original)
		if !bytes.Equal(original, byID[p.ID]) || hex.EncodeToString(sum[:]) != p.SHA256 || p.SHA256 != img.SHA256 {
			t.Errorf("%s: %d bytes equal to the upload: %v; sha256 %s, the database's %s", p.File, len(original), bytes.Equal(original, byID[p.ID]), p.SHA256, img.SHA256)
		}
		ext := map[string]string{"image/jpeg": ".jpeg", "image/png": ".png"}[img.ContentType]
		if p.File != "photos/"+img.ID+ext || p.ContentType != img.ContentType || p.SizeBytes != img.SizeBytes || p.SizeBytes != int64(len(original)) ||
			p.Width != img.Width || p.Height != img.Height || !p.UploadedAt.Equal(img.CreatedAt) || p.Status != string(img.Status) ||
			(p.TakenAt == nil) != img.TakenAt.IsZero() || p.TakenAt != nil && !p.TakenAt.Equal(img.TakenAt) ||
			(p.LabelledAt == nil) != img.LabelledAt.IsZero() || p.LabelledAt != nil && !p.LabelledAt.Equal(img.LabelledAt) {
			t.Errorf("photos.json %+v; the database has %+v", p, img)
		}
		if (p.Classifier != nil) != (img.Provider != "") || p.Classifier != nil && (p.Classifier.Provider != img.Provider || p.Classifier.Model != img.Model) {
			t.Errorf("%s: classifier %+v, the database says %q %q", p.ID, p.Classifier, img.Provider, img.Model)
		}
		labels, err := g.store.ImageLabels(ctx, u.id, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		var want []exportLabel
		for _, l := range labels {
			cats := l.Categories
			if cats == nil {
				cats = []string{}
			}
			want = append(want, exportLabel{l.Name, l.Confidence, cats, l.DerivedFrom, l.Provider, l.Model})
		}
		if !slices.EqualFunc(p.Labels, want, func(x, y exportLabel) bool {
			return x.Name == y.Name && x.Confidence == y.Confidence && slices.Equal(x.Categories, y.Categories) && x.DerivedFrom == y.DerivedFrom && x.Provider == y.Provider && x.Model == y.Model
		}) {
			t.Errorf("%s labels %+v, the database has %+v", p.ID, p.Labels, want)
		}
		text, err := g.store.ImageText(ctx, u.id, p.ID)
		switch {
		case err == nil && (p.Text == nil || p.Text.Content != text.Content || p.Text.Confidence != text.Confidence ||
			p.Text.Provider != text.Provider || p.Text.Model != text.Model || !p.Text.ReadAt.Equal(text.ReadAt)):
			t.Errorf("%s text %+v, the database has %+v", p.ID, p.Text, text)
		case err != nil && p.Text != nil:
			t.Errorf("%s text %+v, the database has none (%v)", p.ID, p.Text, err)
		}
	}
	// What the test put there, so the comparison above cannot pass on two empty sides.
	first := a.photos[slices.IndexFunc(a.photos, func(p exportPhoto) bool { return p.ID == imgs[0].ID })]
	if first.Text == nil || !strings.Contains(first.Text.Content, "출구") ||
		!slices.ContainsFunc(first.Labels, func(l exportLabel) bool {
			return l.Name == "dog" && l.Confidence == 97.5 && slices.Equal(l.Categories, []string{"animal", "pet"})
		}) || !slices.ContainsFunc(first.Labels, func(l exportLabel) bool { return l.Name == "animal" && l.DerivedFrom == "dog" }) {
		t.Errorf("the labelled photo's record: %+v", first)
	}
	if dated := a.photos[slices.IndexFunc(a.photos, func(p exportPhoto) bool { return p.ID == imgs[2].ID })]; dated.TakenAt == nil ||
		!dated.TakenAt.Equal(time.Date(2021, 7, 14, 7, 30, 0, 0, time.UTC)) {
		t.Errorf("the dated photo's takenAt = %v, want 2021-07-14T07:30:00Z", dated.TakenAt)
	}
	var names []string
	for n := range a.files {
		names = append(names, n)
	}
	slices.Sort(names)
	slices.Sort(wantFiles)
	if !slices.Equal(names, wantFiles) {
		t.Errorf("the archive holds %v, want %v", names, wantFiles)
	}

	// photos.csv: a header and one row a photo, the same values; a cell that would be a
	// formula is not one.
	if len(a.csv) != len(imgs)+1 || !slices.Equal(a.csv[0], []string{"id", "file", "contentType", "sizeBytes", "width", "height", "sha256", "takenAt", "uploadedAt", "status", "labels", "text"}) {
		t.Fatalf("photos.csv: %q", a.csv)
	}
	for _, row := range a.csv[1:] {
		i := slices.IndexFunc(a.photos, func(p exportPhoto) bool { return p.ID == row[0] })
		if i < 0 || row[1] != a.photos[i].File || row[6] != a.photos[i].SHA256 {
			t.Errorf("photos.csv row %q matches no photo of photos.json", row)
		}
		if row[0] == imgs[0].ID && (!strings.Contains(row[10], "dog (97.5)") || !strings.HasPrefix(row[11], "EXIT\n출구")) {
			t.Errorf("photos.csv row of the labelled photo: %q", row)
		}
	}

	// albums.json: both albums, their photos.
	wantAlbums := map[string][]string{holiday.ID: {imgs[2].ID, imgs[0].ID}, empty.ID: {}}
	for _, al := range a.albums {
		db, err := g.store.Album(ctx, u.id, al.ID)
		photos, ok := wantAlbums[al.ID]
		slices.Sort(photos)
		got := slices.Sorted(slices.Values(al.Photos))
		if err != nil || !ok || al.Name != db.Name || !al.CreatedAt.Equal(db.CreatedAt) || !al.UpdatedAt.Equal(db.UpdatedAt) || !slices.Equal(got, photos) {
			t.Errorf("albums.json %+v; the database %+v (%v), want photos %v", al, db, err, photos)
		}
		delete(wantAlbums, al.ID)
	}
	if len(wantAlbums) != 0 {
		t.Errorf("albums missing from albums.json: %v", wantAlbums)
	}

	// share-links.json: both links, what they share, no token.
	got := map[string]map[string]any{}
	for _, sh := range a.shares {
		got[sh["id"].(string)] = sh
	}
	if len(got) != 2 || got[imgShare.ID]["kind"] != "image" || got[imgShare.ID]["imageId"] != imgs[1].ID ||
		got[albumShare.ID]["kind"] != "album" || got[albumShare.ID]["albumId"] != holiday.ID || got[albumShare.ID]["expiresAt"] == nil {
		t.Errorf("share-links.json = %v", a.shares)
	}

	// Nothing of the neighbour's, and no token anywhere.
	for name, b := range a.files {
		for _, secret := range []string{imgShare.Token, albumShare.Token, theirShare.Token, theirs.ID, "theirlabel", "Their album", other.email} {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("%s holds %q", name, secret)
			}
		}
		if bytes.Equal(b, photo(t, 64, 48, 43)) {
			t.Errorf("%s is the neighbour's photo", name)
		}
	}
}

// TestExportIsYourOwn: the export is the signed-in user's and no one else's, whatever
// the request says; it needs a session; and it is rate limited per user.
func TestExportIsYourOwn(t *testing.T) {
	limit := ratelimit.NewMemory(ratelimit.Rule{Name: "export", Limit: 2, Window: time.Hour})
	g := newGallery(t, sqlite, filesystem, func(d *api.Deps) { d.ExportLimiter = limit })
	ann, bob := g.signUp("ann"), g.signUp("bob")
	annsPhoto := photo(t, 40, 30, 51)
	annImg := ann.upload(file{"ann.jpg", annsPhoto})[0]
	bob.upload(file{"bob.jpg", photo(t, 40, 30, 52)})

	g.mustDo(nil, "GET", "/api/me/export", nil, http.StatusUnauthorized, nil)
	// Asking for Ann's by every name still answers Bob's own.
	res, data := g.do(bob, "GET", "/api/me/export?userId="+ann.email+"&owner=1&id="+annImg.ID, nil)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("bob's export: %d %s", res.StatusCode, data)
	}
	a := readExport(t, data)
	if a.manifest.Account.Email != bob.email || len(a.photos) != 1 || a.photos[0].ID == annImg.ID {
		t.Errorf("bob's export: %+v, photos %+v", a.manifest, a.photos)
	}
	for name, b := range a.files {
		if bytes.Equal(b, annsPhoto) || bytes.Contains(b, []byte(annImg.ID)) || bytes.Contains(b, []byte(ann.email)) {
			t.Errorf("bob's export holds ann's data in %s", name)
		}
	}
	g.export(bob)
	res, data = g.do(bob, "GET", "/api/me/export", nil)
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(data), `"rate_limited"`) || res.Header.Get("Retry-After") == "" {
		t.Errorf("bob's third export within the hour: %d %s, want 429 rate_limited", res.StatusCode, data)
	}
	g.export(ann) // counted per user
}

// gatedObjects holds every original read after the first until release is closed, so a
// test can see what the client has before the handler reads on.
type gatedObjects struct {
	objects.Store
	mu      sync.Mutex
	reads   int
	blocked chan struct{} // closed when a read waits at the gate
	release chan struct{}
}

func (o *gatedObjects) Get(ctx context.Context, key string) (io.ReadCloser, objects.Info, error) {
	if strings.HasSuffix(key, "/original") {
		o.mu.Lock()
		o.reads++
		n := o.reads
		o.mu.Unlock()
		if n == 2 {
			close(o.blocked)
		}
		if n >= 2 {
			select {
			case <-o.release:
			case <-ctx.Done():
				return nil, objects.Info{}, ctx.Err()
			}
		}
	}
	return o.Store.Get(ctx, key)
}

// TestExportStreams: the archive reaches the client as it is read, not after. The object
// store holds back every original after the first; the client must already have the
// first photo, whole, in the bytes it received: a handler that built the archive (or
// any large part of it) before sending could not pass. Meanwhile a second export of the
// same user is refused, and a client that goes away ends the export with a log line
// saying so, after which the user may export again.
func TestExportStreams(t *testing.T) {
	var gate *gatedObjects
	gated := func(t *testing.T) (objects.Store, func() int) {
		st, count := filesystem(t)
		gate = &gatedObjects{Store: st, blocked: make(chan struct{}), release: make(chan struct{})}
		return gate, count
	}
	g := newGallery(t, sqlite, gated, withUploadLimit(8<<20))
	u := g.signUp("streamer")
	var uploads []file
	for i := range 6 {
		uploads = append(uploads, file{"p.jpg", photo(t, 400, 300, uint64(60+i))})
	}
	u.upload(uploads...)

	// The client reads in the background what reaches it; status is its answer's, once
	// the headers came.
	received := func(ctx context.Context) (status chan int, buf *bytes.Buffer, done chan error) {
		status, buf, done = make(chan int, 1), &bytes.Buffer{}, make(chan error, 1)
		req, err := http.NewRequestWithContext(ctx, "GET", g.url+"/api/me/export", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+u.token)
		go func() {
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- err
				return
			}
			defer res.Body.Close()
			status <- res.StatusCode
			_, err = io.Copy(&syncWriter{w: buf, mu: &bufMu}, res.Body)
			done <- err
		}()
		return status, buf, done
	}

	ctx, cancel := context.WithCancel(context.Background())
	// A failing test must not leave the handler waiting at the gate, or the server's
	// Close would wait for it for ever.
	var releaseOnce sync.Once
	releaseGate := func() { releaseOnce.Do(func() { close(gate.release) }) }
	t.Cleanup(releaseGate)
	t.Cleanup(cancel)
	status, buf, done := received(ctx)
	select {
	case <-gate.blocked:
	case <-time.After(30 * time.Second):
		t.Fatal("the export never read a second original")
	}
	// The handler waits at the second original: the first must have reached us.
	deadline := time.Now().Add(10 * time.Second)
	select {
	case code := <-status:
		if code != http.StatusOK {
			t.Fatalf("export: %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("with the export waiting at its second photo, the client has not even the headers: the archive is not streamed")
	}
	for !containsAny(buf, uploads) {
		if time.Now().After(deadline) {
			bufMu.Lock()
			n := buf.Len()
			bufMu.Unlock()
			t.Fatalf("with the export waiting at its second photo, the client holds %d bytes and no whole photo: the archive is not streamed", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res, data := g.do(u, "GET", "/api/me/export", nil); res.StatusCode != http.StatusTooManyRequests || !strings.Contains(string(data), `"export_running"`) {
		t.Errorf("a second export while one runs: %d %s, want 429 export_running", res.StatusCode, data)
	}

	// The client goes away: the export ends and says so.
	cancel()
	if err := <-done; err == nil {
		t.Error("the client's read of a cancelled export ended without an error")
	}
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(g.logs.String(), "export interrupted: the client went away") {
		if time.Now().After(deadline) {
			t.Fatal("no log line says the export was interrupted by the client")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Released, the next export runs whole.
	releaseGate()
	deadline = time.Now().Add(10 * time.Second)
	for {
		res, data := g.do(u, "GET", "/api/me/export", nil)
		if res.StatusCode == http.StatusOK {
			if a := readExport(t, data); len(a.photos) != len(uploads) {
				t.Errorf("the export after: %d photos, want %d", len(a.photos), len(uploads))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the export after the client went away: %d %s", res.StatusCode, data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var bufMu sync.Mutex

type syncWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func containsAny(buf *bytes.Buffer, files []file) bool {
	bufMu.Lock()
	defer bufMu.Unlock()
	for _, f := range files {
		if bytes.Contains(buf.Bytes(), f.data) {
			return true
		}
	}
	return false
}
