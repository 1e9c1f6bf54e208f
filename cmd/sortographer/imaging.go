package main

import (
	"log/slog"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/imaging"
)

// startImaging sizes the process's decode budget (SORTOGRAPHER_DECODE_MEMORY, by default
// a third of GOMEMLIMIT), which the server's thumbnails and every worker of the process
// share, and starts libvips, so that a binary without libvips' HEIF support fails at
// start rather than on the first upload. libvips is never shut down: it needs no
// shutdown at exit, and a decode still running past the grace would crash inside it.
func startImaging(cfg config.Config, log *slog.Logger) error {
	imaging.SetDecodeMemory(cfg.DecodeMemory)
	if err := imaging.Startup(); err != nil {
		return err
	}
	log.Info("libvips started", "version", imaging.VipsVersion(), "decodeMemoryBytes", imaging.DecodeMemoryBudget())
	return nil
}
