package controllers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/internal/testenv"
)

// sampleGallery reads config/samples/<file> into a Gallery in namespace ns, with what
// no test cluster has pointed at closed local ports (external Redis, databases and S3
// endpoints answer "connection refused" at once, the same every time, where the AWS
// names would wait on DNS) and every autoscaling schedule's window always open.
func sampleGallery(t *testing.T, file, ns string) *galleryv1alpha1.Gallery {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", file))
	if err != nil {
		t.Fatal(err)
	}
	g := &galleryv1alpha1.Gallery{}
	if err := yaml.UnmarshalStrict(b, g); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	g.Namespace = ns
	closed := "127.0.0.1:1"
	if e := g.Spec.Cache.External; e != nil {
		e.Address = closed
	}
	if e := g.Spec.Database.External; e != nil {
		e.Host, e.ReaderHosts = "127.0.0.1", []string{"127.0.0.2"}
		e.Port = new(int32(1))
	}
	if s := g.Spec.Storage.S3; s != nil {
		s.Endpoint, s.ForcePathStyle = "http://"+closed, true
	}
	if b := g.Spec.Backup; b != nil && b.Destination.S3 != nil {
		b.Destination.S3.Endpoint = "http://" + closed
	}
	if a := g.Spec.Autoscaling; a != nil {
		for i := range a.Schedules {
			// Opens every hour for two hours: open whenever the test runs.
			a.Schedules[i].Start, a.Schedules[i].Duration = "0 * * * *", metav1.Duration{Duration: 2 * time.Hour}
		}
	}
	return g
}

// secretsOf creates the Secrets a Gallery names, with made-up values.
func secretsOf(t *testing.T, g *galleryv1alpha1.Gallery) {
	t.Helper()
	secrets := map[string]map[string][]byte{}
	add := func(name string, data map[string][]byte) {
		if secrets[name] == nil {
			secrets[name] = map[string][]byte{}
		}
		for k, v := range data {
			secrets[name][k] = v
		}
	}
	if e := g.Spec.Cache.External; e != nil && e.PasswordSecretRef != nil {
		add(e.PasswordSecretRef.Name, map[string][]byte{e.PasswordSecretRef.Key: []byte("token")})
	}
	if e := g.Spec.Database.External; e != nil {
		c := e.CredentialsSecret
		if c.UsernameKey == "" { // the schema's defaults, which the API server has not applied to g
			c.UsernameKey, c.PasswordKey = "username", "password"
		}
		add(c.Name, map[string][]byte{c.UsernameKey: []byte("app"), c.PasswordKey: []byte("pw")})
		if e.CASecretRef != nil {
			add(e.CASecretRef.Name, map[string][]byte{e.CASecretRef.Key: []byte("-----BEGIN CERTIFICATE-----\n")})
		}
	}
	if b := g.Spec.Backup; b != nil && b.Destination.S3 != nil && b.Destination.S3.CredentialsSecret != "" {
		add(b.Destination.S3.CredentialsSecret, map[string][]byte{"accessKeyId": []byte("id"), "secretAccessKey": []byte("key")})
	}
	if s := g.Spec.Storage.S3; s != nil && s.CredentialsSecret != "" {
		add(s.CredentialsSecret, map[string][]byte{"accessKeyId": []byte("id"), "secretAccessKey": []byte("key")})
	}
	for name, data := range secrets {
		if err := k8s.Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: g.Namespace}, Data: data}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSteadyStateMakesZeroWritesForEverySample: each Gallery of config/samples, with its
// preflight checks failing the same way every pass, its HPAs, its autoscaling schedules
// open and the operator's own backlog scaler (no KEDA) reading a Redis it cannot reach,
// settles; then 20 more reconciles make no write and record no event.
func TestSteadyStateMakesZeroWritesForEverySample(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "gallery_*.yaml"))
	if err != nil || len(files) < 5 {
		t.Fatalf("samples %v: %v", files, err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			ns := newNamespace(t)
			g := sampleGallery(t, filepath.Base(file), ns)
			secretsOf(t, g)
			if err := k8s.Create(context.Background(), g); err != nil {
				t.Fatal(err)
			}
			eventually(t, "server deployment", mustExist(ns, g.ServerName(), &appsv1.Deployment{}))
			markDeploymentAvailable(t, ns, g.ServerName())
			if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: g.WorkersName()}, &appsv1.Deployment{}); err == nil {
				markDeploymentAvailable(t, ns, g.WorkersName())
			}
			if g.Spec.Cache.Managed != nil {
				markStatefulSetReady(t, ns, g.RedisName())
			}
			if g.Spec.Database.Managed != nil {
				markStatefulSetReady(t, ns, g.DatabaseName())
			}
			if g.Spec.Storage.Volume != nil {
				markClaimBound(t, ns, g.PhotosClaimName())
			}
			if g.Spec.Database.Embedded != nil {
				markClaimBound(t, ns, g.SQLiteClaimName())
			}
			// Settled: the status the manager writes stays the same for three seconds.
			var last galleryv1alpha1.GalleryStatus
			var since time.Time
			testenv.Eventually(t, 40*time.Second, "a settled status", func() error {
				now := mustGet(t, g).Status
				if now.ObservedGeneration == 0 || !equality.Semantic.DeepEqual(now, last) {
					last, since = now, time.Now()
					return fmt.Errorf("status still changing (phase %s)", now.Phase)
				}
				if d := time.Since(since); d < 3*time.Second {
					return fmt.Errorf("status the same for %s", d)
				}
				return nil
			})

			// The shapes the test is for are in force: failing preflight checks, and an
			// open schedule raising the server HPA's minimum.
			for _, c := range []struct {
				external bool
				typ      string
			}{
				{g.Spec.Cache.External != nil, galleryv1alpha1.ConditionCache},
				{g.Spec.Database.External != nil, galleryv1alpha1.ConditionDatabase},
				{g.Spec.Storage.S3 != nil, galleryv1alpha1.ConditionStorage},
			} {
				if got := condition(t, g, c.typ); c.external && (got == nil || got.Status != metav1.ConditionFalse) {
					t.Errorf("%s = %+v, want a failed preflight check", c.typ, got)
				}
			}
			if a := g.Spec.Autoscaling; a != nil && len(a.Schedules) > 0 && a.Schedules[0].ServerMinReplicas != nil {
				h := &autoscalingv2.HorizontalPodAutoscaler{}
				if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: g.ServerName()}, h); err != nil {
					t.Fatal(err)
				}
				if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas != *a.Schedules[0].ServerMinReplicas {
					t.Errorf("the server HPA's minReplicas is %v, want the open schedule's %d", h.Spec.MinReplicas, *a.Schedules[0].ServerMinReplicas)
				}
			}

			assertNoWrites(t, g, &GalleryReconciler{Scheme: testScheme, HPAToleranceUnsupported: hpaToleranceUnsupported, Preflight: NetPreflighter{Timeout: time.Second}})
		})
	}
}
