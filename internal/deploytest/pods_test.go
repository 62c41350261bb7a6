package deploytest

import (
	"regexp"
	"slices"
	"strings"
)

// checkExecutorID: StatefulSet workers take their executor id from the pod
// name (stable across restarts, which DBOS recovery needs), and no workload
// with more than one replica gives all of them one fixed id.
func checkExecutorID(b *bundle, f *facts) []string {
	var p probs
	for _, w := range b.workloads(&p) {
		for _, c := range w.Spec.Template.Spec.Containers {
			fromName, literal := false, false
			for _, e := range c.Env {
				if e.Name != "SYNDICATE_EXECUTOR_ID" {
					continue
				}
				switch {
				case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
					fromName = true
				default:
					literal = true
				}
			}
			if vals, err := f.parseServe(c.Args); err == nil {
				if _, ok := vals["executor-id"]; ok {
					literal = true // a flag beats the environment
				}
			}
			if w.Kind == "StatefulSet" && (!fromName || literal) {
				p.add("%s: SYNDICATE_EXECUTOR_ID must come from fieldRef metadata.name, and no --executor-id", w.object)
			}
			if literal && (w.Spec.Replicas == nil || *w.Spec.Replicas != 1) {
				p.add("%s: every replica would share one executor id", w.object)
			}
		}
	}
	return p
}

// checkNonRoot: every container runs as a non-root user (the image's),
// cannot gain privileges, has a read-only root filesystem, and has writable
// volumes at its --data-dir and /tmp.
func checkNonRoot(b *bundle, f *facts) []string {
	var p probs
	imageUID, _ := dockerUID(b.docker.user)
	for _, w := range b.workloads(&p) {
		ps := w.Spec.Template.Spec
		for _, c := range ps.Containers {
			cs := c.SecurityContext
			nonRoot := cs.RunAsNonRoot
			if nonRoot == nil {
				nonRoot = ps.SecurityContext.RunAsNonRoot
			}
			if nonRoot == nil || !*nonRoot {
				p.add("%s: container %s: runAsNonRoot is not true", w.object, c.Name)
			}
			uid := cs.RunAsUser
			if uid == nil {
				uid = ps.SecurityContext.RunAsUser
			}
			if uid != nil && (*uid == 0 || *uid != imageUID) {
				p.add("%s: container %s: runAsUser %d, the image's user is %d", w.object, c.Name, *uid, imageUID)
			}
			if cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation {
				p.add("%s: container %s: allowPrivilegeEscalation is not false", w.object, c.Name)
			}
			if cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem {
				p.add("%s: container %s: readOnlyRootFilesystem is not true", w.object, c.Name)
			}
			vals, _ := f.parseServe(c.Args)
			for _, dir := range []string{vals["data-dir"], "/tmp"} {
				i := slices.IndexFunc(c.VolumeMounts, func(m mount) bool { return m.MountPath == dir })
				switch {
				case dir == "":
					p.add("%s: no --data-dir: the default is relative to / and the root filesystem is read-only", w.object)
				case i < 0 || c.VolumeMounts[i].ReadOnly:
					p.add("%s: container %s: nothing writable mounted at %s", w.object, c.Name, dir)
				case !slices.ContainsFunc(ps.Volumes, func(v volume) bool { return v.Name == c.VolumeMounts[i].Name }):
					p.add("%s: mount %s names volume %q, which the pod does not have", w.object, dir, c.VolumeMounts[i].Name)
				}
			}
		}
	}
	return p
}

// selects reports whether a non-empty label selector matches labels.
func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkSelectors: each workload's selector matches its own pods; each PDB
// selects exactly one workload's pods and says how many may go; each
// Service and NetworkPolicy selects some pods; a StatefulSet's governing
// Service exists and selects its pods.
func checkSelectors(b *bundle, _ *facts) []string {
	var p probs
	ws := b.workloads(&p)
	matching := func(sel selector) (n int, names []string) {
		for _, w := range ws {
			if selects(sel.MatchLabels, w.Spec.Template.Metadata.Labels) {
				names = append(names, w.Metadata.Name)
			}
		}
		return len(names), names
	}
	services := map[string]map[string]string{}
	for _, w := range ws {
		if len(w.Spec.Selector.MatchExpressions) > 0 {
			p.add("%s: matchExpressions are not checked here; use matchLabels", w.object)
		}
		if !selects(w.Spec.Selector.MatchLabels, w.Spec.Template.Metadata.Labels) {
			p.add("%s: selector %v does not match its pod labels %v", w.object, w.Spec.Selector.MatchLabels, w.Spec.Template.Metadata.Labels)
		}
	}
	for _, o := range b.objects {
		switch o.Kind {
		case "PodDisruptionBudget":
			var d pdb
			if err := o.decode(&d); err != nil {
				p.add("%v", err)
				continue
			}
			if n, names := matching(d.Spec.Selector); n != 1 || len(d.Spec.Selector.MatchExpressions) > 0 {
				p.add("%s: selector %v matches the pods of %v, want exactly one workload", o, d.Spec.Selector.MatchLabels, names)
			}
			if (d.Spec.MinAvailable == nil) == (d.Spec.MaxUnavailable == nil) {
				p.add("%s: set exactly one of minAvailable and maxUnavailable", o)
			}
		case "Service":
			var s service
			if err := o.decode(&s); err != nil {
				p.add("%v", err)
				continue
			}
			services[o.Metadata.Name] = s.Spec.Selector
			if n, _ := matching(selector{MatchLabels: s.Spec.Selector}); n == 0 {
				p.add("%s: selector %v matches no workload's pods", o, s.Spec.Selector)
			}
		case "NetworkPolicy":
			var np networkPolicy
			if err := o.decode(&np); err != nil {
				p.add("%v", err)
				continue
			}
			if n, _ := matching(np.Spec.PodSelector); n == 0 {
				p.add("%s: podSelector %v matches no workload's pods", o, np.Spec.PodSelector.MatchLabels)
			}
		}
	}
	for _, w := range ws {
		if w.Kind != "StatefulSet" {
			continue
		}
		sel, ok := services[w.Spec.ServiceName]
		if !ok || !selects(sel, w.Spec.Template.Metadata.Labels) {
			p.add("%s: serviceName %q is not a Service selecting its pods", w.object, w.Spec.ServiceName)
		}
	}
	return p
}

var (
	docSecret  = regexp.MustCompile(`create secret generic ([a-z0-9-]+)`)
	docLiteral = regexp.MustCompile(`--from-literal=([A-Za-z0-9._-]+)=`)
)

// checkSecrets: every secretKeyRef names a key of the placeholder Secret;
// its values are placeholders; and docs/deploy.md creates that Secret with
// those keys.
func checkSecrets(b *bundle, _ *facts) []string {
	var p probs
	secrets := map[string]map[string]string{}
	for _, o := range b.objects {
		if o.Kind != "Secret" {
			continue
		}
		var s secretObject
		if err := o.decode(&s); err != nil {
			p.add("%v", err)
			continue
		}
		if len(s.Data) > 0 {
			p.add("%s: use stringData with visible placeholders, not data", o)
		}
		for k, v := range s.StringData {
			if !strings.Contains(v, "REPLACE_ME") {
				p.add("%s: %s is not a placeholder (must contain REPLACE_ME)", o, k)
			}
		}
		secrets[o.Metadata.Name] = s.StringData
	}
	doc := b.files[deployDoc]
	m := docSecret.FindStringSubmatch(doc)
	documented := map[string]bool{}
	for _, l := range docLiteral.FindAllStringSubmatch(doc, -1) {
		documented[l[1]] = true
	}
	for _, w := range b.workloads(&p) {
		for _, c := range w.Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
					continue
				}
				ref := e.ValueFrom.SecretKeyRef
				if _, ok := secrets[ref.Name][ref.Key]; !ok {
					p.add("%s: %s from secret %s key %s, which no Secret under %s has", w.object, e.Name, ref.Name, ref.Key, manifestDir)
				}
				if m == nil || m[1] != ref.Name || !documented[ref.Key] {
					p.add("%s: %s does not `kubectl create secret generic %s` with --from-literal=%s=", w.object, deployDoc, ref.Name, ref.Key)
				}
			}
		}
	}
	return p
}

// checkGrace: the kubelet waits longer than serve's own shutdown.
func checkGrace(b *bundle, _ *facts) []string {
	var p probs
	for _, w := range b.workloads(&p) {
		g := w.Spec.Template.Spec.TerminationGracePeriodSeconds
		switch {
		case g == nil:
			p.add("%s: no terminationGracePeriodSeconds (the default 30s is short for a transfer)", w.object)
		case *g <= serveShutdown:
			p.add("%s: terminationGracePeriodSeconds %d, want more than serve's %ds shutdown", w.object, *g, serveShutdown)
		}
	}
	return p
}

// checkResources: requests for scheduling, and a memory limit (which
// GOMEMLIMIT follows).
func checkResources(b *bundle, _ *facts) []string {
	var p probs
	for _, w := range b.workloads(&p) {
		for _, c := range w.Spec.Template.Spec.Containers {
			r := c.Resources
			if r.Requests["cpu"] == "" || r.Requests["memory"] == "" || r.Limits["memory"] == "" {
				p.add("%s: container %s: want cpu and memory requests and a memory limit, have %+v", w.object, c.Name, r)
			}
		}
	}
	return p
}
