package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadTextCommand: `sortographer read-text PHOTO` prints what Tesseract reads in
// scikit-image's photograph of a printed page, refuses a file that is no photo and
// names the package of a language whose data is missing.
func TestReadTextCommand(t *testing.T) {
	notes := filepath.Join(t.TempDir(), "notes.txt")
	if err := os.WriteFile(notes, []byte("not a photo at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	const page = "/usr/lib/python3/dist-packages/skimage/data/page.png"
	for _, c := range []struct {
		name   string
		args   []string
		status int
		says   string // in the log
		word   string // in the text printed; "" for no output
	}{
		{"a page", []string{"read-text", page}, 0, `"msg":"started Tesseract","gallery":"sortographer","command":"read-text","model":"eng+kor"`, "segmentation"},
		{"english only", []string{"read-text", "-languages", "eng", page}, 0, `"model":"eng"`, "markers"},
		{"no photo", []string{"read-text", notes}, 1, "unsupported image format", ""},
		{"no language data", []string{"read-text", "-languages", "eng+xyz", page}, 1, "apt-get install tesseract-ocr-xyz", ""},
		{"no argument", []string{"read-text"}, 2, "want PHOTO", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, log bytes.Buffer
			readTextOutput = &out
			t.Cleanup(func() { readTextOutput = os.Stdout })
			if got := run(c.args, nil, &log); got != c.status {
				t.Fatalf("run(%q) = %d, want %d\n%s", c.args, got, c.status, log.String())
			}
			if !strings.Contains(log.String(), c.says) {
				t.Errorf("the log does not say %q:\n%s", c.says, log.String())
			}
			if c.word == "" {
				if out.Len() > 0 {
					t.Errorf("printed %s", out.String())
				}
				return
			}
			var got readPhotoText
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("output is no JSON: %v\n%s", err, out.String())
			}
			if got.Provider != "tesseract" || !strings.Contains(got.Content, c.word) || got.Confidence < 80 {
				t.Errorf("printed %+v: want Tesseract's text with %q", got, c.word)
			}
		})
	}
}
