package testenv

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// DefaultedGallery is a `spec: {}` Gallery as the API server returns it after applying
// the CRD's defaults: managed Redis and MariaDB, a 20Gi ReadWriteMany photo volume, the
// built-in classifier, zone spread and PDBs on. The builders' table tests start from
// it, and test/crd TestDefaultedGalleryIsWhatTheAPIServerReturns checks it against the
// real defaulting, so a changed default is typed in one place.
func DefaultedGallery(name, namespace string) *galleryv1alpha1.Gallery {
	return &galleryv1alpha1.Gallery{
		TypeMeta:   metav1.TypeMeta{APIVersion: "sortographer.io/v1alpha1", Kind: "Gallery"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: galleryv1alpha1.GallerySpec{
			Server: galleryv1alpha1.ServerSpec{
				ImagePullPolicy: corev1.PullIfNotPresent,
				Resources:       resources("500m", "512Mi", "1Gi"),
				Port:            8080,
				MaxUploadSize:   resource.MustParse("25Mi"),
				Probes: galleryv1alpha1.ProbesSpec{
					Liveness:  galleryv1alpha1.ProbeTiming{PeriodSeconds: 10, TimeoutSeconds: 2, FailureThreshold: 3},
					Readiness: galleryv1alpha1.ProbeTiming{PeriodSeconds: 5, TimeoutSeconds: 2, FailureThreshold: 2},
					Startup:   galleryv1alpha1.ProbeTiming{PeriodSeconds: 2, TimeoutSeconds: 2, FailureThreshold: 60},
				},
				MaxSurge:                      ptr.To(intstr.FromString("25%")),
				TerminationGracePeriodSeconds: 60,
				PreStopDelaySeconds:           10,
			},
			Workers: galleryv1alpha1.WorkersSpec{
				Resources:   resources("250m", "512Mi", "1Gi"),
				Concurrency: 4,
				Classifier: galleryv1alpha1.ClassifierSpec{
					Provider: galleryv1alpha1.ClassifierBuiltin,
					Builtin:  galleryv1alpha1.BuiltinClassifierSpec{MinScore: 30},
					Text:     galleryv1alpha1.TextSpec{MinConfidence: 80},
				},
				Pacing: galleryv1alpha1.PacingSpec{ProviderRequestsPerSecond: 5, IntakePerSecond: 10, BatchSize: 10},
				Jobs: galleryv1alpha1.JobsSpec{
					MaxAttempts:       5,
					VisibilityTimeout: metav1.Duration{Duration: 2 * time.Minute},
					RequeueAfter:      metav1.Duration{Duration: 10 * time.Minute},
				},
				TerminationGracePeriodSeconds: 60,
			},
			Cache: galleryv1alpha1.CacheSpec{Managed: &galleryv1alpha1.ManagedRedisSpec{
				Version:        "7.4",
				Memory:         resource.MustParse("256Mi"),
				EvictionPolicy: "volatile-lru",
			}},
			Database: galleryv1alpha1.DatabaseSpec{Managed: &galleryv1alpha1.ManagedDatabaseSpec{
				Version:     "11.4",
				StorageSize: resource.MustParse("10Gi"),
				Resources:   resources("250m", "512Mi", "1Gi"),
			}},
			Storage: galleryv1alpha1.StorageSpec{Volume: &galleryv1alpha1.VolumeStorageSpec{
				Size:       resource.MustParse("20Gi"),
				AccessMode: corev1.ReadWriteMany,
			}},
			Auth: galleryv1alpha1.AuthSpec{
				TokenLifetime:      metav1.Duration{Duration: 24 * time.Hour},
				RememberMeLifetime: metav1.Duration{Duration: 720 * time.Hour},
				SessionMaxLifetime: metav1.Duration{Duration: 720 * time.Hour},
				AllowSignUp:        ptr.To(true),
				SignInsPerSecond:   20,
				Sharing:            galleryv1alpha1.SharingSpec{Enabled: ptr.To(true), StripLocation: ptr.To(true)},
			},
			Placement: galleryv1alpha1.PlacementSpec{
				ZoneSpread: galleryv1alpha1.ZoneSpreadSpec{Enabled: ptr.To(true), MaxSkew: 1, WhenUnsatisfiable: "ScheduleAnyway"},
				PodDisruptionBudget: galleryv1alpha1.PodDisruptionBudgetSpec{
					Enabled:        ptr.To(true),
					MaxUnavailable: ptr.To(intstr.FromInt32(1)),
				},
			},
			Monitoring: galleryv1alpha1.MonitoringSpec{
				MetricsPort: 9090,
				PodMonitor:  galleryv1alpha1.PodMonitorSpec{Enabled: ptr.To(true), Interval: "30s"},
			},
		},
	}
}

// resources is CPU and memory requests and a memory limit, the shape of the CRD's
// defaults.
func resources(cpu, memory, memoryLimit string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory)},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(memoryLimit)},
	}
}
