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
			pod := sts.Spec.Template.Spec
			if len(pod.InitContainers) != 1 {
				t.Fatalf("%d init containers, want 1 (bootstrap)", len(pod.InitContainers))
			}
			init := pod.InitContainers[0]
			for _, c := range []corev1.Container{init, c} {
				if !equality.Semantic.DeepEqual(c.Resources, tt.resources) {
					t.Errorf("container %s resources = %+v, want the spec's %+v", c.Name, c.Resources, tt.resources)
				}
			}
			if init.Image != tt.image {
				t.Errorf("init image = %s, want %s", init.Image, tt.image)
			}
			if g := pod.TerminationGracePeriodSeconds; g == nil || *g < 60 {
				t.Errorf("terminationGracePeriodSeconds = %v, want at least 60 for InnoDB to flush", g)
			}
			assertMariaDBEnv(t, init, c)
			assertMariaDBCommands(t, init, c)
			assertMariaDBProbes(t, c)
			assertMariaDBVolumes(t, sts.Spec, tt.size, tt.storageClass)
			if r := sts.Spec.PersistentVolumeClaimRetentionPolicy; r == nil ||
				r.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
				r.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
				t.Errorf("PVC retention = %+v, want retain: the database outlives an accidental deletion", r)
			}
		})
	}
}

// assertMariaDBEnv checks that both passwords reach the init container from the
// database Secret, never literal, and the server not at all (it needs none).
func assertMariaDBEnv(t *testing.T, init, server corev1.Container) {
	t.Helper()
	assertSecretEnv(t, init, "DATABASE_PASSWORD", "demo-database", SecretKeyDatabasePassword)
	assertSecretEnv(t, init, "DATABASE_ROOT_PASSWORD", "demo-database", SecretKeyDatabaseRootPassword)
	if len(init.Env) != 2 || len(init.EnvFrom) != 0 {
		t.Errorf("init env = %+v %+v, want only the two passwords", init.Env, init.EnvFrom)
	}
	if len(server.Env) != 0 || len(server.EnvFrom) != 0 {
		t.Errorf("server env = %+v %+v, want none: the passwords are applied by the init container", server.Env, server.EnvFrom)
	}
}

// assertMariaDBCommands checks that no image convention is relied on: the init container
// is sh running mariadb-install-db (for a new volume) and mariadbd --bootstrap; the
// server is mariadbd with explicit arguments.
func assertMariaDBCommands(t *testing.T, init, server corev1.Container) {
	t.Helper()
	if init.Image != server.Image {
		t.Errorf("init image %s, server image %s: want the same", init.Image, server.Image)
	}
	if len(init.Command) != 3 || init.Command[0] != "/bin/sh" || init.Command[1] != "-c" || len(init.Args) != 0 {
		t.Fatalf("init command = %q %q, want /bin/sh -c <script>", init.Command, init.Args)
	}
	script := init.Command[2]
	for _, want := range []string{
		"set -eu",
		`if [ ! -d "$datadir/mysql" ]`,
		"mariadb-install-db --no-defaults",
		"--auth-root-authentication-method=normal --skip-test-db",
		"| mariadbd --no-defaults --bootstrap",
		"unset DATABASE_PASSWORD DATABASE_ROOT_PASSWORD",
		"CREATE DATABASE IF NOT EXISTS $database",
		"ALTER USER '$user'@'%' IDENTIFIED BY $password;",
		"ALTER USER 'root'@'localhost' IDENTIFIED BY $root_password;",
		"ALTER USER 'root'@'%' IDENTIFIED BY $root_password;",
		"CREATE OR REPLACE USER '$probe'@'localhost';",
		"datadir=/var/lib/mysql\n",
		// A version change upgrades the system tables before the server starts.
		`cat "$datadir/mariadb_upgrade_info" 2>/dev/null || cat "$datadir/mysql_upgrade_info"`,
		`mariadb-upgrade --no-defaults --socket="$sock" -u root`,
		"--skip-networking",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("init script lacks %q:\n%s", want, script)
		}
	}
	// The passwords are read once, into shell variables, and written only by printf.
	if n := strings.Count(script, "$DATABASE_"); n != 2 {
		t.Errorf("init script reads $DATABASE_* %d times, want 2 (the assignment alone)", n)
	}
	if strings.Contains(script, "<<") {
		t.Error("init script has a here-document: some shells keep those in a temporary file")
	}
	want := []string{"mariadbd"}
	if !slices.Equal(server.Command, want) {
		t.Errorf("server command = %q, want %q", server.Command, want)
	}
	for _, arg := range []string{"--no-defaults", "--datadir=/var/lib/mysql", "--socket=/run/mysqld/mysqld.sock",
		"--pid-file=/run/mysqld/mysqld.pid", "--port=3306", "--bind-address=*", "--skip-name-resolve", "--tmpdir=/tmp"} {
		if !slices.Contains(server.Args, arg) {
			t.Errorf("server args %q lack %s", server.Args, arg)
		}
	}
	if server.Args[0] != "--no-defaults" {
		t.Errorf("server args %q: --no-defaults must come first", server.Args)
	}
	for _, c := range []corev1.Container{init, server} {
		all := strings.Join(append(append([]string{}, c.Command...), c.Args...), " ")
		for _, convention := range []string{"docker-entrypoint", "healthcheck.sh", "gosu", "MARIADB_", "mysqld_safe", "--user="} {
			if strings.Contains(all, convention) {
				t.Errorf("container %s relies on %q", c.Name, convention)
			}
		}
	}
}

// assertMariaDBProbes checks client probes over the socket as the passwordless probe
// account: startup and readiness log in and query, liveness only pings (it passes while
// the server answers at all, so a busy server is not restarted).
func assertMariaDBProbes(t *testing.T, c corev1.Container) {
	t.Helper()
	query := []string{"mariadb", "--no-defaults", "--socket=/run/mysqld/mysqld.sock", "--user=probe", "--skip-ssl", "--execute=SELECT 1"}
	ping := []string{"mariadb-admin", "--no-defaults", "--socket=/run/mysqld/mysqld.sock", "--user=probe", "--skip-ssl", "ping"}
	for name, tt := range map[string]struct {
		p    *corev1.Probe
		want []string
	}{"startup": {c.StartupProbe, query}, "readiness": {c.ReadinessProbe, query}, "liveness": {c.LivenessProbe, ping}} {
		if tt.p == nil || tt.p.Exec == nil {
			t.Errorf("%s probe = %+v, want exec", name, tt.p)
			continue
		}
		if !slices.Equal(tt.p.Exec.Command, tt.want) {
			t.Errorf("%s probe = %q, want %q", name, tt.p.Exec.Command, tt.want)
		}
		for _, arg := range tt.p.Exec.Command {
			if strings.HasPrefix(arg, "-p") || strings.Contains(arg, "password") {
				t.Errorf("%s probe passes a password: %v", name, tt.p.Exec.Command)
			}
		}
	}
	if p := c.StartupProbe; p != nil && p.PeriodSeconds*p.FailureThreshold < 120 {
		t.Error("startup probe allows under two minutes for first initialisation or crash recovery")
	}
}

// assertMariaDBVolumes checks, for the init container and the server alike, writable
// emptyDirs for /tmp and /run/mysqld under the read-only root, and /var/lib/mysql on the
// claim template data.
func assertMariaDBVolumes(t *testing.T, s appsv1.StatefulSetSpec, size string, class *string) {
	t.Helper()
	pod := s.Template.Spec
	for _, c := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
		if len(c.VolumeMounts) != 3 {
			t.Errorf("container %s mounts %+v, want /tmp, /run/mysqld and /var/lib/mysql only", c.Name, c.VolumeMounts)
		}
		for _, dir := range []string{"/run/mysqld", "/tmp"} {
			m := mountAt(c, dir)
			if m == nil {
				t.Errorf("container %s: no writable %s under the read-only root", c.Name, dir)
			} else if v := volumeNamed(pod, m.Name); v == nil || v.EmptyDir == nil {
				t.Errorf("container %s: %s volume = %+v, want an emptyDir", c.Name, dir, v)
			}
		}
		data := mountAt(c, "/var/lib/mysql")
		if data == nil || data.Name != "data" || data.ReadOnly || volumeNamed(pod, data.Name) != nil {
			t.Errorf("container %s: /var/lib/mysql mount = %+v, want the claim template data", c.Name, data)
		}
	}
	assertClaimTemplate(t, s, "data", size, class)
}

func TestMariaDBSecretRefs(t *testing.T) {
	got := MariaDBSecretRefs(gallery())
	want := []SecretRef{
		{"DATABASE_PASSWORD", "demo-database", SecretKeyDatabasePassword},
		{"DATABASE_ROOT_PASSWORD", "demo-database", SecretKeyDatabaseRootPassword},
	}
	if !slices.Equal(got, want) {
		t.Errorf("MariaDBSecretRefs = %+v, want %+v", got, want)
	}
	// What the reconciler hashes is what the pod reads.
	init := MariaDBStatefulSet(gallery(), "").Spec.Template.Spec.InitContainers[0]
	if len(init.Env) != len(got) {
		t.Errorf("the init container reads %d Secret keys, MariaDBSecretRefs lists %d", len(init.Env), len(got))
	}
	for _, r := range got {
		assertSecretEnv(t, init, r.Env, r.Secret, r.Key)
	}
}

func TestMariaDBService(t *testing.T) {
	assertService(t, MariaDBService(gallery()), "demo-mariadb", galleryv1alpha1.ComponentDatabase, "mysql", 3306)
}
