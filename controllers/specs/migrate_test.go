package specs

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

func TestMigrationJob(t *testing.T) {
	const newImage = "registry.example.com/sortographer/sortographer:v0.4.0"
	tests := []struct {
		name string
		g    *galleryv1alpha1.Gallery
		// wantJob: an upgrade migrates in a Job (not with the embedded database).
		wantJob bool
	}{
		{name: "managed MariaDB", g: gallery(), wantJob: true},
		{name: "external PostgreSQL", g: gallery(withExternalDatabase(galleryv1alpha1.DatabasePostgres)), wantJob: true},
		{name: "pull secrets reach the Job's pod", g: gallery(withImagePullSecret("regcred")), wantJob: true},
		{name: "embedded SQLite: the new pod's init container migrates", g: gallery(withEmbeddedDatabase())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := MigrationJob(tt.g, newImage, "beef")
			if (j != nil) != tt.wantJob || RunsMigrationJobs(tt.g) != tt.wantJob {
				t.Fatalf("job = %v, RunsMigrationJobs = %v, want a job: %v", j != nil, RunsMigrationJobs(tt.g), tt.wantJob)
			}
			if j == nil {
				return
			}
			assertApplyable(t, j, "batch/v1", "Job", tt.g.MigrationJobName(newImage), galleryv1alpha1.ComponentMigrate)
			server := ServerDeployment(tt.g, "beef").Spec.Template
			pod := j.Spec.Template
			// Its own component: no Service, PDB or server NetworkPolicy selects it.
			if pod.Labels[galleryv1alpha1.LabelComponent] != galleryv1alpha1.ComponentMigrate {
				t.Errorf("pod labels %v, want component %s", pod.Labels, galleryv1alpha1.ComponentMigrate)
			}
			if pod.Spec.RestartPolicy != corev1.RestartPolicyNever || len(pod.Spec.InitContainers) != 0 || len(pod.Spec.Containers) != 1 {
				t.Fatalf("pod restartPolicy %s, %d init containers, %d containers; want Never, 0, 1",
					pod.Spec.RestartPolicy, len(pod.Spec.InitContainers), len(pod.Spec.Containers))
			}
			c := pod.Spec.Containers[0]
			want := server.Spec.InitContainers[0]
			if c.Name != "migrate" || c.Image != newImage || !slices.Equal(c.Args, []string{"migrate"}) {
				t.Errorf("container %s %s %q, want migrate %s [migrate]", c.Name, c.Image, c.Args, newImage)
			}
			// The server's configuration, Secrets, mounts and hardening, so it migrates the
			// database the server uses, as the server would.
			if !slices.EqualFunc(c.Env, want.Env, func(a, b corev1.EnvVar) bool { return a.Name == b.Name }) ||
				len(c.EnvFrom) != len(want.EnvFrom) || len(c.VolumeMounts) != len(want.VolumeMounts) {
				t.Errorf("env/envFrom/mounts differ from the server's migrate init container")
			}
			if sc := c.SecurityContext; sc == nil || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) || !ptr.Deref(sc.RunAsNonRoot, false) && !ptr.Deref(pod.Spec.SecurityContext.RunAsNonRoot, false) {
				t.Errorf("container security context %+v: want a read-only root, non-root", sc)
			}
			if c.TerminationMessagePolicy != corev1.TerminationMessageFallbackToLogsOnError {
				t.Errorf("terminationMessagePolicy %q: a failed migration's log tail must reach status", c.TerminationMessagePolicy)
			}
			if pod.Spec.ServiceAccountName != server.Spec.ServiceAccountName || !slices.Equal(pod.Spec.ImagePullSecrets, server.Spec.ImagePullSecrets) {
				t.Errorf("identity %s pull secrets %v, want the server's %s %v", pod.Spec.ServiceAccountName, pod.Spec.ImagePullSecrets,
					server.Spec.ServiceAccountName, server.Spec.ImagePullSecrets)
			}
			if ptr.Deref(j.Spec.BackoffLimit, -1) != 1 || ptr.Deref(j.Spec.ActiveDeadlineSeconds, 0) <= 0 {
				t.Errorf("backoffLimit %v deadline %v, want 1 retry and a deadline", j.Spec.BackoffLimit, j.Spec.ActiveDeadlineSeconds)
			}
			if other := tt.g.MigrationJobName("registry.example.com/sortographer/sortographer:v0.5.0"); other == j.Name || len(j.Name) > 63-6 {
				t.Errorf("job name %q: want one per image, short enough for its pods' names", j.Name)
			}
		})
	}
}
