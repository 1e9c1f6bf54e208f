package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// serverImages are the images of the server's and the workers' templates.
func serverImages(t *testing.T, g *galleryv1alpha1.Gallery) (server, workers string) {
	t.Helper()
	s, err := get(t, g.Namespace, g.ServerName(), &appsv1.Deployment{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := get(t, g.Namespace, g.WorkersName(), &appsv1.Deployment{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Spec.Template.Spec.Containers[0].Image, w.Spec.Template.Spec.Containers[0].Image
}

func upgradeIs(t *testing.T, g *galleryv1alpha1.Gallery, phase galleryv1alpha1.UpgradePhase, reason string) func() error {
	return func() error {
		live := mustGet(t, g)
		u := live.Status.Upgrade
		if u == nil || u.Phase != phase {
			return fmt.Errorf("status.upgrade = %+v, want phase %s", u, phase)
		}
		if c := condition(t, live, galleryv1alpha1.ConditionUpgraded); c == nil || c.Reason != reason {
			return fmt.Errorf("Upgraded = %+v, want reason %s", c, reason)
		}
		return nil
	}
}

// An unpinned Gallery runs the operator's default image and says so; a new image runs
// its migration Job first, and nothing rolls until it succeeds. A failed migration holds
// the old pods and says why; deleting the Job retries it; success rolls both
// Deployments, then status settles on the new version and the Job goes.
func TestUpgradeMigratesBeforeTheRoll(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns)
	old := galleryv1alpha1.DefaultGalleryImage
	eventually(t, "server and workers on the default image", func() error {
		s, err := get(t, ns, g.ServerName(), &appsv1.Deployment{})
		if err != nil {
			return err
		}
		if _, err := get(t, ns, g.WorkersName(), &appsv1.Deployment{}); err != nil {
			return err
		}
		if img := s.Spec.Template.Spec.Containers[0].Image; img != old {
			return fmt.Errorf("server image %s, want the operator's default %s", img, old)
		}
		return nil
	})
	eventually(t, "status names the images in use", func() error {
		live := mustGet(t, g)
		if live.Spec.Server.Image != "" {
			return fmt.Errorf("spec.server.image = %q: the operator must not write the spec", live.Spec.Server.Image)
		}
		im := live.Status.Images
		if im == nil || im.Gallery != old || im.Workers != old || im.Redis != "docker.io/library/redis:7.4-alpine" || im.Database != "docker.io/library/mariadb:11.4" {
			return fmt.Errorf("status.images = %+v", im)
		}
		if live.Status.AppVersion != "v0.3.0" {
			return fmt.Errorf("status.appVersion = %q", live.Status.AppVersion)
		}
		if c := condition(t, live, galleryv1alpha1.ConditionUpgraded); c == nil || c.Status != metav1.ConditionTrue || c.Reason != galleryv1alpha1.ReasonUpToDate {
			return fmt.Errorf("Upgraded = %+v", c)
		}
		return nil
	})

	const next = "example.com/sortographer/sortographer:v0.4.0"
	job := g.MigrationJobName(next)
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) { live.Spec.Server.Image = next })
	eventually(t, "migration job for the new image", mustExist(ns, job, &batchv1.Job{}))
	eventually(t, "status: migrating", upgradeIs(t, g, galleryv1alpha1.UpgradeMigrating, galleryv1alpha1.ReasonMigrating))
	j, _ := get(t, ns, job, &batchv1.Job{})
	if img := j.Spec.Template.Spec.Containers[0].Image; img != next {
		t.Errorf("migration job runs %s, want %s", img, next)
	}
	if s, w := serverImages(t, g); s != old || w != old {
		t.Fatalf("while migrating: server %s workers %s, want both still %s", s, w, old)
	}

	// The migration fails: nothing rolls, status carries the log's tail, Ready is False.
	const cause = "migrate: apply 0004_app_versions: statement 1: Error 1050 (42S01): Table 'app_versions' already exists"
	endJob(t, ns, job, false, "migrate", "time=… level=ERROR msg=failed\n"+cause, time.Now())
	eventually(t, "status: migration failed", func() error {
		if err := upgradeIs(t, g, galleryv1alpha1.UpgradeFailed, galleryv1alpha1.ReasonMigrationFailed)(); err != nil {
			return err
		}
		live := mustGet(t, g)
		if c := condition(t, live, galleryv1alpha1.ConditionUpgraded); !strings.Contains(c.Message, cause) {
			return fmt.Errorf("Upgraded message %q lacks the migration's error", c.Message)
		}
		if c := condition(t, live, galleryv1alpha1.ConditionReady); c == nil || c.Reason != galleryv1alpha1.ReasonMigrationFailed {
			return fmt.Errorf("Ready = %+v, want MigrationFailed", c)
		}
		return nil
	})
	if s, w := serverImages(t, g); s != old || w != old {
		t.Fatalf("after a failed migration: server %s workers %s, want both still %s", s, w, old)
	}

	// Deleting the failed Job retries it; this time it succeeds and the roll begins.
	if err := k8s.Delete(context.Background(), j, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a new migration job", func() error {
		live, err := get(t, ns, job, &batchv1.Job{})
		if err != nil {
			return err
		}
		if live.UID == j.UID || runOf(live).finished {
			return fmt.Errorf("still the failed job")
		}
		return nil
	})
	endJob(t, ns, job, true, "migrate", "", time.Now())
	eventually(t, "both roll onto the new image", func() error {
		if s, w := serverImages(t, g); s != next || w != next {
			return fmt.Errorf("server %s workers %s", s, w)
		}
		return nil
	})
	eventually(t, "status: rolling out", upgradeIs(t, g, galleryv1alpha1.UpgradeRollingOut, galleryv1alpha1.ReasonRollingOut))
	markDeploymentAvailable(t, ns, g.ServerName())
	markDeploymentAvailable(t, ns, g.WorkersName())
	eventually(t, "upgraded, job gone", func() error {
		live := mustGet(t, g)
		if live.Status.Upgrade != nil || live.Status.AppVersion != "v0.4.0" {
			return fmt.Errorf("status.upgrade %+v appVersion %q", live.Status.Upgrade, live.Status.AppVersion)
		}
		if c := condition(t, live, galleryv1alpha1.ConditionUpgraded); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Upgraded = %+v", c)
		}
		if _, err := get(t, ns, job, &batchv1.Job{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("migration job still there: %w", err)
		}
		return nil
	})
}

// An embedded database upgrades without a Job: one pod, Recreate, its init container
// migrates.
func TestEmbeddedUpgradeNeedsNoJob(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, func(g *galleryv1alpha1.Gallery) {
		g.Spec.Database = galleryv1alpha1.DatabaseSpec{Embedded: &galleryv1alpha1.EmbeddedDatabaseSpec{}}
	})
	eventually(t, "server deployment", mustExist(ns, g.ServerName(), &appsv1.Deployment{}))
	const next = "example.com/sortographer/sortographer:v0.4.0"
	updateGallery(t, g, func(live *galleryv1alpha1.Gallery) { live.Spec.Server.Image = next })
	eventually(t, "server on the new image", func() error {
		s, err := get(t, ns, g.ServerName(), &appsv1.Deployment{})
		if err != nil {
			return err
		}
		if img := s.Spec.Template.Spec.Containers[0].Image; img != next {
			return fmt.Errorf("server image %s", img)
		}
		return nil
	})
	var jobs batchv1.JobList
	if err := k8s.List(context.Background(), &jobs, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 0 {
		t.Errorf("an embedded Gallery's upgrade made Job %s", jobs.Items[0].Name)
	}
}
