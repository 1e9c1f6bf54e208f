// Package classify is the contract for what labels a photo: AWS Rekognition or the
// built-in offline model, chosen by configuration.
package classify

import (
	"context"
	"errors"
)

// ErrPermanent marks a failure that retrying cannot fix (an image the provider refuses,
// too large, unreadable). Wrap it: errors.Is(err, ErrPermanent).
var ErrPermanent = errors.New("classify: permanent failure")

// Label is one thing seen in a photo.
type Label struct {
	// Name is normalised: lower case, single spaces.
	Name string
	// Confidence is 0–100.
	Confidence float64
	// Parents are broader words (Rekognition's parents, aliases and categories; the
	// built-in model's hierarchy), normalised.
	Parents []string
}

// Image is what a classifier receives: the original's bytes as uploaded (any format the
// gallery accepts: a classifier makes what it reads of them, with
// imaging.ClassifierJPEG), and where the original lives when it is in S3 (so Rekognition
// can read it itself).
type Image struct {
	ID          string
	ContentType string
	Bytes       []byte
	// Width and Height (as shown) and Size (bytes) are the original's, from its row, so
	// that a classifier can tell whether it can read the original from S3 without
	// downloading it; zero when unknown.
	Width, Height int
	Size          int64
	// S3Bucket and S3Key are set when the original is in S3 (empty otherwise).
	S3Bucket, S3Key string
}

// Classifier labels photos.
type Classifier interface {
	// Classify returns the labels above the configured threshold, best first.
	Classify(ctx context.Context, img Image) ([]Label, error)
	// Provider and Model are recorded with every label ("rekognition", "detect-labels";
	// "builtin", "centernet-coco80").
	Provider() string
	Model() string
}

// Text is the writing a TextReader found in a photo.
type Text struct {
	// Content is the text as read, lines joined by "\n", whitespace within a line
	// collapsed to single spaces; empty when the photo has no legible text.
	Content string
	// Confidence is the reader's mean confidence over what it kept, 0–100.
	Confidence float64
}

// TextReader reads the words in a photo (optical character recognition): Tesseract
// offline, or Rekognition's DetectText. Workers run it after labelling, paced by the
// same provider budget, and the gallery makes what it reads searchable.
type TextReader interface {
	// ReadText returns the text found with at least the configured confidence. A
	// failure retrying cannot fix wraps ErrPermanent.
	ReadText(ctx context.Context, img Image) (Text, error)
	// Provider and Model are recorded with the text ("tesseract", "eng+kor";
	// "rekognition", "detect-text").
	Provider() string
	Model() string
}
