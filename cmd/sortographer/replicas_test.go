package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/testservers"
)

// TestServeWithReadReplica: `serve` configured as the operator configures it for an
// external database with a reader (SORTOGRAPHER_DATABASE_READER_HOSTS) and Redis reports
// the reader in its metrics, and a user sees their upload at once while the replica lags.
func TestServeWithReadReplica(t *testing.T) {
	rep := testservers.ReplicatedPostgres(t)
	redisServer := testservers.Redis(t)
	cfg := replicatedConfig(t, rep, config.EnvRedisAddr+"="+redisServer.Addr())
	base, _ := startServe(t, cfg)

	up := `sortographer_database_reader_up{reader="` + rep.ReaderHost() + `"} 1`
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get("http://" + cfg.MetricsAddr + "/metrics")
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

	call := signUpAt(t, base, "r@example.com")
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
	var uploaded struct{ Images []struct{ ID string } }
	_ = json.Unmarshal(call("POST", "/api/images", &body, mw.FormDataContentType()), &uploaded)
	var listed struct{ Images []struct{ ID string } }
	_ = json.Unmarshal(call("GET", "/api/images", nil, ""), &listed)
	if len(uploaded.Images) != 1 || len(listed.Images) != 1 || listed.Images[0].ID != uploaded.Images[0].ID {
		t.Errorf("listing right after the upload = %+v, want the uploaded %+v", listed.Images, uploaded.Images)
	}
}
