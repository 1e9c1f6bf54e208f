package controllers

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"
	"unsafe"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// fullPod has what a real pod of the Gallery carries besides what the operator reads:
// environment, volumes, probes, conditions, addresses, managed fields.
func fullPod(p *corev1.Pod) {
	p.Namespace = "team"
	p.Annotations = map[string]string{"checksum/config": "0123456789abcdef0123456789abcdef"}
	p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate}}
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "photos-workers-5d8f", UID: "u1"}}
	c := &p.Spec.Containers[0]
	for i := range 20 {
		c.Env = append(c.Env, corev1.EnvVar{Name: fmt.Sprintf("SORTOGRAPHER_SETTING_%d", i), Value: "a value the operator never reads"})
		p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: fmt.Sprintf("v%d", i), VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: fmt.Sprintf("v%d", i), MountPath: fmt.Sprintf("/var/lib/v%d", i)})
	}
	c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz"}}}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}, {Type: corev1.PodScheduled, Status: corev1.ConditionTrue}}
	p.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.7"}}
}

func withPhase(phase corev1.PodPhase) podOption {
	return func(p *corev1.Pod) { p.Status.Phase = phase }
}

// backupReported: the backup container ended with a report as its termination message.
func backupReported(message string, at time.Time) podOption {
	return func(p *corev1.Pod) {
		t := terminated("Completed", at)
		t.ExitCode, t.Message = 0, message
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: galleryv1alpha1.ComponentBackup, State: corev1.ContainerState{Terminated: t},
		})
	}
}

// migrateWaiting: the migrate container waits, with reason.
func migrateWaiting(reason, message string) podOption {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: "migrate", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}},
		})
	}
}

// Everything the operator reads from a cached pod reads the same after
// podCacheTransform, and what it drops is most of the pod.
func TestPodCacheTransformKeepsWhatTheOperatorReads(t *testing.T) {
	at := t0.Add(-time.Minute)
	report := `{"version":1,"operation":"backup"}`
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
	}{
		{"running", pod(galleryv1alpha1.ComponentServer, "s-1", fullPod, withPhase(corev1.PodRunning))},
		{"restarted after an OOM kill", pod("workers", "w-1", fullPod, restartedAfter("app", reasonOOMKilled, at, 3))},
		{"init container OOM-killed", pod("database", "db-0", fullPod, initContainerOOMKilled("bootstrap", "512Mi", at))},
		{"resized in place", pod("workers", "w-2", fullPod, restartedAfter("app", reasonOOMKilled, at, 1), resizedTo("2Gi"))},
		{"backup succeeded", pod(galleryv1alpha1.ComponentBackup, "b-1", fullPod, withPhase(corev1.PodSucceeded), backupReported(report, at))},
		{"migration waits", pod("migrate", "m-1", fullPod, withPhase(corev1.PodPending), migrateWaiting("ImagePullBackOff", "no such image"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := podCacheTransform(tc.pod.DeepCopy())
			if err != nil {
				t.Fatal(err)
			}
			slim := out.(*cachedPod).pod()
			full, kept := []corev1.Pod{*tc.pod}, []corev1.Pod{*slim}
			for what, pair := range map[string][2]any{
				"podOOMKills":           {podOOMKills(tc.pod), podOOMKills(slim)},
				"newestReport":          {newestReport(full, true), newestReport(kept, true)},
				"migrationOutput":       {migrationOutput(full, true) + migrationOutput(full, false), migrationOutput(kept, true) + migrationOutput(kept, false)},
				"galleryOfPod":          {galleryOfPod(t.Context(), tc.pod), galleryOfPod(t.Context(), slim)},
				"labels, name, phase":   {[]any{tc.pod.Labels, tc.pod.Name, tc.pod.Namespace, tc.pod.Status.Phase}, []any{slim.Labels, slim.Name, slim.Namespace, slim.Status.Phase}},
				"ready, restart counts": {readiness(tc.pod), readiness(slim)},
			} {
				if a, b := fmt.Sprintf("%+v", pair[0]), fmt.Sprintf("%+v", pair[1]); a != b {
					t.Errorf("%s: %s on the pod, %s on the cached pod", what, a, b)
				}
			}
			if tc.name == "backup succeeded" && newestReport(kept, true) == nil {
				t.Error("the fixture's report does not parse: the comparison proves nothing")
			}
			if len(slim.ManagedFields) > 0 || len(slim.Spec.Volumes) > 0 {
				t.Errorf("the cached pod kept managedFields or volumes: %+v", slim)
			}
			for _, c := range slices.Concat(slim.Spec.InitContainers, slim.Spec.Containers) {
				if len(c.Env) > 0 || c.Image != "" {
					t.Errorf("the cached pod kept container %s's env or image", c.Name)
				}
			}
			for _, c := range slices.Concat(slim.Spec.InitContainers, slim.Spec.Containers) {
				if len(c.Resources.Limits) > 0 && len(podOOMKills(tc.pod)) == 0 {
					t.Errorf("container %s of a pod never OOM-killed kept its limits: %v", c.Name, c.Resources.Limits)
				}
			}
			if a, b := jsonSize(t, tc.pod), jsonSize(t, slim); b*3 > a {
				t.Errorf("the cached pod is %d bytes of the pod's %d: want under a third", b, a)
			}
		})
	}
	if out, err := podCacheTransform("tombstone"); err != nil || out != "tombstone" {
		t.Errorf("podCacheTransform(a non-pod) = %v, %v; want it back unchanged", out, err)
	}
}

// A cached pod is a quarter of a corev1.Pod or less; its deep copy is the corev1.Pod it
// stands for and shares nothing with it; the pod watch's predicate reads it.
func TestCachedPodCopiesAreIndependentPods(t *testing.T) {
	at := t0.Add(-time.Minute)
	full := pod("workers", "w-1", fullPod, restartedAfter("app", reasonOOMKilled, at, 3), resizedTo("2Gi"))
	out, err := podCacheTransform(full.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	cached := out.(*cachedPod)
	if c, p := unsafe.Sizeof(cachedPod{}), unsafe.Sizeof(corev1.Pod{}); c*4 > p {
		t.Errorf("a cachedPod is %d bytes, a corev1.Pod %d: want a quarter or less", c, p)
	}
	copied, ok := cached.DeepCopyObject().(*corev1.Pod)
	if !ok {
		t.Fatalf("the deep copy of a cached pod is a %T", cached.DeepCopyObject())
	}
	copied.Labels["x"] = "y"
	copied.Status.ContainerStatuses[0].State.Terminated = nil
	copied.Status.ContainerStatuses[0].LastTerminationState.Terminated.Reason = "Error"
	copied.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("1Ki")
	if again := cached.pod(); fmt.Sprint(podOOMKills(again)) != fmt.Sprint(podOOMKills(full)) || again.Labels["x"] != "" {
		t.Errorf("changing a copy changed the cached pod: kills %v, want %v", podOOMKills(again), podOOMKills(full))
	}
	if !hasOOMKill(cached) || hasOOMKill(&cachedPod{}) {
		t.Error("the pod watch's predicate misreads a cached pod")
	}
}

func readiness(p *corev1.Pod) []string {
	var out []string
	for _, s := range p.Status.ContainerStatuses {
		out = append(out, fmt.Sprintf("%s:%t:%d", s.Name, s.Ready, s.RestartCount))
	}
	return out
}

func jsonSize(t *testing.T, v any) int {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return len(b)
}

// What status, upgrades and StatefulSet changes read from a cached Deployment or
// StatefulSet reads the same after slimDeployment and slimStatefulSet.
func TestSlimWorkloadsKeepWhatTheOperatorReads(t *testing.T) {
	g := &galleryv1alpha1.Gallery{ObjectMeta: metav1.ObjectMeta{Name: "photos", Namespace: "team"}}
	template := func(container, image string) corev1.PodTemplateSpec {
		p := pod(container, "template")
		fullPod(p)
		p.Spec.Containers[0].Name, p.Spec.Containers[0].Image = container, image
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: g.ChildLabels(container)}, Spec: p.Spec}
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "photos-server", Namespace: "team", Generation: 4, Labels: g.ChildLabels("server"),
			Annotations: map[string]string{annotationAppliedHash: "abc"}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: FieldOwner}}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Template: template(galleryv1alpha1.ComponentServer, "example.com/gallery:v2")},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 4, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 2,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: deploymentTimedOut, Message: "took too long"}}},
	}
	out, err := slimDeployment(d.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	sd := out.(*appsv1.Deployment)
	for what, pair := range map[string][2]any{
		"replicaStatus":   {replicaStatus(d), replicaStatus(sd)},
		"deploymentReady": {fmt.Sprint(deploymentReady(d)), fmt.Sprint(deploymentReady(sd))},
		"imageOf":         {imageOf(d), imageOf(sd)},
		"metadata":        {[]any{d.Name, d.Generation, d.Labels, droppedFingerprint(d)}, []any{sd.Name, sd.Generation, sd.Labels, cachedFingerprint(sd)}},
	} {
		if a, b := fmt.Sprintf("%+v", pair[0]), fmt.Sprintf("%+v", pair[1]); a != b {
			t.Errorf("Deployment %s: %s, cached %s", what, a, b)
		}
	}
	if a, b := jsonSize(t, d), jsonSize(t, sd); b*3 > a || len(sd.ManagedFields) > 0 {
		t.Errorf("the cached Deployment is %d bytes of %d (want under a third), managedFields %v", b, a, sd.ManagedFields)
	}

	s := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "photos-database", Namespace: "team", Generation: 2},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Template: template("mariadb", "example.com/mariadb:11.8"),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data", Labels: g.ChildLabels("database")},
				Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
					Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("8Gi")}}},
			}}},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, ReadyReplicas: 1, UpdatedReplicas: 1},
	}
	out, err = slimStatefulSet(s.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	ss := out.(*appsv1.StatefulSet)
	for what, pair := range map[string][2]any{
		"statefulSetReady":     {fmt.Sprint(statefulSetReady(s)), fmt.Sprint(statefulSetReady(ss))},
		"image":                {containerImage(s.Spec.Template.Spec, "mariadb"), containerImage(ss.Spec.Template.Spec, "mariadb")},
		"replicas":             {*s.Spec.Replicas, *ss.Spec.Replicas},
		"claim template names": {sameTemplateNames(s.Spec.VolumeClaimTemplates, ss.Spec.VolumeClaimTemplates), true},
		"claim template size":  {s.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String(), ss.Spec.VolumeClaimTemplates[0].Spec.Resources.Requests.Storage().String()},
	} {
		if a, b := fmt.Sprintf("%+v", pair[0]), fmt.Sprintf("%+v", pair[1]); a != b {
			t.Errorf("StatefulSet %s: %s, cached %s", what, a, b)
		}
	}
	for _, obj := range []any{"tombstone", &corev1.Pod{}} {
		if out, _ := slimDeployment(obj); out != obj {
			t.Errorf("slimDeployment(%T) changed it", obj)
		}
		if out, _ := slimStatefulSet(obj); out != obj {
			t.Errorf("slimStatefulSet(%T) changed it", obj)
		}
	}
}

// CacheOptions has one entry per kind (ByObject is keyed by pointer: a second entry of a
// kind would make the choice between them random), and every child kind is cached slim:
// its transform drops the annotations and leaves their fingerprint in their place.
func TestCacheOptionsOneEntryPerKind(t *testing.T) {
	o := CacheOptions(nil)
	seen := map[string]int{}
	for obj, by := range o.ByObject {
		typ := fmt.Sprintf("%T", obj)
		seen[typ]++
		if _, ok := obj.(*corev1.Pod); ok && by.Transform == nil {
			t.Error("pods are cached without podCacheTransform")
		}
		if !cachedKind(obj) {
			continue
		}
		if by.Transform == nil {
			t.Errorf("%s is a cached child kind without a transform", typ)
			continue
		}
		full := obj.DeepCopyObject().(client.Object)
		full.SetName("photos-server")
		full.SetAnnotations(map[string]string{annotationAppliedHash: "h1"})
		out, err := by.Transform(full.DeepCopyObject())
		if err != nil {
			t.Fatal(err)
		}
		slim := out.(client.Object)
		if slim.GetAnnotations() != nil || slim.GetName() != "photos-server" || cachedFingerprint(slim) != droppedFingerprint(full) {
			t.Errorf("%s cached as %+v: want its name, no annotations, and the fingerprint of what was dropped", typ, slim)
		}
	}
	for typ, n := range seen {
		if n > 1 {
			t.Errorf("%s has %d entries in ByObject", typ, n)
		}
	}
	if want := len(cachedChildKinds) + 2; len(o.ByObject) != want {
		t.Errorf("ByObject has %d kinds, want the %d child kinds, pods and Jobs", len(o.ByObject), want)
	}
}

// Watched Secrets keep only their names in the cache (a kubectl-applied Secret's
// last-applied-configuration annotation holds its values); every other object loses its
// managedFields and shares its labels' strings with the others.
func TestSlimMetadataTransform(t *testing.T) {
	secret := &metav1.PartialObjectMetadata{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "team", UID: "u1", ResourceVersion: "7", Labels: map[string]string{"a": "b"},
			Annotations: map[string]string{"kubectl.kubernetes.io/last-applied-configuration": `{"data":{"password":"c2VjcmV0"}}`}},
	}
	out, err := slimMetadataTransform(secret)
	if err != nil {
		t.Fatal(err)
	}
	s := out.(*metav1.PartialObjectMetadata)
	if s.Name != "db" || s.Namespace != "team" || s.ResourceVersion != "7" || s.Kind != "Secret" || len(s.Annotations) > 0 || len(s.Labels) > 0 {
		t.Errorf("cached Secret metadata = %+v, want its name, namespace, UID and resourceVersion only", s)
	}

	g := &galleryv1alpha1.Gallery{ObjectMeta: metav1.ObjectMeta{Name: "photos", Namespace: "team", UID: "g1"}}
	configMap := func() *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			// Separate copies of every string, as two decoded objects have.
			Name: "photos-config", Namespace: string([]byte("team")), Labels: maps.Clone(g.ChildLabels("server")),
			OwnerReferences: []metav1.OwnerReference{{APIVersion: string([]byte("sortographer.io/v1alpha1")), Kind: "Gallery", Name: string([]byte("photos")), UID: "g1"}},
			ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: FieldOwner}},
		}, Data: map[string]string{"K": "v"}}
	}
	a, _ := slimMetadataTransform(configMap())
	b, _ := slimMetadataTransform(configMap())
	ca, cb := a.(*corev1.ConfigMap), b.(*corev1.ConfigMap)
	if len(ca.ManagedFields) > 0 || ca.Data["K"] != "v" || fmt.Sprint(ca.Labels) != fmt.Sprint(g.ChildLabels("server")) {
		t.Errorf("cached ConfigMap = %+v", ca)
	}
	same := func(x, y string) bool { return unsafe.StringData(x) == unsafe.StringData(y) }
	if !same(ca.Namespace, cb.Namespace) || !same(ca.OwnerReferences[0].APIVersion, cb.OwnerReferences[0].APIVersion) ||
		!same(ca.Labels[galleryv1alpha1.LabelGallery], cb.Labels[galleryv1alpha1.LabelGallery]) {
		t.Error("two cached objects keep separate copies of their namespace, owner or labels")
	}

	// A Gallery applied with kubectl carries its spec again in an annotation nothing reads.
	applied := &galleryv1alpha1.Gallery{ObjectMeta: metav1.ObjectMeta{Name: "photos", Annotations: map[string]string{
		annotationLastApplied: `{"apiVersion":"sortographer.io/v1alpha1","kind":"Gallery","spec":{}}`, "sortographer.io/backup-now": "1",
	}}}
	out, _ = slimMetadataTransform(applied)
	if ann := out.(*galleryv1alpha1.Gallery).Annotations; len(ann) != 1 || ann["sortographer.io/backup-now"] != "1" {
		t.Errorf("cached Gallery annotations %v: want all but kubectl's last-applied-configuration", ann)
	}
}

// A slim cached child carries one fingerprint of what its copy dropped: its annotations,
// and for the kinds without a generation their content. The fingerprint moves with
// either, not with what the operator never sets (the Deployment controller's revision,
// kubectl's last-applied configuration), and is the same for an object read back through
// the API (unstructured, as the applier reads it) as for the one the watch decoded; a
// claim keeps what status reads.
func TestSlimChildFingerprint(t *testing.T) {
	service := func(port int32) *corev1.Service {
		return &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Name: "photos-server", Namespace: "team", Annotations: map[string]string{annotationAppliedHash: "h1"}, ManagedFields: []metav1.ManagedFieldsEntry{{Manager: FieldOwner}}},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "photos"}, ClusterIP: "10.0.0.9", ClusterIPs: []string{"10.0.0.9"},
				Ports: []corev1.ServicePort{{Name: "http", Port: port, TargetPort: intstr.FromString("http")}},
			},
		}
	}
	claim := &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: "photos-photos", Namespace: "team"},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, VolumeName: "pv-1",
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Gi")}},
	}
	deployment := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "photos-server", Namespace: "team", Generation: 2, Annotations: map[string]string{annotationAppliedHash: "h1"}},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](2)}}
	objects := []client.Object{
		service(80),
		&corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: metav1.ObjectMeta{Name: "photos-config", Namespace: "team"},
			Data: map[string]string{"SORTOGRAPHER_LOG_LEVEL": "info"}},
		&corev1.ServiceAccount{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}, ObjectMeta: metav1.ObjectMeta{Name: "photos-server", Namespace: "team"},
			AutomountServiceAccountToken: ptr.To(false)},
		claim, deployment,
		&autoscalingv2.HorizontalPodAutoscaler{TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler"},
			ObjectMeta: metav1.ObjectMeta{Name: "photos-server", Namespace: "team", Generation: 1, Annotations: map[string]string{annotationAppliedHash: "h2"}},
			Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 4}},
	}
	transforms := CacheOptions(nil).ByObject
	transformOf := func(obj client.Object) func(any) (any, error) {
		for kind, by := range transforms {
			if reflect.TypeOf(kind) == reflect.TypeOf(obj) {
				return by.Transform
			}
		}
		t.Fatalf("%T is not cached", obj)
		return nil
	}
	for _, obj := range objects {
		typ := fmt.Sprintf("%T", obj)
		out, err := transformOf(obj)(obj.DeepCopyObject())
		if err != nil {
			t.Fatal(err)
		}
		slim := out.(client.Object)
		dropped := cachedFingerprint(slim)
		if dropped == "" || dropped != droppedFingerprint(obj) {
			t.Errorf("%s: cached fingerprint %x, want the dropped content's %x", typ, dropped, droppedFingerprint(obj))
		}
		if slim.GetName() != obj.GetName() || len(slim.GetManagedFields()) > 0 || slim.GetAnnotations() != nil {
			t.Errorf("%s: cached metadata %+v", typ, slim)
		}
		// The applier computes the fingerprint of what it read through the API server.
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			t.Fatal(err)
		}
		back := reflect.New(reflect.TypeOf(obj).Elem()).Interface().(client.Object)
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, back); err != nil {
			t.Fatal(err)
		}
		if d := droppedFingerprint(back); d != dropped {
			t.Errorf("%s: fingerprint %x read back through unstructured, %x from the watch", typ, d, dropped)
		}
		// An annotation anyone adds moves it; the ones the operator never sets do not.
		edited := obj.DeepCopyObject().(client.Object)
		edited.SetAnnotations(map[string]string{annotationAppliedHash: "h1", "team.example.com/owner": "ops"})
		if droppedFingerprint(edited) == droppedFingerprint(obj) {
			t.Errorf("%s: an added annotation leaves the fingerprint as it was", typ)
		}
		ignored := obj.DeepCopyObject().(client.Object)
		ann := maps.Clone(obj.GetAnnotations())
		if ann == nil {
			ann = map[string]string{}
		}
		ann[annotationDeploymentRevision], ann[annotationLastApplied] = "7", "{}"
		ignored.SetAnnotations(ann)
		if droppedFingerprint(ignored) != droppedFingerprint(obj) {
			t.Errorf("%s: the Deployment controller's revision or kubectl's last-applied configuration moves the fingerprint", typ)
		}
	}
	// The content of a kind without a generation moves it; the dropped content is gone.
	s, _ := metadataOnly(service(80))
	if svc := s.(*corev1.Service); len(svc.Spec.Ports) > 0 || svc.Spec.Selector != nil {
		t.Errorf("cached Service %+v: want its metadata and the fingerprint only", svc)
	}
	if droppedFingerprint(service(80)) == droppedFingerprint(service(8080)) {
		t.Error("two Services with different ports have the same fingerprint")
	}
	// A Deployment's spec is not in it: its generation tells a change of spec.
	more := deployment.DeepCopy()
	more.Spec.Replicas = ptr.To[int32](5)
	if droppedFingerprint(more) != droppedFingerprint(deployment) {
		t.Error("a Deployment's fingerprint moves with its spec, which its generation tracks")
	}
	c, _ := metadataOnly(claim.DeepCopy())
	cached := c.(*corev1.PersistentVolumeClaim)
	if cached.Status.Phase != corev1.ClaimBound || cached.Spec.Resources.Requests.Storage().String() != "10Gi" || cached.Spec.VolumeName != "" {
		t.Errorf("cached claim %+v: want its requested size and phase only", cached)
	}
	if out, _ := metadataOnly("tombstone"); out != "tombstone" {
		t.Error("metadataOnly changed a tombstone")
	}
}

// HPAs, Ingresses and CronJobs have a generation: the cache keeps their metadata and what
// status reads (an HPA's conditions, an Ingress' addresses).
func TestMetadataOnlyKeepsWhatStatusReads(t *testing.T) {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "photos-server", Generation: 3},
		Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 2, Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
			{Type: autoscalingv2.ScalingLimited, Status: corev1.ConditionTrue, Reason: "TooManyReplicas", Message: "the desired count is more than the maximum"},
		}},
	}
	out, _ := metadataOnly(hpa)
	h := out.(*autoscalingv2.HorizontalPodAutoscaler)
	if h.Generation != 3 || h.Spec.MaxReplicas != 0 || scalingLimited(h) != scalingLimited(hpa) || scalingLimited(h) == "" {
		t.Errorf("cached HPA %+v", h)
	}
	in := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "photos", Generation: 2},
		Spec:       networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "photos.example.com"}}},
		Status:     networkingv1.IngressStatus{LoadBalancer: networkingv1.IngressLoadBalancerStatus{Ingress: []networkingv1.IngressLoadBalancerIngress{{Hostname: "lb.example.com"}}}},
	}
	out, _ = metadataOnly(in)
	i := out.(*networkingv1.Ingress)
	if i.Generation != 2 || len(i.Spec.Rules) > 0 || len(i.Status.LoadBalancer.Ingress) != 1 || i.Status.LoadBalancer.Ingress[0].Hostname != "lb.example.com" {
		t.Errorf("cached Ingress %+v", i)
	}
	out, _ = metadataOnly(&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "photos-backup", Generation: 4}, Spec: batchv1.CronJobSpec{Schedule: "0 3 * * *"}})
	if cj := out.(*batchv1.CronJob); cj.Generation != 4 || cj.Spec.Schedule != "" {
		t.Errorf("cached CronJob %+v", cj)
	}
}
