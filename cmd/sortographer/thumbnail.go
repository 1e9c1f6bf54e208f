package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/imaging"
)

var thumbnailFlags = flag.NewFlagSet("thumbnail", flag.ContinueOnError)

func init() {
	commands["thumbnail"] = thumbnail
	commandFlags["thumbnail"] = thumbnailFlags
	commandArgs["thumbnail"] = []string{"IN", "OUT"}
}

// thumbnail writes the thumbnail of the photo in file IN to file OUT, a JPEG, by the
// steps an upload takes: at most SORTOGRAPHER_MAX_UPLOAD_BYTES, the format told by the
// content, the header checked before any pixel is decoded, the decode within the
// process's budget. It needs no database or store, so it shows that a build, or the
// gallery image (hack/imagebuild's tests run it there on a HEIC), decodes what the
// server would.
func thumbnail(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	in, out := thumbnailFlags.Arg(0), thumbnailFlags.Arg(1)
	if err := startImaging(cfg, log); err != nil {
		return err
	}
	data, info, err := readPhoto(in, cfg.MaxUploadBytes)
	if err != nil {
		return err
	}
	thumb, err := imaging.Thumbnail(ctx, data, info)
	if err != nil {
		return fmt.Errorf("thumbnail %s: %w", in, err)
	}
	if err := os.WriteFile(out, thumb, 0o644); err != nil {
		return fmt.Errorf("write thumbnail: %w", err)
	}
	log.Info("made thumbnail", "in", in, "out", out, "contentType", info.ContentType(),
		"width", info.Width, "height", info.Height, "bytes", len(thumb))
	return nil
}

// readPhoto reads the photo in file name by the steps an upload takes: at most maxBytes,
// the format told by the content, the header checked before any pixel is decoded.
func readPhoto(name string, maxBytes int64) ([]byte, imaging.Info, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, imaging.Info{}, fmt.Errorf("open photo: %w", err)
	}
	defer f.Close()
	data, info, err := imaging.Inspect(f, maxBytes)
	if err != nil {
		return nil, imaging.Info{}, fmt.Errorf("inspect %s: %w", name, err)
	}
	return data, info, nil
}
