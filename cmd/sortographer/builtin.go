package main

import (
	"context"
	"log/slog"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/classify/builtin"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/ratelimit"
)

func init() { classifierFactories[config.ClassifierBuiltin] = newBuiltin }

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
