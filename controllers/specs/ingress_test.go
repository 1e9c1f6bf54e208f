package specs

import (
	"maps"
	"slices"
	"strconv"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

const bodySizeAnnotation = "nginx.ingress.kubernetes.io/proxy-body-size"

func TestIngressAbsent(t *testing.T) {
	if ing := Ingress(gallery()); ing != nil {
		t.Errorf("Ingress %s without spec.ingress", ing.Name)
	}
}

func TestIngress(t *testing.T) {
	alb := map[string]string{
		"alb.ingress.kubernetes.io/scheme":      "internet-facing",
		"alb.ingress.kubernetes.io/target-type": "ip",
	}
	tests := []struct {
		name        string
		g           *galleryv1alpha1.Gallery
		className   *string
		annotations map[string]string // besides the body size
		tls         string            // certificate Secret; "" for plain HTTP
	}{{
		name: "one host over HTTP, the cluster's default class",
		g:    gallery(withIngress("photos.example.com")),
	}, {
		name: "several hosts, a class and the admin's annotations",
		g: gallery(withIngress("photos.example.com", "*.photos.example.com"), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Ingress.ClassName = ptr.To("alb")
			g.Spec.Ingress.Annotations = maps.Clone(alb)
		}),
		className:   ptr.To("alb"),
		annotations: alb,
	}, {
		name: "TLS with an existing certificate: no cert-manager",
		g:    gallery(withIngress("photos.example.com", "www.photos.example.com"), withIngressTLSSecret("photos-cert")),
		tls:  "photos-cert",
	}, {
		name:        "cert-manager ClusterIssuer writes <g>-tls",
		g:           gallery(withIngress("photos.example.com"), withIngressIssuer("ClusterIssuer", "letsencrypt")),
		annotations: map[string]string{"cert-manager.io/cluster-issuer": "letsencrypt"},
		tls:         "demo-tls",
	}, {
		name:        "cert-manager namespaced Issuer",
		g:           gallery(withIngress("photos.example.com"), withIngressIssuer("Issuer", "team-ca")),
		annotations: map[string]string{"cert-manager.io/issuer": "team-ca"},
		tls:         "demo-tls",
	}, {
		name:        "undefaulted issuer kind is a ClusterIssuer",
		g:           gallery(withIngress("photos.example.com"), withIngressIssuer("", "letsencrypt")),
		annotations: map[string]string{"cert-manager.io/cluster-issuer": "letsencrypt"},
		tls:         "demo-tls",
	}, {
		name: "issuer writing a named Secret",
		g: gallery(withIngress("photos.example.com"), withIngressIssuer("ClusterIssuer", "letsencrypt"),
			withIngressTLSSecret("photos-cert")),
		annotations: map[string]string{"cert-manager.io/cluster-issuer": "letsencrypt"},
		tls:         "photos-cert",
	}, {
		name: "the admin's own body-size annotation is replaced by maxBodySize",
		g: gallery(withIngress("photos.example.com"), func(g *galleryv1alpha1.Gallery) {
			g.Spec.Ingress.Annotations = map[string]string{bodySizeAnnotation: "1m", "team": "photos"}
			g.Spec.Ingress.MaxBodySize = resource.MustParse("512Mi")
		}),
		annotations: map[string]string{"team": "photos"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.g.Spec.Ingress
			ing := Ingress(tt.g)
			if ing == nil {
				t.Fatal("no Ingress")
			}
			assertApplyable(t, ing, "networking.k8s.io/v1", "Ingress", "demo", galleryv1alpha1.ComponentServer)
			if ptr.Deref(ing.Spec.IngressClassName, "<default>") != ptr.Deref(tt.className, "<default>") {
				t.Errorf("className = %v, want %v", ptr.Deref(ing.Spec.IngressClassName, "<default>"), ptr.Deref(tt.className, "<default>"))
			}
			if ing.Spec.DefaultBackend != nil {
				t.Errorf("defaultBackend = %+v, want rules only", ing.Spec.DefaultBackend)
			}

			got := maps.Clone(ing.Annotations)
			size, ok := got[bodySizeAnnotation]
			delete(got, bodySizeAnnotation)
			if !maps.Equal(got, tt.annotations) {
				t.Errorf("annotations = %v, want %v plus the body size", got, tt.annotations)
			}
			// Plain bytes: ingress-nginx refuses Kubernetes quantities such as 100Mi and reads
			// its own "100M" as mebibytes.
			if want := strconv.FormatInt(in.MaxBodySize.Value(), 10); !ok || size != want {
				t.Errorf("%s = %q, want %q (the spec's maxBodySize %s in bytes)", bodySizeAnnotation, size, want, in.MaxBodySize.String())
			}

			if len(ing.Spec.Rules) != len(in.Hosts) {
				t.Fatalf("rules = %d, want one per host %q", len(ing.Spec.Rules), in.Hosts)
			}
			for i, r := range ing.Spec.Rules {
				if r.Host != in.Hosts[i] {
					t.Errorf("rule %d host = %q, want %q", i, r.Host, in.Hosts[i])
				}
				assertGalleryPaths(t, r)
			}

			if tt.tls == "" {
				if len(ing.Spec.TLS) != 0 {
					t.Errorf("tls = %+v, want plain HTTP", ing.Spec.TLS)
				}
				return
			}
			if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != tt.tls || !slices.Equal(ing.Spec.TLS[0].Hosts, in.Hosts) {
				t.Errorf("tls = %+v, want every host with Secret %s", ing.Spec.TLS, tt.tls)
			}
		})
	}
}

// assertGalleryPaths checks /api then /, both prefixes, both to the server Service's
// port named http.
func assertGalleryPaths(t *testing.T, r networkingv1.IngressRule) {
	t.Helper()
	if r.HTTP == nil || len(r.HTTP.Paths) != 2 {
		t.Fatalf("host %s paths = %+v, want /api and /", r.Host, r.HTTP)
	}
	for i, want := range []string{"/api", "/"} {
		p := r.HTTP.Paths[i]
		if p.Path != want || ptr.Deref(p.PathType, "") != networkingv1.PathTypePrefix {
			t.Errorf("host %s path %d = %s (%v), want %s Prefix", r.Host, i, p.Path, p.PathType, want)
		}
		s := p.Backend.Service
		if s == nil || s.Name != "demo-server" || s.Port.Name != "http" || s.Port.Number != 0 || p.Backend.Resource != nil {
			t.Errorf("host %s path %s backend = %+v, want Service demo-server port http", r.Host, p.Path, p.Backend)
		}
	}
}

func TestURL(t *testing.T) {
	for _, tt := range []struct {
		name string
		g    *galleryv1alpha1.Gallery
		want string
	}{
		{"no ingress: the Service in the cluster", gallery(), "http://demo-server.photos.svc"},
		{"plain HTTP: the first host", gallery(withIngress("photos.example.com", "other.example.com")), "http://photos.example.com"},
		{"TLS with a Secret", gallery(withIngress("photos.example.com"), withIngressTLSSecret("cert")), "https://photos.example.com"},
		{"TLS from cert-manager", gallery(withIngress("photos.example.com"), withIngressIssuer("ClusterIssuer", "le")), "https://photos.example.com"},
		{"an ingress without hosts falls back to the Service", gallery(withIngress()), "http://demo-server.photos.svc"},
	} {
		if got := URL(tt.g); got != tt.want {
			t.Errorf("%s: URL = %q, want %q", tt.name, got, tt.want)
		}
	}
}
