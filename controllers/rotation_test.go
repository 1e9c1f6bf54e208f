package controllers

import (
	"context"
	"maps"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
)

// podTemplates is what each workload's pod template carries that rolls it: its config
// hash, and the workload's generation (which any template change bumps).
type podTemplates map[string]struct {
	hash       string
	generation int64
}

func readPodTemplates(t *testing.T, g *galleryv1alpha1.Gallery) podTemplates {
	t.Helper()
	out := podTemplates{}
	for name, obj := range map[string]client.Object{
		"server":  &appsv1.Deployment{},
		"workers": &appsv1.Deployment{},
		"redis":   &appsv1.StatefulSet{},
		"mariadb": &appsv1.StatefulSet{},
	} {
		child := map[string]string{"server": g.ServerName(), "workers": g.WorkersName(), "redis": g.RedisName(), "mariadb": g.DatabaseName()}[name]
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: g.Namespace, Name: child}, obj); err != nil {
			t.Fatalf("get %s: %v", child, err)
		}
		var annotations map[string]string
		switch o := obj.(type) {
		case *appsv1.Deployment:
			annotations = o.Spec.Template.Annotations
		case *appsv1.StatefulSet:
			annotations = o.Spec.Template.Annotations
		}
		if annotations[specs.AnnotationConfigHash] == "" {
			t.Fatalf("%s has no %s", child, specs.AnnotationConfigHash)
		}
		out[name] = struct {
			hash       string
			generation int64
		}{annotations[specs.AnnotationConfigHash], obj.GetGeneration()}
	}
	return out
}

// rolled names the workloads whose pod template hash changed from before to after.
func rolled(t *testing.T, before, after podTemplates) []string {
	t.Helper()
	var names []string
	for name, b := range before {
		a := after[name]
		if a.hash != b.hash {
			names = append(names, name)
		} else if a.generation != b.generation {
			t.Errorf("%s: generation %d -> %d with the same hash: something else in its template changed", name, b.generation, a.generation)
		}
	}
	slices.Sort(names)
	return names
}

func changeSecret(t *testing.T, ns, name string, change func(*corev1.Secret)) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s := &corev1.Secret{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			return err
		}
		change(s)
		return k8s.Update(context.Background(), s)
	})
	if err != nil {
		t.Fatalf("update secret %s: %v", name, err)
	}
}

// TestRotatedPasswordRollsItsConsumers rotates each generated value in turn: exactly
// the pods that read it get a new template hash (Redis with its password, MariaDB with
// either of its passwords, which its init container applies at start), and a change to
// the Secrets that alters no value rolls nothing.
func TestRotatedPasswordRollsItsConsumers(t *testing.T) {
	ns := newNamespace(t)
	g := newGallery(t, ns, ownReconciled)
	r := &GalleryReconciler{Client: k8s, Scheme: testScheme, HPAToleranceUnsupported: hpaToleranceUnsupported, Recorder: &countingRecorder{}}
	reconcileTimes(t, r, g, 2)

	for _, tt := range []struct {
		secret, key string
		want        []string
	}{
		{g.GeneratedSecretName(), specs.SecretKeyRedisPassword, []string{"redis", "server", "workers"}},
		{g.DatabaseSecretName(), specs.SecretKeyDatabasePassword, []string{"mariadb", "server", "workers"}},
		{g.DatabaseSecretName(), specs.SecretKeyDatabaseRootPassword, []string{"mariadb"}},
		{g.GeneratedSecretName(), specs.SecretKeyJWT, []string{"server", "workers"}},
	} {
		t.Run(tt.key, func(t *testing.T) {
			before := readPodTemplates(t, g)
			changeSecret(t, ns, tt.secret, func(s *corev1.Secret) { s.Data[tt.key] = []byte("rotated-" + tt.key) })
			reconcileTimes(t, r, g, 1)
			after := readPodTemplates(t, g)
			if got := rolled(t, before, after); !slices.Equal(got, tt.want) {
				t.Errorf("rotating %s/%s rolled %v, want %v", tt.secret, tt.key, got, tt.want)
			}
			// Once rolled, the next pass changes nothing.
			reconcileTimes(t, r, g, 1)
			if again := readPodTemplates(t, g); !maps.Equal(again, after) {
				t.Errorf("a second pass after rotating %s changed the templates: %v -> %v", tt.key, after, again)
			}
		})
	}

	t.Run("no value changed", func(t *testing.T) {
		before := readPodTemplates(t, g)
		for _, name := range []string{g.GeneratedSecretName(), g.DatabaseSecretName()} {
			changeSecret(t, ns, name, func(s *corev1.Secret) {
				if s.Annotations == nil {
					s.Annotations = map[string]string{}
				}
				s.Annotations["example.com/reviewed"] = "yes"
			})
		}
		reconcileTimes(t, r, g, 2)
		if got := rolled(t, before, readPodTemplates(t, g)); len(got) != 0 {
			t.Errorf("annotating the Secrets rolled %v", got)
		}
	})
}
