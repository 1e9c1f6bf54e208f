package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
)

// upgradeCheck is what the upgrade phase found: nil in reconcileState when it did not
// run (a suspended Gallery, a pass that stopped early), so status keeps what it had.
type upgradeCheck struct {
	// upgrade is the upgrade in flight (nil: the server runs the image asked for, or
	// has not started yet).
	upgrade *galleryv1alpha1.UpgradeStatus
	// hold says the server's and workers' Deployments stay as they are this pass: the new
	// image's migrations have not succeeded.
	hold bool
}

// migrationPoll is how often a pass looks at a running migration's pod, for status.
const migrationPoll = 10 * time.Second

// maxMessage bounds a migration's error in status: a termination message can be 4 KiB.
const maxMessage = 1024

// reconcileUpgrade runs a new gallery image's migrations before any pod of it starts:
// when the server Deployment runs another image than the one the Gallery now asks for,
// the Job <gallery>-migrate-<hash of the image> runs `sortographer migrate` of the new
// image, and until it succeeds the server and workers keep their running pods and
// templates. A failed Job stays, with its pods' logs, until the admin deletes it (the
// next pass starts it again) or asks for another image. The first start needs no Job:
// the server pod's migrate init container migrates an empty database before it serves.
func (r *GalleryReconciler) reconcileUpgrade(ctx context.Context, st *reconcileState) error {
	g := st.gallery
	if !specs.RunsMigrationJobs(g) || st.holdForRestore() {
		return nil
	}
	want := g.Spec.Server.Image
	running, err := r.runningServerImage(ctx, g)
	if err != nil {
		return err
	}
	if err := r.deleteStaleMigrationJobs(ctx, g, want, running == want); err != nil {
		return err
	}
	check := &upgradeCheck{}
	st.upgrade = check
	if running == "" || running == want {
		if prev := st.read.Status.Upgrade; running == want && prev != nil && prev.To == want && prev.Phase == galleryv1alpha1.UpgradeRollingOut {
			check.upgrade = prev // status clears it once the rollout finished
		}
		return nil
	}
	check.upgrade = &galleryv1alpha1.UpgradeStatus{From: running, To: want, Job: g.MigrationJobName(want)}
	var job batchv1.Job
	err = r.Client.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: check.upgrade.Job}, &job)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.createJob(ctx, g, specs.MigrationJob(g, want, st.configHash)); err != nil {
			return fmt.Errorf("start the migration for %s: %w", want, err)
		}
		check.hold = true
		check.upgrade.Phase, check.upgrade.Message = galleryv1alpha1.UpgradeMigrating, "migrating the database for "+want
		return nil
	case err != nil:
		return fmt.Errorf("get migration job: %w", err)
	}
	run := runOf(&job)
	pods, err := r.jobPods(ctx, g, job.Name)
	if err != nil {
		return err
	}
	switch {
	case run.succeeded:
		check.upgrade.Phase, check.upgrade.Message = galleryv1alpha1.UpgradeRollingOut, "migrated; rolling the server and workers onto "+want
	case run.finished:
		check.hold = true
		check.upgrade.Phase = galleryv1alpha1.UpgradeFailed
		check.upgrade.Message = fmt.Sprintf("the migration Job %s failed (%s), so nothing rolled and the pods of %s keep serving; fix the cause and delete the Job to retry, or set the previous image: %s",
			job.Name, run.why, running, keepTail(migrationOutput(pods, false), maxMessage))
	default:
		check.hold = true
		check.upgrade.Phase, check.upgrade.Message = galleryv1alpha1.UpgradeMigrating, "migrating the database for "+want
		// The Job's completion brings the next pass; a pod waiting on its image does not.
		st.requeueSoon(migrationPoll)
		if waiting := migrationOutput(pods, true); waiting != "" {
			check.upgrade.Message += ": " + waiting
		}
	}
	return nil
}

// runningServerImage is the gallery image of the server Deployment's template ("" when
// there is no Deployment yet).
func (r *GalleryReconciler) runningServerImage(ctx context.Context, g *galleryv1alpha1.Gallery) (string, error) {
	var d appsv1.Deployment
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: g.Namespace, Name: g.ServerName()}, &d)
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("get server deployment: %w", err)
	}
	return containerImage(d.Spec.Template.Spec, galleryv1alpha1.ComponentServer), nil
}

// imageOf is the server container's image of Deployment d ("" for none).
func imageOf(d *appsv1.Deployment) string {
	if d == nil {
		return ""
	}
	return containerImage(d.Spec.Template.Spec, galleryv1alpha1.ComponentServer)
}

func containerImage(pod corev1.PodSpec, name string) string {
	for _, c := range pod.Containers {
		if c.Name == name {
			return c.Image
		}
	}
	return ""
}

// deleteStaleMigrationJobs deletes the finished migration Jobs no upgrade needs any more:
// those of another image than want, and want's own once the server runs it.
func (r *GalleryReconciler) deleteStaleMigrationJobs(ctx context.Context, g *galleryv1alpha1.Gallery, want string, done bool) error {
	var jobs batchv1.JobList
	if err := r.Client.List(ctx, &jobs, client.InNamespace(g.Namespace), client.MatchingLabels(g.SelectorLabels(galleryv1alpha1.ComponentMigrate))); err != nil {
		return fmt.Errorf("list migration jobs: %w", err)
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if !runOf(j).finished || (j.Name == g.MigrationJobName(want) && !done) || !j.DeletionTimestamp.IsZero() {
			continue
		}
		if err := r.Client.Delete(ctx, j, client.PropagationPolicy("Background")); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete finished migration job %s: %w", j.Name, err)
		}
	}
	return nil
}

func (r *GalleryReconciler) jobPods(ctx context.Context, g *galleryv1alpha1.Gallery, job string) ([]corev1.Pod, error) {
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.InNamespace(g.Namespace),
		client.MatchingLabels{labelJobName: job, galleryv1alpha1.LabelGallery: g.Name}); err != nil {
		return nil, fmt.Errorf("list pods of job %s: %w", job, err)
	}
	return pods.Items, nil
}

// migrationOutput is what the migrate containers of a Job's pods say: while it runs, why a
// container waits (an image that cannot be pulled); once failed, the newest termination
// message (the log's tail: FallbackToLogsOnError).
func migrationOutput(pods []corev1.Pod, running bool) string {
	var out string
	var at int64
	for _, p := range pods {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name != "migrate" {
				continue
			}
			switch {
			case running && cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "ContainerCreating":
				return strings.TrimSpace(cs.State.Waiting.Reason + " " + cs.State.Waiting.Message)
			case !running && cs.State.Terminated != nil && cs.State.Terminated.FinishedAt.Unix() >= at:
				out, at = strings.TrimSpace(cs.State.Terminated.Message), cs.State.Terminated.FinishedAt.Unix()
			}
		}
	}
	if !running && out == "" {
		return "no pod left a message; see the Job's events"
	}
	return out
}

// setUpgradedCondition reports the upgrade: status.upgrade as the phase left it, cleared
// once the server runs the new image everywhere; Upgraded follows it.
func setUpgradedCondition(g *galleryv1alpha1.Gallery, check *upgradeCheck, server *appsv1.Deployment, gen int64) {
	typ := galleryv1alpha1.ConditionUpgraded
	if check != nil {
		g.Status.Upgrade = check.upgrade
	}
	u := g.Status.Upgrade
	if u != nil && u.Phase == galleryv1alpha1.UpgradeRollingOut && server != nil && imageOf(server) == u.To {
		if ok, _, _ := deploymentReady(server); ok {
			g.Status.Upgrade, u = nil, nil
		}
	}
	switch {
	case u == nil:
		msg := "the server runs the image asked for"
		if img := imageOf(server); img != "" {
			msg = "the server runs " + img
		}
		set(g, typ, true, galleryv1alpha1.ReasonUpToDate, msg, gen)
	case u.Phase == galleryv1alpha1.UpgradeFailed:
		set(g, typ, false, galleryv1alpha1.ReasonMigrationFailed, u.Message, gen)
	case u.Phase == galleryv1alpha1.UpgradeRollingOut:
		set(g, typ, false, galleryv1alpha1.ReasonRollingOut, u.Message, gen)
	default:
		set(g, typ, false, galleryv1alpha1.ReasonMigrating, u.Message, gen)
	}
}

// imagesInUse are the images of the pod templates applied now.
func imagesInUse(o *observed) *galleryv1alpha1.ImagesStatus {
	var s galleryv1alpha1.ImagesStatus
	if o.server != nil {
		s.Gallery = containerImage(o.server.Spec.Template.Spec, galleryv1alpha1.ComponentServer)
	}
	if o.workers != nil {
		s.Workers = containerImage(o.workers.Spec.Template.Spec, galleryv1alpha1.ComponentWorkers)
	}
	if o.redis != nil {
		s.Redis = containerImage(o.redis.Spec.Template.Spec, "redis")
	}
	if o.database != nil {
		s.Database = containerImage(o.database.Spec.Template.Spec, "mariadb")
	}
	if s == (galleryv1alpha1.ImagesStatus{}) {
		return nil
	}
	return &s
}
