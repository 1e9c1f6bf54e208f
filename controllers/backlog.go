package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
	"github.com/sortographer/sortographer/internal/config"
	"github.com/sortographer/sortographer/internal/queue"
)

// backlogPollInterval is how often the operator's own backlog scaler reads the queue
// (KEDA's default polling interval is 30 s).
const backlogPollInterval = 15 * time.Second

// RedisEndpoint is how to reach a Gallery's Redis: its settings as the gallery's pods
// get them, and the CA bundle when TLS names one.
type RedisEndpoint struct {
	Redis config.Redis
	CA    []byte
}

// BacklogReader reads how many jobs of a Gallery are waiting or in a worker's hands.
type BacklogReader interface {
	Backlog(ctx context.Context, g *galleryv1alpha1.Gallery, ep RedisEndpoint) (int64, error)
}

// RedisBacklog reads the backlog the way the workers and the app's metrics do
// (queue.Redis.Depth): on both of the Gallery's streams, uploads and low-priority
// reclassification, the jobs waiting plus those in a worker's hands. Both count, so a
// "reclassify all" scales the workers out although they read it only when no upload
// waits.
type RedisBacklog struct{}

// Backlog implements BacklogReader.
func (RedisBacklog) Backlog(ctx context.Context, g *galleryv1alpha1.Gallery, ep RedisEndpoint) (int64, error) {
	opts, err := queue.RedisOptions(ep.Redis, ep.CA)
	if err != nil {
		return 0, fmt.Errorf("redis of gallery %s: %w", g.Name, err)
	}
	// A pass waits for this: shorter than the gallery's own timeouts, one retry.
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout, opts.MaxRetries = 3*time.Second, 3*time.Second, 3*time.Second, 1
	c := redis.NewClient(opts)
	defer func() { _ = c.Close() }()
	return queue.NewRedis(c, g.Name, queue.Options{Consumer: "sortographer-operator"}).Depth(ctx)
}

// backlogStabilizer keeps each Gallery's recent recommendations, so that the workers
// scale out at once but scale in only after the recommendation stayed low for the whole
// stabilization window (as the HPA does).
type backlogStabilizer struct {
	mu      sync.Mutex
	history map[types.NamespacedName][]recommendation
}

type recommendation struct {
	at       time.Time
	replicas int32
}

func (s *backlogStabilizer) stabilize(key types.NamespacedName, now time.Time, want int32, window time.Duration, current *int32) int32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.history == nil {
		s.history = map[types.NamespacedName][]recommendation{}
	}
	h := s.history[key]
	if len(h) == 0 && current != nil {
		// After an operator restart, start from what runs now rather than scaling in.
		h = append(h, recommendation{at: now, replicas: *current})
	}
	h = append(h, recommendation{at: now, replicas: want})
	kept := h[:0]
	out := int32(0)
	for _, r := range h {
		if now.Sub(r.at) <= window {
			kept = append(kept, r)
			out = max(out, r.replicas)
		}
	}
	s.history[key] = kept
	return out
}

// backlogNeed is how many workers the queue backlog needs now, stabilized, within the
// autoscaling range raised by the schedules. ok is false when the queue could not be
// read: then nothing is scaled in.
func (r *GalleryReconciler) backlogNeed(ctx context.Context, st *reconcileState, scheduleFloor int32, current *int32) (int32, bool) {
	g := st.gallery
	p := g.Spec.Autoscaling.Workers
	st.requeueSoon(backlogPollInterval)
	ep, err := r.redisEndpoint(ctx, st)
	if err == nil {
		var backlog int64
		backlog, err = r.backlog().Backlog(ctx, g, ep)
		if err == nil {
			st.backlog = ptr.To(backlog)
			lowest := max(p.MinReplicas, min(scheduleFloor, p.MaxReplicas))
			want := specs.BacklogReplicas(backlog, p.Backlog.TargetJobsPerWorker, lowest, p.MaxReplicas)
			window := time.Duration(p.ScaleDownStabilizationSeconds) * time.Second
			return r.stabilizer.stabilize(client.ObjectKeyFromObject(g), st.now, want, window, current), true
		}
	}
	logf.FromContext(ctx).Info("read queue backlog failed; workers keep their count", "error", err.Error())
	st.backlogErr = err
	return 0, false
}

func (r *GalleryReconciler) backlog() BacklogReader {
	if r.Backlog == nil {
		return RedisBacklog{}
	}
	return r.Backlog
}

// redisEndpoint is the Gallery's Redis as the operator reaches it: the external one as
// the preflight reads it (externalRedis, so the two cannot disagree on TLS or the CA), or
// the managed Service's cluster DNS name with the generated password.
func (r *GalleryReconciler) redisEndpoint(ctx context.Context, st *reconcileState) (RedisEndpoint, error) {
	g := st.gallery
	if g.Spec.Cache.External != nil {
		c, ca, err := r.externalRedis(ctx, st)
		return RedisEndpoint{Redis: c, CA: ca}, err
	}
	ep := RedisEndpoint{Redis: config.Redis{Addr: fmt.Sprintf("%s.%s.svc:%d", g.RedisName(), g.Namespace, galleryv1alpha1.RedisPort)}}
	if r.RedisAddrOverride != nil {
		ep.Redis.Addr = r.RedisAddrOverride(g)
	}
	for _, ref := range specs.SecretEnv(g) {
		if ref.Env == config.EnvRedisPassword {
			pw, err := r.secretValue(ctx, g.Namespace, ref.Secret, ref.Key)
			if err != nil {
				return ep, err
			}
			ep.Redis.Password = string(pw)
		}
	}
	return ep, nil
}

func (r *GalleryReconciler) secretValue(ctx context.Context, ns, name, key string) ([]byte, error) {
	var s corev1.Secret
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		return nil, fmt.Errorf("read secret %s: %w", name, err)
	}
	v, ok := s.Data[key]
	if !ok {
		return nil, fmt.Errorf("secret %s has no key %s", name, key)
	}
	return v, nil
}

// liveReplicas is the workers Deployment's current spec.replicas, if it exists.
func (r *GalleryReconciler) liveReplicas(ctx context.Context, g *galleryv1alpha1.Gallery) *int32 {
	var d appsv1.Deployment
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: g.WorkersName()}, &d); err != nil {
		return nil
	}
	return d.Spec.Replicas
}
