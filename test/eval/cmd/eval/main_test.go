package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sortographer/sortographer/test/eval"
)

// These tests check the program's plumbing, not the model: `make eval` is the benchmark.
// A stand-in for Rekognition's DetectLabels on loopback answers through the real SDK
// client, so no model files are needed.

// detectLabels answers every DetectLabels call with answer, or fails them all with
// InvalidParameterException when answer is empty.
func detectLabels(t *testing.T, answer string) (string, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.Header.Get("X-Amz-Target") != "RekognitionService.DetectLabels" {
			http.Error(w, "not DetectLabels", http.StatusBadRequest)
			return
		}
		calls.Add(1)
		if answer == "" {
			w.Header().Set("X-Amzn-ErrorType", "InvalidParameterException")
			http.Error(w, `{"__type":"InvalidParameterException","message":"refused"}`, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &calls
}

// rekognitionEnv configures Rekognition at endpoint with static credentials and no
// shared AWS files.
func rekognitionEnv(t *testing.T, endpoint string) []string {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "eval")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "eval")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	return append(os.Environ(),
		"SORTOGRAPHER_CLASSIFIER=rekognition",
		"SORTOGRAPHER_REKOGNITION_REGION=us-east-1",
		"SORTOGRAPHER_REKOGNITION_ENDPOINT="+endpoint,
	)
}

// Every photo of the committed set goes through Rekognition's client; its words are
// judged against the set, those outside the vocabulary reported as unjudged.
func TestEvalRunsTheConfiguredClassifier(t *testing.T) {
	url, calls := detectLabels(t, `{"Labels":[
		{"Name":"Cat","Confidence":95,"Parents":[{"Name":"Animal"},{"Name":"Pet"}]},
		{"Name":"Outdoors","Confidence":90}]}`)
	set, err := eval.Load("../../photos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if missing := set.Missing(); len(missing) > 0 && testing.Short() {
		t.Skipf("photos missing (make deps installs them): %v", missing)
	}
	var out strings.Builder
	if err := run(context.Background(), "../../photos.yaml", rekognitionEnv(t, url), &out); err != nil {
		t.Fatalf("eval: %v\n%s", err, out.String())
	}
	n := len(set.Photos)
	if calls.Load() != int64(n) {
		t.Errorf("%d DetectLabels calls for %d photos", calls.Load(), n)
	}
	for _, want := range []string{
		"# rekognition/detect-labels, threshold min confidence 70",
		"| cat ", // one cat photo: 1 TP, the other photos false positives
		"outdoors ×", "COCO objects, no hierarchy", "every word, with hierarchy",
		"- chelsea: false negatives: mammal.", // cat, animal, pet are right
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report has no %q:\n%s", want, out.String())
		}
	}
}

// A missing photo and a classifier's failure each stop the eval, naming the photo.
func TestEvalFailsLoudly(t *testing.T) {
	dir := t.TempDir()
	photo := "/usr/share/darknet/data/dog.jpg"
	write := func(name, path string) string {
		f := filepath.Join(dir, name)
		yaml := "vocabulary: {objects: [dog], broader: [animal]}\nphotos:\n" +
			"- {id: dog, package: darknet, path: " + path + ", labels: [dog, animal]}\n"
		if err := os.WriteFile(f, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	url, _ := detectLabels(t, "")
	env := rekognitionEnv(t, url)

	err := run(context.Background(), write("missing.yaml", "/nowhere/dog.jpg"), env, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "/nowhere/dog.jpg (package darknet)") {
		t.Errorf("a missing photo: %v", err)
	}
	err = run(context.Background(), write("refused.yaml", photo), env, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "classify photo dog with rekognition") {
		t.Errorf("a classifier's failure: %v", err)
	}
}
