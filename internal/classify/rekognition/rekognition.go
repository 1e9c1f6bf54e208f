// Package rekognition labels photos with AWS Rekognition's DetectLabels, and reads the
// words in them with its DetectText (TextReader), through aws-sdk-go-v2.
//
// The photo goes as bytes: imaging.ClassifierJPEG of the original, whatever its format
// (HEIC, a RAW's preview...), within Rekognition's limits (JPEG, at most 5 MB, 80 to
// 10,000 px a side). Or, when the gallery keeps originals in AWS S3 in Rekognition's
// region, as a reference to the S3 object, which Rekognition reads itself: only for a
// JPEG or PNG within its limits there (at most 15 MB, 80 to 10,000 px a side), since it
// reads no other format and the worker then sends bytes instead. Throttling
// and server errors are retried with jittered exponential backoff; what retrying cannot
// fix is wrapped in classify.ErrPermanent. Every request, retries included (each is
// billed), is reported to the context's classify.CallCounter. DetectText takes the same
// image, with the same limits, and goes through the same retries.
package rekognition

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/rekognition"
	"github.com/aws/aws-sdk-go-v2/service/rekognition/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/imaging"
)

// Provider and Model are recorded with every label; TextModel with the text.
const (
	Provider  = "rekognition"
	Model     = "detect-labels"
	TextModel = "detect-text"
)

// SearchExamples are words for the search box to suggest: Rekognition knows about 3,000
// labels, and these common ones (as Normalise stores them) are among them.
func SearchExamples() []string { return []string{"dog", "beach", "car"} }

// Rekognition's limits on the image.
const (
	MaxBytes   = 5 * 1024 * 1024  // image bytes sent in the request
	MaxS3Bytes = 15 * 1024 * 1024 // an S3 object Rekognition reads
	// MinSide and MaxSide bound either side of the image, in pixels.
	MinSide = 80
	MaxSide = 10_000
)

// API is the part of the Rekognition client the classifier uses; *rekognition.Client
// implements it.
type API interface {
	DetectLabels(ctx context.Context, in *rekognition.DetectLabelsInput, optFns ...func(*rekognition.Options)) (*rekognition.DetectLabelsOutput, error)
}

// TextAPI is the part of the Rekognition client the TextReader uses; *rekognition.Client
// implements it.
type TextAPI interface {
	DetectText(ctx context.Context, in *rekognition.DetectTextInput, optFns ...func(*rekognition.Options)) (*rekognition.DetectTextOutput, error)
}

// Limiter paces provider calls Gallery-wide; a ratelimit.Pacer implements it.
type Limiter interface {
	Wait(ctx context.Context, n int) (time.Duration, error)
}

// Options tune the classifier and the TextReader. Zero values take the defaults.
type Options struct {
	// MinConfidence (0–100) drops less certain labels, or lines of text. Default 70.
	MinConfidence float64
	// MaxLabels caps the labels per photo (DetectLabels only). Default 20.
	MaxLabels int
	// UseS3 sends the S3 object reference for originals in S3 instead of their bytes.
	// Only for AWS S3 in Rekognition's region.
	UseS3 bool
	// Attempts is how many calls one Classify makes at most. Default 4.
	Attempts int
	// BaseDelay is the first retry's backoff, doubled each retry up to MaxDelay, with
	// jitter (half fixed, half random). Defaults 200ms and 5s.
	BaseDelay, MaxDelay time.Duration
	// CallTimeout bounds one call. Default 15s.
	CallTimeout time.Duration
	// RetryLimiter paces retries with the Gallery-wide provider limit (the worker paces
	// the first call). Nil: retries are paced by backoff alone.
	RetryLimiter Limiter
}

func (o Options) withDefaults() Options {
	if o.MinConfidence <= 0 {
		o.MinConfidence = 70
	}
	if o.MaxLabels <= 0 {
		o.MaxLabels = 20
	}
	if o.Attempts <= 0 {
		o.Attempts = 4
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = 200 * time.Millisecond
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 5 * time.Second
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 15 * time.Second
	}
	return o
}

// Classifier labels photos with DetectLabels.
type Classifier struct {
	api  API
	opts Options
}

var _ classify.Classifier = (*Classifier)(nil)

// New returns a classifier calling api. Give it a client without SDK retries
// (NewClient's): the classifier retries itself, and retries on both levels multiply.
func New(api API, opts Options) *Classifier {
	return &Classifier{api: api, opts: opts.withDefaults()}
}

// NewClient builds a Rekognition client with the standard AWS credential chain
// (environment, shared files, IRSA and EKS Pod Identity web identity, instance roles)
// and no SDK retries. endpoint overrides the service URL (tests, VPC endpoints). Extra
// load options come last, so tests can set static credentials.
func NewClient(ctx context.Context, region, endpoint string, extra ...func(*awsconfig.LoadOptions) error) (*rekognition.Client, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	opts = append(opts, extra...)
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load aws configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("rekognition region not set: set SORTOGRAPHER_REKOGNITION_REGION or AWS_REGION")
	}
	return rekognition.NewFromConfig(cfg, func(o *rekognition.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.Retryer = aws.NopRetryer{}
	}), nil
}

// Provider implements classify.Classifier.
func (c *Classifier) Provider() string { return Provider }

// Model implements classify.Classifier.
func (c *Classifier) Model() string { return Model }

// ReadsS3 reports whether Rekognition reads this original from S3 itself, so the worker
// need not download it: with UseS3, for a JPEG or PNG whose size and dimensions (from
// the image's row) are within Rekognition's limits for S3 objects. Anything else, an
// image of unknown size included, goes as bytes.
func (c *Classifier) ReadsS3(img classify.Image) bool { return c.opts.readsS3(img) }

func (o Options) readsS3(img classify.Image) bool {
	return o.UseS3 && (img.ContentType == "image/jpeg" || img.ContentType == "image/png") &&
		img.Size > 0 && img.Size <= MaxS3Bytes &&
		min(img.Width, img.Height) >= MinSide && max(img.Width, img.Height) <= MaxSide
}

// Classify implements classify.Classifier.
func (c *Classifier) Classify(ctx context.Context, img classify.Image) ([]classify.Label, error) {
	image, err := c.opts.image(ctx, img)
	if err != nil {
		return nil, err
	}
	in := &rekognition.DetectLabelsInput{
		Image:         image,
		MinConfidence: aws.Float32(float32(c.opts.MinConfidence)),
		MaxLabels:     aws.Int32(int32(c.opts.MaxLabels)),
	}
	out, err := retry(ctx, c.opts, "detect labels", func(ctx context.Context) (*rekognition.DetectLabelsOutput, error) {
		return c.api.DetectLabels(ctx, in)
	})
	if err != nil {
		return nil, err
	}
	return c.labels(out), nil
}

// retry calls Rekognition until it answers, at most Attempts times: each call bounded by
// CallTimeout and counted, throttling and server errors retried after backoff, what
// retrying cannot fix returned at once wrapped in classify.ErrPermanent.
func retry[T any](ctx context.Context, o Options, what string, call func(context.Context) (T, error)) (T, error) {
	var zero T
	var last error
	for attempt := 1; attempt <= o.Attempts; attempt++ {
		if attempt > 1 {
			if err := o.backoff(ctx, attempt); err != nil {
				return zero, errors.Join(last, err)
			}
		}
		callCtx, cancel := context.WithTimeout(ctx, o.CallTimeout)
		out, err := call(callCtx)
		cancel()
		classify.CountCall(ctx, Provider, callResult(err))
		if err == nil {
			return out, nil
		}
		if ctx.Err() != nil {
			return zero, fmt.Errorf("%s: %w", what, errors.Join(err, ctx.Err()))
		}
		if perm := permanent(err); perm != nil {
			return zero, perm
		}
		if !retryable(err) {
			return zero, fmt.Errorf("%s: %w", what, err)
		}
		last = err
	}
	return zero, fmt.Errorf("%s: %d attempts failed, last: %w", what, o.Attempts, last)
}

// backoff sleeps before attempt: BaseDelay·2^(attempt-2) capped at MaxDelay, half of it
// fixed and half random, then waits for the Gallery-wide limiter.
func (o Options) backoff(ctx context.Context, attempt int) error {
	d := min(o.BaseDelay<<min(attempt-2, 20), o.MaxDelay)
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	if o.RetryLimiter != nil {
		if _, err := o.RetryLimiter.Wait(ctx, 1); err != nil {
			return err
		}
	}
	return nil
}

// image is the photo as Rekognition is given it: the S3 object when it reads it there,
// else the bytes of imaging.ClassifierJPEG.
func (o Options) image(ctx context.Context, img classify.Image) (*types.Image, error) {
	if o.readsS3(img) && img.S3Bucket != "" && img.S3Key != "" {
		return &types.Image{S3Object: &types.S3Object{Bucket: aws.String(img.S3Bucket), Name: aws.String(img.S3Key)}}, nil
	}
	if len(img.Bytes) == 0 {
		return nil, fmt.Errorf("%w: no image bytes", classify.ErrPermanent)
	}
	b, err := imaging.ClassifierJPEG(ctx, img.Bytes)
	if err != nil {
		if ctx.Err() != nil || imaging.HTTPStatus(err) >= 500 {
			return nil, fmt.Errorf("prepare image for Rekognition: %w", err) // not the photo's fault: retried
		}
		return nil, fmt.Errorf("%w: prepare image for Rekognition: %w", classify.ErrPermanent, err)
	}
	if len(b) > MaxBytes {
		return nil, fmt.Errorf("%w: image is %d bytes, Rekognition accepts at most %d", classify.ErrPermanent, len(b), MaxBytes)
	}
	return &types.Image{Bytes: b}, nil
}

// labels normalises DetectLabels' answer: lower-case names, most confident first, one
// label per name, at most MaxLabels. Each label's broader words are its parents, then its
// aliases and categories (Rekognition's "Pet" for a dog, "Animals and Pets"), each once:
// the gallery stores them as labels derived from it, so a search for any finds the photo.
func (c *Classifier) labels(out *rekognition.DetectLabelsOutput) []classify.Label {
	byName := map[string]classify.Label{}
	for _, l := range out.Labels {
		name := Normalise(aws.ToString(l.Name))
		conf := float64(aws.ToFloat32(l.Confidence))
		if name == "" || conf < c.opts.MinConfidence {
			continue
		}
		var parents []string
		broader := func(word *string) {
			if w := Normalise(aws.ToString(word)); w != "" && w != name && !slices.Contains(parents, w) {
				parents = append(parents, w)
			}
		}
		for _, p := range l.Parents {
			broader(p.Name)
		}
		for _, a := range l.Aliases {
			broader(a.Name)
		}
		for _, c := range l.Categories {
			broader(c.Name)
		}
		if prev, ok := byName[name]; !ok || conf > prev.Confidence {
			byName[name] = classify.Label{Name: name, Confidence: conf, Parents: parents}
		}
	}
	labels := make([]classify.Label, 0, len(byName))
	for _, l := range byName {
		labels = append(labels, l)
	}
	sort.Slice(labels, func(i, j int) bool {
		if labels[i].Confidence != labels[j].Confidence {
			return labels[i].Confidence > labels[j].Confidence
		}
		return labels[i].Name < labels[j].Name
	})
	if len(labels) > c.opts.MaxLabels {
		labels = labels[:c.opts.MaxLabels]
	}
	return labels
}

// Normalise lower-cases a label and collapses its spaces.
func Normalise(name string) string {
	return strings.Join(strings.Fields(strings.ToLower(name)), " ")
}

// Error codes retrying cannot fix.
var permanentCodes = map[string]bool{
	"InvalidImageFormatException": true,
	"ImageTooLargeException":      true,
	"InvalidParameterException":   true,
	"InvalidS3ObjectException":    true,
}

// Error codes that mean "slow down".
var throttleCodes = map[string]bool{
	"ThrottlingException":                    true,
	"ProvisionedThroughputExceededException": true,
	"LimitExceededException":                 true,
}

func permanent(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && permanentCodes[ae.ErrorCode()] {
		return fmt.Errorf("%w: Rekognition refused the image: %s: %s", classify.ErrPermanent, ae.ErrorCode(), ae.ErrorMessage())
	}
	return nil
}

// throttled reports Rekognition asking to slow down: a throttling error code, or HTTP
// 429.
func throttled(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && throttleCodes[ae.ErrorCode()] {
		return true
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusTooManyRequests
}

// callResult is one request's result, for sortographer_provider_calls_total.
func callResult(err error) string {
	switch {
	case err == nil:
		return classify.CallOK
	case throttled(err):
		return classify.CallThrottled
	default:
		return classify.CallError
	}
}

// retryable reports throttling, server errors, timeouts and network failures.
func retryable(err error) bool {
	if throttled(err) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true // this call's own timeout: the caller's was checked before
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != 0 {
		return re.HTTPStatusCode() >= http.StatusInternalServerError || re.HTTPStatusCode() == http.StatusTooManyRequests
	}
	// No response at all: a timeout of this call, a reset connection, DNS.
	return true
}
