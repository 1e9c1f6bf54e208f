package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
	"github.com/sortographer/sortographer/internal/config"
)

var nsSeq atomic.Int64

// newNamespace gives each test its own namespace.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("t%d-%d", time.Now().UnixNano()%100000, nsSeq.Add(1))}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

type galleryOption func(*galleryv1alpha1.Gallery)

func newGallery(t *testing.T, ns string, opts ...galleryOption) *galleryv1alpha1.Gallery {
	t.Helper()
	g := &galleryv1alpha1.Gallery{ObjectMeta: metav1.ObjectMeta{Name: "photos", Namespace: ns}}
	for _, o := range opts {
		o(g)
	}
	if err := k8s.Create(context.Background(), g); err != nil {
		t.Fatalf("create gallery: %v", err)
	}
	return g
}

func withExternalDatabase(secret string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Database = galleryv1alpha1.DatabaseSpec{External: &galleryv1alpha1.ExternalDatabaseSpec{
			Engine: galleryv1alpha1.DatabaseMySQL, Host: "db.example.com",
			CredentialsSecret: galleryv1alpha1.CredentialsSecretRef{Name: secret},
		}}
	}
}

func withAutoscaledServer(minReplicas, maxReplicas int32) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Autoscaling = &galleryv1alpha1.AutoscalingSpec{Server: &galleryv1alpha1.ScalingPolicy{MinReplicas: minReplicas, MaxReplicas: maxReplicas}}
	}
}

func get[T client.Object](t *testing.T, ns, name string, obj T) (T, error) {
	t.Helper()
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
	return obj, err
}

func mustExist(ns, name string, obj client.Object) func() error {
	return func() error { return k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj) }
}

// markDeploymentAvailable does what the Deployment controller would.
func markDeploymentAvailable(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, "mark "+name+" available", func() error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
			return err
		}
		n := ptr.Deref(d.Spec.Replicas, 1)
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"}},
		}
		return k8s.Status().Update(context.Background(), d)
	})
}

func markStatefulSetReady(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, "mark "+name+" ready", func() error {
		s := &appsv1.StatefulSet{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			return err
		}
		s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: 1, ReadyReplicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1, CurrentReplicas: 1}
		return k8s.Status().Update(context.Background(), s)
	})
}

func markClaimBound(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, "bind "+name, func() error {
		c := &corev1.PersistentVolumeClaim{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, c); err != nil {
			return err
		}
		c.Status.Phase = corev1.ClaimBound
		return k8s.Status().Update(context.Background(), c)
	})
}

func condition(t *testing.T, g *galleryv1alpha1.Gallery, typ string) *metav1.Condition {
	t.Helper()
	live := &galleryv1alpha1.Gallery{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(g), live); err != nil {
		t.Fatal(err)
	}
	return meta.FindStatusCondition(live.Status.Conditions, typ)
}

func TestMinimalGalleryConvergesAndBecomesReady(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns)

	children := map[string]client.Object{
		g.ServerName():          &appsv1.Deployment{},
		g.WorkersName():         &appsv1.Deployment{},
		g.RedisName():           &appsv1.StatefulSet{},
		g.DatabaseName():        &appsv1.StatefulSet{},
		g.ConfigMapName():       &corev1.ConfigMap{},
		g.GeneratedSecretName(): &corev1.Secret{},
		g.PhotosClaimName():     &corev1.PersistentVolumeClaim{},
	}
	for name, obj := range children {
		eventually(t, "child "+name, mustExist(ns, name, obj))
		if !metav1IsControlledBy(obj, mustGet(t, g)) {
			t.Errorf("%s is not owned by the gallery: %v", name, obj.GetOwnerReferences())
		}
	}
	for _, name := range []string{g.ServerName(), g.WorkersName()} {
		eventually(t, "service account "+name, mustExist(ns, name, &corev1.ServiceAccount{}))
		eventually(t, "pdb "+name, mustExist(ns, name, &policyv1.PodDisruptionBudget{}))
	}
	eventually(t, "service", mustExist(ns, g.ServerName(), &corev1.Service{}))
	eventually(t, "default-deny policy", mustExist(ns, g.Name+"-default-deny", &networkingv1.NetworkPolicy{}))

	secret := children[g.GeneratedSecretName()].(*corev1.Secret)
	for _, k := range []string{specs.SecretKeyJWT, specs.SecretKeyRedisPassword} {
		if len(secret.Data[k]) < 32 {
			t.Errorf("generated secret key %s has %d bytes, want at least 32", k, len(secret.Data[k]))
		}
	}

	eventually(t, "Ready=False while nothing runs", func() error {
		c := condition(t, g, galleryv1alpha1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != galleryv1alpha1.ReasonComponentsNotReady {
			return fmt.Errorf("Ready = %+v", c)
		}
		return nil
	})

	markDeploymentAvailable(t, ns, g.ServerName())
	markDeploymentAvailable(t, ns, g.WorkersName())
	markStatefulSetReady(t, ns, g.RedisName())
	markStatefulSetReady(t, ns, g.DatabaseName())
	markClaimBound(t, ns, g.PhotosClaimName())
	eventually(t, "Ready=True once every component is", func() error {
		live := mustGet(t, g)
		c := meta.FindStatusCondition(live.Status.Conditions, galleryv1alpha1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready = %+v", c)
		}
		if live.Status.Phase != galleryv1alpha1.PhaseReady || live.Status.ObservedGeneration != live.Generation {
			return fmt.Errorf("phase %s observedGeneration %d/%d", live.Status.Phase, live.Status.ObservedGeneration, live.Generation)
		}
		if live.Status.Server == nil || live.Status.Server.Ready != "2/2" || live.Status.URL == "" {
			return fmt.Errorf("server status %+v url %q", live.Status.Server, live.Status.URL)
		}
		return nil
	})

	// The children were announced in one Created event for the pass that made them (two
	// if a pass failed half-way), each child once, not in an event each.
	notes := strings.Join(createdNotes(t, ns), "; ")
	if n := len(createdNotes(t, ns)); n == 0 || n > 2 {
		t.Errorf("%d Created events (%s), want one for the pass that made the children", n, notes)
	}
	for name, obj := range children {
		kind := fmt.Sprintf("%T", obj)
		kind = kind[strings.LastIndex(kind, ".")+1:]
		if c := strings.Count(notes, kind+" "+name+","); c+strings.Count(notes+";", kind+" "+name+";") != 1 {
			t.Errorf("the Created events (%s) do not name %s %s once", notes, kind, name)
		}
	}

	// The secret never appears in status or events.
	live := mustGet(t, g)
	status := fmt.Sprintf("%+v", live.Status)
	for _, v := range secret.Data {
		if strings.Contains(status, string(v)) {
			t.Fatal("a generated secret value appears in the status")
		}
	}
}

// updateGallery changes the Gallery's spec, retrying when the operator's status writes
// got there first.
func updateGallery(t *testing.T, g *galleryv1alpha1.Gallery, change func(*galleryv1alpha1.Gallery)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		live := mustGet(t, g)
		change(live)
		return k8s.Update(context.Background(), live)
	})
	if err != nil {
		t.Fatalf("update gallery: %v", err)
	}
}

func keyOf(g *galleryv1alpha1.Gallery) client.ObjectKey { return client.ObjectKeyFromObject(g) }

func mustGet(t *testing.T, g *galleryv1alpha1.Gallery) *galleryv1alpha1.Gallery {
	t.Helper()
	live := &galleryv1alpha1.Gallery{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(g), live); err != nil {
		t.Fatal(err)
	}
	return live
}

func TestDeletedChildIsRecreated(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns)
	svc := &corev1.Service{}
	eventually(t, "service", mustExist(ns, g.ServerName(), svc))
	uid := svc.UID
	if err := k8s.Delete(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	eventually(t, "service recreated", func() error {
		s := &corev1.Service{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: g.ServerName()}, s); err != nil {
			return err
		}
		if s.UID == uid {
			return fmt.Errorf("still the old service")
		}
		return nil
	})
}

// createdNotes are the notes of the Created events in namespace ns.
func createdNotes(t *testing.T, ns string) []string {
	t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, e := range list.Items {
		if e.Reason == "Created" && e.Regarding.Kind == "Gallery" {
			notes = append(notes, e.Note)
		}
	}
	return notes
}

func TestGeneratedSecretIsNeverRewritten(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns)
	s := &corev1.Secret{}
	eventually(t, "generated secret", mustExist(ns, g.GeneratedSecretName(), s))
	before := string(s.Data[specs.SecretKeyJWT])
	// A spec change forces a full pass.
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) {
		live.Spec.Server.Replicas = ptr.To[int32](3)
	})
	eventually(t, "replicas applied", func() error {
		d, err := get(t, ns, g.ServerName(), &appsv1.Deployment{})
		if err != nil || ptr.Deref(d.Spec.Replicas, 0) != 3 {
			return fmt.Errorf("replicas not 3 yet: %w", err)
		}
		return nil
	})
	after, _ := get(t, ns, g.GeneratedSecretName(), &corev1.Secret{})
	if string(after.Data[specs.SecretKeyJWT]) != before {
		t.Fatal("the JWT key changed after a reconcile")
	}
}

func TestChangedSecretRollsThePods(t *testing.T) {
	ns := newNamespace(t)
	creds := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "photos-db", Namespace: ns},
		Data:       map[string][]byte{"username": []byte("app"), "password": []byte("first")},
	}
	if err := k8s.Create(context.Background(), creds); err != nil {
		t.Fatal(err)
	}
	g := newGallery(t, ns, withExternalDatabase("photos-db"))
	var first string
	eventually(t, "server deployment with a config hash", func() error {
		d, err := get(t, ns, g.ServerName(), &appsv1.Deployment{})
		if err != nil {
			return err
		}
		first = d.Spec.Template.Annotations[specs.AnnotationConfigHash]
		if first == "" {
			return fmt.Errorf("no config hash")
		}
		return nil
	})
	creds.Data["password"] = []byte("second")
	if err := k8s.Update(context.Background(), creds); err != nil {
		t.Fatal(err)
	}
	eventually(t, "hash changes with the password", func() error {
		d, err := get(t, ns, g.ServerName(), &appsv1.Deployment{})
		if err != nil {
			return err
		}
		if h := d.Spec.Template.Annotations[specs.AnnotationConfigHash]; h == first {
			return fmt.Errorf("hash still %s", h)
		}
		return nil
	})
}

func TestRolloutRestartSurvivesReconcile(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns)
	eventually(t, "server deployment", mustExist(ns, g.ServerName(), &appsv1.Deployment{}))
	// What `kubectl rollout restart` sends, under its own field manager.
	patch := []byte(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2026-11-23T08:00:00Z"}}}}}`)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: g.ServerName()}}
	if err := k8s.Patch(context.Background(), d, client.RawPatch("application/strategic-merge-patch+json", patch), client.FieldOwner("kubectl-rollout")); err != nil {
		t.Fatal(err)
	}
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) {
		live.Spec.Server.Port = 9000 // forces the operator to apply the Deployment again
	})
	eventually(t, "port applied and restartedAt kept", func() error {
		d, err := get(t, ns, g.ServerName(), &appsv1.Deployment{})
		if err != nil {
			return err
		}
		if d.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort != 9000 {
			return fmt.Errorf("port not applied yet")
		}
		if d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" {
			return fmt.Errorf("restartedAt was removed: %v", d.Spec.Template.Annotations)
		}
		return nil
	})
}

func TestHPAOwnsServerReplicas(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, withAutoscaledServer(2, 6))
	eventually(t, "server deployment", mustExist(ns, g.ServerName(), &appsv1.Deployment{}))
	// The HPA (here: the test) scales to 5; the operator must leave it.
	eventually(t, "scale to 5", func() error {
		d, err := get(t, ns, g.ServerName(), &appsv1.Deployment{})
		if err != nil {
			return err
		}
		d.Spec.Replicas = ptr.To[int32](5)
		return k8s.Update(context.Background(), d, client.FieldOwner("kube-controller-manager"))
	})
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) {
		live.Spec.Server.Image = "example.com/sortographer:v2"
	})
	endJob(t, ns, g.MigrationJobName("example.com/sortographer:v2"), true, "migrate", "", time.Now())
	eventually(t, "image applied, replicas kept", func() error {
		d, err := get(t, ns, g.ServerName(), &appsv1.Deployment{})
		if err != nil {
			return err
		}
		if d.Spec.Template.Spec.Containers[0].Image != "example.com/sortographer:v2" {
			return fmt.Errorf("image not applied")
		}
		if ptr.Deref(d.Spec.Replicas, 0) != 5 {
			return fmt.Errorf("replicas reset to %d", ptr.Deref(d.Spec.Replicas, 0))
		}
		for _, mf := range d.ManagedFields {
			if mf.Manager == FieldOwner && strings.Contains(mf.FieldsV1.GetRawString(), `"f:replicas"`) {
				return fmt.Errorf("the operator owns spec.replicas")
			}
		}
		return nil
	})
}

func TestSteadyStateMakesZeroWrites(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns)
	markAll := func() {
		markDeploymentAvailable(t, ns, g.ServerName())
		markDeploymentAvailable(t, ns, g.WorkersName())
		markStatefulSetReady(t, ns, g.RedisName())
		markStatefulSetReady(t, ns, g.DatabaseName())
		markClaimBound(t, ns, g.PhotosClaimName())
	}
	markAll()
	eventually(t, "ready", func() error {
		if c := condition(t, g, galleryv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready = %+v", c)
		}
		return nil
	})
	time.Sleep(time.Second) // let the watch events of the last status write drain

	// Reconcile the unchanged Gallery 20 times with the same reconciler the manager runs,
	// counting what reaches the API server.
	assertNoWrites(t, g, &GalleryReconciler{Scheme: testScheme, HPAToleranceUnsupported: hpaToleranceUnsupported})
}

// assertNoWrites reconciles the Gallery 20 times with r (its Client and Recorder
// replaced by counting ones), and fails the test for any write that reaches the API
// server or any event.
func assertNoWrites(t *testing.T, g *galleryv1alpha1.Gallery, r *GalleryReconciler) {
	t.Helper()
	recorder := &countingRecorder{}
	r.Client, r.Recorder = countingClient(t), recorder
	before, _ := r.Client.(*countedClient).counter.snapshot()
	for range 20 {
		if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(g)}); err != nil {
			t.Fatal(err)
		}
	}
	after, byPath := r.Client.(*countedClient).counter.snapshot()
	if after != before {
		t.Errorf("20 reconciles of the unchanged %s made %d writes: %v", g.Name, after-before, byPath)
	}
	if n := recorder.n.Load(); n != 0 {
		t.Errorf("20 reconciles of the unchanged %s recorded %d events", g.Name, n)
	}
	t.Logf("20 reconciles of the unchanged %s (phase %s): %d writes, %d events", g.Name, mustGet(t, g).Status.Phase, after-before, recorder.n.Load())
}

func TestSuspendStopsChangesAndResumes(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns)
	eventually(t, "service", mustExist(ns, g.ServerName(), &corev1.Service{}))
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) {
		live.Spec.Suspend = true
	})
	eventually(t, "phase Suspended", func() error {
		if p := mustGet(t, g).Status.Phase; p != galleryv1alpha1.PhaseSuspended {
			return fmt.Errorf("phase %s", p)
		}
		return nil
	})
	if err := k8s.Delete(context.Background(), &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: g.ServerName()}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if _, err := get(t, ns, g.ServerName(), &corev1.Service{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a suspended gallery's service was recreated (err=%v)", err)
	}
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) {
		live.Spec.Suspend = false
	})
	eventually(t, "service back after resume", mustExist(ns, g.ServerName(), &corev1.Service{}))
}

func TestMissingSecretSetsConditionThenRecovers(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, withExternalDatabase("not-yet"))
	eventually(t, "MissingReference condition", func() error {
		c := condition(t, g, galleryv1alpha1.ConditionReady)
		if c == nil || c.Reason != galleryv1alpha1.ReasonMissingReference || !strings.Contains(c.Message, `"not-yet"`) {
			return fmt.Errorf("Ready = %+v", c)
		}
		return nil
	})
	if p := mustGet(t, g).Status.Phase; p != galleryv1alpha1.PhaseFailed {
		t.Errorf("phase %s, want Failed", p)
	}
	if _, err := get(t, ns, g.ServerName(), &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("server deployment was applied with a missing secret (err=%v)", err)
	}
	eventually(t, "warning event", func() error {
		var list eventsv1.EventList
		if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range list.Items {
			if e.Reason == galleryv1alpha1.ReasonMissingReference && e.Type == corev1.EventTypeWarning && strings.Contains(e.Note, "not-yet") {
				return nil
			}
		}
		return fmt.Errorf("no MissingReference event among %d", len(list.Items))
	})

	creds := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "not-yet", Namespace: ns},
		Data:       map[string][]byte{"username": []byte("app"), "password": []byte("pw")},
	}
	if err := k8s.Create(context.Background(), creds); err != nil {
		t.Fatal(err)
	}
	eventually(t, "server deployment once the secret exists", mustExist(ns, g.ServerName(), &appsv1.Deployment{}))
	eventually(t, "condition cleared", func() error {
		if c := condition(t, g, galleryv1alpha1.ConditionReady); c == nil || c.Reason == galleryv1alpha1.ReasonMissingReference {
			return fmt.Errorf("Ready = %+v", c)
		}
		return nil
	})
}

func TestHPAScalingLimitedShowsInTheServerCondition(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, withAutoscaledServer(2, 3))
	h := &autoscalingv2.HorizontalPodAutoscaler{}
	eventually(t, "server HPA", mustExist(ns, g.ServerName(), h))
	markDeploymentAvailable(t, ns, g.ServerName())
	// What the HPA controller reports when the load wants more than maxReplicas.
	eventually(t, "HPA at its limit", func() error {
		h := &autoscalingv2.HorizontalPodAutoscaler{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: g.ServerName()}, h); err != nil {
			return err
		}
		h.Status.DesiredReplicas = 3
		h.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{{
			Type: autoscalingv2.ScalingLimited, Status: corev1.ConditionTrue, Reason: "TooManyReplicas",
			Message: "the desired replica count is more than the maximum replica count", LastTransitionTime: metav1.Now(),
		}}
		return k8s.Status().Update(context.Background(), h)
	})
	eventually(t, "condition mentions the limit", func() error {
		c := condition(t, g, galleryv1alpha1.ConditionServer)
		if c == nil || !strings.Contains(c.Message, "TooManyReplicas") {
			return fmt.Errorf("ServerReady = %+v", c)
		}
		return nil
	})
}

// Turning autoscaling on must not drop the running replicas to the API server's default
// of 1 (which is what removing an owned field under server-side apply does).
func TestTurningOnAutoscalingKeepsTheRunningReplicas(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, func(g *galleryv1alpha1.Gallery) { g.Spec.Server.Replicas = ptr.To[int32](4) })
	eventually(t, "4 server replicas", func() error {
		d, err := get(t, ns, g.ServerName(), &appsv1.Deployment{})
		if err != nil || ptr.Deref(d.Spec.Replicas, 0) != 4 {
			return fmt.Errorf("not 4 yet: %w", err)
		}
		return nil
	})
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) {
		live.Spec.Server.Replicas = nil
		live.Spec.Autoscaling = &galleryv1alpha1.AutoscalingSpec{Server: &galleryv1alpha1.ScalingPolicy{MinReplicas: 2, MaxReplicas: 8}}
	})
	eventually(t, "HPA made, replicas kept, operator no longer owns them", func() error {
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: g.ServerName()}, &autoscalingv2.HorizontalPodAutoscaler{}); err != nil {
			return err
		}
		d, err := get(t, ns, g.ServerName(), &appsv1.Deployment{})
		if err != nil {
			return err
		}
		if got := ptr.Deref(d.Spec.Replicas, 0); got != 4 {
			t.Fatalf("replicas went to %d when autoscaling was turned on, want the running 4", got)
		}
		for _, mf := range d.ManagedFields {
			if mf.Manager == FieldOwner && strings.Contains(mf.FieldsV1.GetRawString(), `"f:replicas"`) {
				return fmt.Errorf("the operator still owns spec.replicas")
			}
		}
		return nil
	})
}

// A Gallery applied by a GitOps tool keeps every spec field owned by that tool: the
// operator writes status only.
func TestGitOpsOwnedSpecIsNeverWrittenByTheOperator(t *testing.T) {
	ns := newNamespace(t)
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "sortographer.io/v1alpha1", "kind": "Gallery",
		"metadata": map[string]any{"name": "photos", "namespace": ns},
		"spec":     map[string]any{"server": map[string]any{"replicas": int64(2)}},
	}}
	apply := func() {
		t.Helper()
		if err := k8s.Apply(context.Background(), client.ApplyConfigurationFromUnstructured(u.DeepCopy()), client.FieldOwner("argocd")); err != nil {
			t.Fatalf("apply as argocd: %v", err)
		}
	}
	apply()
	g := &galleryv1alpha1.Gallery{ObjectMeta: metav1.ObjectMeta{Name: "photos", Namespace: ns}}
	eventually(t, "status written", func() error {
		if mustGet(t, g).Status.ObservedGeneration == 0 {
			return fmt.Errorf("no status yet")
		}
		return nil
	})
	before := mustGet(t, g).Generation
	apply() // the same manifest again: no conflict, no change
	live := mustGet(t, g)
	if live.Generation != before {
		t.Errorf("re-applying the same manifest changed the spec (generation %d -> %d)", before, live.Generation)
	}
	for _, mf := range live.ManagedFields {
		if mf.Manager == FieldOwner && mf.Subresource != "status" {
			t.Errorf("the operator owns fields of the Gallery outside status: %s", mf.FieldsV1.GetRawString())
		}
	}
}

// TestFailedApplyShowsTheAPIServersReason: when the API server refuses a child (here a
// ResourceQuota that allows no Deployments in the namespace), Ready and the component's
// condition say which phase failed and why, in the API server's words; once the quota
// goes, the Gallery converges.
func TestFailedApplyShowsTheAPIServersReason(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	hard := corev1.ResourceList{"count/deployments.apps": resource.MustParse("0")}
	quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: "no-deployments", Namespace: ns}, Spec: corev1.ResourceQuotaSpec{Hard: hard}}
	if err := k8s.Create(ctx, quota); err != nil {
		t.Fatal(err)
	}
	// What the quota controller (not running under envtest) would record.
	quota.Status = corev1.ResourceQuotaStatus{Hard: hard, Used: corev1.ResourceList{"count/deployments.apps": resource.MustParse("0")}}
	if err := k8s.Status().Update(ctx, quota); err != nil {
		t.Fatal(err)
	}
	g := newGallery(t, ns)
	eventually(t, "Ready says the server's Deployment exceeded the quota", func() error {
		ready, server := condition(t, g, galleryv1alpha1.ConditionReady), condition(t, g, galleryv1alpha1.ConditionServer)
		for _, c := range []*metav1.Condition{ready, server} {
			if c == nil || c.Reason != galleryv1alpha1.ReasonReconcileFailed ||
				!strings.Contains(c.Message, "reconciling the server failed") || !strings.Contains(c.Message, "exceeded quota: no-deployments") {
				return fmt.Errorf("Ready = %+v, ServerReady = %+v", ready, server)
			}
		}
		return nil
	})
	if p := mustGet(t, g).Status.Phase; p != galleryv1alpha1.PhaseFailed {
		t.Errorf("phase %s, want Failed", p)
	}

	if err := k8s.Delete(ctx, quota); err != nil {
		t.Fatal(err)
	}
	eventually(t, "server deployment once the quota is gone", mustExist(ns, g.ServerName(), &appsv1.Deployment{}))
	eventually(t, "the failure cleared", func() error {
		for _, typ := range []string{galleryv1alpha1.ConditionReady, galleryv1alpha1.ConditionServer} {
			if c := condition(t, g, typ); c == nil || c.Reason == galleryv1alpha1.ReasonReconcileFailed {
				return fmt.Errorf("%s = %+v", typ, c)
			}
		}
		return nil
	})
}

// The cache keeps Deployments and StatefulSets without their pod templates
// (slimDeployment): a change someone else makes to a template is still seen, by its new
// generation, and put back. (The image would not do: a server image other than the
// Gallery's is an upgrade, which waits for its migration.)
// Children the cache keeps slim (no pod templates, no specs, only a digest of a Service's
// spec or a ConfigMap's data) are still put back when someone edits them.
func TestEditedChildrenArePutBack(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns)
	server, database := &appsv1.Deployment{}, &appsv1.StatefulSet{}
	eventually(t, "server deployment", mustExist(ns, g.ServerName(), server))
	eventually(t, "database statefulset", mustExist(ns, g.DatabaseName(), database))
	memory := func(spec corev1.PodSpec) string {
		return spec.Containers[0].Resources.Limits.Memory().String()
	}
	serverMemory, databaseMemory := memory(server.Spec.Template.Spec), memory(database.Spec.Template.Spec)
	edit := func(obj client.Object, container string) {
		t.Helper()
		// What `kubectl set resources` sends, under its own field manager.
		patch := fmt.Appendf(nil, `{"spec":{"template":{"spec":{"containers":[{"name":%q,"resources":{"limits":{"memory":"3Gi"}}}]}}}}`, container)
		if err := k8s.Patch(context.Background(), obj, client.RawPatch("application/strategic-merge-patch+json", patch), client.FieldOwner("kubectl-set")); err != nil {
			t.Fatal(err)
		}
	}
	edit(server, server.Spec.Template.Spec.Containers[0].Name)
	edit(database, database.Spec.Template.Spec.Containers[0].Name)
	// PodDisruptionBudgets and NetworkPolicies are cached with their metadata only.
	var pdbs policyv1.PodDisruptionBudgetList
	eventually(t, "a pdb", func() error {
		if err := k8s.List(context.Background(), &pdbs, client.InNamespace(ns)); err != nil || len(pdbs.Items) == 0 {
			return fmt.Errorf("no PodDisruptionBudget yet (%w)", err)
		}
		return nil
	})
	pdb := &pdbs.Items[0]
	maxUnavailable := pdb.Spec.MaxUnavailable.String()
	if err := k8s.Patch(context.Background(), pdb, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"maxUnavailable":7}}`)), client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pdb put back", func() error {
		p := &policyv1.PodDisruptionBudget{}
		if err := mustExist(ns, pdb.Name, p)(); err != nil {
			return err
		}
		if got := p.Spec.MaxUnavailable.String(); got != maxUnavailable {
			return fmt.Errorf("maxUnavailable %s, want %s", got, maxUnavailable)
		}
		return nil
	})
	// Services and ConfigMaps have no generation: the cache keeps a digest of their content.
	for _, edit := range []struct {
		obj   client.Object
		patch string
	}{
		{&corev1.Service{}, `{"spec":{"selector":{"app.kubernetes.io/component":"someone-elses"}}}`},
		{&corev1.ConfigMap{}, fmt.Sprintf(`{"data":{%q:"debug"}}`, config.EnvLogLevel)},
	} {
		name := g.ServerName()
		if _, ok := edit.obj.(*corev1.ConfigMap); ok {
			name = g.ConfigMapName()
		}
		eventually(t, name, mustExist(ns, name, edit.obj))
		if err := k8s.Patch(context.Background(), edit.obj, client.RawPatch(types.MergePatchType, []byte(edit.patch)), client.FieldOwner("kubectl-edit")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "service selector and configmap value put back", func() error {
		svc, cm := &corev1.Service{}, &corev1.ConfigMap{}
		if err := mustExist(ns, g.ServerName(), svc)(); err != nil {
			return err
		}
		if err := mustExist(ns, g.ConfigMapName(), cm)(); err != nil {
			return err
		}
		if got := svc.Spec.Selector["app.kubernetes.io/component"]; got != galleryv1alpha1.ComponentServer {
			return fmt.Errorf("service selects component %q", got)
		}
		if got := cm.Data[config.EnvLogLevel]; got != "info" {
			return fmt.Errorf("configmap log level %q", got)
		}
		return nil
	})
	eventually(t, "both memory limits put back", func() error {
		d, s := &appsv1.Deployment{}, &appsv1.StatefulSet{}
		if err := mustExist(ns, g.ServerName(), d)(); err != nil {
			return err
		}
		if err := mustExist(ns, g.DatabaseName(), s)(); err != nil {
			return err
		}
		if got := memory(d.Spec.Template.Spec); got != serverMemory {
			return fmt.Errorf("server memory limit %s, want %s", got, serverMemory)
		}
		if got := memory(s.Spec.Template.Spec); got != databaseMemory {
			return fmt.Errorf("database memory limit %s, want %s", got, databaseMemory)
		}
		return nil
	})
}
