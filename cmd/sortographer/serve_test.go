package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testenv"
)

// testConfig is a gallery on this machine without in-process workers (the classifier
// is not the server's concern here).
func testConfig(t *testing.T, extra ...string) config.Config {
	t.Helper()
	env := append([]string{
		config.EnvDataDir + "=" + t.TempDir(),
		config.EnvListenAddr + "=" + testenv.FreeAddr(t),
		config.EnvMetricsAddr + "=" + testenv.FreeAddr(t),
		config.EnvInProcessWorkers + "=false",
		config.EnvShutdownGrace + "=10s",
	}, extra...)
	cfg, err := config.Load(env)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(base + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServeFinishesInFlightUploads: SIGTERM (the context ending) in the middle of an
// upload lets the upload finish and be stored before the server exits.
func TestServeFinishesInFlightUploads(t *testing.T) {
	cfg := testConfig(t)
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	served := make(chan error, 1)
	go func() { served <- serve(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	base := "http://" + cfg.ListenAddr
	waitReady(t, base)

	session := struct{ Token string }{signUpToken(t, base, "t@example.com")}

	// The upload's body arrives in two halves, with the shutdown in between.
	// Noise compresses badly: a photo of a few hundred kilobytes, so the first half
	// surely reaches the server before the shutdown.
	noise := image.NewGray(image.Rect(0, 0, 600, 400))
	_, _ = rand.Read(noise.Pix)
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, noise, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, _ := mw.CreateFormFile("file", "slow.jpg")
	_, _ = part.Write(jpg.Bytes())
	_ = mw.Close()
	all := body.Bytes()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", base+"/api/images", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+session.Token)
	req.ContentLength = int64(len(all))
	answered := make(chan *http.Response, 1)
	go func() {
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("upload: %v", err)
			answered <- nil
			return
		}
		answered <- res
	}()
	if _, err := pw.Write(all[:len(all)/2]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the server reads the headers and starts on the body
	stop()                             // SIGTERM
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-served:
		t.Fatalf("server exited with an upload in flight: %v", err)
	default:
	}
	if _, err := pw.Write(all[len(all)/2:]); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close()
	res := <-answered
	if res == nil {
		return
	}
	data, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusAccepted {
		t.Fatalf("in-flight upload = %d %s, want 202", res.StatusCode, data)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not exit after the upload finished")
	}
	if _, err := http.Get(base + "/livez"); err == nil {
		t.Error("server still accepts connections after shutdown")
	}

	// The upload is in the database.
	st, err := store.Open(context.Background(), cfg.Database, cfg.SQLiteFile())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stats, err := st.Stats(context.Background())
	if err != nil || stats.Images != 1 || stats.Queued != 1 {
		t.Errorf("stored: %+v, %v; want one queued image", stats, err)
	}
}

// TestMigrateThenServe: `migrate` prepares the schema; `serve -migrate=false` refuses
// an unmigrated database and starts on a migrated one.
func TestMigrateThenServe(t *testing.T) {
	cfg := testConfig(t)
	env := []string{config.EnvDataDir + "=" + cfg.DataDir, config.EnvListenAddr + "=" + cfg.ListenAddr, config.EnvInProcessWorkers + "=false"}
	var stderr bytes.Buffer

	serveMigrate = "auto"
	t.Cleanup(func() { serveMigrate = "auto" })
	if err := serveFlags.Parse([]string{"-migrate=false"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := serve(ctx, cfg, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "sortographer migrate") {
		t.Fatalf("serve on an empty database without migrating: %v", err)
	}

	if code := run([]string{"migrate"}, env, &stderr); code != 0 {
		t.Fatalf("migrate exited %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), `"msg":"migrated database"`) {
		t.Errorf("migrate logged %s", stderr.String())
	}
	st, err := store.Open(ctx, cfg.Database, filepath.Join(cfg.DataDir, "sortographer.db"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := st.SchemaVersion(ctx)
	_ = st.Close()
	if err != nil || v != store.LatestSchemaVersion {
		t.Fatalf("schema version %d, %v", v, err)
	}

	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(sctx, cfg, slog.New(slog.DiscardHandler)) }()
	waitReady(t, "http://"+cfg.ListenAddr)
	stop()
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

func TestRunRefusesBadInvocations(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  []string
		want int
	}{
		{nil, nil, 2},
		{[]string{"help"}, nil, 0},
		{[]string{"nonsense"}, nil, 2},
		{[]string{"migrate", "extra"}, nil, 2},
		{[]string{"serve", "-migrate=maybe"}, nil, 2},
		{[]string{"serve", "stray"}, nil, 2},
		{[]string{"migrate"}, []string{config.EnvDatabaseDriver + "=oracle"}, 2},
		{[]string{"migrate"}, []string{config.EnvLogLevel + "=loud"}, 2},
	} {
		var stderr bytes.Buffer
		if got := run(c.args, c.env, &stderr); got != c.want {
			t.Errorf("run(%q, %q) = %d, want %d\n%s", c.args, c.env, got, c.want, stderr.String())
		}
	}
	serveMigrate = "auto"
}

func TestMigrateMode(t *testing.T) {
	sqliteCfg := config.Config{Database: config.Database{Driver: config.DriverSQLite}}
	mysqlCfg := config.Config{Database: config.Database{Driver: config.DriverMySQL}}
	for _, c := range []struct {
		mode         migrateMode
		sqlite, mysq bool
	}{{"auto", true, false}, {"true", true, true}, {"false", false, false}} {
		if c.mode.enabled(sqliteCfg) != c.sqlite || c.mode.enabled(mysqlCfg) != c.mysq {
			t.Errorf("%s: sqlite %v, mysql %v", c.mode, c.mode.enabled(sqliteCfg), c.mode.enabled(mysqlCfg))
		}
	}
	var m migrateMode
	for in, want := range map[string]string{"true": "true", "1": "true", "false": "false", "auto": "auto"} {
		if err := m.Set(in); err != nil || string(m) != want {
			t.Errorf("Set(%q) = %q, %v", in, m, err)
		}
	}
	if err := m.Set("sometimes"); err == nil {
		t.Error("Set(sometimes) accepted")
	}
}
