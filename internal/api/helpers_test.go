package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/api"
	"github.com/sortographer/sortographer/internal/auth"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/ratelimit"
	"github.com/sortographer/sortographer/internal/sessions"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testenv"
	"github.com/sortographer/sortographer/internal/testservers"
)

func TestMain(m *testing.M) { testservers.Main(m) }

var jwtKey = []byte("api-test-key-api-test-key-api-test-key")

// gallery is a server under test with its real dependencies.
type gallery struct {
	t       *testing.T
	url     string
	server  *api.Server
	store   store.Store
	objects objects.Store
	queue   *queue.Memory
	// sessions is the server's session manager; tests move its clock.
	sessions *sessions.Manager
	// countObjects counts what storage holds.
	countObjects func() int
	logs         *testenv.LogBuffer
	// metricsURL serves the server's metrics, as the metrics address does.
	metricsURL string
}

// option changes the server's dependencies before it starts.
// everyBackend is each database once, one of them with S3 storage, for tests that run
// on all three.
var everyBackend = []struct {
	name    string
	db      database
	storage storage
}{{"sqlite", sqlite, filesystem}, {"mariadb", mariadb, filesystem}, {"postgres", postgres, s3Storage}}

type option func(*api.Deps)

func withUploadLimit(n int64) option { return func(d *api.Deps) { d.MaxUploadBytes = n } }
func withSignUpClosed() option       { return func(d *api.Deps) { d.AllowSignUp = false } }
func withSignInLimits(l *api.SignInLimits) option {
	return func(d *api.Deps) { d.SignInLimits = l }
}

// withTrustedProxies trusts the test client's own address as a proxy, so that a test
// plays clients at many addresses by sending X-Forwarded-For.
func withTrustedProxies(cidrs ...string) option {
	return func(d *api.Deps) {
		for _, c := range cidrs {
			d.TrustedProxies = append(d.TrustedProxies, netip.MustParsePrefix(c))
		}
	}
}
func withUploadLimiter(l ratelimit.Limiter) option {
	return func(d *api.Deps) { d.UploadLimiter = l }
}
func withReady(c api.Check) option { return func(d *api.Deps) { d.Ready = append(d.Ready, c) } }
func withSearchExamples(words ...string) option {
	return func(d *api.Deps) { d.SearchExamples = words }
}

// database and storage choose the backends.
type database func(t *testing.T) (config.Database, string)
type storage func(t *testing.T) (objects.Store, func() int)

func sqlite(t *testing.T) (config.Database, string) {
	return config.Database{Driver: config.DriverSQLite}, filepath.Join(t.TempDir(), "gallery.db")
}
func mariadb(t *testing.T) (config.Database, string) { return testservers.MariaDB(t).Config(), "" }
func postgres(t *testing.T) (config.Database, string) {
	return testservers.Postgres(t).Config(), ""
}

func filesystem(t *testing.T) (objects.Store, func() int) {
	dir := t.TempDir()
	fsys, err := objects.NewFilesystem(dir)
	if err != nil {
		t.Fatal(err)
	}
	return fsys, func() int {
		n := 0
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
				n++
			}
			return nil
		})
		return n
	}
}

func s3Storage(t *testing.T) (objects.Store, func() int) {
	srv := testservers.S3(t)
	bucket := srv.Bucket(t)
	client := s3.New(s3.Options{
		Region: srv.Region, BaseEndpoint: aws.String(srv.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
	})
	st, err := objects.NewS3(client, objects.S3Options{Bucket: bucket, Prefix: "gallery"})
	if err != nil {
		t.Fatal(err)
	}
	return st, func() int {
		out, err := client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
		if err != nil {
			t.Fatalf("list bucket: %v", err)
		}
		return len(out.Contents)
	}
}

func newGallery(t *testing.T, db database, objs storage, opts ...option) *gallery {
	t.Helper()
	ctx := context.Background()
	dbc, file := db(t)
	st, err := store.Open(ctx, dbc, file)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	obj, count := objs(t)
	sm := newSessions(t, st, nil)
	devices, err := auth.NewDevices(jwtKey)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.LogBuffer{}
	q := queue.NewMemory(queue.Options{})
	d := api.Deps{
		Store: st, Objects: obj, Queue: q, Sessions: sm, Devices: devices,
		Log:            slog.New(slog.NewJSONHandler(io.MultiWriter(logs, testWriter{t}), nil)),
		Registry:       prometheus.NewRegistry(),
		MaxUploadBytes: 2 << 20,
		AllowSignUp:    true,
		Admins:         []string{"boss@example.com"},
		Ready:          []api.Check{{Name: "database", Ping: st.Ping}},
		UI:             http.NotFoundHandler(),
	}
	for _, o := range opts {
		o(&d)
	}
	srv := api.New(d)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	ms := httptest.NewServer(srv.MetricsHandler())
	t.Cleanup(ms.Close)
	return &gallery{t: t, url: hs.URL, metricsURL: ms.URL, server: srv, store: st, objects: obj, queue: q, sessions: sm, countObjects: count, logs: logs}
}

// Session lifetimes of the test galleries: idle, remember-me idle, absolute.
const (
	testSessionLifetime    = time.Hour
	testRememberLifetime   = 24 * time.Hour
	testSessionMaxLifetime = 48 * time.Hour
)

// newSessions is a session manager over st with the test lifetimes, caching in rc
// (nil: no cache).
func newSessions(t testing.TB, st sessions.Store, rc redis.UniversalClient) *sessions.Manager {
	t.Helper()
	sm, err := sessions.New(st, sessions.Options{
		Key: jwtKey, Lifetime: testSessionLifetime, RememberLifetime: testRememberLifetime,
		MaxLifetime: testSessionMaxLifetime, Redis: rc, Prefix: "test:",
	})
	if err != nil {
		t.Fatal(err)
	}
	return sm
}

// testWriter shows server logs with -v only.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		w.t.Log(strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

// user is a signed-in API client.
type user struct {
	g     *gallery
	id    int64
	email string
	token string
}

var userCounter struct {
	sync.Mutex
	n int
}

func (g *gallery) signUp(name string) *user {
	g.t.Helper()
	userCounter.Lock()
	userCounter.n++
	email := fmt.Sprintf("%s%d@example.com", name, userCounter.n)
	userCounter.Unlock()
	var s struct {
		User  struct{ ID int64 }
		Token string
	}
	creds := map[string]any{"email": email, "password": passwordOf(name), "bearer": true}
	g.mustDo(nil, "POST", "/api/auth/signup", jsonBody(creds), http.StatusAccepted, nil)
	g.mustDo(nil, "POST", "/api/auth/signin", jsonBody(creds), http.StatusOK, &s)
	if s.Token == "" || s.User.ID == 0 {
		g.t.Fatalf("sign-up answered %+v", s)
	}
	return &user{g: g, id: s.User.ID, email: email, token: s.Token}
}

// passwordOf is the password signUp gives the user of that name.
func passwordOf(name string) string { return "long-password-" + name }

// body is a request body and its content type.
type body struct {
	r           io.Reader
	contentType string
}

func jsonBody(v any) *body {
	b, _ := json.Marshal(v)
	return &body{bytes.NewReader(b), "application/json"}
}

// file is one part of an upload.
type file struct {
	name string
	data []byte
}

func multipartBody(t *testing.T, files ...file) *body {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, f := range files {
		p, err := w.CreateFormFile("file", f.name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = p.Write(f.data)
	}
	_ = w.Close()
	return &body{&b, w.FormDataContentType()}
}

// do sends a request as u (nil: anonymous) and returns the response, its body read.
func (g *gallery) do(u *user, method, path string, b *body) (*http.Response, []byte) {
	g.t.Helper()
	var r io.Reader
	if b != nil {
		r = b.r
	}
	req, err := http.NewRequest(method, g.url+path, r)
	if err != nil {
		g.t.Fatal(err)
	}
	if b != nil {
		req.Header.Set("Content-Type", b.contentType)
	}
	if u != nil {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		g.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		g.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return res, data
}

// mustDo is do, failing the test unless the status is want; out receives the JSON.
func (g *gallery) mustDo(u *user, method, path string, b *body, want int, out any) *http.Response {
	g.t.Helper()
	res, data := g.do(u, method, path, b)
	if res.StatusCode != want {
		g.t.Fatalf("%s %s = %d %s, want %d", method, path, res.StatusCode, data, want)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			g.t.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
	return res
}

// imageJSON mirrors the API's image.
type imageJSON struct {
	ID            string
	Status        string
	ContentType   string
	SizeBytes     int64
	Width, Height int
	TakenAt       *time.Time
	QueuePosition *int64
	Labels        []struct {
		Name       string
		Confidence float64
	}
	OriginalURL, ThumbnailURL, DisplayURL string
}

type pageJSON struct {
	Images []imageJSON
	Next   *string
}

func (u *user) upload(files ...file) []imageJSON {
	u.g.t.Helper()
	var p pageJSON
	u.g.mustDo(u, "POST", "/api/images", multipartBody(u.g.t, files...), http.StatusAccepted, &p)
	if len(p.Images) != len(files) {
		u.g.t.Fatalf("uploaded %d files, got %d images", len(files), len(p.Images))
	}
	return p.Images
}

// photo is a w×h JPEG of smooth colour, different for every seed.
func photo(t testing.TB, w, h int, seed uint64) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(seed, seed))
	c0 := color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{c0.R + uint8(x), c0.G + uint8(y), c0.B, 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// label gives an image labels, as a worker would.
func (g *gallery) label(id string, names ...string) {
	g.t.Helper()
	c := store.Classification{Provider: "test", Model: "test"}
	for i, n := range names {
		c.Labels = append(c.Labels, store.Label{Name: n, Confidence: 90 - float64(i)})
	}
	if err := g.store.SetLabels(context.Background(), id, c); err != nil {
		g.t.Fatalf("set labels: %v", err)
	}
}

func storePage() store.PageRequest { return store.PageRequest{Limit: store.MaxPageSize} }

// errorCode reads an error answer's code.
func errorCode(t *testing.T, data []byte) string {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatalf("error body %s: %v", data, err)
	}
	if e.Error.Message == "" {
		t.Errorf("error %s has no message", data)
	}
	return e.Error.Code
}
