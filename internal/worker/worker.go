// Package worker labels uploaded photos: it takes classification jobs from the queue,
// reads each photo, asks the classifier (paced by a Gallery-wide rate limit), and the
// text reader when one is configured (paced by the same limit), commits the labels and
// the text together, then acknowledges the job. `sortographer work` runs it on its own; the
// embedded gallery runs it inside `sortographer serve`.
//
// Delivery is at least once; the worker makes it effectively once: a job for an image
// already labelled (or failed) writes nothing, and SetLabels replaces rather than adds.
// The database is the source of truth: a periodic sweep re-enqueues images that have
// been queued for too long with no job in the queue (Redis flushed, replaced, a bug).
package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/sortographer/sortographer/internal/classify"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/objects"
	"github.com/sortographer/sortographer/internal/queue"
	"github.com/sortographer/sortographer/internal/ratelimit"
	"github.com/sortographer/sortographer/internal/store"
	"github.com/sortographer/sortographer/internal/tracing"
)

// Store is the part of the database a worker uses (store.Store is one): the jobs'
// images and their classification, the sweep and the reclassification drain.
type Store interface {
	// ImageForJob reads a job's image, and the sweep's.
	ImageForJob(ctx context.Context, id string) (store.Image, error)
	RecordAttempt(ctx context.Context, imageID string) (int, error)
	SetLabels(ctx context.Context, imageID string, c store.Classification) error
	MarkFailed(ctx context.Context, imageID, reason string) error
	// StaleQueued finds what the sweep re-enqueues (sweep.go).
	StaleQueued(ctx context.Context, olderThan time.Duration, limit int) ([]string, error)
	// The reclassification drain and its jobs (reclassify.go).
	PendingReclassification(ctx context.Context, staleBefore time.Time, limit int) ([]store.ReclassifyRequest, error)
	MarkReclassifyEnqueued(ctx context.Context, reqs []store.ReclassifyRequest, at time.Time) error
	FinishReclassification(ctx context.Context, imageID string, enqueuedAt time.Time) error
}

var _ Store = store.Store(nil)

// Deps is what a worker needs. Config, Store, Objects, Queue and Classifier are
// required.
type Deps struct {
	Config     config.Config
	Store      Store
	Objects    objects.Store
	Queue      queue.Consumer
	Classifier classify.Classifier
	// TextReader reads the words in each photo after the classifier, within the same
	// job and its attempts; nil reads none (SORTOGRAPHER_TEXT_READER off).
	TextReader classify.TextReader
	// Producer re-enqueues what the sweep finds. Nil: Queue, when it is also a
	// Producer (both queue implementations are).
	Producer queue.Producer
	// Redis shares the provider rate limit, the intake pace and the sweep among all
	// workers of the Gallery. Nil: each paces itself (one process: the embedded mode).
	Redis redis.UniversalClient
	// Logger; nil discards.
	Logger *slog.Logger
	// Metrics registers the worker's series; nil registers none.
	Metrics prometheus.Registerer
	// RecentWrites, when set, marks an image's owner as having written once the worker
	// commits the image's labels or marks it failed (read-your-writes with read
	// replicas). Nil: no marks, as when no readers are configured.
	RecentWrites RecentWrites
	// ProviderLimiter and IntakeLimiter override the limiters built from Config and
	// Redis (tests).
	ProviderLimiter, IntakeLimiter ratelimit.Pacer
}

// Timing. Variables, not constants, so that tests can make them short.
var (
	// takeWait is how long one Take blocks for jobs; it bounds how long a stop waits
	// for the intake to notice.
	takeWait = time.Second
	// retryBase is the first transient retry's delay, doubled each attempt up to the
	// visibility timeout, with jitter.
	retryBase = 2 * time.Second
	// sweepEvery is how often the sweep runs; it looks for images queued longer than
	// Config.Workers.RequeueAfter.
	sweepEvery = time.Minute
	// depthEvery is how often the queue depth gauge is refreshed.
	depthEvery = 5 * time.Second
	// releaseMargin is kept at the end of the shutdown grace for handing back jobs
	// that did not finish.
	releaseMargin = 3 * time.Second
	// storeRetryDelay pauses the worker that found the database unreachable.
	storeRetryDelay = time.Second
)

// sweepBatch is how many stale images one sweep looks at.
const sweepBatch = 500

// Run works until ctx is done, then stops taking jobs, lets the jobs in hand finish
// within Config.ShutdownGrace (releasing those that cannot), and returns nil. It
// returns an error only for a configuration it cannot run with.
func Run(ctx context.Context, d Deps) error {
	w, err := newWorker(d)
	if err != nil {
		return err
	}
	return w.run(ctx)
}

type worker struct {
	Deps
	cfg      config.Workers
	log      *slog.Logger
	m        *metrics
	producer queue.Producer
	provider ratelimit.Pacer
	intake   ratelimit.Pacer
	// s3Bucket and s3Prefix are set when the classifier may read originals from S3
	// itself.
	s3Bucket, s3Prefix string
}

func newWorker(d Deps) (*worker, error) {
	var missing []string
	for name, ok := range map[string]bool{"Store": d.Store != nil, "Objects": d.Objects != nil, "Queue": d.Queue != nil, "Classifier": d.Classifier != nil} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("start worker: missing %s", strings.Join(missing, ", "))
	}
	w := &worker{Deps: d, cfg: d.Config.Workers, log: d.Logger, producer: d.Producer}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.cfg.Concurrency = max(w.cfg.Concurrency, 1)
	w.cfg.BatchSize = max(w.cfg.BatchSize, 1)
	w.cfg.MaxAttempts = max(w.cfg.MaxAttempts, 1)
	if w.cfg.VisibilityTimeout <= 0 {
		w.cfg.VisibilityTimeout = queue.DefaultVisibilityTimeout
	}
	if w.cfg.ProviderRequestsPerSecond <= 0 || w.cfg.IntakePerSecond <= 0 {
		return nil, fmt.Errorf("start worker: %s and %s must be positive", config.EnvProviderRequestsPerSecond, config.EnvIntakePerSecond)
	}
	if w.producer == nil {
		w.producer, _ = d.Queue.(queue.Producer)
	}
	w.m = newMetrics(d.Metrics)
	gallery := d.Config.GalleryName
	w.provider, w.intake = d.ProviderLimiter, d.IntakeLimiter
	if w.provider == nil {
		w.provider = ProviderLimiter(d.Config, d.Redis, w.log)
	}
	if w.intake == nil {
		if d.Redis != nil {
			w.intake = ratelimit.NewRedisPacer(d.Redis, config.RedisKey(gallery, "ratelimit", "intake"), w.cfg.IntakePerSecond, w.cfg.BatchSize, w.log)
		} else {
			w.intake = ratelimit.NewLocalPacer(w.cfg.IntakePerSecond, w.cfg.BatchSize)
		}
	}
	// Rekognition reads S3 objects itself only from AWS's S3, not another S3-compatible
	// store.
	if s := d.Config.Storage; s.Backend == config.StorageS3 && s.S3Endpoint == "" {
		w.s3Bucket = s.S3Bucket
		if p := strings.Trim(s.S3Prefix, "/"); p != "" {
			w.s3Prefix = p + "/"
		}
	}
	return w, nil
}

func (w *worker) run(ctx context.Context) error {
	textReader := "none"
	if w.TextReader != nil {
		textReader = w.TextReader.Provider() + "/" + w.TextReader.Model()
	}
	w.log.Info("worker started", "concurrency", w.cfg.Concurrency, "provider", w.Classifier.Provider(), "model", w.Classifier.Model(),
		"textReader", textReader, "providerRequestsPerSecond", w.cfg.ProviderRequestsPerSecond, "intakePerSecond", w.cfg.IntakePerSecond,
		"batchSize", w.cfg.BatchSize)

	// The classifier reports each request it makes to its provider to the worker's
	// metrics (sortographer_provider_calls_total).
	ctx = classify.WithCallCounter(ctx, w.m)
	// Jobs in hand keep working after ctx ends, until the grace runs out.
	grace := w.Config.ShutdownGrace
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()

	var bg sync.WaitGroup
	bg.Go(func() { w.sweepLoop(ctx) })
	bg.Go(func() { w.reclassifyLoop(ctx) })
	bg.Go(func() { w.depthLoop(ctx) })

	slots := make(chan struct{}, w.cfg.Concurrency)
	var jobs sync.WaitGroup
	w.intakeLoop(ctx, workCtx, slots, &jobs)

	// Stopping: wait for the jobs in hand, up to the grace less a margin to release
	// what is left.
	done := make(chan struct{})
	go func() { jobs.Wait(); close(done) }()
	finishBy := max(grace-releaseMargin, grace/2)
	select {
	case <-done:
	case <-time.After(finishBy):
		w.log.Warn("shutdown grace ran out: releasing unfinished jobs", "grace", grace)
		cancelWork()
		<-done
	}
	bg.Wait()
	w.log.Info("worker stopped")
	return nil
}

// intakeLoop takes jobs while there are free slots, paced by the intake limiter, until
// ctx ends.
func (w *worker) intakeLoop(ctx, workCtx context.Context, slots chan struct{}, jobs *sync.WaitGroup) {
	for ctx.Err() == nil {
		// Wait for one free slot, then count how many more are free.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	fill:
		for n < min(w.cfg.BatchSize, w.cfg.Concurrency) {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break fill
			}
		}
		ds, err := w.Queue.Take(ctx, n, takeWait)
		if err != nil && ctx.Err() == nil {
			w.log.Error("took no jobs", "error", err)
			sleep(ctx, storeRetryDelay)
		}
		// Slots not filled are freed.
		for range n - len(ds) {
			<-slots
		}
		if len(ds) == 0 {
			continue
		}
		if ctx.Err() != nil {
			// Taken as the stop came: hand them straight back.
			for _, d := range ds {
				w.release(d)
				<-slots
			}
			return
		}
		if waited, err := w.intake.Wait(ctx, len(ds)); err != nil {
			for _, d := range ds {
				w.release(d)
				<-slots
			}
			return
		} else if waited > time.Millisecond {
			w.m.rateWaits.WithLabelValues(limiterIntake).Inc()
			w.m.rateWaitSecs.WithLabelValues(limiterIntake).Add(waited.Seconds())
		}
		for _, d := range ds {
			jobs.Go(func() {
				defer func() { <-slots }()
				w.m.inFlight.Inc()
				defer w.m.inFlight.Dec()
				w.handle(workCtx, d)
			})
		}
	}
}

func (w *worker) release(d queue.Delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseMargin)
	defer cancel()
	if err := d.Release(ctx); err != nil {
		w.jobLog(d).Warn("released no job: it will be taken again after the visibility timeout", "error", err)
	}
	w.m.jobs.WithLabelValues(outcomeReleased).Inc()
}

// handle runs one job to an outcome: acknowledged, retried, failed or released.
func (w *worker) handle(ctx context.Context, d queue.Delivery) {
	start := time.Now()
	log := w.jobLog(d)
	ctx, span := startJobSpan(ctx, d)
	outcome, err := w.process(ctx, d)
	endJobSpan(span, outcome, err)
	if outcome == outcomeReleased {
		// The grace ran out in the middle, or the database did not answer: hand the
		// job back whole, without counting an attempt.
		w.release(d)
		if ctx.Err() == nil {
			log.Warn("job handed back", "error", err)
			sleep(ctx, storeRetryDelay)
		}
		return
	}
	w.m.jobs.WithLabelValues(outcome).Inc()
	w.m.duration.Observe(time.Since(start).Seconds())
	switch outcome {
	case outcomeLabelled:
		log.Info("labelled image", "took", time.Since(start))
	case outcomeRetried:
		log.Warn("classification failed, will retry", "error", err)
	case outcomeFailed, outcomeDeadLettered:
		log.Warn("image failed", "outcome", outcome, "error", err)
	}
}

// process does the work of one job and reports its outcome. It acknowledges, retries
// or dead-letters the delivery itself.
func (w *worker) process(ctx context.Context, d queue.Delivery) (string, error) {
	j := d.Job()
	img, err := w.Store.ImageForJob(ctx, j.ImageID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return outcomeGone, w.ack(d)
	case err != nil:
		// The database is unreachable: not the image's fault, so no attempt counts.
		return outcomeReleased, fmt.Errorf("read image: %w", err)
	}
	// Another delivery of this job (a duplicate enqueue, a claim after a stall, the
	// sweep) already finished it. Reclassification (low priority) relabels on purpose,
	// labelled and failed images alike.
	if j.Priority != queue.PriorityLow && (img.Status == store.StatusFailed || img.Status == store.StatusLabelled) {
		return outcomeDuplicate, w.ack(d)
	}
	if _, err := w.Store.RecordAttempt(ctx, j.ImageID); err != nil && !errors.Is(err, store.ErrNotFound) {
		w.jobLog(d).Warn("recorded no attempt", "error", err)
	}
	if d.Attempt() > w.cfg.MaxAttempts {
		// Deliveries after crashes (a photo that kills the worker) count too.
		return w.giveUp(ctx, d, fmt.Errorf("gave up after %d attempts", w.cfg.MaxAttempts))
	}

	// The text is read within the same visibility timeout as the labels: past it,
	// another worker may take the job.
	deadline := time.Now().Add(w.cfg.VisibilityTimeout)
	in, err := w.input(ctx, img)
	var labels []classify.Label
	if err == nil {
		labels, err = w.classify(ctx, in)
	}
	switch {
	case errors.Is(err, classify.ErrPermanent):
		w.m.failures.WithLabelValues(failurePermanent).Inc()
		if j.Priority == queue.PriorityLow {
			// A failed reclassification keeps the image and its old labels as they were;
			// the dead-letter list (the admin view) records it.
			return w.giveUp(ctx, d, err)
		}
		if err := w.Store.MarkFailed(ctx, j.ImageID, reason(err)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return w.retry(ctx, d, fmt.Errorf("mark failed: %w", err))
		}
		w.markOwner(ctx, img.OwnerID, j.ImageID)
		return outcomeFailed, errors.Join(err, w.ack(d))
	case err != nil:
		if ctx.Err() != nil {
			return outcomeReleased, err
		}
		w.m.failures.WithLabelValues(failureTransient).Inc()
		return w.retry(ctx, d, err)
	}

	c := store.Classification{Provider: w.Classifier.Provider(), Model: w.Classifier.Model(), Reclassify: j.Priority == queue.PriorityLow}
	for _, l := range labels {
		c.Labels = append(c.Labels, store.Label{Name: l.Name, Confidence: l.Confidence, Categories: l.Parents})
	}
	// The text is committed with the labels, in one transaction: a crash before the
	// commit loses neither (the job comes back and both are read again), and a
	// reclassification reads it again.
	switch c.Text, err = w.readText(ctx, img, in, deadline); {
	case err == nil:
	case ctx.Err() != nil:
		return outcomeReleased, err
	case errors.Is(err, classify.ErrPermanent) || d.Attempt() >= w.cfg.MaxAttempts:
		// Words are not worth failing a photo over: one the reader cannot read, or
		// still fails on at the last attempt, is labelled without them (and keeps the
		// text it had, on a reclassification).
		w.jobLog(d).Warn("labelled the image without its text", "error", err)
	default:
		w.m.failures.WithLabelValues(failureTransient).Inc()
		return w.retry(ctx, d, err)
	}
	switch err := w.commit(ctx, j.ImageID, c); {
	case errors.Is(err, store.ErrNotFound):
		return outcomeGone, w.ack(d)
	case errors.Is(err, store.ErrAlreadyLabelled):
		return outcomeDuplicate, w.ack(d)
	case err != nil:
		if ctx.Err() != nil {
			return outcomeReleased, err
		}
		return w.retry(ctx, d, fmt.Errorf("commit labels: %w", err))
	}
	if j.Priority != queue.PriorityLow {
		// A new upload's labels: the owner is watching for them. Reclassification leaves
		// the image's status as it was, and a reclassify-all would otherwise send the
		// owner's reads to the writer for as long as it runs.
		w.markOwner(ctx, img.OwnerID, j.ImageID)
	}
	w.finishReclassification(j)
	return outcomeLabelled, w.ack(d)
}

// commitAttempts is how many times a worker tries to commit labels before handing the
// job back: a busy database refuses some transactions (MySQL deadlocks between
// concurrent label inserts, SQLite busy) that succeed when simply run again, and a new
// delivery would call the provider again.
const commitAttempts = 4

func (w *worker) commit(ctx context.Context, imageID string, c store.Classification) (err error) {
	ctx, span := startCommitSpan(ctx, imageID, len(c.Labels))
	attempt := 1
	defer func() {
		span.SetAttributes(tracing.CommitAttempts.Int(min(attempt, commitAttempts)))
		if !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrAlreadyLabelled) {
			tracing.Fail(span, err) // not for an image deleted or labelled meanwhile: nothing failed
		}
		span.End()
	}()
	for ; attempt <= commitAttempts; attempt++ {
		err = w.Store.SetLabels(ctx, imageID, c)
		if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrAlreadyLabelled) || ctx.Err() != nil {
			return err
		}
		sleep(ctx, time.Duration(attempt)*(10*time.Millisecond+rand.N(20*time.Millisecond)))
	}
	return err
}

// classify asks the classifier about the photo (input), paced by the provider limiter,
// within the visibility timeout.
func (w *worker) classify(ctx context.Context, in classify.Image) ([]classify.Label, error) {
	waited, err := w.waitProvider(ctx)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, w.cfg.VisibilityTimeout)
	defer cancel()
	cctx, span := w.startClassifySpan(cctx, waited)
	defer span.End()
	labels, err := w.Classifier.Classify(cctx, in)
	if err != nil {
		err = fmt.Errorf("classify with %s: %w", w.Classifier.Provider(), err)
		tracing.Fail(span, err)
		return nil, err
	}
	span.SetAttributes(tracing.Labels.Int(len(labels)))
	return labels, nil
}

// waitProvider waits for the Gallery-wide provider limiter before a call to a provider
// (the classifier's or the text reader's) and counts the wait.
func (w *worker) waitProvider(ctx context.Context) (time.Duration, error) {
	waited, err := w.provider.Wait(ctx, 1)
	if err != nil {
		return 0, err
	}
	if waited > time.Millisecond {
		w.m.rateWaits.WithLabelValues(limiterProvider).Inc()
		w.m.rateWaitSecs.WithLabelValues(limiterProvider).Add(waited.Seconds())
	}
	return waited, nil
}

// readText asks the text reader, when one is configured, for the words in the photo:
// paced by the provider limiter like the classifier (its calls count against the same
// budget), by the job's deadline. in is what the classifier was given; the photo's
// bytes are read when the classifier did not need them and the reader does. Nil
// without a reader.
func (w *worker) readText(ctx context.Context, img store.Image, in classify.Image, deadline time.Time) (*store.Text, error) {
	if w.TextReader == nil {
		return nil, nil
	}
	if in.Bytes == nil && !readsS3(w.TextReader, in) {
		b, err := w.read(ctx, img.ObjectKey)
		if err != nil {
			return nil, err
		}
		in.Bytes = b
	}
	waited, err := w.waitProvider(ctx)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	cctx, span := w.startReadTextSpan(cctx, waited)
	defer span.End()
	t, err := w.TextReader.ReadText(cctx, in)
	if err != nil {
		w.m.textReads.WithLabelValues(textFailed).Inc()
		err = fmt.Errorf("read text with %s: %w", w.TextReader.Provider(), err)
		tracing.Fail(span, err)
		return nil, err
	}
	result := textFound
	if strings.TrimSpace(t.Content) == "" {
		result = textNone
	}
	w.m.textReads.WithLabelValues(result).Inc()
	span.SetAttributes(tracing.TextBytes.Int(len(t.Content)))
	return &store.Text{Content: t.Content, Confidence: t.Confidence, Provider: w.TextReader.Provider(), Model: w.TextReader.Model()}, nil
}

// input is what the classifier is given for img: the original's bytes as uploaded, of
// which each classifier makes the JPEG it reads (imaging.ClassifierJPEG, within this
// process's decode budget); or, when the classifier reads this original from S3 itself
// (Rekognition, for a JPEG or PNG within its limits), only where it lies.
func (w *worker) input(ctx context.Context, img store.Image) (classify.Image, error) {
	in := classify.Image{ID: img.ID, ContentType: img.ContentType, Width: img.Width, Height: img.Height, Size: img.SizeBytes}
	if w.s3Bucket != "" {
		in.S3Bucket, in.S3Key = w.s3Bucket, w.s3Prefix+img.ObjectKey
	}
	if in.S3Bucket == "" || !readsS3(w.Classifier, in) {
		b, err := w.read(ctx, img.ObjectKey)
		if err != nil {
			return classify.Image{}, err
		}
		in.Bytes = b
	}
	return in, nil
}

// ProviderLimiter is the Gallery-wide pace of provider calls
// (Config.Workers.ProviderRequestsPerSecond, no bursts): shared through rc by every
// worker, or this process's own when rc is nil. Build it once and give it to the
// classifier too when the classifier retries by itself (Rekognition), so retries are
// paced with first calls.
func ProviderLimiter(c config.Config, rc redis.UniversalClient, log *slog.Logger) ratelimit.Pacer {
	if rc == nil {
		return ratelimit.NewLocalPacer(c.Workers.ProviderRequestsPerSecond, 1)
	}
	return ratelimit.NewRedisPacer(rc, config.RedisKey(c.GalleryName, "ratelimit", "provider"), c.Workers.ProviderRequestsPerSecond, 1, log)
}

// S3Reader is implemented by classifiers that can read some originals from S3
// themselves (classify.Image's S3Bucket and S3Key), so the worker need not download
// them: ReadsS3 decides from the image's content type, size and dimensions.
type S3Reader interface {
	ReadsS3(img classify.Image) bool
}

// readsS3 reports whether the classifier or text reader p reads img from S3 itself.
func readsS3(p any, img classify.Image) bool {
	r, ok := p.(S3Reader)
	return ok && r.ReadsS3(img)
}

func (w *worker) read(ctx context.Context, key string) ([]byte, error) {
	rc, _, err := w.Objects.Get(ctx, key)
	if errors.Is(err, objects.ErrNotFound) {
		return nil, fmt.Errorf("%w: the photo's file is missing from storage", classify.ErrPermanent)
	}
	if err != nil {
		return nil, fmt.Errorf("read photo: %w", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, w.Config.MaxUploadBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read photo: %w", err)
	}
	return b, nil
}

// retry hands the job back as a failed attempt, or gives up after the last attempt.
func (w *worker) retry(ctx context.Context, d queue.Delivery, cause error) (string, error) {
	if d.Attempt() >= w.cfg.MaxAttempts {
		return w.giveUp(ctx, d, fmt.Errorf("gave up after %d attempts: %w", d.Attempt(), cause))
	}
	r, ok := d.(queue.Retrier)
	if !ok {
		// Left unacknowledged, the job comes back after the visibility timeout.
		return outcomeRetried, cause
	}
	delay := min(retryBase<<min(d.Attempt()-1, 16), w.cfg.VisibilityTimeout)
	delay = delay/2 + rand.N(delay/2+1)
	if err := r.Retry(context.WithoutCancel(ctx), delay); err != nil {
		return outcomeRetried, errors.Join(cause, err)
	}
	return outcomeRetried, cause
}

// giveUp marks the image failed with the reason and moves the job to the dead-letter
// list. A reclassification job (low priority) leaves the image as it was: labelled with
// its old labels, or failed with its old reason.
func (w *worker) giveUp(ctx context.Context, d queue.Delivery, cause error) (string, error) {
	id := d.Job().ImageID
	if d.Job().Priority != queue.PriorityLow {
		if err := w.Store.MarkFailed(ctx, id, reason(cause)); err != nil && !errors.Is(err, store.ErrNotFound) {
			// Unmarked, the image must stay in the queue: the next delivery tries again.
			return outcomeRetried, errors.Join(cause, fmt.Errorf("mark failed: %w", err))
		}
		w.markOwner(ctx, d.Job().OwnerID, id)
	}
	w.finishReclassification(d.Job())
	if err := w.Queue.DeadLetter(context.WithoutCancel(ctx), d, reason(cause)); err != nil {
		return outcomeDeadLettered, errors.Join(cause, err)
	}
	return outcomeDeadLettered, cause
}

func (w *worker) ack(d queue.Delivery) error {
	// An ack after the labels are committed must not be lost to a shutdown.
	ctx, cancel := context.WithTimeout(context.Background(), releaseMargin)
	defer cancel()
	if err := d.Ack(ctx); err != nil {
		// The job comes back; the duplicate check then acknowledges it.
		return fmt.Errorf("acknowledge: %w", err)
	}
	return nil
}

// reason is what the image's owner sees: the error without the classify sentinel's
// wording.
func reason(err error) string {
	s := err.Error()
	s = strings.ReplaceAll(s, classify.ErrPermanent.Error()+": ", "")
	return s
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
