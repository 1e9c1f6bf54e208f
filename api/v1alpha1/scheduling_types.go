package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The types in this file carry the fields of their Kubernetes namesakes (the same JSON)
// with the rules the API server applies to a pod, so a mistake is refused when the
// Gallery is applied, naming the field, rather than when the operator applies its
// Deployments. The rules are those of the oldest Kubernetes the chart supports, which
// are the strictest.

// LabelKey is a Kubernetes label key: an optional DNS-subdomain prefix and '/', then
// at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or
// digit. E.g. topology.kubernetes.io/zone.
//
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=317
// +kubebuilder:validation:Pattern=`^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`
type LabelKey string

// EnvVar is an environment variable of a container: corev1.EnvVar whose name must be
// a C-identifier-like name ('-', '.', '_', letters and digits, not starting with a
// digit), which every supported Kubernetes accepts.
//
// +kubebuilder:validation:XValidation:rule="!(has(self.value) && size(self.value) > 0 && has(self.valueFrom))",message="set value or valueFrom, not both"
// +kubebuilder:validation:XValidation:rule="self.name != '.' && !self.name.startsWith('..')",message="an environment variable may not be named '.' or start with '..'"
// +kubebuilder:validation:XValidation:rule="!has(self.valueFrom) || [has(self.valueFrom.fieldRef), has(self.valueFrom.resourceFieldRef), has(self.valueFrom.configMapKeyRef), has(self.valueFrom.secretKeyRef)].filter(x, x).size() == 1",message="valueFrom takes exactly one of fieldRef, resourceFieldRef, configMapKeyRef and secretKeyRef"
type EnvVar struct {
	// name of the variable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z][-._a-zA-Z0-9]*$`
	Name string `json:"name"`

	// value of the variable; $(VAR) expands as in a pod spec.
	// +optional
	Value string `json:"value,omitempty"`

	// valueFrom reads the value from a Secret, ConfigMap or field.
	// +optional
	ValueFrom *corev1.EnvVarSource `json:"valueFrom,omitempty"`
}

// CoreEnv is env as a container's environment.
func CoreEnv(env []EnvVar) []corev1.EnvVar {
	if env == nil {
		return nil
	}
	out := make([]corev1.EnvVar, len(env))
	for i, e := range env {
		out[i] = corev1.EnvVar{Name: e.Name, Value: e.Value, ValueFrom: e.ValueFrom}
	}
	return out
}

// Toleration lets pods run on nodes with a matching taint (corev1.Toleration).
//
// +kubebuilder:validation:XValidation:rule="(has(self.key) && size(self.key) > 0) || (has(self.operator) && self.operator == 'Exists')",message="a toleration without a key must have operator Exists (it then tolerates every taint)"
// +kubebuilder:validation:XValidation:rule="!(has(self.operator) && self.operator == 'Exists' && has(self.value) && size(self.value) > 0)",message="a toleration with operator Exists has no value"
// +kubebuilder:validation:XValidation:rule="!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",message="tolerationSeconds applies to effect NoExecute only"
type Toleration struct {
	// key is the taint key; empty with operator Exists matches every taint.
	// +optional
	// +kubebuilder:validation:MaxLength=317
	// +kubebuilder:validation:Pattern=`^(([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$`
	Key string `json:"key,omitempty"`

	// operator is Equal (the default: key and value match) or Exists (the key matches).
	// +optional
	// +kubebuilder:validation:Enum=Exists;Equal
	Operator corev1.TolerationOperator `json:"operator,omitempty"`

	// value is the taint value, for operator Equal.
	// +optional
	Value LabelValue `json:"value,omitempty"`

	// effect is the taint effect matched (NoSchedule, PreferNoSchedule, NoExecute);
	// empty matches all.
	// +optional
	// +kubebuilder:validation:Enum=NoSchedule;PreferNoSchedule;NoExecute
	Effect corev1.TaintEffect `json:"effect,omitempty"`

	// tolerationSeconds is how long a pod stays on a node that gains a NoExecute taint.
	// +optional
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// CoreTolerations is t as pod tolerations.
func CoreTolerations(t []Toleration) []corev1.Toleration {
	if t == nil {
		return nil
	}
	out := make([]corev1.Toleration, len(t))
	for i, x := range t {
		out[i] = corev1.Toleration{
			Key: x.Key, Operator: x.Operator, Value: string(x.Value), Effect: x.Effect,
			TolerationSeconds: x.TolerationSeconds,
		}
	}
	return out
}

// Affinity is node and pod (anti-)affinity (corev1.Affinity).
type Affinity struct {
	// nodeAffinity picks nodes by their labels.
	// +optional
	NodeAffinity *NodeAffinity `json:"nodeAffinity,omitempty"`

	// podAffinity places pods near pods with matching labels.
	// +optional
	PodAffinity *PodAffinity `json:"podAffinity,omitempty"`

	// podAntiAffinity keeps pods away from pods with matching labels.
	// +optional
	PodAntiAffinity *PodAffinity `json:"podAntiAffinity,omitempty"`
}

// NodeAffinity is corev1.NodeAffinity.
type NodeAffinity struct {
	// requiredDuringSchedulingIgnoredDuringExecution: a node must match one of the
	// terms.
	// +optional
	RequiredDuringSchedulingIgnoredDuringExecution *NodeSelector `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`

	// preferredDuringSchedulingIgnoredDuringExecution: nodes matching more weight are
	// preferred.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	PreferredDuringSchedulingIgnoredDuringExecution []PreferredSchedulingTerm `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// NodeSelector is corev1.NodeSelector: the terms are ORed.
type NodeSelector struct {
	// nodeSelectorTerms, at least one.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	NodeSelectorTerms []NodeSelectorTerm `json:"nodeSelectorTerms"`
}

// NodeSelectorTerm is corev1.NodeSelectorTerm: its requirements are ANDed.
type NodeSelectorTerm struct {
	// matchExpressions on node labels.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	MatchExpressions []NodeSelectorRequirement `json:"matchExpressions,omitempty"`

	// matchFields on node fields: metadata.name only.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	MatchFields []NodeFieldRequirement `json:"matchFields,omitempty"`
}

// NodeSelectorRequirement is corev1.NodeSelectorRequirement on a node label.
//
// +kubebuilder:validation:XValidation:rule="self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : true",message="operator In and NotIn need at least one value"
// +kubebuilder:validation:XValidation:rule="self.operator in ['Exists', 'DoesNotExist'] ? !has(self.values) || size(self.values) == 0 : true",message="operator Exists and DoesNotExist take no values"
// +kubebuilder:validation:XValidation:rule="self.operator in ['Gt', 'Lt'] ? has(self.values) && size(self.values) == 1 && self.values[0].matches('^-?[0-9]+$') : true",message="operator Gt and Lt take exactly one value, an integer"
type NodeSelectorRequirement struct {
	// key is the label key.
	// +required
	Key LabelKey `json:"key"`

	// operator is In, NotIn, Exists, DoesNotExist, Gt or Lt.
	// +required
	// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist;Gt;Lt
	Operator corev1.NodeSelectorOperator `json:"operator"`

	// values to compare with.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=63
	Values []string `json:"values,omitempty"`
}

// NodeFieldRequirement is a corev1.NodeSelectorRequirement on a node field.
type NodeFieldRequirement struct {
	// key is metadata.name, the only node field a selector may use.
	// +required
	// +kubebuilder:validation:Enum=metadata.name
	Key string `json:"key"`

	// operator is In or NotIn.
	// +required
	// +kubebuilder:validation:Enum=In;NotIn
	Operator corev1.NodeSelectorOperator `json:"operator"`

	// values holds exactly one node name.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1
	// +kubebuilder:validation:items:MaxLength=253
	Values []string `json:"values"`
}

// PreferredSchedulingTerm is corev1.PreferredSchedulingTerm.
type PreferredSchedulingTerm struct {
	// weight from 1 to 100.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Weight int32 `json:"weight"`

	// preference is the term a node should match.
	// +required
	Preference NodeSelectorTerm `json:"preference"`
}

// PodAffinity is corev1.PodAffinity (and, with the same fields, corev1.PodAntiAffinity).
type PodAffinity struct {
	// requiredDuringSchedulingIgnoredDuringExecution terms must all hold.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	RequiredDuringSchedulingIgnoredDuringExecution []PodAffinityTerm `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`

	// preferredDuringSchedulingIgnoredDuringExecution terms add their weight.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	PreferredDuringSchedulingIgnoredDuringExecution []WeightedPodAffinityTerm `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// PodAffinityTerm is corev1.PodAffinityTerm.
type PodAffinityTerm struct {
	// labelSelector picks the pods.
	// +optional
	LabelSelector *LabelSelector `json:"labelSelector,omitempty"`

	// namespaces the pods are looked for in; empty: the Gallery's.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespaces []string `json:"namespaces,omitempty"`

	// topologyKey is the node label that says "near", e.g.
	// topology.kubernetes.io/zone or kubernetes.io/hostname.
	// +required
	TopologyKey LabelKey `json:"topologyKey"`

	// namespaceSelector picks the namespaces by label.
	// +optional
	NamespaceSelector *LabelSelector `json:"namespaceSelector,omitempty"`

	// matchLabelKeys are label keys whose values, taken from the incoming pod, are
	// added to labelSelector (Kubernetes 1.31 and later; older servers drop it).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	MatchLabelKeys []LabelKey `json:"matchLabelKeys,omitempty"`

	// mismatchLabelKeys are label keys whose values, taken from the incoming pod, must
	// differ (Kubernetes 1.31 and later; older servers drop it).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	MismatchLabelKeys []LabelKey `json:"mismatchLabelKeys,omitempty"`
}

// WeightedPodAffinityTerm is corev1.WeightedPodAffinityTerm.
type WeightedPodAffinityTerm struct {
	// weight from 1 to 100.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	Weight int32 `json:"weight"`

	// podAffinityTerm is the term.
	// +required
	PodAffinityTerm PodAffinityTerm `json:"podAffinityTerm"`
}

// LabelSelector is metav1.LabelSelector.
type LabelSelector struct {
	// matchLabels are label key/value pairs, ANDed.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 317 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))",message="every key must be a label key, e.g. app.kubernetes.io/name"
	MatchLabels map[string]LabelValue `json:"matchLabels,omitempty"`

	// matchExpressions are label requirements, ANDed.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement is metav1.LabelSelectorRequirement.
//
// +kubebuilder:validation:XValidation:rule="self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",message="operator In and NotIn need at least one value; Exists and DoesNotExist take none"
type LabelSelectorRequirement struct {
	// key is the label key.
	// +required
	Key LabelKey `json:"key"`

	// operator is In, NotIn, Exists or DoesNotExist.
	// +required
	// +kubebuilder:validation:Enum=In;NotIn;Exists;DoesNotExist
	Operator metav1.LabelSelectorOperator `json:"operator"`

	// values to compare with.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=64
	Values []LabelValue `json:"values,omitempty"`
}

// Core is a as a pod's affinity.
func (a *Affinity) Core() *corev1.Affinity {
	if a == nil {
		return nil
	}
	out := &corev1.Affinity{}
	if n := a.NodeAffinity; n != nil {
		out.NodeAffinity = &corev1.NodeAffinity{}
		if r := n.RequiredDuringSchedulingIgnoredDuringExecution; r != nil {
			terms := make([]corev1.NodeSelectorTerm, len(r.NodeSelectorTerms))
			for i, t := range r.NodeSelectorTerms {
				terms[i] = t.core()
			}
			out.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{NodeSelectorTerms: terms}
		}
		for _, p := range n.PreferredDuringSchedulingIgnoredDuringExecution {
			out.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(out.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
				corev1.PreferredSchedulingTerm{Weight: p.Weight, Preference: p.Preference.core()})
		}
	}
	if p := a.PodAffinity; p != nil {
		req, pref := p.core()
		out.PodAffinity = &corev1.PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: req, PreferredDuringSchedulingIgnoredDuringExecution: pref}
	}
	if p := a.PodAntiAffinity; p != nil {
		req, pref := p.core()
		out.PodAntiAffinity = &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: req, PreferredDuringSchedulingIgnoredDuringExecution: pref}
	}
	return out
}

func (t NodeSelectorTerm) core() corev1.NodeSelectorTerm {
	var out corev1.NodeSelectorTerm
	for _, e := range t.MatchExpressions {
		out.MatchExpressions = append(out.MatchExpressions, corev1.NodeSelectorRequirement{Key: string(e.Key), Operator: e.Operator, Values: e.Values})
	}
	for _, f := range t.MatchFields {
		out.MatchFields = append(out.MatchFields, corev1.NodeSelectorRequirement{Key: f.Key, Operator: f.Operator, Values: f.Values})
	}
	return out
}

func (p *PodAffinity) core() (required []corev1.PodAffinityTerm, preferred []corev1.WeightedPodAffinityTerm) {
	for _, t := range p.RequiredDuringSchedulingIgnoredDuringExecution {
		required = append(required, t.core())
	}
	for _, w := range p.PreferredDuringSchedulingIgnoredDuringExecution {
		preferred = append(preferred, corev1.WeightedPodAffinityTerm{Weight: w.Weight, PodAffinityTerm: w.PodAffinityTerm.core()})
	}
	return required, preferred
}

func (t PodAffinityTerm) core() corev1.PodAffinityTerm {
	return corev1.PodAffinityTerm{
		LabelSelector:     t.LabelSelector.core(),
		Namespaces:        t.Namespaces,
		TopologyKey:       string(t.TopologyKey),
		NamespaceSelector: t.NamespaceSelector.core(),
		MatchLabelKeys:    labelKeys(t.MatchLabelKeys),
		MismatchLabelKeys: labelKeys(t.MismatchLabelKeys),
	}
}

func labelKeys(keys []LabelKey) []string {
	if keys == nil {
		return nil
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = string(k)
	}
	return out
}

func (s *LabelSelector) core() *metav1.LabelSelector {
	if s == nil {
		return nil
	}
	out := &metav1.LabelSelector{}
	if s.MatchLabels != nil {
		out.MatchLabels = make(map[string]string, len(s.MatchLabels))
		for k, v := range s.MatchLabels {
			out.MatchLabels[k] = string(v)
		}
	}
	for _, e := range s.MatchExpressions {
		var values []string
		for _, v := range e.Values {
			values = append(values, string(v))
		}
		out.MatchExpressions = append(out.MatchExpressions, metav1.LabelSelectorRequirement{Key: string(e.Key), Operator: e.Operator, Values: values})
	}
	return out
}
