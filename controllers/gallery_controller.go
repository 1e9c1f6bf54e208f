// Package controllers holds the Gallery reconciler: it applies the children that
// controllers/specs builds, and reports what it sees in the Gallery's status.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
)

// GalleryReconciler turns a Gallery into a running installation and keeps it so.
type GalleryReconciler struct {
	Client   client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// Clock is the time the schedules are read against; the real clock unless a test
	// sets one.
	Clock clock.PassiveClock
	// Preflight checks external dependencies; nil skips the checks.
	Preflight Preflighter
	// KEDAInstalled is whether KEDA's CRDs exist (detected at start-up): then queue
	// backlog scaling is KEDA's; otherwise the operator's own backlog scaler does it.
	KEDAInstalled bool
	// PodMonitorInstalled is whether the Prometheus Operator's PodMonitor kind is served
	// (detected at start-up): then each Gallery gets a PodMonitor unless its spec turns
	// it off.
	PodMonitorInstalled bool
	// HPAToleranceUnsupported is whether the API server drops an HPA's scale-down
	// tolerance (HPAToleranceServed, at start-up; Kubernetes before 1.35 unless the
	// feature gate is on): then the HPAs leave it out, and ServerReady and WorkersReady
	// say scaleInUtilization is not applied.
	HPAToleranceUnsupported bool
	// Backlog reads the queue backlog for the operator's own scaler; nil means Redis.
	Backlog BacklogReader
	// RedisAddrOverride, when set, gives the address the operator dials for a managed
	// Redis (an operator running outside the cluster, tests); nil means cluster DNS.
	RedisAddrOverride func(*galleryv1alpha1.Gallery) string
	// MaxConcurrentReconciles is how many Galleries are reconciled at once (the
	// --concurrent flag); 0 means DefaultConcurrency.
	MaxConcurrentReconciles int
	// APIReader reads straight from the API server what the scoped cache does not hold:
	// objects the admin owns (a backup destination's claim) and managedFields. nil means
	// Client (tests whose client is uncached).
	APIReader client.Reader

	// DefaultImages are the images of Galleries that name none (the --gallery-image,
	// --redis-repository and --mariadb-repository flags); zero means
	// galleryv1alpha1.BuiltinDefaultImages.
	DefaultImages galleryv1alpha1.DefaultImages

	// childChecks: see applier.checks.
	childChecks childChecks
	// preflightMemos are each Gallery's last preflight (preflightMemo), by name;
	// forgotten when the Gallery goes.
	preflightMemos sync.Map

	stabilizer backlogStabilizer
	// metrics are where the Gallery's metrics go; nil means the process' own, in
	// controller-runtime's registry.
	metrics *galleryMetrics
}

// +kubebuilder:rbac:groups=sortographer.io,resources=galleries,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=sortographer.io,resources=galleries/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=sortographer.io,resources=galleries/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services;configmaps;serviceaccounts;persistentvolumeclaims,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,resources=cronjobs;jobs,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses;networkpolicies,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=keda.sh,resources=scaledobjects;triggerauthentications,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=podmonitors,verbs=get;list;watch;create;update;patch;delete

// Reconcile runs the phases in order, then writes status once.
func (r *GalleryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	g := &galleryv1alpha1.Gallery{}
	if err := r.Client.Get(ctx, req.NamespacedName, g); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !g.DeletionTimestamp.IsZero() {
		r.forget(req.NamespacedName)
		return ctrl.Result{}, nil // owner references remove every child
	}

	r.galleryMetrics().reconciling(g)
	st := &reconcileState{gallery: g, read: g.DeepCopy(), now: r.now(), hpaToleranceUnsupported: r.HPAToleranceUnsupported}
	g.WithDefaultImages(r.defaultImages())
	st.serverFloor, st.workersFloor = st.scheduleFloors()
	var passErr error
	if g.Spec.Suspend {
		log.V(1).Info("skipped suspended gallery")
	} else {
		for _, phase := range r.phases() {
			if err := phase.run(ctx, st); err != nil {
				passErr = fmt.Errorf("%s: %w", phase.name, err)
				st.failure = &phaseFailure{phase: phase.name, err: err}
				r.Recorder.Eventf(g, nil, corev1.EventTypeWarning, "ReconcileFailed", phase.name, "%s", passErr.Error())
				break
			}
			if st.blocked != "" {
				break
			}
		}
	}
	r.recordCreated(st)
	if err := r.observe(ctx, st); err != nil && passErr == nil {
		passErr = err
	}
	if err := r.writeStatus(ctx, st, passErr == nil); err != nil {
		return ctrl.Result{}, errors.Join(passErr, err)
	}
	if passErr != nil {
		return ctrl.Result{}, passErr
	}
	if st.blocked == "" {
		r.galleryMetrics().reconciled(g, r.now())
	}
	if st.requeueAfter > 0 {
		return ctrl.Result{RequeueAfter: st.requeueAfter}, nil
	}
	return ctrl.Result{}, nil
}

// forget drops what the reconciler remembers of a Gallery that is gone or going.
func (r *GalleryReconciler) forget(key types.NamespacedName) {
	r.galleryMetrics().forget(key)
	r.preflightMemos.Delete(key)
	r.childChecks.forget(key)
}

func (r *GalleryReconciler) galleryMetrics() *galleryMetrics {
	if r.metrics == nil {
		return operatorMetrics
	}
	return r.metrics
}

func (r *GalleryReconciler) defaultImages() galleryv1alpha1.DefaultImages {
	if r.DefaultImages == (galleryv1alpha1.DefaultImages{}) {
		return galleryv1alpha1.BuiltinDefaultImages()
	}
	return r.DefaultImages
}

func (r *GalleryReconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// DefaultConcurrency is how many Galleries are reconciled at once by default. A pass is
// mostly waiting on the API server (while converging, about 25 applies and as many reads
// of children not in the cache yet; on the local cluster the operator used 10 CPU-seconds
// to converge 100 Galleries in 57 s), so a few passes at once keep one Gallery's slow
// external check (a preflight's timeout) from holding up the others without flooding a
// shared API server (docs/operator.md, Scale).
const DefaultConcurrency = 4

func (r *GalleryReconciler) concurrency() int {
	if r.MaxConcurrentReconciles > 0 {
		return r.MaxConcurrentReconciles
	}
	return DefaultConcurrency
}

// indexSecretRefs indexes Galleries by the names of the Secrets they reference, so a
// change to an admin's Secret re-reconciles the Galleries that use it.
const indexSecretRefs = "spec.secretRefs"

// SetupWithManager watches Galleries, every kind of child they own, the Secrets they
// reference, and their pods' OOM kills.
func (r *GalleryReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &galleryv1alpha1.Gallery{}, indexSecretRefs,
		func(o client.Object) []string { return referencedSecrets(o.(*galleryv1alpha1.Gallery)) }); err != nil {
		return fmt.Errorf("index galleries by secret: %w", err)
	}
	b := ctrl.NewControllerManagedBy(mgr)
	if r.KEDAInstalled {
		so := &unstructured.Unstructured{}
		so.SetGroupVersionKind(specs.ScaledObjectGVK)
		b = b.Owns(so)
	}
	if r.PodMonitorInstalled {
		pm := &unstructured.Unstructured{}
		pm.SetGroupVersionKind(specs.PodMonitorGVK)
		b = b.Owns(pm)
	}
	// Children's updates pass only when the pass could act on them (childChanged).
	changed := builder.WithPredicates(childChanged)
	return b.
		For(&galleryv1alpha1.Gallery{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		// Galleries are reconciled MaxConcurrentReconciles at a time; the workqueue never
		// hands out one Gallery twice at once (client-go's workqueue keeps a key that is
		// being processed out of the queue until Done; TestOneGalleryIsNeverReconciledTwiceAtOnce).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.concurrency()}).
		Owns(&appsv1.Deployment{}, changed).
		Owns(&appsv1.StatefulSet{}, changed).
		Owns(&corev1.Service{}, changed).
		Owns(&corev1.ConfigMap{}, changed).
		Owns(&corev1.ServiceAccount{}, changed).
		Owns(&corev1.PersistentVolumeClaim{}, changed).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}, changed).
		Owns(&policyv1.PodDisruptionBudget{}, changed).
		Owns(&networkingv1.Ingress{}, changed).
		Owns(&networkingv1.NetworkPolicy{}, changed).
		Owns(&batchv1.CronJob{}, changed).
		// Jobs by their gallery label: the on-demand and restore Jobs are the Gallery's,
		// the scheduled ones their CronJob's.
		Watches(&batchv1.Job{}, handler.EnqueueRequestsFromMapFunc(galleryOfPod), changed).
		// Metadata only: a changed Secret re-reconciles the Galleries that use it, and no
		// Secret value is cached.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.galleriesUsingSecret), builder.OnlyMetadata).
		// Pods belong to ReplicaSets and StatefulSets: mapped by their gallery label, and
		// only when their OOM kills change (the cache holds only Galleries' pods).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(galleryOfPod), builder.WithPredicates(oomKillsChanged)).
		Named("gallery").
		Complete(r)
}

func (r *GalleryReconciler) galleriesUsingSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list galleryv1alpha1.GalleryList
	if err := r.Client.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{indexSecretRefs: o.GetName()}); err != nil {
		logf.FromContext(ctx).Error(err, "listed galleries for a secret failed", "secret", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, g := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&g)})
	}
	return reqs
}

// isConflict reports an optimistic-lock conflict, which is retried, not reported.
func isConflict(err error) bool { return apierrors.IsConflict(err) }

// apiReader reads from the API server (see APIReader).
func (r *GalleryReconciler) apiReader() client.Reader {
	if r.APIReader == nil {
		return r.Client
	}
	return r.APIReader
}
