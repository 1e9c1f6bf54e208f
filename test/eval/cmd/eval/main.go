// Command eval labels the photo set (test/eval/photos.yaml) with the classifier the
// gallery's configuration names (SORTOGRAPHER_CLASSIFIER and its settings, as the
// workers read them: default the built-in model at its default threshold), through the
// call the worker makes, and prints precision and recall per label and overall, with and
// without the label hierarchy, then each photo's mistakes. `make eval` runs it from the
// repository root. It exits non-zero when a photo is missing, the classifier fails on
// one, or the model can give a word the set was not judged for.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/classify/builtin"
	"github.com/sortographer/sortographer/internal/classify/rekognition"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/imaging"
	"github.com/sortographer/sortographer/test/eval"
)

func main() {
	setPath := flag.String("set", eval.SetFile, "the labelled photo set")
	flag.Parse()
	if err := run(context.Background(), *setPath, os.Environ(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "eval:", err)
		os.Exit(1)
	}
}

// run scores the classifier the environment (os.Environ's form) configures on the set.
func run(ctx context.Context, setPath string, environ []string, out io.Writer) error {
	set, err := eval.Load(setPath)
	if err != nil {
		return err
	}
	if missing := set.Missing(); len(missing) > 0 {
		return fmt.Errorf("%d photos missing (make deps installs their packages: hack/install-deps.sh):\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	imaging.SetDecodeMemory(cfg.DecodeMemory)
	if err := imaging.Startup(); err != nil {
		return err
	}
	c, err := newClassifier(ctx, cfg)
	if err != nil {
		return err
	}
	b, _ := c.(*builtin.Classifier)
	if b != nil {
		if err := judgedFor(set.Vocabulary, b.Labels()); err != nil {
			return err
		}
	}

	start := time.Now()
	labels := map[string][]classify.Label{}
	scores := map[string][]float32{} // the built-in model's score of every class, for the mistakes
	for _, p := range set.Photos {
		data, err := p.Bytes()
		if err != nil {
			return err
		}
		got, err := classifyPhoto(ctx, c, cfg.Workers.VisibilityTimeout, p.ID, data)
		if err != nil {
			return err
		}
		labels[p.ID] = got
		if b != nil {
			if scores[p.ID], err = b.Scores(ctx, data); err != nil {
				return fmt.Errorf("scores of photo %s: %w", p.ID, err)
			}
		}
	}
	took := time.Since(start)

	engine := ""
	if b != nil {
		engine = ", engine " + b.Engine()
		if why := b.Fallback(); why != nil {
			engine += " (ONNX Runtime did not load: " + why.Error() + ")"
		}
	}
	fmt.Fprintf(out, "# %s/%s%s, threshold %s, on %d photos (%s)\n\n", c.Provider(), c.Model(), engine, threshold(cfg), len(set.Photos), took.Round(time.Millisecond))

	results := make([]eval.Score, len(eval.Modes))
	for i, m := range eval.Modes {
		results[i] = set.Score(labels, m)
	}
	fmt.Fprintf(out, "## Per label, %s\n\n", eval.Modes[0].Name)
	eval.PrintLabels(out, results[0], set.Vocabulary.Broader)
	last := len(eval.Modes) - 1
	fmt.Fprintf(out, "\n## Per label, %s\n\n", eval.Modes[last].Name)
	eval.PrintLabels(out, results[last], set.Vocabulary.Broader)
	fmt.Fprintf(out, "\n## Overall (%%; micro: every photo-label decision alike; macro: the mean over labels)\n\n")
	eval.PrintSummary(out, eval.Modes, results)

	if b != nil {
		// The scores give every other threshold's answer without classifying again; at the
		// configured one they must give exactly what Classify gave.
		at := func(threshold float64) map[string][]classify.Label { return atThreshold(scores, b.Labels(), threshold) }
		if err := sameNames(labels, at(cfg.Workers.BuiltinMinScore)); err != nil {
			return err
		}
		fmt.Fprintf(out, "\n## Other thresholds (micro, %%, from the same run's scores)\n\n")
		eval.PrintThresholds(out, set, thresholds(cfg.Workers.BuiltinMinScore), cfg.Workers.BuiltinMinScore, at)
	}

	detail := mistakeDetail(labels, scores, b)
	for i, m := range eval.Modes {
		if i == 1 {
			continue // the broader words' false negatives only repeat the first mode's and the third's
		}
		fmt.Fprintf(out, "\n## Mistakes, %s\n\n", m.Name)
		eval.PrintMistakes(out, results[i], detail)
	}
	if u := results[last].Unjudged; len(u) > 0 {
		var words []string
		for w, n := range u {
			words = append(words, fmt.Sprintf("%s ×%d", w, n))
		}
		slices.Sort(words)
		fmt.Fprintf(out, "\n## Words outside the vocabulary (not judged)\n\n%s\n", strings.Join(words, ", "))
	}
	if m := results[last].MaybeGiven; len(m) > 0 {
		fmt.Fprintf(out, "\n## Words fair either way that were given (counted neither way)\n\n%s\n", strings.Join(m, ", "))
	}
	return nil
}

// newClassifier builds the configured classifier as cmd/sortographer's newBuiltin and
// newRekognition do (the worker's), with no provider pacing: the set is classified one
// photo at a time.
func newClassifier(ctx context.Context, cfg config.Config) (classify.Classifier, error) {
	w := cfg.Workers
	switch w.Classifier {
	case config.ClassifierBuiltin:
		return builtin.New(w)
	case config.ClassifierRekognition:
		client, err := rekognition.NewClient(ctx, w.RekognitionRegion, w.RekognitionEndpoint)
		if err != nil {
			return nil, err
		}
		return rekognition.New(client, rekognition.Options{
			MinConfidence: w.RekognitionMinConfidence,
			MaxLabels:     w.RekognitionMaxLabels,
			CallTimeout:   min(w.VisibilityTimeout/2, 30*time.Second),
		}), nil
	}
	return nil, fmt.Errorf("%s: no classifier %q", config.EnvClassifier, w.Classifier)
}

// classifyPhoto makes the call the worker makes for an upload: the bytes as uploaded,
// with their type and size, within the visibility timeout.
func classifyPhoto(ctx context.Context, c classify.Classifier, timeout time.Duration, id string, data []byte) ([]classify.Label, error) {
	info, err := imaging.InspectBytes(data)
	if err != nil {
		return nil, fmt.Errorf("photo %s is not an image the gallery accepts: %w", id, err)
	}
	w, h := info.DisplaySize()
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	labels, err := c.Classify(cctx, classify.Image{ID: id, ContentType: info.ContentType(), Bytes: data, Width: w, Height: h, Size: int64(len(data))})
	if err != nil {
		return nil, fmt.Errorf("classify photo %s with %s: %w", id, c.Provider(), err)
	}
	return labels, nil
}

// judgedFor fails when the model or the hierarchy can give a word the set was not
// judged for: every photo would have to be looked at again for it.
func judgedFor(v eval.Vocabulary, modelLabels []string) error {
	var unjudged []string
	for _, l := range modelLabels {
		if l == "" {
			continue
		}
		for _, w := range append([]string{l}, builtin.Parents(l)...) {
			if !v.Has(w) && !slices.Contains(unjudged, w) {
				unjudged = append(unjudged, w)
			}
		}
	}
	if len(unjudged) > 0 {
		return fmt.Errorf("the model or its hierarchy can give %q, which %s was not judged for: add each to its vocabulary and judge every photo for it", unjudged, eval.SetFile)
	}
	return nil
}

func threshold(cfg config.Config) string {
	if cfg.Workers.Classifier == config.ClassifierRekognition {
		return fmt.Sprintf("min confidence %g, max %d labels", cfg.Workers.RekognitionMinConfidence, cfg.Workers.RekognitionMaxLabels)
	}
	return fmt.Sprintf("%g (%s)", cfg.Workers.BuiltinMinScore, config.EnvBuiltinMinScore)
}

// mistakeDetail says, of a false positive, its confidence or the label it was derived
// from; of a false negative of one of the built-in model's classes, its score, below
// the threshold.
func mistakeDetail(labels map[string][]classify.Label, scores map[string][]float32, b *builtin.Classifier) func(id, word string) string {
	return func(id, word string) string {
		var from []string
		for _, l := range labels[id] {
			if l.Name == word {
				return fmt.Sprintf("%.0f", l.Confidence)
			}
			if slices.Contains(l.Parents, word) {
				from = append(from, l.Name)
			}
		}
		if len(from) > 0 {
			return "from " + strings.Join(from, ", ")
		}
		if b != nil {
			if i := slices.Index(b.Labels(), word); i >= 0 && i < len(scores[id]) {
				return fmt.Sprintf("scored %.0f", 100*scores[id][i])
			}
		}
		return ""
	}
}

// atThreshold is what the built-in model's Classify gives each photo at threshold (0–100),
// from its scores.
func atThreshold(scores map[string][]float32, names []string, threshold float64) map[string][]classify.Label {
	out := map[string][]classify.Label{}
	for id, s := range scores {
		for i, v := range s {
			if conf := 100 * float64(v); conf >= threshold && names[i] != "" {
				out[id] = append(out[id], classify.Label{Name: names[i], Confidence: conf, Parents: builtin.Parents(names[i])})
			}
		}
	}
	return out
}

// sameNames fails when two answers differ in a photo's label names.
func sameNames(got, want map[string][]classify.Label) error {
	for id := range want {
		if g, w := eval.Given(got[id], true), eval.Given(want[id], true); !slices.Equal(g, w) {
			return fmt.Errorf("photo %s: Classify gave %q, its scores at the same threshold %q", id, g, w)
		}
	}
	for id := range got {
		if len(got[id]) > 0 && len(want[id]) == 0 {
			return fmt.Errorf("photo %s: Classify gave labels its scores do not reach", id)
		}
	}
	return nil
}

// thresholds are 10 to 70 in steps of 10, and the configured one.
func thresholds(configured float64) []float64 {
	t := []float64{10, 20, 30, 40, 50, 60, 70}
	if !slices.Contains(t, configured) {
		t = append(t, configured)
		slices.Sort(t)
	}
	return t
}
