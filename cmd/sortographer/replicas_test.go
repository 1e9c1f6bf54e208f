package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/testservers"
)

// TestServeWithReadReplica: `serve` configured as the operator configures it for an
// external database with a reader (SORTOGRAPHER_DATABASE_READER_HOSTS) and Redis reports
// the reader in /metrics, and a user sees their upload at once while the replica lags.
func TestServeWithReadReplica(t *testing.T) {
	rep := testservers.ReplicatedPostgres(t)
	redisServer := testservers.Redis(t)
	db := rep.Primary
	migrated, err := store.Open(context.Background(), db.Config(), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := migrated.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = migrated.Close()
	cfg := testConfig(t,
		config.EnvDatabaseDriver+"="+db.Driver,
		config.EnvDatabaseHost+"="+db.Host,
		config.EnvDatabasePort+"="+strconv.Itoa(db.Port),
		config.EnvDatabaseName+"="+db.Name,
		config.EnvDatabaseUser+"="+db.User,
		config.EnvDatabasePassword+"="+db.Password,
		config.EnvDatabaseReaderHosts+"="+rep.ReaderHost(),
		config.EnvRedisAddr+"="+redisServer.Addr(),
	)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, cfg, slog.New(slog.DiscardHandler)) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	base := "http://" + cfg.ListenAddr
	waitReady(t, base)

	up := `sortographer_database_reader_up{reader="` + rep.ReaderHost() + `"} 1`
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if strings.Contains(string(metrics), up) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics never showed %q", up)
		}
		time.Sleep(50 * time.Millisecond)
	}

	res, err := http.Post(base+"/api/auth/signup", "application/json", strings.NewReader(`{"email":"r@example.com","password":"long enough"}`))
	if err != nil {
		t.Fatal(err)
	}
	var session struct{ Token string }
	_ = json.NewDecoder(res.Body).Decode(&session)
	res.Body.Close()
	rep.WaitReplicated(t)
	rep.PauseReplication(t)
	t.Cleanup(func() { rep.ResumeReplication(t) })

	var jpg, body bytes.Buffer
	if err := jpeg.Encode(&jpg, image.NewGray(image.Rect(0, 0, 32, 32)), nil); err != nil {
		t.Fatal(err)
	}
	mw := multipart.NewWriter(&body)
	part, _ := mw.CreateFormFile("file", "grey.jpg")
	_, _ = part.Write(jpg.Bytes())
	_ = mw.Close()
	call := func(method, path string, r io.Reader, contentType string) []byte {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, r)
		req.Header.Set("Authorization", "Bearer "+session.Token)
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode >= 300 {
			t.Fatalf("%s %s = %d %s", method, path, res.StatusCode, b)
		}
		return b
	}
	var uploaded struct{ Images []struct{ ID string } }
	_ = json.Unmarshal(call("POST", "/api/images", &body, mw.FormDataContentType()), &uploaded)
	var listed struct{ Images []struct{ ID string } }
	_ = json.Unmarshal(call("GET", "/api/images", nil, ""), &listed)
	if len(uploaded.Images) != 1 || len(listed.Images) != 1 || listed.Images[0].ID != uploaded.Images[0].ID {
		t.Errorf("listing right after the upload = %+v, want the uploaded %+v", listed.Images, uploaded.Images)
	}
}
