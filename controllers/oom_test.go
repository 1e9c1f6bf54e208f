package controllers

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
)

// t0 is the fixtures' "now".
var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

type podOption func(*corev1.Pod)

// pod is a pod of the photos Gallery's component with one container "app" limited to
// 1Gi, changed by opts.
func pod(component, name string, opts ...podOption) *corev1.Pod {
	g := &galleryv1alpha1.Gallery{ObjectMeta: metav1.ObjectMeta{Name: "photos"}}
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: g.ChildLabels(component)},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "example.com/app",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}},
		}}},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func terminated(reason string, at time.Time) *corev1.ContainerStateTerminated {
	return &corev1.ContainerStateTerminated{ExitCode: 137, Reason: reason, StartedAt: metav1.NewTime(at.Add(-time.Minute)), FinishedAt: metav1.NewTime(at)}
}

// restartedAfter: container's last termination was reason at at; it runs again.
func restartedAfter(container, reason string, at time.Time, restarts int32) podOption {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: container, RestartCount: restarts,
			State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(at.Add(time.Second))}},
			LastTerminationState: corev1.ContainerState{Terminated: terminated(reason, at)},
		})
	}
}

// downAfter: container is terminated with reason at at, not yet restarted.
func downAfter(container, reason string, at time.Time, restarts int32) podOption {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: container, RestartCount: restarts, State: corev1.ContainerState{Terminated: terminated(reason, at)},
		})
	}
}

func initContainerOOMKilled(name, limit string, at time.Time) podOption {
	return func(p *corev1.Pod) {
		p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{
			Name: name, Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(limit)}},
		})
		p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{
			Name: name, RestartCount: 1, LastTerminationState: corev1.ContainerState{Terminated: terminated(reasonOOMKilled, at)},
		})
	}
}

func noMemoryLimit(p *corev1.Pod) { p.Spec.Containers[0].Resources = corev1.ResourceRequirements{} }

// resizedTo: the kubelet applied another limit in place.
func resizedTo(limit string) podOption {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses[0].Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(limit)}}
	}
}

func TestPodOOMKills(t *testing.T) {
	at := t0.Add(-time.Minute)
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want []oomKill
	}{
		{"never terminated", pod("workers", "w-1"), nil},
		{"restarted after an error", pod("workers", "w-1", restartedAfter("app", "Error", at, 1)), nil},
		{"restarted after an OOM kill", pod("workers", "w-1", restartedAfter("app", reasonOOMKilled, at, 3)),
			[]oomKill{{component: "workers", pod: "w-1", container: "app", at: at, limit: "1Gi", restarts: 3}}},
		{"down after an OOM kill", pod("server", "s-1", downAfter("app", reasonOOMKilled, at, 0)),
			[]oomKill{{component: "server", pod: "s-1", container: "app", at: at, limit: "1Gi", restarts: 0}}},
		{"init container", pod("database", "db-0", initContainerOOMKilled("bootstrap", "512Mi", at)),
			[]oomKill{{component: "database", pod: "db-0", container: "bootstrap", at: at, limit: "512Mi", restarts: 1}}},
		{"no limit", pod("redis", "r-0", noMemoryLimit, restartedAfter("app", reasonOOMKilled, at, 1)),
			[]oomKill{{component: "redis", pod: "r-0", container: "app", at: at, limit: "", restarts: 1}}},
		{"resized in place", pod("workers", "w-1", restartedAfter("app", reasonOOMKilled, at, 1), resizedTo("2Gi")),
			[]oomKill{{component: "workers", pod: "w-1", container: "app", at: at, limit: "2Gi", restarts: 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := podOOMKills(tc.pod)
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("podOOMKills =\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

func TestRecentOOMKillsKeepsTheWindowNewestFirst(t *testing.T) {
	pods := []corev1.Pod{
		*pod("workers", "w-old", restartedAfter("app", reasonOOMKilled, t0.Add(-oomWindow), 1)),           // just out
		*pod("workers", "w-1", restartedAfter("app", reasonOOMKilled, t0.Add(-oomWindow+time.Second), 1)), // just in
		*pod("server", "s-1", restartedAfter("app", reasonOOMKilled, t0.Add(-time.Minute), 2)),            // newest
		*pod("redis", "r-0", restartedAfter("app", reasonOOMKilled, time.Time{}, 1)),                      // undated: kept
		*pod("workers", "w-2", restartedAfter("app", "Error", t0.Add(-time.Minute), 1)),                   // not OOM
	}
	var got []string
	kills := recentOOMKills(pods, t0)
	for _, k := range kills {
		got = append(got, k.pod)
	}
	if want := "s-1 w-1 r-0"; strings.Join(got, " ") != want {
		t.Errorf("recent kills %v, want %s", got, want)
	}
	if d := nextOOMExpiry(kills, t0); d != time.Second {
		t.Errorf("next expiry in %v, want 1s (w-1 leaves the window)", d)
	}
	if d := nextOOMExpiry(nil, t0); d != 0 {
		t.Errorf("next expiry without kills %v, want 0", d)
	}
}

func TestSetMemoryCondition(t *testing.T) {
	at := t0.Add(-time.Minute)
	kill := func(component, pod string, limit string) oomKill {
		return oomKill{component: component, pod: pod, container: "app", at: at, limit: limit, restarts: 2}
	}
	many := make([]oomKill, 7)
	for i := range many {
		many[i] = kill("workers", fmt.Sprintf("w-%d", i), "1Gi")
	}
	for _, tc := range []struct {
		name   string
		kills  []oomKill
		status metav1.ConditionStatus
		reason string
		msg    string
	}{
		{"none", nil, metav1.ConditionFalse, galleryv1alpha1.ReasonWithinMemoryLimits, "no container was OOM-killed in the last 10 minutes"},
		{"workers", []oomKill{kill("workers", "photos-workers-abc", "1Gi")}, metav1.ConditionTrue, galleryv1alpha1.ReasonOOMKilled,
			"1 container was OOM-killed in the last 10 minutes: pod photos-workers-abc container app (workers) at 2026-11-23T08:59:00Z, memory limit 1Gi, restart count 2: raise spec.workers.resources.limits.memory"},
		{"redis without a limit", []oomKill{kill("redis", "photos-redis-0", "")}, metav1.ConditionTrue, galleryv1alpha1.ReasonOOMKilled,
			"1 container was OOM-killed in the last 10 minutes: pod photos-redis-0 container app (redis) at 2026-11-23T08:59:00Z, no memory limit (the node ran out of memory), restart count 2: set spec.cache.managed.memory"},
		{"two components", []oomKill{kill("server", "s", "1Gi"), kill("database", "db-0", "1Gi")}, metav1.ConditionTrue, galleryv1alpha1.ReasonOOMKilled,
			"2 containers were OOM-killed in the last 10 minutes: pod s container app (server) at 2026-11-23T08:59:00Z, memory limit 1Gi, restart count 2: raise spec.server.resources.limits.memory; " +
				"pod db-0 container app (database) at 2026-11-23T08:59:00Z, memory limit 1Gi, restart count 2: raise spec.database.managed.resources.limits.memory"},
		{"more than listed", many, metav1.ConditionTrue, galleryv1alpha1.ReasonOOMKilled, "; and 2 more"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &galleryv1alpha1.Gallery{}
			setMemoryCondition(g, tc.kills, 4)
			c := meta.FindStatusCondition(g.Status.Conditions, galleryv1alpha1.ConditionMemoryPressure)
			if c == nil || c.Status != tc.status || c.Reason != tc.reason || c.ObservedGeneration != 4 {
				t.Fatalf("MemoryPressure = %+v", c)
			}
			if tc.name == "more than listed" {
				if !strings.HasSuffix(c.Message, tc.msg) || strings.Count(c.Message, "restart count") != maxListedOOMKills {
					t.Errorf("message %q: want %d listed and %q", c.Message, maxListedOOMKills, tc.msg)
				}
				return
			}
			if c.Message != tc.msg {
				t.Errorf("message\n%q\nwant\n%q", c.Message, tc.msg)
			}
		})
	}
}

func TestNewOOMKillsAreTheOnesTheMessageDidNotName(t *testing.T) {
	first := oomKill{component: "workers", pod: "w-1", container: "app", at: t0.Add(-2 * time.Minute), limit: "1Gi", restarts: 1}
	previous := oomMessage([]oomKill{first})
	restarted := first
	restarted.restarts = 2 // the same kill, seen again after the restart
	again := first
	again.at = t0 // the same container killed again
	if got := newOOMKills([]oomKill{restarted}, previous); len(got) != 0 {
		t.Errorf("a reported kill seen again after its restart is new: %v", got)
	}
	if got := newOOMKills([]oomKill{again, first}, previous); len(got) != 1 || got[0] != again {
		t.Errorf("new kills %v, want only the second kill", got)
	}
	if got := newOOMKills([]oomKill{first}, ""); len(got) != 1 {
		t.Errorf("nothing reported before: new kills %v, want the one", got)
	}
}

func TestOOMKillsChangedPassesOnlyOOMChanges(t *testing.T) {
	at := t0.Add(-time.Minute)
	healthy := pod("workers", "w-1")
	ready := healthy.DeepCopy()
	ready.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	down := pod("workers", "w-1", downAfter("app", reasonOOMKilled, at, 0))
	back := pod("workers", "w-1", restartedAfter("app", reasonOOMKilled, at, 1))
	backReady := back.DeepCopy()
	backReady.Status.Conditions = ready.Status.Conditions
	update := func(o, n *corev1.Pod) bool {
		return oomKillsChanged.Update(event.UpdateEvent{ObjectOld: o, ObjectNew: n})
	}
	for _, tc := range []struct {
		name string
		got  bool
		want bool
	}{
		{"create a healthy pod", oomKillsChanged.Create(event.CreateEvent{Object: healthy}), false},
		{"create an OOM-killed pod", oomKillsChanged.Create(event.CreateEvent{Object: back}), true},
		{"delete a healthy pod", oomKillsChanged.Delete(event.DeleteEvent{Object: healthy}), false},
		{"delete an OOM-killed pod", oomKillsChanged.Delete(event.DeleteEvent{Object: back}), true},
		{"becomes ready", update(healthy, ready), false},
		{"OOM-killed", update(ready, down), true},
		{"restarted after the kill", update(down, back), true},
		{"ready again after the kill", update(back, backReady), false},
		{"generic", oomKillsChanged.Generic(event.GenericEvent{Object: back}), false},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: passed %v, want %v", tc.name, tc.got, tc.want)
		}
	}
}

// memoryLimitField must name the field that really sets the limit of every container of
// the component's pods: set it by its path and build the pods.
func TestMemoryLimitFieldSetsTheComponentsLimit(t *testing.T) {
	want := resource.MustParse("123Mi")
	templates := map[string]func(*galleryv1alpha1.Gallery) corev1.PodTemplateSpec{
		galleryv1alpha1.ComponentServer: func(g *galleryv1alpha1.Gallery) corev1.PodTemplateSpec {
			return specs.ServerDeployment(g, "").Spec.Template
		},
		galleryv1alpha1.ComponentWorkers: func(g *galleryv1alpha1.Gallery) corev1.PodTemplateSpec {
			return specs.WorkersDeployment(g, "", nil).Spec.Template
		},
		galleryv1alpha1.ComponentRedis: func(g *galleryv1alpha1.Gallery) corev1.PodTemplateSpec {
			return specs.RedisStatefulSet(g, "").Spec.Template
		},
		galleryv1alpha1.ComponentDatabase: func(g *galleryv1alpha1.Gallery) corev1.PodTemplateSpec {
			return specs.MariaDBStatefulSet(g, "").Spec.Template
		},
	}
	for component, template := range templates {
		t.Run(component, func(t *testing.T) {
			base := &galleryv1alpha1.Gallery{ObjectMeta: metav1.ObjectMeta{Name: "photos", Namespace: "ns"}}
			base.Spec.Cache.Managed = &galleryv1alpha1.ManagedRedisSpec{Memory: resource.MustParse("256Mi")}
			base.Spec.Database.Managed = &galleryv1alpha1.ManagedDatabaseSpec{}
			u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(base)
			if err != nil {
				t.Fatal(err)
			}
			path := memoryLimitField(component)
			if err := setNested(u, want.String(), strings.Split(path, ".")...); err != nil {
				t.Fatalf("set %s: %v", path, err)
			}
			g := &galleryv1alpha1.Gallery{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u, g, true); err != nil {
				t.Fatalf("%s is not a field of the Gallery: %v", path, err)
			}
			tmpl := template(g)
			if c := tmpl.Labels[galleryv1alpha1.LabelComponent]; c != component {
				t.Fatalf("pod template component label %q", c)
			}
			for _, c := range append(tmpl.Spec.InitContainers, tmpl.Spec.Containers...) {
				if got := c.Resources.Limits[corev1.ResourceMemory]; got.Cmp(want) != 0 {
					t.Errorf("%s: container %s memory limit %s, want %s", path, c.Name, got.String(), want.String())
				}
			}
		})
	}
}

// setNested sets a string at a dotted path of an unstructured object, making maps on the
// way.
func setNested(obj map[string]any, value string, path ...string) error {
	for _, p := range path[:len(path)-1] {
		next, ok := obj[p].(map[string]any)
		if !ok {
			if obj[p] != nil {
				return fmt.Errorf("%s is not an object", p)
			}
			next = map[string]any{}
			obj[p] = next
		}
		obj = next
	}
	obj[path[len(path)-1]] = value
	return nil
}

func TestCacheSelectsEveryComponentsPodsOnly(t *testing.T) {
	sel := podCacheConfig(CacheOptions(nil)).Label
	g := &galleryv1alpha1.Gallery{ObjectMeta: metav1.ObjectMeta{Name: "photos"}}
	for _, c := range []string{galleryv1alpha1.ComponentServer, galleryv1alpha1.ComponentWorkers, galleryv1alpha1.ComponentRedis, galleryv1alpha1.ComponentDatabase} {
		if !sel.Matches(labels.Set(g.ChildLabels(c))) {
			t.Errorf("the pod cache does not select the %s pods (%s)", c, sel)
		}
	}
	for name, l := range map[string]labels.Set{
		"no labels":              {},
		"another app":            {"app": "web"},
		"the gallery label only": {galleryv1alpha1.LabelGallery: "photos"},
		"managed-by only":        {galleryv1alpha1.LabelManagedBy: galleryv1alpha1.ManagedBy},
	} {
		if sel.Matches(l) {
			t.Errorf("the pod cache selects pods with %s (%s)", name, sel)
		}
	}
}

func podCacheConfig(o cache.Options) cache.ByObject {
	for k, v := range o.ByObject {
		if _, ok := k.(*corev1.Pod); ok {
			return v
		}
	}
	return cache.ByObject{}
}

func withWorkerMemoryLimit(limit string) galleryOption {
	return func(g *galleryv1alpha1.Gallery) {
		g.Spec.Workers.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(limit)}
	}
}

// createPod creates p in ns and writes its status, as the kubelet would.
func createPod(t *testing.T, ns string, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	p = p.DeepCopy()
	p.Namespace = ns
	status := p.Status
	if err := k8s.Create(context.Background(), p); err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
	setPodStatus(t, p, status)
	return p
}

func setPodStatus(t *testing.T, p *corev1.Pod, status corev1.PodStatus) {
	t.Helper()
	eventually(t, "pod status of "+p.Name, func() error {
		live := &corev1.Pod{}
		if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(p), live); err != nil {
			return err
		}
		live.Status = status
		return k8s.Status().Update(context.Background(), live)
	})
}

// workerPod is a pod as the workers' ReplicaSet would make it from the Deployment the
// operator applied.
func workerPod(t *testing.T, g *galleryv1alpha1.Gallery, name string, opts ...podOption) *corev1.Pod {
	t.Helper()
	d := &appsv1.Deployment{}
	eventually(t, "workers deployment", mustExist(g.Namespace, g.WorkersName(), d))
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: d.Spec.Template.Labels}, Spec: *d.Spec.Template.Spec.DeepCopy()}
	if c := p.Spec.Containers[0].Name; c != galleryv1alpha1.ComponentWorkers {
		t.Fatalf("the workers' container is %q; the tests' pod statuses name it %q", c, galleryv1alpha1.ComponentWorkers)
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func oomEvents(t *testing.T, ns string) []eventsv1.Event {
	t.Helper()
	var list eventsv1.EventList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var oom []eventsv1.Event
	for _, e := range list.Items {
		if e.Reason == galleryv1alpha1.ReasonOOMKilled {
			oom = append(oom, e)
		}
	}
	return oom
}

func TestOOMKilledWorkerShowsInStatusAndClearsWhenReplaced(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, withWorkerMemoryLimit("1Gi"))
	eventually(t, "MemoryPressure False", func() error {
		if c := condition(t, g, galleryv1alpha1.ConditionMemoryPressure); c == nil || c.Status != metav1.ConditionFalse || c.Reason != galleryv1alpha1.ReasonWithinMemoryLimits {
			return fmt.Errorf("MemoryPressure = %+v", c)
		}
		return nil
	})

	killedAt := time.Now().Add(-time.Minute).Truncate(time.Second).UTC()
	w := createPod(t, ns, workerPod(t, g, g.WorkersName()+"-7d9f-x2x7q", restartedAfter("workers", reasonOOMKilled, killedAt, 3)))
	var msg string
	eventually(t, "MemoryPressure True with reason OOMKilled", func() error {
		c := condition(t, g, galleryv1alpha1.ConditionMemoryPressure)
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != galleryv1alpha1.ReasonOOMKilled {
			return fmt.Errorf("MemoryPressure = %+v", c)
		}
		msg = c.Message
		return nil
	})
	for _, want := range []string{"pod " + w.Name, "container workers", "(workers)", killedAt.Format(time.RFC3339), "memory limit 1Gi", "restart count 3", "spec.workers.resources.limits.memory"} {
		if !strings.Contains(msg, want) {
			t.Errorf("MemoryPressure message %q lacks %q", msg, want)
		}
	}
	if c := condition(t, g, galleryv1alpha1.ConditionReady); c != nil && c.Reason != galleryv1alpha1.ReasonComponentsNotReady {
		t.Errorf("Ready = %+v: MemoryPressure must not change it", c)
	}
	eventually(t, "one OOMKilled warning event", func() error {
		evs := oomEvents(t, ns)
		if len(evs) != 1 || evs[0].Type != corev1.EventTypeWarning || !strings.Contains(evs[0].Note, w.Name) {
			return fmt.Errorf("OOMKilled events: %+v", evs)
		}
		return nil
	})

	// Pods the cache does not hold change nothing: one without labels, and one that only
	// claims the Gallery's name.
	createPod(t, ns, pod("workers", "unlabelled", func(p *corev1.Pod) { p.Labels = nil }, restartedAfter("app", reasonOOMKilled, killedAt, 1)))
	createPod(t, ns, pod("workers", "impostor", func(p *corev1.Pod) { p.Labels = map[string]string{galleryv1alpha1.LabelGallery: g.Name} },
		restartedAfter("app", reasonOOMKilled, killedAt, 1)))
	time.Sleep(2 * time.Second)
	if c := condition(t, g, galleryv1alpha1.ConditionMemoryPressure); c == nil || c.Message != msg {
		t.Errorf("a pod outside the Gallery changed MemoryPressure: %+v", c)
	}

	// Nothing changed: reconciling again writes nothing and sends no event.
	recorder := &countingRecorder{}
	counted := &GalleryReconciler{Client: countingClient(t), Scheme: testScheme, HPAToleranceUnsupported: hpaToleranceUnsupported, Recorder: recorder}
	reconcileTimes(t, counted, g, 10)
	if n, byPath := counted.Client.(*countedClient).counter.snapshot(); n != 0 {
		t.Errorf("10 reconciles with an unchanged OOM kill made %d writes: %v", n, byPath)
	}
	if n := recorder.n.Load(); n != 0 {
		t.Errorf("10 reconciles with an unchanged OOM kill recorded %d events", n)
	}
	if evs := oomEvents(t, ns); len(evs) != 1 || evs[0].Series != nil {
		t.Errorf("the kill was reported more than once: %+v", evs)
	}

	// The ReplicaSet replaced the pod: the kill went with it.
	if err := k8s.Delete(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	eventually(t, "MemoryPressure False after the pod went", func() error {
		if c := condition(t, g, galleryv1alpha1.ConditionMemoryPressure); c == nil || c.Status != metav1.ConditionFalse {
			return fmt.Errorf("MemoryPressure = %+v", c)
		}
		return nil
	})
}

// The window, on a clock the test moves: each new kill is one event, and the condition
// clears 10 minutes after the last kill, when the requeue brings the reconciler back.
func TestOOMKillIsReportedOnceAndClearsAfterTheWindow(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, ownReconciled, withWorkerMemoryLimit("1Gi"))
	clock := clocktesting.NewFakePassiveClock(time.Now().Truncate(time.Second))
	recorder := events.NewFakeRecorder(100)
	r := &GalleryReconciler{Client: k8s, Scheme: testScheme, HPAToleranceUnsupported: hpaToleranceUnsupported, Recorder: recorder, Clock: clock}
	reconcileTimes(t, r, g, 1)
	drain(recorder) // the Created events

	killedAt := clock.Now().Add(-time.Minute)
	w := createPod(t, ns, workerPod(t, g, g.WorkersName()+"-1", downAfter("workers", reasonOOMKilled, killedAt, 0)))
	res, err := r.Reconcile(context.Background(), requestFor(g))
	if err != nil {
		t.Fatal(err)
	}
	if c := condition(t, g, galleryv1alpha1.ConditionMemoryPressure); c == nil || c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "restart count 0") {
		t.Fatalf("MemoryPressure = %+v", c)
	}
	if want := oomWindow - time.Minute + time.Second; res.RequeueAfter != want {
		t.Errorf("requeue after %v, want %v (when the kill leaves the window)", res.RequeueAfter, want)
	}
	if got := drain(recorder); len(got) != 1 || !strings.HasPrefix(got[0], "Warning OOMKilled pod "+w.Name+" container workers") {
		t.Errorf("events %q, want one OOMKilled warning", got)
	}

	// The kubelet restarted it: the message counts the restart, no second event.
	setPodStatus(t, w, pod("workers", w.Name, restartedAfter("workers", reasonOOMKilled, killedAt, 1)).Status)
	reconcileTimes(t, r, g, 2)
	if c := condition(t, g, galleryv1alpha1.ConditionMemoryPressure); c == nil || !strings.Contains(c.Message, "restart count 1") {
		t.Errorf("MemoryPressure = %+v", c)
	}
	if got := drain(recorder); len(got) != 0 {
		t.Errorf("the restart of a reported kill sent events %q", got)
	}

	// Killed again five minutes later: a new event, and the window runs from then.
	clock.SetTime(clock.Now().Add(5 * time.Minute))
	again := clock.Now().Add(-time.Second)
	setPodStatus(t, w, pod("workers", w.Name, restartedAfter("workers", reasonOOMKilled, again, 2)).Status)
	reconcileTimes(t, r, g, 2)
	if got := drain(recorder); len(got) != 1 || !strings.Contains(got[0], again.UTC().Format(time.RFC3339)) {
		t.Errorf("events %q, want one for the second kill", got)
	}

	clock.SetTime(again.Add(oomWindow - time.Second))
	reconcileTimes(t, r, g, 1)
	if c := condition(t, g, galleryv1alpha1.ConditionMemoryPressure); c == nil || c.Status != metav1.ConditionTrue {
		t.Fatalf("MemoryPressure cleared before the window ended: %+v", c)
	}
	clock.SetTime(again.Add(oomWindow))
	reconcileTimes(t, r, g, 1)
	c := condition(t, g, galleryv1alpha1.ConditionMemoryPressure)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != galleryv1alpha1.ReasonWithinMemoryLimits {
		t.Fatalf("MemoryPressure 10 minutes after the last kill = %+v", c)
	}
	if got := drain(recorder); len(got) != 0 {
		t.Errorf("clearing sent events %q", got)
	}
}

func drain(r *events.FakeRecorder) []string {
	var got []string
	for {
		select {
		case e := <-r.Events:
			got = append(got, e)
		default:
			return got
		}
	}
}

// The operator's cache holds the Galleries' pods and no others (a cluster's pods would
// cost memory and a list of every pod at start-up).
func TestPodCacheHoldsOnlyGalleryPods(t *testing.T) {
	ns := newNamespace(t)
	g := &galleryv1alpha1.Gallery{ObjectMeta: metav1.ObjectMeta{Name: "photos", Namespace: ns}}
	createPod(t, ns, pod(galleryv1alpha1.ComponentWorkers, "gallery-pod"))
	createPod(t, ns, pod("", "other", func(p *corev1.Pod) { p.Labels = map[string]string{"app": "web"} }))

	opts := CacheOptions([]string{ns})
	opts.Scheme = testScheme
	c, err := cache.New(env.Config, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		t.Fatal("cache did not start")
	}
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.InNamespace(ns)); err != nil { // starts the pod informer and waits for it
		t.Fatal(err)
	}
	if len(pods.Items) != 1 || pods.Items[0].Name != "gallery-pod" {
		var names []string
		for _, p := range pods.Items {
			names = append(names, p.Name)
		}
		t.Fatalf("cached pods %v, want only gallery-pod of %s", names, g.Name)
	}
	if len(pods.Items[0].ManagedFields) != 0 {
		t.Errorf("cached pod keeps its managedFields")
	}
	var mine corev1.PodList
	if err := c.List(ctx, &mine, client.InNamespace(ns), client.MatchingLabels(galleryPodLabels(g))); err != nil || len(mine.Items) != 1 {
		t.Errorf("the reconciler's list finds %d pods (err %v), want 1", len(mine.Items), err)
	}
	// The cache holds cachedPods and hands out the corev1.Pods they stand for.
	var one corev1.Pod
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gallery-pod"}, &one); err != nil || one.Labels[galleryv1alpha1.LabelGallery] == "" {
		t.Errorf("get the cached pod: %v, labels %v", err, one.Labels)
	}
}

// docs/operator.md tells the admin which field to raise and what the condition says.
func TestOperatorDocsDescribeOOMKills(t *testing.T) {
	doc, err := os.ReadFile("../docs/operator.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"`" + galleryv1alpha1.ConditionMemoryPressure + "`", "`" + galleryv1alpha1.ReasonOOMKilled + "`", "`" + galleryv1alpha1.ReasonWithinMemoryLimits + "`",
		windowText(), "`" + memoryLimitField(galleryv1alpha1.ComponentServer) + "`", "`" + memoryLimitField(galleryv1alpha1.ComponentWorkers) + "`",
		"`" + memoryLimitField(galleryv1alpha1.ComponentRedis) + "`", "`" + memoryLimitField(galleryv1alpha1.ComponentDatabase) + "`",
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("docs/operator.md does not mention %s", want)
		}
	}
}
