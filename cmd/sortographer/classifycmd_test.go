package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sortographer/sortographer/internal/classify/builtin"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/testservers"
)

// TestClassifyCommand: `sortographer classify PHOTO` prints the built-in model's labels
// for darknet's data/dog.jpg (a dog, a bicycle and a car), best first, with ONNX Runtime
// as the engine, and refuses, with status 1 and the reason, a file that is no photo; with no argument it
// prints its usage and exits 2.
func TestClassifyCommand(t *testing.T) {
	env := []string{config.EnvModelDir + "=" + testservers.ModelDir(t)}
	notes := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notes, []byte("not a photo at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		args   []string
		status int
		says   string // in the log
		label  string // among the labels printed; "" for no output
	}{
		{"a dog", []string{"classify", "/usr/share/darknet/data/dog.jpg"}, 0, `"msg":"loaded the built-in model"`, "dog"},
		{"no photo", []string{"classify", notes}, 1, "unsupported image format", ""},
		{"no argument", []string{"classify"}, 2, "want PHOTO", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, log bytes.Buffer
			classifyOutput = &out
			t.Cleanup(func() { classifyOutput = os.Stdout })
			if got := run(c.args, env, &log); got != c.status {
				t.Fatalf("run(%q) = %d, want %d\n%s", c.args, got, c.status, log.String())
			}
			if !strings.Contains(log.String(), c.says) {
				t.Errorf("the log does not say %q:\n%s", c.says, log.String())
			}
			if c.label == "" {
				if out.Len() > 0 {
					t.Errorf("printed %s", out.String())
				}
				return
			}
			var got classifiedPhoto
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("output is no JSON: %v\n%s", err, out.String())
			}
			found := false
			for i, l := range got.Labels {
				found = found || l.Name == c.label
				if i > 0 && l.Confidence > got.Labels[i-1].Confidence {
					t.Errorf("labels not best first: %+v", got.Labels)
				}
			}
			if got.Provider != builtin.Provider || got.Engine != builtin.EngineORT || !found {
				t.Errorf("printed %+v: want the built-in model on onnxruntime, with %q", got, c.label)
			}
		})
	}
}
