package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/classify/tesseract"
	"github.com/sortographer/sortographer/internal/config"
)

var (
	readTextFlags         = flag.NewFlagSet("read-text", flag.ContinueOnError)
	readTextLanguages     = readTextFlags.String("languages", strings.Join(tesseract.DefaultLanguages, "+"), "Tesseract's languages, joined by +, each with its .traineddata in $TESSDATA_PREFIX (default "+tesseract.DefaultDataPath+")")
	readTextMinConfidence = readTextFlags.Float64("min-confidence", tesseract.DefaultMinConfidence, "drop words Tesseract is less sure of (0-100)")
)

func init() {
	commands["read-text"] = readTextCommand
	commandFlags["read-text"] = readTextFlags
	commandArgs["read-text"] = []string{"PHOTO"}
}

// readTextOutput is where `read-text` prints (a test reads it).
var readTextOutput io.Writer = os.Stdout

// readPhotoText is what `read-text` prints.
type readPhotoText struct {
	Provider   string  `json:"provider"`
	Model      string  `json:"model"`
	Content    string  `json:"content"`
	Confidence float64 `json:"confidence"`
}

// readTextCommand prints, as JSON on stdout, the words Tesseract reads in the photo in
// file PHOTO, read by the steps an upload takes. Like `classify`, it needs no database,
// queue or store: an admin can try a photo, and a build (the gallery image for each
// architecture, in hack/imagebuild's tests) shows that libtesseract and the language
// data load.
func readTextCommand(ctx context.Context, cfg config.Config, log *slog.Logger) error {
	in := readTextFlags.Arg(0)
	if err := startImaging(cfg, log); err != nil {
		return err
	}
	data, info, err := readPhoto(in, cfg.MaxUploadBytes)
	if err != nil {
		return err
	}
	r, err := tesseract.New(tesseract.Options{Languages: strings.Split(*readTextLanguages, "+"), MinConfidence: *readTextMinConfidence, Clients: 1})
	if err != nil {
		return err
	}
	defer r.Close()
	log.Info("started Tesseract", "model", r.Model())
	text, err := r.ReadText(ctx, classify.Image{
		ID: in, ContentType: info.ContentType(), Bytes: data, Width: info.Width, Height: info.Height, Size: int64(len(data)),
	})
	if err != nil {
		return fmt.Errorf("read text in %s: %w", in, err)
	}
	enc := json.NewEncoder(readTextOutput)
	enc.SetIndent("", "  ")
	return enc.Encode(readPhotoText{Provider: r.Provider(), Model: r.Model(), Content: text.Content, Confidence: text.Confidence})
}
