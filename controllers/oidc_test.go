package controllers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
	"github.com/sortographer/sortographer/controllers/specs"
	"github.com/sortographer/sortographer/internal/config"
)

// TestOIDCClientSecretReachesThePodsOnly: with spec.auth.oidc the server reads the client
// secret from the admin's Secret (valueFrom), the ConfigMap carries the other settings and
// not the secret, a rotated secret rolls the pods, and the value shows in no status or
// event.
func TestOIDCClientSecretReachesThePodsOnly(t *testing.T) {
	ns := newNamespace(t)
	const first, second = "first-client-secret-value", "second-client-secret-value"
	sso := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "sso-client", Namespace: ns},
		Data:       map[string][]byte{"secret": []byte(first)},
	}
	if err := k8s.Create(context.Background(), sso); err != nil {
		t.Fatal(err)
	}
	g := newGallery(t, ns, func(g *galleryv1alpha1.Gallery) {
		g.Spec.Auth.OIDC = &galleryv1alpha1.OIDCSpec{
			Issuer: "https://login.example.edu/realms/uni", ClientID: "gallery",
			ClientSecretRef: galleryv1alpha1.SecretKeyRef{Name: "sso-client", Key: "secret"},
		}
	})
	var hash string
	eventually(t, "server deployment reading the client secret from its Secret", func() error {
		d, err := get(t, ns, g.ServerName(), &appsv1.Deployment{})
		if err != nil {
			return err
		}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			if e.Name == config.EnvOIDCClientSecret {
				if e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil ||
					e.ValueFrom.SecretKeyRef.Name != "sso-client" || e.ValueFrom.SecretKeyRef.Key != "secret" {
					return fmt.Errorf("client secret env %+v", e)
				}
				hash = d.Spec.Template.Annotations[specs.AnnotationConfigHash]
				return nil
			}
		}
		return fmt.Errorf("no %s in the server's env", config.EnvOIDCClientSecret)
	})
	cm, err := get(t, ns, g.ConfigMapName(), &corev1.ConfigMap{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Data[config.EnvOIDCIssuer] != "https://login.example.edu/realms/uni" || cm.Data[config.EnvOIDCScopes] != "openid,email,profile" {
		t.Errorf("ConfigMap oidc settings = %v", cm.Data)
	}
	for k, v := range cm.Data {
		if strings.Contains(v, first) {
			t.Errorf("the ConfigMap's %s holds the client secret", k)
		}
	}

	sso.Data["secret"] = []byte(second)
	if err := k8s.Update(context.Background(), sso); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pod template's hash changes with the client secret", func() error {
		d, err := get(t, ns, g.ServerName(), &appsv1.Deployment{})
		if err != nil {
			return err
		}
		if h := d.Spec.Template.Annotations[specs.AnnotationConfigHash]; h == hash {
			return fmt.Errorf("hash still %s", h)
		}
		return nil
	})

	status := fmt.Sprintf("%+v", mustGet(t, g).Status)
	var events eventsv1.EventList
	if err := k8s.List(context.Background(), &events, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, s := range append([]string{status}, func() []string {
		var notes []string
		for _, e := range events.Items {
			notes = append(notes, e.Note)
		}
		return notes
	}()...) {
		if strings.Contains(s, first) || strings.Contains(s, second) {
			t.Errorf("the client secret shows in %q", s)
		}
	}
}
