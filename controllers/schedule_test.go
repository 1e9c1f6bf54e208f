package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

func requestFor(g *galleryv1alpha1.Gallery) ctrl.Request {
	return ctrl.Request{NamespacedName: client.ObjectKeyFromObject(g)}
}

func TestWindowAt(t *testing.T) {
	rush := galleryv1alpha1.ScheduleSpec{Name: "rush", Start: "0 8 * * 1-5", Duration: metav1.Duration{Duration: 2 * time.Hour}, TimeZone: "Europe/London"}
	london, _ := time.LoadLocation("Europe/London")
	at := func(day, hour, minute int) time.Time { return time.Date(2026, 11, day, hour, minute, 0, 0, london) }
	cases := []struct {
		name     string
		s        galleryv1alpha1.ScheduleSpec
		now      time.Time
		open     bool
		boundary time.Time
	}{
		{"before the window", rush, at(23, 7, 30), false, at(23, 8, 0)},
		{"at the opening minute", rush, at(23, 8, 0), true, at(23, 10, 0)},
		{"inside", rush, at(23, 9, 59), true, at(23, 10, 0)},
		{"at the close", rush, at(23, 10, 0), false, at(24, 8, 0)},
		{"friday evening waits for monday", rush, at(27, 18, 0), false, at(30, 8, 0)},
		{"the zone is the schedule's, not the clock's", rush, time.Date(2026, 11, 23, 8, 30, 0, 0, time.UTC), true, at(23, 10, 0)},
		{"a window longer than the period stays open", galleryv1alpha1.ScheduleSpec{Name: "sale", Start: "@daily", Duration: metav1.Duration{Duration: 36 * time.Hour}, TimeZone: "UTC"},
			time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC), true, time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := windowAt(tc.s, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			if w.open != tc.open || !w.boundary.Equal(tc.boundary) {
				t.Fatalf("windowAt(%v) = open %v until %v, want open %v until %v", tc.now, w.open, w.boundary, tc.open, tc.boundary)
			}
		})
	}
	if _, err := windowAt(galleryv1alpha1.ScheduleSpec{Name: "x", Start: "61 * * * *", TimeZone: "UTC"}, time.Now()); err == nil {
		t.Error("minute 61 was accepted")
	}
	if _, err := windowAt(galleryv1alpha1.ScheduleSpec{Name: "x", Start: "0 8 * * *", TimeZone: "Mars/Olympus"}, time.Now()); err == nil {
		t.Error("an unknown time zone was accepted")
	}
}

func TestScheduleRaisesTheServerMinimumAndRequeuesAtTheBoundary(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, ownReconciled, func(g *galleryv1alpha1.Gallery) {
		g.Spec.Autoscaling = &galleryv1alpha1.AutoscalingSpec{
			Server: &galleryv1alpha1.ScalingPolicy{MinReplicas: 2, MaxReplicas: 10},
			Schedules: []galleryv1alpha1.ScheduleSpec{{
				Name: "semester-start", Start: "0 8 * * *", Duration: metav1.Duration{Duration: 2 * time.Hour},
				TimeZone: "UTC", ServerMinReplicas: ptr.To[int32](6),
			}},
		}
	})
	clock := clocktesting.NewFakePassiveClock(time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	r := &GalleryReconciler{Client: k8s, Scheme: testScheme, HPAToleranceUnsupported: hpaToleranceUnsupported, Recorder: &countingRecorder{}, Clock: clock}
	minOf := func() int32 {
		h := &autoscalingv2.HorizontalPodAutoscaler{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: g.ServerName()}, h); err != nil {
			t.Fatal(err)
		}
		return ptr.Deref(h.Spec.MinReplicas, 0)
	}

	res, err := r.Reconcile(context.Background(), requestFor(g))
	if err != nil {
		t.Fatal(err)
	}
	if got := minOf(); got != 6 {
		t.Fatalf("inside the window: HPA min %d, want 6", got)
	}
	if want := time.Hour + time.Second; res.RequeueAfter != want {
		t.Errorf("RequeueAfter = %v, want %v (the window closes at 10:00)", res.RequeueAfter, want)
	}

	clock.SetTime(time.Date(2026, 11, 23, 10, 0, 1, 0, time.UTC))
	res, err = r.Reconcile(context.Background(), requestFor(g))
	if err != nil {
		t.Fatal(err)
	}
	if got := minOf(); got != 2 {
		t.Fatalf("after the window: HPA min %d, want 2", got)
	}
	if res.RequeueAfter < 21*time.Hour || res.RequeueAfter > 22*time.Hour {
		t.Errorf("RequeueAfter = %v, want about 22h (the next 08:00)", res.RequeueAfter)
	}
}

func TestScheduleInAnUnknownTimeZoneIsReported(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, func(g *galleryv1alpha1.Gallery) {
		g.Spec.Autoscaling = &galleryv1alpha1.AutoscalingSpec{
			Server: &galleryv1alpha1.ScalingPolicy{MinReplicas: 2, MaxReplicas: 10},
			Schedules: []galleryv1alpha1.ScheduleSpec{{
				Name: "rush", Start: "0 8 * * *", Duration: metav1.Duration{Duration: time.Hour},
				TimeZone: "Mars/Olympus", ServerMinReplicas: ptr.To[int32](6),
			}},
		}
	})
	eventually(t, "InvalidSpec naming the time zone", func() error {
		c := condition(t, g, galleryv1alpha1.ConditionReady)
		if c == nil || c.Reason != galleryv1alpha1.ReasonInvalidSpec || !strings.Contains(c.Message, "Mars/Olympus") {
			return fmt.Errorf("Ready = %+v", c)
		}
		return nil
	})
	// The rest of the Gallery is still applied.
	eventually(t, "server HPA applied anyway", mustExist(ns, g.ServerName(), &autoscalingv2.HorizontalPodAutoscaler{}))
}
