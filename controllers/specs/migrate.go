package specs

import (
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// migrationDeadline bounds one migration Job (every attempt): a migration that runs
// longer is stuck on a lock, and the upgrade reports it failed.
const migrationDeadline = 30 * 60

// RunsMigrationJobs reports whether an upgrade of the app migrates in a Job first: with a
// managed or external database. The embedded SQLite file sits on a ReadWriteOnce volume
// the one server pod holds, and the server rolls with Recreate, so there the new pod's
// migrate init container migrates before it serves, as at first start.
func RunsMigrationJobs(g *galleryv1alpha1.Gallery) bool { return !g.Embedded() }

// MigrationJob runs `sortographer migrate` of image (the version being rolled out) once,
// before any of its pods takes traffic: the server pod's migrate init container, alone,
// with the server's configuration, Secrets, identity and placement, labelled as its own
// component so that no Service or PodDisruptionBudget of the server counts it. The log's
// tail becomes the termination message the operator reports when it fails. Nil when
// upgrades need no Job (RunsMigrationJobs).
func MigrationJob(g *galleryv1alpha1.Gallery, image, configHash string) *batchv1.Job {
	if !RunsMigrationJobs(g) {
		return nil
	}
	pod := ServerDeployment(g, configHash).Spec.Template
	migrate := pod.Spec.InitContainers[0]
	migrate.Image = image
	migrate.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
	pod.Spec.InitContainers = nil
	pod.Spec.Containers = []corev1.Container{migrate}
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	pod.Spec.TerminationGracePeriodSeconds = nil
	pod.Labels = g.ChildLabels(galleryv1alpha1.ComponentMigrate)
	meta := ObjectMeta(g, g.MigrationJobName(image), galleryv1alpha1.ComponentMigrate)
	return &batchv1.Job{
		TypeMeta:   typeMeta("batch/v1", "Job"),
		ObjectMeta: meta,
		Spec: batchv1.JobSpec{
			// A second try covers a database that restarted under the first; a migration
			// that fails twice fails for a reason an admin must read.
			BackoffLimit:          ptr.To[int32](1),
			ActiveDeadlineSeconds: ptr.To[int64](migrationDeadline),
			Template:              corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: pod.Labels, Annotations: pod.Annotations}, Spec: pod.Spec},
		},
	}
}
