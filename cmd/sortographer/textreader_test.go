package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/sortographer/sortographer/internal/config"
)

// The text reader the workers get: none when off or auto with Rekognition; one asked
// for by name that cannot start is an error naming the setting; auto's that cannot
// start is left out with a warning.
func TestStartTextReader(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     []string
		wantErr bool
		warns   bool
	}{
		{"off", []string{config.EnvTextReader + "=none"}, false, false},
		{"auto with rekognition", []string{config.EnvClassifier + "=rekognition"}, false, false},
		{"auto with builtin", nil, false, true},
		{"tesseract by name", []string{config.EnvTextReader + "=tesseract"}, true, false},
		{"rekognition by name", []string{config.EnvTextReader + "=rekognition"}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Load(tc.env)
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			r, err := startTextReader(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)), nil)
			if tc.wantErr != (err != nil) || (err != nil && !strings.Contains(err.Error(), config.EnvTextReader)) {
				t.Errorf("startTextReader = %v, %v; want an error naming %s: %v", r, err, config.EnvTextReader, tc.wantErr)
			}
			// TODO(merge): with the readers built in, tesseract starts (where its language
			// data is installed) and this test names what each case builds.
			if err != nil && !errors.Is(err, errNotBuiltIn) {
				t.Errorf("err = %v", err)
			}
			if warned := strings.Contains(logs.String(), "reading no text in photos"); warned != tc.warns {
				t.Errorf("warned %v, want %v: %s", warned, tc.warns, logs.String())
			}
		})
	}
}
