package specs

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// Keys of the generated Secret for the managed MariaDB, and its database and user.
const (
	SecretKeyDatabasePassword     = "database-password"
	SecretKeyDatabaseRootPassword = "database-root-password"
	ManagedDatabaseName           = "sortographer"
	ManagedDatabaseUser           = "sortographer"
)

// MariaDBPort is the port of the managed MariaDB.
const MariaDBPort = 3306

// mariadbUID is the mysql user of the official image.
const mariadbUID = 999

// MariaDBStatefulSet runs the managed MariaDB: one pod, data on a PVC.
func MariaDBStatefulSet(g *galleryv1alpha1.Gallery, configHash string) *appsv1.StatefulSet {
	m := g.Spec.Database.Managed
	secretEnv := func(name, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: g.DatabaseSecretName()}, Key: key,
		}}}
	}
	// The image's healthcheck.sh (official images since mid-2023) rather than a TCP
	// probe: the port opens before InnoDB has finished crash recovery, and
	// --innodb_initialized waits for that. It logs in over TCP as the healthcheck user the
	// entrypoint creates, with a random password kept in .my-healthcheck.cnf in the data
	// directory, so no password is on a command line. Liveness checks only that the port
	// answers (--connect), so a server busy with a long query is not killed.
	probe := func(args []string, period, failures int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: append([]string{"healthcheck.sh"}, args...)}},
			PeriodSeconds: period, TimeoutSeconds: 5, FailureThreshold: failures,
		}
	}
	tmp, tmpMount := TmpVolume()
	container := corev1.Container{
		Name:            "mariadb",
		Image:           g.MariaDBImage(),
		ImagePullPolicy: corev1.PullIfNotPresent,
		Ports:           []corev1.ContainerPort{{Name: "mysql", ContainerPort: MariaDBPort, Protocol: corev1.ProtocolTCP}},
		Env: []corev1.EnvVar{
			{Name: "MARIADB_DATABASE", Value: ManagedDatabaseName},
			{Name: "MARIADB_USER", Value: ManagedDatabaseUser},
			// Runs mariadb-upgrade after a version bump, and recreates the healthcheck
			// user on a data directory initialised before the image had one.
			{Name: "MARIADB_AUTO_UPGRADE", Value: "1"},
			secretEnv("MARIADB_PASSWORD", SecretKeyDatabasePassword),
			secretEnv("MARIADB_ROOT_PASSWORD", SecretKeyDatabaseRootPassword),
		},
		Resources:      m.Resources,
		StartupProbe:   probe([]string{"--connect", "--innodb_initialized"}, 5, 60),
		ReadinessProbe: probe([]string{"--connect", "--innodb_initialized"}, 10, 3),
		LivenessProbe:  probe([]string{"--connect"}, 20, 3),
		VolumeMounts: []corev1.VolumeMount{
			tmpMount,
			{Name: "run", MountPath: "/run/mysqld"},
			{Name: "data", MountPath: "/var/lib/mysql"},
		},
		SecurityContext: ContainerSecurityContext(),
	}
	pod := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: g.ChildLabels(galleryv1alpha1.ComponentDatabase), Annotations: map[string]string{AnnotationConfigHash: configHash}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken:  ptr.To(false),
			SecurityContext:               PodSecurityContext(mariadbUID),
			Containers:                    []corev1.Container{container},
			Volumes:                       []corev1.Volume{tmp, {Name: "run", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			TerminationGracePeriodSeconds: ptr.To[int64](60),
			EnableServiceLinks:            ptr.To(false),
		},
	}
	ApplyPlacement(g, galleryv1alpha1.ComponentDatabase, &pod.Spec)
	// The database is the gallery's memory (users, photos' records, labels): its volume
	// outlives the StatefulSet and the Gallery, so an accidental deletion loses nothing.
	// Recreating the Gallery reattaches data-<gallery>-mariadb-0; MariaDB sets passwords
	// only when it initialises an empty volume, so the reattached data needs the old
	// passwords, which <gallery>-database (also kept) holds. Deleting the data is the
	// admin's explicit act: kubectl delete pvc.
	claim := dataClaimTemplate(g, galleryv1alpha1.ComponentDatabase, m.StorageSize, m.StorageClassName)
	return singletonStatefulSet(g, g.DatabaseName(), galleryv1alpha1.ComponentDatabase, pod,
		[]corev1.PersistentVolumeClaim{claim}, appsv1.RetainPersistentVolumeClaimRetentionPolicyType)
}

// MariaDBService fronts the managed MariaDB.
func MariaDBService(g *galleryv1alpha1.Gallery) *corev1.Service {
	return clusterIPService(g, g.DatabaseName(), galleryv1alpha1.ComponentDatabase, "mysql", MariaDBPort)
}
