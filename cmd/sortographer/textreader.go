package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/ratelimit"
)

// errNotBuiltIn: the text reader named is not in this binary.
var errNotBuiltIn = errors.New("not built in yet")

// newTextReader builds the text reader SORTOGRAPHER_TEXT_READER names
// (config.Workers.TextReaderName resolves auto), for `work` and for the workers inside
// `serve`; nil, nil when there is none. limiter is the Gallery-wide provider pace, for
// a reader that retries by itself (Rekognition), as newClassifier's.
func newTextReader(ctx context.Context, cfg config.Config, log *slog.Logger, limiter ratelimit.Pacer) (classify.TextReader, error) {
	w := cfg.Workers
	switch name := w.TextReaderName(); name {
	case "":
		return nil, nil
	case config.TextReaderTesseract:
		// TODO(merge): internal/classify/tesseract is on another branch. With it:
		//
		//	return tesseract.New(tesseract.Options{
		//		Languages:     w.TextLanguages,
		//		MinConfidence: w.TextMinConfidence,
		//		DataPath:      w.TesseractDataPath,
		//	})
		//
		// (and delete errNotBuiltIn once both readers are in).
		return nil, fmt.Errorf("%s: text reader %q is %w", config.EnvTextReader, name, errNotBuiltIn)
	case config.TextReaderRekognition:
		// TODO(merge): the DetectText reader of internal/classify/rekognition is on
		// another branch. With it, on a client made as newRekognition makes its own
		// (rekognition.NewClient(ctx, w.RekognitionRegion, w.RekognitionEndpoint)), with
		// MinConfidence w.TextMinConfidence, RetryLimiter limiter and the classifier's
		// CallTimeout, and UseS3 decided as there.
		return nil, fmt.Errorf("%s: text reader %q is %w", config.EnvTextReader, name, errNotBuiltIn)
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
