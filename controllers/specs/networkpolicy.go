package specs

import (
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	galleryv1alpha1 "github.com/sortographer/sortographer/api/v1alpha1"
)

// NetworkPolicies deny everything to and from the Gallery's pods, then allow exactly the
// flows the gallery needs.
func NetworkPolicies(g *galleryv1alpha1.Gallery) []*networkingv1.NetworkPolicy {
	all := metav1.LabelSelector{MatchLabels: map[string]string{galleryv1alpha1.LabelName: galleryv1alpha1.AppName, galleryv1alpha1.LabelInstance: g.Name}}
	both := []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}
	policies := []*networkingv1.NetworkPolicy{
		policy(g, g.Name+"-default-deny", galleryv1alpha1.ComponentServer, all, both, nil, nil),
	}
	appEgress := galleryEgress(g)
	http := []networkingv1.NetworkPolicyPort{port(g.Spec.Server.Port)}
	// The ingress controller runs in a namespace and with labels that vary by cluster
	// (and the ALB in IP mode connects from the VPC), so the server port is open to all;
	// nothing else on the pod listens.
	policies = append(policies, policy(g, g.ServerName(), galleryv1alpha1.ComponentServer,
		metav1.LabelSelector{MatchLabels: g.SelectorLabels(galleryv1alpha1.ComponentServer)}, both,
		[]networkingv1.NetworkPolicyIngressRule{{Ports: http}}, appEgress))
	if g.RunsWorkers() {
		// Workers serve only health and metrics on the same port (Prometheus scrapes it).
		policies = append(policies, policy(g, g.WorkersName(), galleryv1alpha1.ComponentWorkers,
			metav1.LabelSelector{MatchLabels: g.SelectorLabels(galleryv1alpha1.ComponentWorkers)}, both,
			[]networkingv1.NetworkPolicyIngressRule{{Ports: http}}, appEgress))
	}
	fromApp := []networkingv1.NetworkPolicyPeer{appPeer(g, galleryv1alpha1.ComponentServer)}
	if g.RunsWorkers() {
		fromApp = append(fromApp, appPeer(g, galleryv1alpha1.ComponentWorkers))
	}
	if g.Spec.Cache.Managed != nil {
		policies = append(policies, policy(g, g.RedisName(), galleryv1alpha1.ComponentRedis,
			metav1.LabelSelector{MatchLabels: g.SelectorLabels(galleryv1alpha1.ComponentRedis)},
			[]networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			[]networkingv1.NetworkPolicyIngressRule{{From: fromApp, Ports: []networkingv1.NetworkPolicyPort{port(galleryv1alpha1.RedisPort)}}}, nil))
	}
	if g.Spec.Database.Managed != nil {
		policies = append(policies, policy(g, g.DatabaseName(), galleryv1alpha1.ComponentDatabase,
			metav1.LabelSelector{MatchLabels: g.SelectorLabels(galleryv1alpha1.ComponentDatabase)},
			[]networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			[]networkingv1.NetworkPolicyIngressRule{{From: fromApp, Ports: []networkingv1.NetworkPolicyPort{port(3306)}}}, nil))
	}
	return policies
}

// galleryEgress is where server and workers may connect: DNS, this Gallery's Redis and
// database (in-cluster pods, or the external port), and HTTPS when AWS is used (AWS
// endpoints have no fixed addresses).
func galleryEgress(g *galleryv1alpha1.Gallery) []networkingv1.NetworkPolicyEgressRule {
	dns := networkingv1.NetworkPolicyEgressRule{
		To: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{},
			PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
		}},
		Ports: []networkingv1.NetworkPolicyPort{
			{Protocol: ptr.To(corev1.ProtocolUDP), Port: ptr.To(intstr.FromInt32(53))},
			{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(53))},
		},
	}
	rules := []networkingv1.NetworkPolicyEgressRule{dns}
	if g.Spec.Cache.Managed != nil {
		rules = append(rules, toPods(g, galleryv1alpha1.ComponentRedis, galleryv1alpha1.RedisPort))
	} else if e := g.Spec.Cache.External; e != nil {
		rules = append(rules, toPort(portOf(e.Address, galleryv1alpha1.RedisPort)))
	}
	if g.Spec.Database.Managed != nil {
		rules = append(rules, toPods(g, galleryv1alpha1.ComponentDatabase, 3306))
	} else if g.Spec.Database.External != nil {
		rules = append(rules, toPort(g.DatabasePort()))
	}
	if UsesAWS(g) {
		rules = append(rules, toPort(443))
	}
	if s3 := g.Spec.Storage.S3; s3 != nil && s3.Endpoint != "" {
		if p := endpointPort(s3.Endpoint); p != 443 {
			rules = append(rules, toPort(p))
		}
	}
	return rules
}

// UsesAWS reports whether the gallery calls AWS APIs (S3 or Rekognition).
func UsesAWS(g *galleryv1alpha1.Gallery) bool {
	return g.Spec.Storage.S3 != nil || g.Spec.Workers.Classifier.Provider == galleryv1alpha1.ClassifierRekognition
}

func policy(g *galleryv1alpha1.Gallery, name, component string, sel metav1.LabelSelector, types []networkingv1.PolicyType,
	ingress []networkingv1.NetworkPolicyIngressRule, egress []networkingv1.NetworkPolicyEgressRule) *networkingv1.NetworkPolicy {
	return &networkingv1.NetworkPolicy{
		TypeMeta:   typeMeta("networking.k8s.io/v1", "NetworkPolicy"),
		ObjectMeta: ObjectMeta(g, name, component),
		Spec:       networkingv1.NetworkPolicySpec{PodSelector: sel, PolicyTypes: types, Ingress: ingress, Egress: egress},
	}
}

func port(p int32) networkingv1.NetworkPolicyPort {
	return networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(p))}
}

func appPeer(g *galleryv1alpha1.Gallery, component string) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: g.SelectorLabels(component)}}
}

func toPods(g *galleryv1alpha1.Gallery, component string, p int32) networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{appPeer(g, component)}, Ports: []networkingv1.NetworkPolicyPort{port(p)}}
}

func toPort(p int32) networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{Ports: []networkingv1.NetworkPolicyPort{port(p)}}
}

func portOf(hostPort string, fallback int32) int32 {
	i := strings.LastIndex(hostPort, ":")
	if i < 0 {
		return fallback
	}
	p, err := strconv.Atoi(hostPort[i+1:])
	if err != nil || p < 1 || p > 65535 {
		return fallback
	}
	return int32(p)
}

func endpointPort(endpoint string) int32 {
	rest := endpoint
	def := int32(443)
	if strings.HasPrefix(rest, "http://") {
		def = 80
	}
	rest = rest[strings.Index(rest, "://")+3:]
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	return portOf(rest, def)
}
