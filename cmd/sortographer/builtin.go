package main

import (
	"context"
	"log/slog"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/classify/builtin"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/ratelimit"
)

func init() {
	classifierFactories[config.ClassifierBuiltin] = newBuiltin
	searchExampleSources[config.ClassifierBuiltin] = builtinSearchExamples
}

// builtinSearchExamples reads the model's labels file rather than loading the model:
// the server may run no workers, and the session would hold its memory for nothing.
// Without the file (a server image without the model) the search box suggests no words.
func builtinSearchExamples(cfg config.Config, log *slog.Logger) []string {
	labels, err := builtin.LabelsIn(cfg.Workers.ModelDir)
	if err != nil {
		log.Warn("search box without examples: the built-in model's labels cannot be read", "error", err)
		return nil
	}
	return builtin.SearchExamples(labels, 3)
}

// newBuiltin loads the built-in model from SORTOGRAPHER_MODEL_DIR at start-up. The ONNX
// Runtime session lives as long as the process: it is not closed while a job may still
// be using it.
func newBuiltin(_ context.Context, cfg config.Config, log *slog.Logger, _ ratelimit.Pacer) (classify.Classifier, error) {
	c, err := builtin.New(cfg.Workers)
	if err != nil {
		return nil, err
	}
	if b, ok := c.(*builtin.Classifier); ok {
		if why := b.Fallback(); why != nil {
			log.Warn("built-in model runs on the pure-Go engine (slower)", "reason", why.Error())
		}
		log.Info("loaded the built-in model", "model", b.Model(), "engine", b.Engine(), "labels", len(b.Labels()))
	}
	return c, nil
}
