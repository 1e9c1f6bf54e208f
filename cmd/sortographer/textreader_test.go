package main

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/sortographer/sortographer/internal/config"
)

// The text reader the workers get: none when off or auto with Rekognition; Tesseract
// with the built-in model or by name; DetectText by name; one asked for by name that
// cannot start is an error naming the setting; auto's that cannot start is left out
// with a warning.
func TestStartTextReader(t *testing.T) {
	noData := config.EnvTesseractDataPath + "=" + t.TempDir()
	for _, tc := range []struct {
		name     string
		env      []string
		provider string // "" for none
		wantErr  bool
		warns    bool
	}{
		{"off", []string{config.EnvTextReader + "=none"}, "", false, false},
		{"auto with rekognition", []string{config.EnvClassifier + "=rekognition", config.EnvRekognitionRegion + "=eu-west-1"}, "", false, false},
		{"auto with builtin", nil, "tesseract", false, false},
		{"tesseract by name", []string{config.EnvTextReader + "=tesseract"}, "tesseract", false, false},
		{"rekognition by name", []string{config.EnvTextReader + "=rekognition", config.EnvRekognitionRegion + "=eu-west-1"}, "rekognition", false, false},
		{"auto without language data", []string{noData}, "", false, true},
		{"tesseract by name without language data", []string{config.EnvTextReader + "=tesseract", noData}, "", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("AWS_ACCESS_KEY_ID", "test")
			t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
			cfg, err := config.Load(tc.env)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			r, err := startTextReader(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)), nil)
			if tc.wantErr != (err != nil) || (err != nil && !strings.Contains(err.Error(), config.EnvTextReader)) {
				t.Errorf("startTextReader = %v, %v; want an error naming %s: %v", r, err, config.EnvTextReader, tc.wantErr)
			}
			provider := ""
			if r != nil {
				provider = r.Provider()
			}
			if provider != tc.provider {
				t.Errorf("reader %q, want %q", provider, tc.provider)
			}
			if warned := strings.Contains(logs.String(), "reading no text in photos"); warned != tc.warns {
				t.Errorf("warned %v, want %v: %s", warned, tc.warns, logs.String())
			}
		})
	}
}
