package controllers

// Table tests of the pure status logic: no API server is used (the suite's TestMain
// starts one for the package, but these tests never call it).

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/preflight"
)

// unsavedGallery is a Gallery that exists only in memory, at generation 3.
func unsavedGallery(opts ...galleryOption) *galleryv1alpha1.Gallery {
	g := &galleryv1alpha1.Gallery{ObjectMeta: metav1.ObjectMeta{
		Name: "photos", Namespace: "pure", Generation: 3, ResourceVersion: "41",
		CreationTimestamp: metav1.NewTime(t0),
	}}
	for _, o := range opts {
		o(g)
	}
	return g
}

func withEmbeddedDatabase(g *galleryv1alpha1.Gallery) {
	g.Spec.Database = galleryv1alpha1.DatabaseSpec{Embedded: &galleryv1alpha1.EmbeddedDatabaseSpec{}}
}

func withSuspend(g *galleryv1alpha1.Gallery) { g.Spec.Suspend = true }

// deploymentOf is a Deployment of want replicas at generation 2, as its controller
// reports it: updated and available replicas, and whether it is Available.
func deploymentOf(want, updated, availableReplicas int32, available bool) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Generation: 2},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(want)},
		Status: appsv1.DeploymentStatus{
			ObservedGeneration: 2, Replicas: want, UpdatedReplicas: updated, AvailableReplicas: availableReplicas, ReadyReplicas: availableReplicas,
		},
	}
	if available {
		d.Status.Conditions = append(d.Status.Conditions, appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue})
	}
	return d
}

func readySet() *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		Spec:   appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1)},
		Status: appsv1.StatefulSetStatus{ReadyReplicas: 1, UpdatedReplicas: 1},
	}
}

func claimIn(phase corev1.PersistentVolumeClaimPhase) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "photos-photos"}, Status: corev1.PersistentVolumeClaimStatus{Phase: phase}}
}

func TestDeploymentReady(t *testing.T) {
	stale := deploymentOf(2, 2, 2, true)
	stale.Generation = 3
	timedOut := deploymentOf(2, 1, 1, false)
	timedOut.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: "ReplicaSet x has timed out progressing."}}
	noCount := deploymentOf(1, 1, 1, true)
	noCount.Spec.Replicas = nil
	tests := []struct {
		name   string
		d      *appsv1.Deployment
		ok     bool
		reason string
		msg    string
	}{
		{"missing", nil, false, galleryv1alpha1.ReasonNotCreated, "the Deployment does not exist yet"},
		{"past its progress deadline", timedOut, false, galleryv1alpha1.ReasonProgressDeadlineExceeded, "ReplicaSet x has timed out progressing."},
		{"its controller has not seen the spec", stale, false, galleryv1alpha1.ReasonProgressing, "waiting for the Deployment controller to see the latest spec"},
		{"rolling", deploymentOf(3, 3, 1, true), false, galleryv1alpha1.ReasonProgressing, "1 of 3 pods updated and available"},
		{"all there but not Available", deploymentOf(2, 2, 2, false), false, galleryv1alpha1.ReasonProgressing, "the Deployment is not Available yet"},
		{"available", deploymentOf(2, 2, 2, true), true, galleryv1alpha1.ReasonAvailable, "2 pods available"},
		{"no replica count means one", noCount, true, galleryv1alpha1.ReasonAvailable, "1 pods available"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason, msg := deploymentReady(tt.d)
			if ok != tt.ok || reason != tt.reason || msg != tt.msg {
				t.Errorf("deploymentReady = %v, %q, %q; want %v, %q, %q", ok, reason, msg, tt.ok, tt.reason, tt.msg)
			}
		})
	}
}

func TestStatefulSetReady(t *testing.T) {
	stale := readySet()
	stale.Generation = 2
	notUpdated := readySet()
	notUpdated.Status.UpdatedReplicas = 0
	tests := []struct {
		name   string
		s      *appsv1.StatefulSet
		ok     bool
		reason string
		msg    string
	}{
		{"missing", nil, false, galleryv1alpha1.ReasonNotCreated, "the StatefulSet does not exist yet"},
		{"not seen", stale, false, galleryv1alpha1.ReasonProgressing, "1 of 1 pods ready"},
		{"not updated", notUpdated, false, galleryv1alpha1.ReasonProgressing, "1 of 1 pods ready"},
		{"not ready", &appsv1.StatefulSet{}, false, galleryv1alpha1.ReasonProgressing, "0 of 1 pods ready"},
		{"ready", readySet(), true, galleryv1alpha1.ReasonAvailable, "1 pods ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason, msg := statefulSetReady(tt.s)
			if ok != tt.ok || reason != tt.reason || msg != tt.msg {
				t.Errorf("statefulSetReady = %v, %q, %q; want %v, %q, %q", ok, reason, msg, tt.ok, tt.reason, tt.msg)
			}
		})
	}
}

func TestClaimBound(t *testing.T) {
	tests := []struct {
		name   string
		c      *corev1.PersistentVolumeClaim
		ok     bool
		reason string
		msg    string
	}{
		{"missing", nil, false, galleryv1alpha1.ReasonNotCreated, "the PersistentVolumeClaim does not exist yet"},
		{"no phase yet reads as Pending", claimIn(""), false, galleryv1alpha1.ReasonClaimPending, "PersistentVolumeClaim photos-photos is Pending"},
		{"lost", claimIn(corev1.ClaimLost), false, galleryv1alpha1.ReasonClaimPending, "PersistentVolumeClaim photos-photos is Lost"},
		{"bound", claimIn(corev1.ClaimBound), true, galleryv1alpha1.ReasonBound, "PersistentVolumeClaim photos-photos is bound"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, reason, msg := claimBound(tt.c)
			if ok != tt.ok || reason != tt.reason || msg != tt.msg {
				t.Errorf("claimBound = %v, %q, %q; want %v, %q, %q", ok, reason, msg, tt.ok, tt.reason, tt.msg)
			}
		})
	}
}

// wantCondition checks one condition of g's status.
func wantCondition(t *testing.T, g *galleryv1alpha1.Gallery, typ string, status metav1.ConditionStatus, reason, msgPart string) {
	t.Helper()
	c := meta.FindStatusCondition(g.Status.Conditions, typ)
	if c == nil {
		t.Fatalf("no %s condition in %+v", typ, g.Status.Conditions)
	}
	if c.Status != status || c.Reason != reason || !strings.Contains(c.Message, msgPart) {
		t.Errorf("%s = %s %s %q; want %s %s containing %q", typ, c.Status, c.Reason, c.Message, status, reason, msgPart)
	}
	if c.ObservedGeneration != g.Generation {
		t.Errorf("%s observedGeneration %d, want %d", typ, c.ObservedGeneration, g.Generation)
	}
}

func TestComponentConditions(t *testing.T) {
	limited := &autoscalingv2.HorizontalPodAutoscaler{Status: autoscalingv2.HorizontalPodAutoscalerStatus{Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
		{Type: autoscalingv2.ScalingLimited, Status: corev1.ConditionTrue, Reason: "TooManyReplicas", Message: "the desired replica count is more than the maximum replica count"},
	}}}
	zero := deploymentOf(0, 0, 0, true)
	unreachable := &preflight.Error{Reason: galleryv1alpha1.ReasonUnreachable, Err: errors.New("dial tcp: connection refused")}
	external := func(g *galleryv1alpha1.Gallery) {
		g.Spec.Cache = galleryv1alpha1.CacheSpec{External: &galleryv1alpha1.ExternalRedisSpec{Address: "cache:6379"}}
		g.Spec.Database = galleryv1alpha1.DatabaseSpec{External: &galleryv1alpha1.ExternalDatabaseSpec{Engine: galleryv1alpha1.DatabasePostgres, Host: "db"}}
		g.Spec.Storage = galleryv1alpha1.StorageSpec{S3: &galleryv1alpha1.S3StorageSpec{Bucket: "photos"}}
	}
	tests := []struct {
		name    string
		g       *galleryv1alpha1.Gallery
		set     func(g *galleryv1alpha1.Gallery, gen int64)
		typ     string
		status  metav1.ConditionStatus
		reason  string
		msgPart string
	}{
		{"server available, its HPA limited", unsavedGallery(), func(g *galleryv1alpha1.Gallery, gen int64) {
			setServerCondition(g, deploymentOf(2, 2, 2, true), limited, true, gen)
		}, galleryv1alpha1.ConditionServer, metav1.ConditionTrue, galleryv1alpha1.ReasonAvailable, "2 pods available; the autoscaler is limited (TooManyReplicas)"},
		{"server autoscaled with scale-in on a server without HPA tolerance", unsavedGallery(), func(g *galleryv1alpha1.Gallery, gen int64) {
			in := int32(40)
			g.Spec.Autoscaling = &galleryv1alpha1.AutoscalingSpec{Server: &galleryv1alpha1.ScalingPolicy{
				CPU: &galleryv1alpha1.UtilizationTarget{TargetUtilization: 70, ScaleInUtilization: &in},
			}}
			setServerCondition(g, deploymentOf(2, 2, 2, true), &autoscalingv2.HorizontalPodAutoscaler{}, false, gen)
		}, galleryv1alpha1.ConditionServer, metav1.ConditionTrue, galleryv1alpha1.ReasonAvailable, "scaleInUtilization is not applied: this Kubernetes does not keep"},
		{"workers of an embedded database", unsavedGallery(withEmbeddedDatabase), func(g *galleryv1alpha1.Gallery, gen int64) {
			setWorkersCondition(g, nil, nil, true, gen)
		}, galleryv1alpha1.ConditionWorkers, metav1.ConditionTrue, galleryv1alpha1.ReasonNotUsed, "classifies inside the server pod"},
		{"workers scaled to zero", unsavedGallery(), func(g *galleryv1alpha1.Gallery, gen int64) {
			setWorkersCondition(g, zero, nil, true, gen)
		}, galleryv1alpha1.ConditionWorkers, metav1.ConditionTrue, galleryv1alpha1.ReasonNotUsed, "workers are scaled to zero"},
		{"workers not created", unsavedGallery(), func(g *galleryv1alpha1.Gallery, gen int64) {
			setWorkersCondition(g, nil, nil, true, gen)
		}, galleryv1alpha1.ConditionWorkers, metav1.ConditionFalse, galleryv1alpha1.ReasonNotCreated, "does not exist yet"},
		{"managed cache ready", unsavedGallery(), func(g *galleryv1alpha1.Gallery, gen int64) {
			setCacheCondition(g, readySet(), preflightResult{}, gen)
		}, galleryv1alpha1.ConditionCache, metav1.ConditionTrue, galleryv1alpha1.ReasonAvailable, "1 pods ready"},
		{"external cache not checked", unsavedGallery(external), func(g *galleryv1alpha1.Gallery, gen int64) {
			setCacheCondition(g, nil, preflightResult{}, gen)
		}, galleryv1alpha1.ConditionCache, metav1.ConditionTrue, galleryv1alpha1.ReasonExternal, "external Redis at cache:6379 (not checked)"},
		{"external cache unreachable", unsavedGallery(external), func(g *galleryv1alpha1.Gallery, gen int64) {
			setCacheCondition(g, nil, preflightResult{checked: true, cache: unreachable}, gen)
		}, galleryv1alpha1.ConditionCache, metav1.ConditionFalse, galleryv1alpha1.ReasonUnreachable, "external Redis at cache:6379: dial tcp: connection refused"},
		{"external database reachable", unsavedGallery(external), func(g *galleryv1alpha1.Gallery, gen int64) {
			setDatabaseCondition(g, nil, nil, preflightResult{checked: true}, gen)
		}, galleryv1alpha1.ConditionDatabase, metav1.ConditionTrue, galleryv1alpha1.ReasonReachable, "external postgres at db answers"},
		{"embedded database's claim pending", unsavedGallery(withEmbeddedDatabase), func(g *galleryv1alpha1.Gallery, gen int64) {
			setDatabaseCondition(g, nil, claimIn(corev1.ClaimPending), preflightResult{}, gen)
		}, galleryv1alpha1.ConditionDatabase, metav1.ConditionFalse, galleryv1alpha1.ReasonClaimPending, "is Pending"},
		{"managed database not created", unsavedGallery(), func(g *galleryv1alpha1.Gallery, gen int64) {
			setDatabaseCondition(g, nil, nil, preflightResult{}, gen)
		}, galleryv1alpha1.ConditionDatabase, metav1.ConditionFalse, galleryv1alpha1.ReasonNotCreated, "the StatefulSet does not exist yet"},
		{"volume storage bound", unsavedGallery(), func(g *galleryv1alpha1.Gallery, gen int64) {
			setStorageCondition(g, claimIn(corev1.ClaimBound), preflightResult{}, gen)
		}, galleryv1alpha1.ConditionStorage, metav1.ConditionTrue, galleryv1alpha1.ReasonBound, "is bound"},
		{"S3 bucket answers, versioning off", unsavedGallery(external), func(g *galleryv1alpha1.Gallery, gen int64) {
			setStorageCondition(g, nil, preflightResult{checked: true, versioning: "Suspended"}, gen)
		}, galleryv1alpha1.ConditionStorage, metav1.ConditionTrue, galleryv1alpha1.ReasonReachable, "S3 bucket photos answers; versioning is off (Suspended)"},
		{"no ingress asked for", unsavedGallery(), func(g *galleryv1alpha1.Gallery, gen int64) {
			setIngressCondition(g, nil, gen)
		}, galleryv1alpha1.ConditionIngress, metav1.ConditionTrue, galleryv1alpha1.ReasonNotUsed, "no ingress requested"},
		{"ingress not created", unsavedGallery(withIngress), func(g *galleryv1alpha1.Gallery, gen int64) {
			setIngressCondition(g, nil, gen)
		}, galleryv1alpha1.ConditionIngress, metav1.ConditionFalse, galleryv1alpha1.ReasonNotCreated, "the Ingress does not exist yet"},
		{"ingress without address", unsavedGallery(withIngress), func(g *galleryv1alpha1.Gallery, gen int64) {
			setIngressCondition(g, &networkingv1.Ingress{}, gen)
		}, galleryv1alpha1.ConditionIngress, metav1.ConditionFalse, galleryv1alpha1.ReasonWaitingForAddress, "waiting for the ingress controller"},
		{"ingress with an IP", unsavedGallery(withIngress), func(g *galleryv1alpha1.Gallery, gen int64) {
			setIngressCondition(g, ingressAt("", "203.0.113.7"), gen)
		}, galleryv1alpha1.ConditionIngress, metav1.ConditionTrue, galleryv1alpha1.ReasonAddressAssigned, "address 203.0.113.7"},
		{"ingress with a hostname", unsavedGallery(withIngress), func(g *galleryv1alpha1.Gallery, gen int64) {
			setIngressCondition(g, ingressAt("lb.example.com", "203.0.113.7"), gen)
		}, galleryv1alpha1.ConditionIngress, metav1.ConditionTrue, galleryv1alpha1.ReasonAddressAssigned, "address lb.example.com"},
		{"no OOM kill", unsavedGallery(), func(g *galleryv1alpha1.Gallery, gen int64) {
			setMemoryCondition(g, nil, gen)
		}, galleryv1alpha1.ConditionMemoryPressure, metav1.ConditionFalse, galleryv1alpha1.ReasonWithinMemoryLimits, "in the last 10 minutes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.set(tt.g, tt.g.Generation)
			wantCondition(t, tt.g, tt.typ, tt.status, tt.reason, tt.msgPart)
		})
	}
}

func withIngress(g *galleryv1alpha1.Gallery) {
	g.Spec.Ingress = &galleryv1alpha1.IngressSpec{Hosts: []string{"photos.example.com"}}
}

func ingressAt(hostname, ip string) *networkingv1.Ingress {
	in := &networkingv1.Ingress{}
	in.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{Hostname: hostname, IP: ip}}
	return in
}

// allComponentsTrue marks every component Ready requires True.
func allComponentsTrue(g *galleryv1alpha1.Gallery) {
	for _, typ := range readyComponents {
		set(g, typ, true, galleryv1alpha1.ReasonAvailable, "", g.Generation)
	}
}

func TestSetReadyCondition(t *testing.T) {
	failedRestore := func(g *galleryv1alpha1.Gallery) {
		withRestoreFrom("b1")(g)
		g.Status.Restore = &galleryv1alpha1.RestoreStatus{Phase: galleryv1alpha1.RestoreFailed, Message: "Job photos-restore failed: no such backup"}
	}
	serverDown := func(g *galleryv1alpha1.Gallery) {
		allComponentsTrue(g)
		set(g, galleryv1alpha1.ConditionServer, false, galleryv1alpha1.ReasonProgressing, "", g.Generation)
	}
	tests := []struct {
		name    string
		g       *galleryv1alpha1.Gallery
		st      reconcileState
		passed  bool
		status  metav1.ConditionStatus
		reason  string
		msgPart string
	}{
		{"suspended wins over everything", unsavedGallery(withSuspend), reconcileState{blocked: "Secret x is missing"}, false,
			metav1.ConditionFalse, galleryv1alpha1.ReasonSuspended, "spec.suspend"},
		{"a missing reference", unsavedGallery(allComponentsTrue), reconcileState{blocked: `Secret "db" does not exist`}, true,
			metav1.ConditionFalse, galleryv1alpha1.ReasonMissingReference, `Secret "db" does not exist`},
		{"a failed pass", unsavedGallery(allComponentsTrue), reconcileState{failure: &phaseFailure{"server", errors.New(`apply Deployment photos-server: deployments.apps "photos-server" is forbidden: exceeded quota: q`)}}, false,
			metav1.ConditionFalse, galleryv1alpha1.ReasonReconcileFailed, `reconciling the server failed: apply Deployment photos-server: deployments.apps "photos-server" is forbidden: exceeded quota: q`},
		{"an invalid spec", unsavedGallery(allComponentsTrue), reconcileState{invalidSpec: []string{"spec.backup.schedule: bad", "spec.autoscaling.schedules: worse"}}, true,
			metav1.ConditionFalse, galleryv1alpha1.ReasonInvalidSpec, "spec.backup.schedule: bad; spec.autoscaling.schedules: worse"},
		{"restoring", unsavedGallery(allComponentsTrue, withRestoreFrom("b1")), reconcileState{}, true,
			metav1.ConditionFalse, galleryv1alpha1.ReasonRestoreRunning, "see the Restored condition"},
		{"the restore failed", unsavedGallery(allComponentsTrue, failedRestore), reconcileState{}, true,
			metav1.ConditionFalse, galleryv1alpha1.ReasonRestoreFailed, "no such backup"},
		{"a component not ready", unsavedGallery(serverDown), reconcileState{}, true,
			metav1.ConditionFalse, galleryv1alpha1.ReasonComponentsNotReady, "not ready: [ServerReady]"},
		{"nothing is missing", unsavedGallery(allComponentsTrue), reconcileState{}, true,
			metav1.ConditionTrue, galleryv1alpha1.ReasonAllComponentsReady, "every component is ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			setReadyCondition(tt.g, &tt.st, tt.passed, tt.g.Generation)
			wantCondition(t, tt.g, galleryv1alpha1.ConditionReady, tt.status, tt.reason, tt.msgPart)
		})
	}
}

func TestPhaseOf(t *testing.T) {
	ready := func(g *galleryv1alpha1.Gallery) {
		set(g, galleryv1alpha1.ConditionReady, true, galleryv1alpha1.ReasonAllComponentsReady, "", g.Generation)
	}
	degraded := func(g *galleryv1alpha1.Gallery) {
		set(g, galleryv1alpha1.ConditionWorkers, false, galleryv1alpha1.ReasonProgressDeadlineExceeded, "", g.Generation)
	}
	failedRestore := func(g *galleryv1alpha1.Gallery) {
		withRestoreFrom("b1")(g)
		g.Status.Restore = &galleryv1alpha1.RestoreStatus{Phase: galleryv1alpha1.RestoreFailed}
	}
	tests := []struct {
		name   string
		g      *galleryv1alpha1.Gallery
		st     reconcileState
		passed bool
		want   galleryv1alpha1.GalleryPhase
	}{
		{"suspended", unsavedGallery(withSuspend, ready), reconcileState{}, true, galleryv1alpha1.PhaseSuspended},
		{"blocked", unsavedGallery(ready), reconcileState{blocked: "missing"}, true, galleryv1alpha1.PhaseFailed},
		{"failed pass", unsavedGallery(ready), reconcileState{}, false, galleryv1alpha1.PhaseFailed},
		{"failed restore", unsavedGallery(failedRestore), reconcileState{}, true, galleryv1alpha1.PhaseFailed},
		{"ready", unsavedGallery(ready), reconcileState{}, true, galleryv1alpha1.PhaseReady},
		{"past a progress deadline", unsavedGallery(degraded), reconcileState{}, true, galleryv1alpha1.PhaseDegraded},
		{"on its way", unsavedGallery(), reconcileState{}, true, galleryv1alpha1.PhaseProgressing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := phaseOf(tt.g, &tt.st, tt.passed); got != tt.want {
				t.Errorf("phaseOf = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestComputeStatus(t *testing.T) {
	everythingUp := &observed{
		server: deploymentOf(2, 2, 2, true), workers: deploymentOf(1, 1, 1, true),
		redis: readySet(), database: readySet(), photos: claimIn(corev1.ClaimBound),
	}
	backlog := ptr.To[int64](40)
	tests := []struct {
		name           string
		g              *galleryv1alpha1.Gallery
		st             reconcileState
		passed         bool
		phase          galleryv1alpha1.GalleryPhase
		observedGen    int64
		queueBacklog   *int64
		server         string
		conditionCount int
	}{
		{"converged", unsavedGallery(), reconcileState{observed: everythingUp, backlog: backlog}, true,
			galleryv1alpha1.PhaseReady, 3, backlog, "2/2", 9},
		{"nothing observed yet", unsavedGallery(), reconcileState{}, true,
			galleryv1alpha1.PhaseProgressing, 3, nil, "", 9},
		{"a failed pass keeps observedGeneration", unsavedGallery(), reconcileState{observed: everythingUp}, false,
			galleryv1alpha1.PhaseFailed, 0, nil, "2/2", 9},
		{"blocked keeps observedGeneration", unsavedGallery(), reconcileState{observed: everythingUp, blocked: "missing"}, true,
			galleryv1alpha1.PhaseFailed, 0, nil, "2/2", 9},
		{"suspended keeps observedGeneration", unsavedGallery(withSuspend), reconcileState{observed: everythingUp}, true,
			galleryv1alpha1.PhaseSuspended, 0, nil, "2/2", 9},
		{"unread pods leave MemoryPressure out", unsavedGallery(), reconcileState{observed: &observed{podsUnread: true}}, true,
			galleryv1alpha1.PhaseProgressing, 3, nil, "", 8},
		{"a backup adds BackupReady", unsavedGallery(withBackupToVolume("backups")), reconcileState{observed: everythingUp, now: t0}, true,
			galleryv1alpha1.PhaseReady, 3, nil, "2/2", 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.st.gallery = tt.g
			computeStatus(tt.g, &tt.st, tt.passed)
			s := tt.g.Status
			if s.Phase != tt.phase || s.ObservedGeneration != tt.observedGen {
				t.Errorf("phase %s, observedGeneration %d; want %s, %d", s.Phase, s.ObservedGeneration, tt.phase, tt.observedGen)
			}
			if !ptr.Equal(s.QueueBacklog, tt.queueBacklog) {
				t.Errorf("queueBacklog %v, want %v", ptr.Deref(s.QueueBacklog, -1), ptr.Deref(tt.queueBacklog, -1))
			}
			if got := ""; s.Server != nil {
				got = s.Server.Ready
				if got != tt.server {
					t.Errorf("server %q, want %q", got, tt.server)
				}
			} else if tt.server != "" {
				t.Errorf("no server status, want %q", tt.server)
			}
			if len(s.Conditions) != tt.conditionCount {
				t.Errorf("%d conditions, want %d: %+v", len(s.Conditions), tt.conditionCount, s.Conditions)
			}
			// Pure: the same inputs give the same status, which then counts as unchanged.
			again := tt.g.Status.DeepCopy()
			computeStatus(tt.g, &tt.st, tt.passed)
			if statusChanged(again, &tt.g.Status) {
				t.Error("a second computeStatus changed the status")
			}
		})
	}
}

// A backlog that could not be read keeps the last reading; not scaling on the backlog
// clears it.
func TestComputeStatusQueueBacklog(t *testing.T) {
	tests := []struct {
		name string
		st   reconcileState
		want *int64
	}{
		{"read", reconcileState{backlog: ptr.To[int64](7)}, ptr.To[int64](7)},
		{"unreadable keeps the last", reconcileState{backlogErr: errors.New("redis down")}, ptr.To[int64](12)},
		{"not scaling on it", reconcileState{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := unsavedGallery()
			g.Status.QueueBacklog = ptr.To[int64](12)
			tt.st.gallery = g
			computeStatus(g, &tt.st, true)
			if !ptr.Equal(g.Status.QueueBacklog, tt.want) {
				t.Errorf("queueBacklog %v, want %v", ptr.Deref(g.Status.QueueBacklog, -1), ptr.Deref(tt.want, -1))
			}
		})
	}
}

func TestStatusChanged(t *testing.T) {
	base := unsavedGallery()
	computeStatus(base, &reconcileState{gallery: base}, true)
	tests := []struct {
		name   string
		change func(s *galleryv1alpha1.GalleryStatus)
		want   bool
	}{
		{"nothing", func(*galleryv1alpha1.GalleryStatus) {}, false},
		{"a condition's transition time only (round-tripped)", func(s *galleryv1alpha1.GalleryStatus) {
			// What the API server returns: the same instant, another location.
			s.Conditions[0].LastTransitionTime = metav1.NewTime(s.Conditions[0].LastTransitionTime.In(time.FixedZone("x", 3600)))
		}, false},
		{"a condition's message", func(s *galleryv1alpha1.GalleryStatus) { s.Conditions[0].Message += "!" }, true},
		{"the phase", func(s *galleryv1alpha1.GalleryStatus) { s.Phase = galleryv1alpha1.PhaseFailed }, true},
		{"the queue backlog", func(s *galleryv1alpha1.GalleryStatus) { s.QueueBacklog = ptr.To[int64](1) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after := base.Status.DeepCopy()
			tt.change(after)
			if got := statusChanged(&base.Status, after); got != tt.want {
				t.Errorf("statusChanged = %v, want %v", got, tt.want)
			}
		})
	}
}

// The status patch sends what changed against the Gallery as read, and its
// resourceVersion, so a pass that started from a stale Gallery conflicts instead of
// writing over a newer status.
func TestStatusPatch(t *testing.T) {
	read := unsavedGallery()
	read.Status.Phase = galleryv1alpha1.PhaseProgressing
	read.Status.URL = "http://photos-server.pure.svc"
	read.Status.QueueBacklog = ptr.To[int64](5)
	g := read.DeepCopy()
	g.Status.Phase = galleryv1alpha1.PhaseReady
	g.Status.QueueBacklog = nil

	p := statusPatch(read)
	data, err := p.Data(g)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"metadata": map[string]any{"resourceVersion": "41"},
		"status":   map[string]any{"phase": "Ready", "queueBacklog": nil},
	}
	if gotJSON, wantJSON := mustJSON(t, got), mustJSON(t, want); gotJSON != wantJSON {
		t.Errorf("patch %s, want %s", gotJSON, wantJSON)
	}
	if p.Type() != "application/merge-patch+json" {
		t.Errorf("patch type %s, want a JSON merge patch", p.Type())
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestReplicaStatus(t *testing.T) {
	unset := deploymentOf(3, 3, 2, true)
	unset.Spec.Replicas = nil
	tests := []struct {
		name string
		d    *appsv1.Deployment
		want *galleryv1alpha1.ReplicaStatus
	}{
		{"missing", nil, nil},
		{"wanted from the spec", deploymentOf(3, 3, 2, true), &galleryv1alpha1.ReplicaStatus{Replicas: 3, ReadyReplicas: 2, Ready: "2/3"}},
		{"wanted from the status when an HPA owns the count", unset, &galleryv1alpha1.ReplicaStatus{Replicas: 3, ReadyReplicas: 2, Ready: "2/3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := replicaStatus(tt.d)
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Errorf("replicaStatus = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestVersioningNote(t *testing.T) {
	tests := []struct{ status, want string }{
		{"Enabled", "versioning Enabled: deleted or overwritten photos stay recoverable"},
		{"Suspended", "versioning is off (Suspended): a deleted or overwritten photo cannot be recovered"},
		{"", "versioning is off (never enabled)"},
		{"Unknown", "versioning Unknown"},
	}
	for _, tt := range tests {
		if got := versioningNote(tt.status); !strings.HasPrefix(got, tt.want) {
			t.Errorf("versioningNote(%q) = %q, want it to start %q", tt.status, got, tt.want)
		}
	}
}

// TestFailedPhaseConditions: a failed phase's error reaches Ready and the condition of
// the component the phase makes, whatever that component's children say, shortened at a
// character boundary; a phase that makes no one component touches only Ready.
func TestFailedPhaseConditions(t *testing.T) {
	long := strings.Repeat("é", maxFailureMessage) // two bytes each
	for _, tt := range []struct {
		name      string
		failure   *phaseFailure
		condition string // that carries the error besides Ready; "" for none
		message   string
	}{
		{"server", &phaseFailure{"server", errors.New("exceeded quota")}, galleryv1alpha1.ConditionServer, "reconciling the server failed: exceeded quota"},
		{"database", &phaseFailure{"database", errors.New("x")}, galleryv1alpha1.ConditionDatabase, "reconciling the database failed: x"},
		{"network policies", &phaseFailure{"network policies", errors.New("y")}, "", "reconciling the network policies failed: y"},
		{"a long message", &phaseFailure{"workers", errors.New(long)}, galleryv1alpha1.ConditionWorkers,
			"reconciling the workers failed: " + long[:maxFailureMessage] + "…"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := unsavedGallery()
			everythingUp := &observed{
				server:   &appsv1.Deployment{Status: appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}},
				workers:  &appsv1.Deployment{Status: appsv1.DeploymentStatus{Replicas: 2, ReadyReplicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}},
				redis:    &appsv1.StatefulSet{Status: appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 1}},
				database: &appsv1.StatefulSet{Status: appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 1}},
			}
			computeStatus(g, &reconcileState{gallery: g, observed: everythingUp, failure: tt.failure}, false)
			ready := meta.FindStatusCondition(g.Status.Conditions, galleryv1alpha1.ConditionReady)
			if ready == nil || ready.Reason != galleryv1alpha1.ReasonReconcileFailed || ready.Message != tt.message {
				t.Errorf("Ready = %+v, want ReconcileFailed %q", ready, tt.message)
			}
			if !utf8.ValidString(ready.Message) {
				t.Errorf("Ready's message is not UTF-8: %q", ready.Message)
			}
			for _, typ := range readyComponents {
				c := meta.FindStatusCondition(g.Status.Conditions, typ)
				failed := c != nil && c.Reason == galleryv1alpha1.ReasonReconcileFailed
				if want := typ == tt.condition; failed != want || (want && (c.Status != metav1.ConditionFalse || c.Message != tt.message)) {
					t.Errorf("%s = %+v; carries the failure: %v, want %v", typ, c, failed, want)
				}
			}
		})
	}
}

// TestKeepHeadAndTail: a cut never splits a character, and "…" marks it.
func TestKeepHeadAndTail(t *testing.T) {
	for _, tt := range []struct {
		s          string
		n          int
		head, tail string
	}{
		{"short", 10, "short", "short"},
		{"abcdef", 3, "abc…", "…def"},
		{"ééé", 3, "é…", "…é"}, // é is two bytes: 3 bytes hold one whole
		{"aé", 2, "a…", "…é"},
	} {
		if got := keepHead(tt.s, tt.n); got != tt.head {
			t.Errorf("keepHead(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.head)
		}
		if got := keepTail(tt.s, tt.n); got != tt.tail {
			t.Errorf("keepTail(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.tail)
		}
	}
}
