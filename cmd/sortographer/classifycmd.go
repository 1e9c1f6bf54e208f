package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/classify/builtin"
	"github.com/sortographer/sortographer/internal/config"
)

var classifyFlags = flag.NewFlagSet("classify", flag.ContinueOnError)

func init() {
	commands["classify"] = classifyCommand
	commandFlags["classify"] = classifyFlags
	commandArgs["classify"] = []string{"PHOTO"}
}

// classifyOutput is where `classify` prints (a test reads it).
var classifyOutput io.Writer = os.Stdout

// classifiedPhoto is what `classify` prints: the labels the configured classifier
// gives the photo, best first, and what gave them.
type classifiedPhoto struct {
	Provider string         `json:"provider"`
	Model    string         `json:"model"`
	Engine   string         `json:"engine,omitempty"` // the built-in model's: onnxruntime or the pure-Go one
	Labels   []printedLabel `json:"labels"`
}

type printedLabel struct {
	Name       string   `json:"name"`
	Confidence float64  `json:"confidence"`
	Parents    []string `json:"parents,omitempty"`
}

// classifyCommand prints, as JSON on stdout, the labels the configured classifier
// (SORTOGRAPHER_CLASSIFIER and its settings, as the workers have them) gives the photo
// in file PHOTO, read by the steps an upload takes. It needs no database, queue or
// store: an admin can try a photo against the Gallery's classifier, and a build (the
// gallery image for each architecture, in hack/imagebuild's tests) shows that it loads
// the model and its runtime.
func classifyCommand(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	in := classifyFlags.Arg(0)
	if err := startImaging(cfg, log); err != nil {
		return err
	}
	data, info, err := readPhoto(in, cfg.MaxUploadBytes)
	if err != nil {
		return err
	}
	c, err := newClassifier(ctx, cfg, log, nil)
	if err != nil {
		return err
	}
	labels, err := c.Classify(ctx, classify.Image{
		ID: in, ContentType: info.ContentType(), Bytes: data, Width: info.Width, Height: info.Height, Size: int64(len(data)),
	})
	if err != nil {
		return fmt.Errorf("classify %s: %w", in, err)
	}
	out := classifiedPhoto{Provider: c.Provider(), Model: c.Model(), Labels: make([]printedLabel, len(labels))}
	if b, ok := c.(*builtin.Classifier); ok {
		out.Engine = b.Engine()
	}
	for i, l := range labels {
		out.Labels[i] = printedLabel(l)
	}
	enc := json.NewEncoder(classifyOutput)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
