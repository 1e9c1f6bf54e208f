package controllers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// TestCacheHoldsOnlyTheOperatorsObjects: the manager's cache (CacheOptions) holds the
// operator's children, without managedFields, and none of a namespace's other
// Deployments, Services, PVCs or ConfigMaps; Secrets are cached as metadata only.
func TestCacheHoldsOnlyTheOperatorsObjects(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	g := newGallery(t, ns)
	labels := map[string]string{"app": "someone-else"}
	unrelated := []client.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: ns, Labels: labels}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}}},
		}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: ns}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: ns}, Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
		}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: ns}, Data: map[string]string{"k": "v"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "theirs", Namespace: ns}, StringData: map[string]string{"k": "v"}},
	}
	for _, o := range unrelated {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	cache := suiteManager.GetCache()
	// The Gallery's own children arrive in the cache (so its informers are running and
	// have seen this namespace), without managedFields.
	ours := map[string]client.Object{
		g.ServerName():      &appsv1.Deployment{},
		g.PhotosClaimName(): &corev1.PersistentVolumeClaim{},
		g.ConfigMapName():   &corev1.ConfigMap{},
	}
	for name, obj := range ours {
		eventually(t, "cached "+name, func() error { return cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj) })
		if len(obj.GetManagedFields()) != 0 {
			t.Errorf("cached %T %s keeps managedFields", obj, name)
		}
	}
	eventually(t, "cached service", func() error {
		return cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: g.ServerName()}, &corev1.Service{})
	})
	// The others were created before the Gallery's children, so a cache that held them
	// would have them by now.
	for _, o := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}, &corev1.PersistentVolumeClaim{}, &corev1.ConfigMap{}} {
		if err := cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: "theirs"}, o); !apierrors.IsNotFound(err) {
			t.Errorf("the cache holds an unrelated %T (err=%v)", o, err)
		}
	}
	// Secrets: only their metadata, for the watch that rolls pods on a change.
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	eventually(t, "secret metadata", func() error {
		return cache.Get(ctx, client.ObjectKey{Namespace: ns, Name: "theirs"}, meta)
	})
	if len(meta.ManagedFields) != 0 {
		t.Errorf("cached Secret metadata keeps managedFields")
	}
}

// TestChildChangedIgnoresWhatStatusDoesNotRead: the predicate on children's updates.
func TestChildChangedIgnoresWhatStatusDoesNotRead(t *testing.T) {
	deploy := func(change func(*appsv1.Deployment)) *appsv1.Deployment {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "photos-server", Namespace: "ns", ResourceVersion: "1", Generation: 2, Annotations: map[string]string{annotationAppliedHash: "h"}},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 1, AvailableReplicas: 1, UnavailableReplicas: 1,
				Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "ReplicaSetUpdated", Message: "ReplicaSet x is progressing", LastUpdateTime: metav1.Unix(100, 0)}}},
		}
		if change != nil {
			change(d)
		}
		return d
	}
	claim := func(rv string, phase corev1.PersistentVolumeClaimPhase) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "photos-photos", ResourceVersion: rv}, Status: corev1.PersistentVolumeClaimStatus{Phase: phase}}
	}
	hpa := func(change func(*autoscalingv2.HorizontalPodAutoscaler)) *autoscalingv2.HorizontalPodAutoscaler {
		h := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "photos-server", ResourceVersion: "1"}}
		if change != nil {
			change(h)
		}
		return h
	}
	job := func(change func(*batchv1.Job)) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "photos-restore", ResourceVersion: "1"}}
		if change != nil {
			change(j)
		}
		return j
	}
	for _, tc := range []struct {
		name     string
		old, new client.Object
		want     bool
	}{
		{"deployment: resourceVersion only", deploy(nil), deploy(func(d *appsv1.Deployment) { d.ResourceVersion = "2" }), false},
		{"deployment: managedFields only", deploy(nil), deploy(func(d *appsv1.Deployment) {
			d.ResourceVersion = "2"
			d.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kube-controller-manager"}}
		}), false},
		{"deployment: a condition's timestamp and message", deploy(nil), deploy(func(d *appsv1.Deployment) {
			d.Status.Conditions[0].LastUpdateTime = metav1.Unix(200, 0)
			d.Status.Conditions[0].Message = "ReplicaSet x is still progressing"
		}), false},
		{"deployment: unavailableReplicas", deploy(nil), deploy(func(d *appsv1.Deployment) { d.Status.UnavailableReplicas = 0 }), false},
		{"deployment: a pod became ready", deploy(nil), deploy(func(d *appsv1.Deployment) { d.Status.ReadyReplicas, d.Status.AvailableReplicas = 2, 2 }), true},
		{"deployment: the progress deadline passed", deploy(nil), deploy(func(d *appsv1.Deployment) {
			d.Status.Conditions[0].Reason = deploymentTimedOut
		}), true},
		{"deployment: spec changed by someone", deploy(nil), deploy(func(d *appsv1.Deployment) { d.Generation = 3 }), true},
		{"deployment: an annotation the operator set changed", deploy(nil), deploy(func(d *appsv1.Deployment) { d.Annotations[annotationAppliedHash] = "other" }), true},
		{"claim: resourceVersion only", claim("1", corev1.ClaimPending), claim("2", corev1.ClaimPending), false},
		{"claim: bound", claim("1", corev1.ClaimPending), claim("2", corev1.ClaimBound), true},
		{"hpa: current metrics", hpa(nil), hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Status.CurrentReplicas, h.Status.DesiredReplicas = 3, 4
			h.Status.CurrentMetrics = []autoscalingv2.MetricStatus{{Type: autoscalingv2.ResourceMetricSourceType}}
		}), false},
		{"hpa: scaling limited", hpa(nil), hpa(func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.ScalingLimited, Status: corev1.ConditionTrue, Reason: "TooManyReplicas"}}
		}), true},
		{"job: a pod started", job(nil), job(func(j *batchv1.Job) { j.Status.Active, j.Status.Ready = 1, ptr.To[int32](1) }), false},
		{"job: completed", job(nil), job(func(j *batchv1.Job) {
			j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
		}), true},
		{"cronjob: scheduled a run", &batchv1.CronJob{}, &batchv1.CronJob{Status: batchv1.CronJobStatus{LastScheduleTime: ptr.To(metav1.Unix(5, 0))}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := childChanged.Update(event.UpdateEvent{ObjectOld: tc.old, ObjectNew: tc.new}); got != tc.want {
				t.Errorf("childChanged = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestConvergedGalleryIsNotReconciledAgain counts the suite manager's passes over one
// Gallery: a few while it converges, none for status noise of its children, one for a
// change that status reads.
func TestConvergedGalleryIsNotReconciledAgain(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns)
	for _, name := range []string{g.ServerName(), g.WorkersName()} {
		markDeploymentAvailable(t, ns, name)
	}
	for _, name := range []string{g.RedisName(), g.DatabaseName()} {
		markStatefulSetReady(t, ns, name)
	}
	markClaimBound(t, ns, g.PhotosClaimName())
	eventually(t, "ready", func() error {
		if c := condition(t, g, galleryv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready = %+v", c)
		}
		return nil
	})
	passes := func() float64 { return operatorMetrics.passes(types.NamespacedName{Namespace: ns, Name: g.Name}) }
	// A requeue asked for while the claim was pending (preflightRetry) may still come.
	settled := passes()
	for stable := time.Now(); time.Since(stable) < 2*time.Second; time.Sleep(100 * time.Millisecond) {
		if now := passes(); now != settled {
			settled, stable = now, time.Now()
		}
	}
	time.Sleep(3 * time.Second)
	if now := passes(); now != settled {
		t.Fatalf("a converged Gallery was reconciled %v more times with nothing changing", now-settled)
	}
	t.Logf("passes to converge (5 children marked ready one by one): %v", settled)

	// Status noise: a condition's timestamp and message, terminatingReplicas (nothing
	// reads them).
	eventually(t, "status noise", func() error {
		d, err := get(t, ns, g.ServerName(), &appsv1.Deployment{})
		if err != nil {
			return err
		}
		d.Status.Conditions[0].LastUpdateTime = metav1.Now()
		d.Status.Conditions[0].Message = "Deployment has minimum availability."
		d.Status.TerminatingReplicas = ptr.To[int32](1)
		return k8s.Status().Update(context.Background(), d)
	})
	time.Sleep(2 * time.Second)
	if now := passes(); now != settled {
		t.Fatalf("status noise of a Deployment caused %v passes", now-settled)
	}

	// A pod of the server went unready: status reads that.
	eventually(t, "server pod unready", func() error {
		d, err := get(t, ns, g.ServerName(), &appsv1.Deployment{})
		if err != nil {
			return err
		}
		d.Status.ReadyReplicas, d.Status.AvailableReplicas = 0, 0
		return k8s.Status().Update(context.Background(), d)
	})
	eventually(t, "a pass for the unready server", func() error {
		if now := passes(); now == settled {
			return fmt.Errorf("no pass yet")
		}
		return nil
	})
}

// TestOneGalleryIsNeverReconciledTwiceAtOnce shows what the operator relies on from
// controller-runtime with MaxConcurrentReconciles > 1: different Galleries are reconciled
// at the same time, one Gallery never twice at once (client-go's workqueue holds a key
// that is being processed until Done, and queues it once however many events arrive).
func TestOneGalleryIsNeverReconciledTwiceAtOnce(t *testing.T) {
	ns := newNamespace(t)
	mgr, err := ctrl.NewManager(env.Config, scopedManagerOptions(ns))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu                      sync.Mutex
		inFlight                = map[types.NamespacedName]int{}
		total, maxTotal, maxOne int
		passes                  int
	)
	slow := reconcile.Func(func(_ context.Context, req reconcile.Request) (reconcile.Result, error) {
		mu.Lock()
		inFlight[req.NamespacedName]++
		total++
		maxTotal, maxOne, passes = max(maxTotal, total), max(maxOne, inFlight[req.NamespacedName]), passes+1
		mu.Unlock()
		time.Sleep(300 * time.Millisecond)
		mu.Lock()
		inFlight[req.NamespacedName]--
		total--
		mu.Unlock()
		return reconcile.Result{}, nil
	})
	if err := ctrl.NewControllerManagedBy(mgr).For(&galleryv1alpha1.Gallery{}).Named("concurrency-probe").
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).Complete(slow); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// Four Galleries (the suite's reconciler ignores them), each changed again and
	// again while its passes run.
	var galleries []*galleryv1alpha1.Gallery
	for i := range 4 {
		g := &galleryv1alpha1.Gallery{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("g%d", i), Namespace: ns, Labels: map[string]string{labelOwnReconciler: "true"}}}
		if err := k8s.Create(context.Background(), g); err != nil {
			t.Fatal(err)
		}
		galleries = append(galleries, g)
	}
	for round := range 5 {
		for _, g := range galleries {
			updateGallery(t, g, func(live *galleryv1alpha1.Gallery) { live.Spec.Server.Replicas = ptr.To(int32(round + 2)) })
		}
		time.Sleep(100 * time.Millisecond)
	}
	eventually(t, "passes settle", func() error {
		mu.Lock()
		defer mu.Unlock()
		if total != 0 || passes < 4 {
			return fmt.Errorf("%d in flight, %d passes", total, passes)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	if maxOne != 1 {
		t.Errorf("one Gallery was reconciled %d times at once", maxOne)
	}
	if maxTotal < 2 {
		t.Errorf("at most %d Galleries were reconciled at once, want several with MaxConcurrentReconciles 4", maxTotal)
	}
	t.Logf("%d passes, up to %d Galleries at once, each at most %d at once", passes, maxTotal, maxOne)
}

// TestPassOverUnchangedGalleryReadsOnlySecrets: with the operator's cache, a pass over a
// Gallery that needs nothing reads its children from the cache and asks the API server
// only for the Secrets (never cached, ClientOptions), each once. The first pass, which
// creates the children, asks the API server about each before creating it (the cache
// may not have seen a child a previous pass made).
func TestPassOverUnchangedGalleryReadsOnlySecrets(t *testing.T) {
	ns := newNamespace(t)
	reads := &objectReads{byResource: map[string]int{}}
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = reads.roundTrip(ns)
	mgr, err := ctrl.NewManager(cfg, scopedManagerOptions(ns))
	if err != nil {
		t.Fatal(err)
	}
	r := &GalleryReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(), Recorder: &countingRecorder{}, HPAToleranceUnsupported: hpaToleranceUnsupported}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// The suite's reconciler leaves this Gallery alone; this test's manager only caches.
	g := newGallery(t, ns, ownReconciled)
	reconcileTimes(t, r, g, 1)
	first := reads.take()
	if first["secrets"] == 0 || first["deployments"] != 2 {
		t.Errorf("first pass read %v from the API server, want each child before creating it", first)
	}
	onlySecrets := func(passes int) error {
		if got := reads.take(); len(got) != 1 || got["secrets"] != 2*passes {
			return fmt.Errorf("%d passes over an unchanged Gallery read %v from the API server, want only its 2 Secrets, once a pass", passes, got)
		}
		return nil
	}
	// Once the cache has caught up with the children the first pass made:
	eventually(t, "a pass that reads only Secrets", func() error {
		reconcileTimes(t, r, g, 1)
		return onlySecrets(1)
	})
	reconcileTimes(t, r, g, 3)
	if err := onlySecrets(3); err != nil {
		t.Error(err)
	}
}

// objectReads counts GETs of single objects of one namespace, by resource (informers'
// lists and watches are not counted).
type objectReads struct {
	mu         sync.Mutex
	byResource map[string]int
}

func (o *objectReads) roundTrip(ns string) func(http.RoundTripper) http.RoundTripper {
	return func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			_, rest, ok := strings.Cut(req.URL.Path, "/namespaces/"+ns+"/")
			if parts := strings.Split(rest, "/"); ok && req.Method == http.MethodGet && len(parts) == 2 {
				o.mu.Lock()
				o.byResource[parts[0]]++
				o.mu.Unlock()
			}
			return next.RoundTrip(req)
		})
	}
}

// take returns the counts so far and starts again.
func (o *objectReads) take() map[string]int {
	o.mu.Lock()
	defer o.mu.Unlock()
	c := o.byResource
	o.byResource = map[string]int{}
	return c
}

// scopedManagerOptions are the operator's own cache and client settings, watching only
// ns, for a test's private manager beside the suite's.
func scopedManagerOptions(ns string) ctrl.Options {
	return ctrl.Options{
		Scheme:     testScheme,
		Cache:      CacheOptions([]string{ns}),
		Client:     ClientOptions(),
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	}
}
