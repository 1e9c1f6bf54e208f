package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"mime/multipart"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testenv"
	"github.com/sortographer/sortographer/internal/testservers"
)

// TestWorkerLabelsShowWhileReplicaLags: `serve` with a read replica and `work` with the
// built-in model, sharing Redis. With replication paused and the owner's own
// read-your-writes window over, the owner's listing shows the image labelled as soon as
// the worker commits (the worker marked the owner, so the listing reads from the
// writer), and queued again once that mark expires (the listing is back on the lagging
// replica, which proves where the labelled answer came from).
func TestWorkerLabelsShowWhileReplicaLags(t *testing.T) {
	for _, engine := range []struct {
		name  string
		start func(testing.TB) *testservers.Replicated
	}{{"mariadb", testservers.ReplicatedMariaDB}, {"postgres", testservers.ReplicatedPostgres}} {
		t.Run(engine.name, func(t *testing.T) { testWorkerLabelsShowWhileReplicaLags(t, engine.start(t)) })
	}
}

func testWorkerLabelsShowWhileReplicaLags(t *testing.T, rep *testservers.Replicated) {
	const window = 2 * time.Second
	redisServer := testservers.Redis(t)
	cfg := replicatedConfig(t, rep,
		config.EnvDatabaseReadYourWritesWindow+"="+window.String(),
		config.EnvRedisAddr+"="+redisServer.Addr(),
		config.EnvModelDir+"="+testservers.ModelDir(t),
	)
	run := func(name string, cmd func(context.Context, config.Config, *slog.Logger) error, cfg config.Config) {
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- cmd(ctx, cfg, slog.New(slog.DiscardHandler)) }()
		t.Cleanup(func() {
			stop()
			if err := <-done; err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	base, _ := startServe(t, cfg)

	call := signUpAt(t, base, "w@example.com")
	status := func() store.ImageStatus {
		t.Helper()
		var listed struct {
			Images []struct {
				ID     string
				Status store.ImageStatus
			}
		}
		if err := json.Unmarshal(call("GET", "/api/images", nil, ""), &listed); err != nil {
			t.Fatal(err)
		}
		if len(listed.Images) != 1 {
			t.Fatalf("listing has %d images, want the one uploaded", len(listed.Images))
		}
		return listed.Images[0].Status
	}

	var jpg, body bytes.Buffer
	photo := image.NewRGBA(image.Rect(0, 0, 64, 64))
	for p := 0; p < len(photo.Pix); p += 4 {
		c := color.RGBA{uint8(p % 251), uint8(p / 64 % 256), 120, 255}
		photo.Pix[p], photo.Pix[p+1], photo.Pix[p+2], photo.Pix[p+3] = c.R, c.G, c.B, c.A
	}
	if err := jpeg.Encode(&jpg, photo, nil); err != nil {
		t.Fatal(err)
	}
	mw := multipart.NewWriter(&body)
	part, _ := mw.CreateFormFile("file", "photo.jpg")
	_, _ = part.Write(jpg.Bytes())
	_ = mw.Close()
	call("POST", "/api/images", &body, mw.FormDataContentType())
	uploaded := time.Now()
	// The replica has the image queued, and then lags by everything the worker writes.
	rep.WaitReplicated(t)
	rep.PauseReplication(t)
	t.Cleanup(func() { rep.ResumeReplication(t) })
	// The owner's own mark from the upload is over: from now on only the worker's
	// mark sends their listing to the writer.
	time.Sleep(time.Until(uploaded.Add(window + 200*time.Millisecond)))
	if s := status(); s != store.StatusQueued {
		t.Fatalf("image %s before any worker ran, want queued", s)
	}

	wcfg := cfg
	wcfg.ListenAddr, wcfg.MetricsAddr = testenv.FreeAddr(t), testenv.FreeAddr(t)
	started := time.Now()
	run("work", work, wcfg)
	deadline := started.Add(60 * time.Second)
	s := status()
	for ; s == store.StatusQueued && time.Now().Before(deadline); s = status() {
		time.Sleep(20 * time.Millisecond)
	}
	seen := time.Now()
	if s != store.StatusLabelled {
		t.Fatalf("owner's listing shows the image %s %s after the worker started, want labelled", s, time.Since(started).Round(time.Millisecond))
	}
	// Back on the replica once the worker's mark expires: still queued there.
	deadline = seen.Add(window + 5*time.Second)
	for s = status(); s != store.StatusQueued && time.Now().Before(deadline); s = status() {
		time.Sleep(50 * time.Millisecond)
	}
	if s != store.StatusQueued {
		t.Errorf("owner's listing shows the image %s %s after it showed labelled, want queued (from the paused replica) once the worker's mark of %s expired",
			s, time.Since(seen).Round(time.Millisecond), window)
	}
	t.Logf("labelled seen %s after the worker started; the listing went back to the replica %s later",
		seen.Sub(started).Round(time.Millisecond), time.Since(seen).Round(time.Millisecond))
}
