package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/testservers"
)

// TestServeSearchExamples: `serve` hands the web UI words the configured classifier can
// give (GET /api/me): the built-in model's from its labels file, Rekognition's common
// ones, and none when the model's files are missing.
func TestServeSearchExamples(t *testing.T) {
	cfg := testConfig(t, config.EnvModelDir+"="+testservers.ModelDir(t))
	base, _ := startServe(t, cfg)
	token := signUpToken(t, base, "s@example.com")
	req, _ := http.NewRequest("GET", base+"/api/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	var me struct{ SearchExamples []string }
	if err := json.Unmarshal(data, &me); err != nil {
		t.Fatalf("GET /api/me: %v\n%s", err, data)
	}
	if want := []string{"dog", "car", "animal"}; !slices.Equal(me.SearchExamples, want) {
		t.Errorf("the built-in model's search examples %q, want %q", me.SearchExamples, want)
	}

	log := slog.New(slog.DiscardHandler)
	rek := testConfig(t, config.EnvClassifier+"="+config.ClassifierRekognition)
	if got := searchExamples(rek, log); !slices.Equal(got, []string{"dog", "beach", "car"}) {
		t.Errorf("Rekognition's search examples %q, want dog, beach, car", got)
	}
	missing := testConfig(t, config.EnvModelDir+"="+filepath.Join(t.TempDir(), "no-model"))
	if got := searchExamples(missing, log); got != nil {
		t.Errorf("search examples without the model's files %q, want none", got)
	}
}
