package specs

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

func TestMariaDBStatefulSet(t *testing.T) {
	tests := []struct {
		name         string
		g            *galleryv1alpha1.Gallery
		image        string
		size         string
		storageClass *string
		resources    corev1.ResourceRequirements
	}{{
		name:      "defaults",
		g:         gallery(),
		image:     "docker.io/library/mariadb:11.4",
		size:      "10Gi",
		resources: resources("250m", "512Mi", "1Gi"),
	}, {
		name: "storage class, size, resources and image from the spec",
		g: gallery(func(g *galleryv1alpha1.Gallery) {
			m := g.Spec.Database.Managed
			m.Image = "mirror.example.com/mariadb:11.4.5"
			m.StorageSize.Set(50 << 30)
			m.StorageClassName = ptr.To("gp3")
			m.Resources = resources("1", "2Gi", "4Gi")
		}),
		image:        "mirror.example.com/mariadb:11.4.5",
		size:         "50Gi",
		storageClass: ptr.To("gp3"),
		resources:    resources("1", "2Gi", "4Gi"),
	}, {
		name:      "version picks the tag",
		g:         gallery(func(g *galleryv1alpha1.Gallery) { g.Spec.Database.Managed.Version = "10.11" }),
		image:     "docker.io/library/mariadb:10.11",
		size:      "10Gi",
		resources: resources("250m", "512Mi", "1Gi"),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts := MariaDBStatefulSet(tt.g, "beef4567")
			c := assertSingletonStatefulSet(t, sts, tt.g, "demo-mariadb", galleryv1alpha1.ComponentDatabase, "beef4567", 999)
			if len(sts.Spec.Template.Spec.TopologySpreadConstraints) == 0 {
				t.Error("placement not applied: no zone spread")
			}
			if c.Image != tt.image || c.ImagePullPolicy != corev1.PullIfNotPresent {
				t.Errorf("image = %s (%s), want %s (IfNotPresent)", c.Image, c.ImagePullPolicy, tt.image)
			}
			if len(c.Ports) != 1 || c.Ports[0].Name != "mysql" || c.Ports[0].ContainerPort != 3306 {
				t.Errorf("ports = %+v, want mysql 3306", c.Ports)
			}
			if !equality.Semantic.DeepEqual(c.Resources, tt.resources) {
				t.Errorf("resources = %+v, want the spec's %+v", c.Resources, tt.resources)
			}
			assertMariaDBEnv(t, c)
			assertMariaDBProbes(t, c)
			assertMariaDBVolumes(t, sts.Spec, c, tt.size, tt.storageClass)
			if r := sts.Spec.PersistentVolumeClaimRetentionPolicy; r == nil ||
				r.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
				r.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
				t.Errorf("PVC retention = %+v, want retain: the database outlives an accidental deletion", r)
			}
		})
	}
}

// assertMariaDBEnv checks the database and user the app's ConfigMap names, and both
// passwords from the database Secret, never literal.
func assertMariaDBEnv(t *testing.T, c corev1.Container) {
	t.Helper()
	for name, want := range map[string]string{"MARIADB_DATABASE": ManagedDatabaseName, "MARIADB_USER": ManagedDatabaseUser} {
		if e := envNamed(c, name); e == nil || e.Value != want {
			t.Errorf("env %s = %+v, want %q", name, e, want)
		}
	}
	assertSecretEnv(t, c, "MARIADB_PASSWORD", "demo-database", SecretKeyDatabasePassword)
	assertSecretEnv(t, c, "MARIADB_ROOT_PASSWORD", "demo-database", SecretKeyDatabaseRootPassword)
	for _, e := range c.Env {
		if strings.Contains(e.Name, "PASSWORD") && e.ValueFrom == nil {
			t.Errorf("env %s is a literal password", e.Name)
		}
	}
}

// assertMariaDBProbes checks healthcheck.sh probes: startup and readiness wait for
// InnoDB, liveness only for the port, so a busy server is not restarted.
func assertMariaDBProbes(t *testing.T, c corev1.Container) {
	t.Helper()
	for name, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.Exec == nil || len(p.Exec.Command) == 0 || p.Exec.Command[0] != "healthcheck.sh" {
			t.Errorf("%s probe = %+v, want exec healthcheck.sh", name, p)
			continue
		}
		if !slices.Contains(p.Exec.Command, "--connect") {
			t.Errorf("%s probe %v lacks --connect", name, p.Exec.Command)
		}
		if want := name != "liveness"; slices.Contains(p.Exec.Command, "--innodb_initialized") != want {
			t.Errorf("%s probe %v: --innodb_initialized present = %v, want %v", name, p.Exec.Command, !want, want)
		}
		for _, arg := range p.Exec.Command {
			if strings.HasPrefix(arg, "-p") || strings.Contains(arg, "password") {
				t.Errorf("%s probe passes a password: %v", name, p.Exec.Command)
			}
		}
	}
	if p := c.StartupProbe; p != nil && p.PeriodSeconds*p.FailureThreshold < 120 {
		t.Error("startup probe allows under two minutes for first initialisation or crash recovery")
	}
}

// assertMariaDBVolumes checks writable emptyDirs for /tmp and /run/mysqld under the
// read-only root, and /var/lib/mysql on the claim template data.
func assertMariaDBVolumes(t *testing.T, s appsv1.StatefulSetSpec, c corev1.Container, size string, class *string) {
	t.Helper()
	pod := s.Template.Spec
	for _, dir := range []string{"/run/mysqld", "/tmp"} {
		m := mountAt(c, dir)
		if m == nil {
			t.Errorf("no writable %s under the read-only root", dir)
		} else if v := volumeNamed(pod, m.Name); v == nil || v.EmptyDir == nil {
			t.Errorf("%s volume = %+v, want an emptyDir", dir, v)
		}
	}
	data := mountAt(c, "/var/lib/mysql")
	if data == nil || data.Name != "data" || volumeNamed(pod, data.Name) != nil {
		t.Errorf("/var/lib/mysql mount = %+v, want the claim template data", data)
	}
	assertClaimTemplate(t, s, "data", size, class)
}

func TestMariaDBService(t *testing.T) {
	assertService(t, MariaDBService(gallery()), "demo-mariadb", galleryv1alpha1.ComponentDatabase, "mysql", 3306)
}
