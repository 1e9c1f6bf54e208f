package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/classify/rekognition"
	"github.com/sortographer/sortographer/internal/classify/tesseract"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/ratelimit"
)

// newTextReader builds the text reader SORTOGRAPHER_TEXT_READER names
// (config.Workers.TextReaderName resolves auto), for `work` and for the workers inside
// `serve`; nil, nil when there is none. limiter is the Gallery-wide provider pace, for
// a reader that retries by itself (Rekognition), as newClassifier's.
func newTextReader(ctx context.Context, cfg config.Config, _ *slog.Logger, limiter ratelimit.Pacer) (classify.TextReader, error) {
	w := cfg.Workers
	switch name := w.TextReaderName(); name {
	case "":
		return nil, nil
	case config.TextReaderTesseract:
		r, err := tesseract.New(tesseract.Options{
			Languages:     w.TextLanguages,
			MinConfidence: w.TextMinConfidence,
			DataPath:      w.TesseractDataPath,
		})
		if err != nil {
			return nil, fmt.Errorf("%s=%s: %w", config.EnvTextReader, name, err)
		}
		return r, nil
	case config.TextReaderRekognition:
		client, opts, err := rekognitionSetup(ctx, cfg, limiter)
		if err != nil {
			return nil, fmt.Errorf("%s=%s: %w", config.EnvTextReader, name, err)
		}
		opts.MinConfidence = w.TextMinConfidence
		return rekognition.NewTextReader(client, opts), nil
	default:
		return nil, fmt.Errorf("%s: unknown text reader %q", config.EnvTextReader, name)
	}
}

// startTextReader is newTextReader for the workers: a reader asked for by name that
// cannot start stops the process, as a classifier does; one chosen by auto (the
// default) is left out with a warning, so that a gallery image without Tesseract's
// language data still labels its photos.
func startTextReader(ctx context.Context, cfg config.Config, log *slog.Logger, limiter ratelimit.Pacer) (classify.TextReader, error) {
	r, err := newTextReader(ctx, cfg, log, limiter)
	if err != nil && cfg.Workers.TextReader == config.TextReaderAuto {
		log.Warn("reading no text in photos: the text reader did not start", "textReader", cfg.Workers.TextReaderName(), "error", err)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("start text reader: %w", err)
	}
	if r != nil {
		log.Info("reading text in photos", "provider", r.Provider(), "model", r.Model(), "minConfidence", cfg.Workers.TextMinConfidence)
	}
	return r, nil
}
