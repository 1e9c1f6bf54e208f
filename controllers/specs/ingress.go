package specs

import (
	"maps"
	"strconv"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// Ingress exposes the server on every host: /api to the JSON API and / to the web UI
// (both are the server Service; the split lets an admin route or protect them apart).
// Nil when spec.ingress is absent.
func Ingress(g *galleryv1alpha1.Gallery) *networkingv1.Ingress {
	in := g.Spec.Ingress
	if in == nil {
		return nil
	}
	meta := ObjectMeta(g, g.IngressName(), galleryv1alpha1.ComponentServer)
	meta.Annotations = maps.Clone(in.Annotations)
	if meta.Annotations == nil {
		meta.Annotations = map[string]string{}
	}
	// Upload body size for ingress-nginx, which takes plain bytes (its "100M" would mean
	// mebibytes and it refuses "100Mi"); harmless for other controllers.
	meta.Annotations["nginx.ingress.kubernetes.io/proxy-body-size"] = strconv.FormatInt(in.MaxBodySize.Value(), 10)
	if in.TLS != nil && in.TLS.Issuer != nil {
		key := "cert-manager.io/cluster-issuer"
		if in.TLS.Issuer.Kind == "Issuer" {
			key = "cert-manager.io/issuer"
		}
		meta.Annotations[key] = in.TLS.Issuer.Name
	}

	backend := networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
		Name: g.ServerName(), Port: networkingv1.ServiceBackendPort{Name: "http"},
	}}
	paths := []networkingv1.HTTPIngressPath{
		{Path: "/api", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: backend},
		{Path: "/", PathType: ptr.To(networkingv1.PathTypePrefix), Backend: backend},
	}
	ing := &networkingv1.Ingress{
		TypeMeta:   typeMeta("networking.k8s.io/v1", "Ingress"),
		ObjectMeta: meta,
		Spec:       networkingv1.IngressSpec{IngressClassName: in.ClassName},
	}
	for _, h := range in.Hosts {
		ing.Spec.Rules = append(ing.Spec.Rules, networkingv1.IngressRule{
			Host:             h,
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}},
		})
	}
	if in.TLS != nil {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: in.Hosts, SecretName: g.TLSSecretName()}}
	}
	return ing
}

// URL is where users reach the gallery: the first ingress host, or the Service's
// in-cluster address.
func URL(g *galleryv1alpha1.Gallery) string {
	if in := g.Spec.Ingress; in != nil && len(in.Hosts) > 0 {
		scheme := "http"
		if in.TLS != nil {
			scheme = "https"
		}
		return scheme + "://" + in.Hosts[0]
	}
	return "http://" + g.ServerName() + "." + g.Namespace + ".svc"
}
