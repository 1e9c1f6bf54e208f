// Package podenv turns a container of a pod template into the environment a local process
// would need to behave as that container: values from env, envFrom ConfigMaps and Secret
// references read from the cluster (as the kubelet resolves them), and mount paths moved
// under a local folder. `make run` and the tests that run the operator's pod specs as
// real processes use it.
package podenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Resolve returns the container's environment. It fails on a reference it cannot read,
// as a kubelet would refuse to start the container.
func Resolve(ctx context.Context, c client.Reader, ns string, ctr corev1.Container) (map[string]string, error) {
	vars := map[string]string{}
	for _, from := range ctr.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm := &corev1.ConfigMap{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: from.ConfigMapRef.Name}, cm); err != nil {
				return nil, fmt.Errorf("envFrom configmap %s: %w", from.ConfigMapRef.Name, err)
			}
			for k, v := range cm.Data {
				vars[from.Prefix+k] = v
			}
		case from.SecretRef != nil:
			s := &corev1.Secret{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: from.SecretRef.Name}, s); err != nil {
				return nil, fmt.Errorf("envFrom secret %s: %w", from.SecretRef.Name, err)
			}
			for k, v := range s.Data {
				vars[from.Prefix+k] = string(v)
			}
		}
	}
	for _, e := range ctr.Env {
		switch {
		case e.ValueFrom == nil:
			vars[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			v, err := secretKey(ctx, c, ns, e.ValueFrom.SecretKeyRef)
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			vars[e.Name] = v
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			cm := &corev1.ConfigMap{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, cm); err != nil {
				return nil, fmt.Errorf("env %s: configmap %s: %w", e.Name, ref.Name, err)
			}
			vars[e.Name] = cm.Data[ref.Key]
		default:
			return nil, fmt.Errorf("env %s: only values, secret and configmap keys are supported", e.Name)
		}
	}
	return vars, nil
}

func secretKey(ctx context.Context, c client.Reader, ns string, ref *corev1.SecretKeySelector) (string, error) {
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, s); err != nil {
		return "", fmt.Errorf("secret %s: %w", ref.Name, err)
	}
	v, ok := s.Data[ref.Key]
	if !ok {
		return "", fmt.Errorf("secret %s has no key %s", ref.Name, ref.Key)
	}
	return string(v), nil
}

// Remap moves every value that is a path at or under one of the container's mount paths
// (or an extra prefix, such as a data folder) under root, and creates those folders.
func Remap(vars map[string]string, ctr corev1.Container, root string, extra ...string) error {
	prefixes := append([]string{}, extra...)
	for _, m := range ctr.VolumeMounts {
		prefixes = append(prefixes, m.MountPath)
	}
	// Longest first, so /var/lib/x/photos wins over /var/lib/x.
	sort.Slice(prefixes, func(i, j int) bool { return len(prefixes[i]) > len(prefixes[j]) })
	for _, p := range prefixes {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", p, err)
		}
	}
	for k, v := range vars {
		for _, p := range prefixes {
			if v == p || strings.HasPrefix(v, p+"/") {
				vars[k] = filepath.Join(root, v)
				break
			}
		}
	}
	return nil
}

// Environ is vars as os/exec wants them, sorted, after base.
func Environ(base []string, vars map[string]string) []string {
	out := append([]string{}, base...)
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+vars[k])
	}
	return out
}
