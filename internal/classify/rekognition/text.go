package rekognition

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"

	"github.com/sortographer/sortographer/internal/classify"
)

// TextReader reads the words in photos with DetectText. It sends the photo as the
// Classifier does (the S3 object or imaging.ClassifierJPEG's bytes), retries as it does,
// and counts each request under the same provider; Rekognition bills each as an image.
type TextReader struct {
	api  TextAPI
	opts Options
}

var _ classify.TextReader = (*TextReader)(nil)

// NewTextReader returns a TextReader calling api, tuned by the classifier's Options:
// MinConfidence applies to each line of text, MaxLabels is not used. As with New, give
// it a client without SDK retries (NewClient's).
func NewTextReader(api TextAPI, opts Options) *TextReader {
	return &TextReader{api: api, opts: opts.withDefaults()}
}

// Provider implements classify.TextReader.
func (r *TextReader) Provider() string { return Provider }

// Model implements classify.TextReader.
func (r *TextReader) Model() string { return TextModel }

// ReadsS3 reports whether Rekognition reads this original from S3 itself, as the
// Classifier's ReadsS3 does.
func (r *TextReader) ReadsS3(img classify.Image) bool { return r.opts.readsS3(img) }

// ReadText implements classify.TextReader.
func (r *TextReader) ReadText(ctx context.Context, img classify.Image) (classify.Text, error) {
	image, err := r.opts.image(ctx, img)
	if err != nil {
		return classify.Text{}, err
	}
	in := &rekognition.DetectTextInput{Image: image}
	out, err := retry(ctx, r.opts, "detect text", func(ctx context.Context) (*rekognition.DetectTextOutput, error) {
		return r.api.DetectText(ctx, in)
	})
	if err != nil {
		return classify.Text{}, err
	}
	return r.text(out), nil
}

// text keeps DetectText's lines (each of its words is also reported alone) at or above
// MinConfidence, in the order given, spaces collapsed; its confidence is their mean.
func (r *TextReader) text(out *rekognition.DetectTextOutput) classify.Text {
	var lines []string
	var sum float64
	for _, d := range out.TextDetections {
		line := strings.Join(strings.Fields(aws.ToString(d.DetectedText)), " ")
		conf := float64(aws.ToFloat32(d.Confidence))
		if d.Type != types.TextTypesLine || line == "" || conf < r.opts.MinConfidence {
			continue
		}
		lines = append(lines, line)
		sum += conf
	}
	if len(lines) == 0 {
		return classify.Text{}
	}
	return classify.Text{Content: strings.Join(lines, "\n"), Confidence: sum / float64(len(lines))}
}
