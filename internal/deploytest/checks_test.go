package deploytest

import (
	"fmt"
	"maps"
	"net"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// A check reports every disagreement it finds; none means it holds.
type check struct {
	name string
	run  func(b *bundle, f *facts) []string
}

var checks = []check{
	{"dockerfile", checkDockerfile},
	{"kustomization", checkKustomization},
	{"serve-args", checkServeArgs},
	{"ports", checkPorts},
	{"probes", checkProbes},
	{"image", checkImage},
	{"executor-id", checkExecutorID},
	{"non-root", checkNonRoot},
	{"selectors", checkSelectors},
	{"secrets", checkSecrets},
	{"grace", checkGrace},
	{"resources", checkResources},
}

// buildCommand is the build the image runs; TestStaticBinary runs it too.
const buildCommand = `CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/syndicate ./cmd/syndicate`

// serveShutdown is how long `syndicate serve` may take to stop after
// SIGTERM: srv.Close(10 * time.Second) in internal/cli/serve.go waits up to
// 10 s for in-flight requests, then up to 10 s for running steps. The
// kubelet must not kill a pod before that.
const serveShutdown = 20

// probs collects problems.
type probs []string

func (p *probs) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// wl is a Deployment or StatefulSet with its decoded spec.
type wl struct {
	object
	workload
}

func (b *bundle) workloads(p *probs) []wl {
	var out []wl
	for _, o := range b.objects {
		if o.Kind != "Deployment" && o.Kind != "StatefulSet" {
			continue
		}
		w := wl{object: o}
		if err := o.decode(&w.workload); err != nil {
			p.add("%v", err)
			continue
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		p.add("no Deployment or StatefulSet under %s", manifestDir)
	}
	return out
}

// port is the container port the image serves on: the port of --addr in
// the Dockerfile's CMD.
func (b *bundle) port() (int, error) {
	i := slices.Index(b.docker.cmd, "--addr")
	if i < 0 || i+1 >= len(b.docker.cmd) {
		return 0, fmt.Errorf("Dockerfile CMD %q has no --addr", b.docker.cmd)
	}
	return addrPort(b.docker.cmd[i+1])
}

func addrPort(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("--addr %q: %w", addr, err)
	}
	return strconv.Atoi(p)
}

// resolve turns a probe or service port (number or name) into a number.
func (c container) resolve(port any) (int, error) {
	switch v := port.(type) {
	case int:
		return v, nil
	case string:
		for _, p := range c.Ports {
			if p.Name == v {
				return p.ContainerPort, nil
			}
		}
		return 0, fmt.Errorf("container %s has no port named %q", c.Name, v)
	}
	return 0, fmt.Errorf("port %v: want a number or a name", port)
}

func checkDockerfile(b *bundle, f *facts) []string {
	var p probs
	d := b.docker
	if d.from != "scratch" && !strings.HasPrefix(d.from, "gcr.io/distroless/static") {
		p.add("Dockerfile: final stage FROM %s: want distroless/static or scratch (nothing but the static binary is needed)", d.from)
	}
	if !slices.ContainsFunc(d.runs, func(r string) bool { return strings.Contains(r, buildCommand) }) {
		p.add("Dockerfile: no RUN with %s", buildCommand)
	}
	if !slices.ContainsFunc(d.copies, func(c string) bool {
		return strings.HasPrefix(c, "--from=") && strings.HasSuffix(c, " /out/syndicate /syndicate")
	}) {
		p.add("Dockerfile: the final stage does not COPY /out/syndicate to /syndicate")
	}
	if !slices.Equal(d.entrypoint, []string{"/syndicate"}) {
		p.add("Dockerfile: ENTRYPOINT %q, want [\"/syndicate\"]", d.entrypoint)
	}
	if uid, err := dockerUID(d.user); err != nil || uid == 0 {
		p.add("Dockerfile: USER %q: want a numeric non-root uid (Kubernetes can verify only numbers)", d.user)
	}
	vals, err := f.parseServe(d.cmd)
	if err != nil {
		p.add("Dockerfile CMD: %v", err)
		return p
	}
	port, err := b.port()
	if err != nil {
		p.add("%v", err)
	} else if !slices.Equal(d.expose, []string{strconv.Itoa(port)}) {
		p.add("Dockerfile: EXPOSE %v, but CMD listens on port %d", d.expose, port)
	}
	if dir := vals["data-dir"]; dir == "" || !slices.Contains(d.volumes, dir) {
		p.add("Dockerfile: VOLUME %v does not hold CMD's --data-dir %q", d.volumes, dir)
	}
	return p
}

func dockerUID(user string) (int, error) {
	u, _, _ := strings.Cut(user, ":")
	return strconv.Atoi(u)
}

func checkKustomization(b *bundle, _ *facts) []string {
	var p probs
	k := b.kust
	if k == nil {
		return []string{"no kustomization.yaml under " + manifestDir}
	}
	dir := path.Dir(k.file)
	listed := map[string]bool{}
	for _, r := range k.Resources {
		f := path.Join(dir, r)
		listed[f] = true
		if _, ok := b.files[f]; !ok {
			p.add("%s lists %s, which does not exist", k.file, r)
		}
	}
	for f := range b.files {
		if path.Dir(f) == dir && f != k.file && !strings.HasSuffix(f, ".example.yaml") && !listed[f] {
			p.add("%s is not listed in %s (name it *.example.yaml or move it to optional/ if it is not to be applied)", f, k.file)
		}
	}
	var ns []string
	for _, o := range b.objects {
		if o.Kind == "Namespace" && listed[o.file] {
			ns = append(ns, o.Metadata.Name)
		}
	}
	if len(ns) != 1 || k.Namespace != ns[0] {
		p.add("%s: namespace %q, Namespace objects applied %v: want one, the same", k.file, k.Namespace, ns)
	}
	for _, o := range b.objects {
		if o.Kind == "Secret" && listed[o.file] {
			p.add("%s is applied by %s: apply -k would overwrite the real Secret with placeholders", o, k.file)
		}
		if o.Kind != "Namespace" && o.Metadata.Namespace != k.Namespace {
			p.add("%s: namespace %q, want %q", o, o.Metadata.Namespace, k.Namespace)
		}
	}
	return p
}

// checkServeArgs: every container runs the image's entrypoint with args
// serve accepts, every SYNDICATE_* variable it sets is one serve reads, and
// each workload's --role is its component label.
func checkServeArgs(b *bundle, f *facts) []string {
	var p probs
	for _, w := range b.workloads(&p) {
		for _, c := range w.Spec.Template.Spec.Containers {
			if len(c.Command) > 0 && !slices.Equal(c.Command, b.docker.entrypoint) {
				p.add("%s: command %q replaces the image's ENTRYPOINT %q", w.object, c.Command, b.docker.entrypoint)
			}
			vals, err := f.parseServe(c.Args)
			if err != nil {
				p.add("%s: %v", w.object, err)
				continue
			}
			if comp := w.Spec.Template.Metadata.Labels["app.kubernetes.io/component"]; vals["role"] != comp {
				p.add("%s: --role %q but its pods are labelled component %q (Services and PDBs select by that label)", w.object, vals["role"], comp)
			}
			for _, e := range c.Env {
				if strings.HasPrefix(e.Name, "SYNDICATE_") && !f.env[e.Name] {
					p.add("%s: sets %s, which syndicate serve does not read (it reads %v)", w.object, e.Name, slices.Sorted(maps.Keys(f.env)))
				}
			}
		}
	}
	return p
}

// checkPorts: the container port, the port in the args, every probe port
// and every Service target port are the port the image serves on.
func checkPorts(b *bundle, f *facts) []string {
	var p probs
	want, err := b.port()
	if err != nil {
		return []string{err.Error()}
	}
	ws := b.workloads(&p)
	for _, w := range ws {
		for _, c := range w.Spec.Template.Spec.Containers {
			if len(c.Ports) != 1 || c.Ports[0].ContainerPort != want {
				p.add("%s: container ports %+v, want exactly %d (Dockerfile CMD/EXPOSE)", w.object, c.Ports, want)
			}
			if vals, err := f.parseServe(c.Args); err == nil {
				if got, err := addrPort(vals["addr"]); err != nil || got != want {
					p.add("%s: args --addr %q, want port %d", w.object, vals["addr"], want)
				}
			}
			for _, pr := range []*probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
				if pr == nil || pr.HTTPGet == nil {
					continue
				}
				if got, err := c.resolve(pr.HTTPGet.Port); err != nil || got != want {
					p.add("%s: probe %s on port %v (%d, %v), want %d", w.object, pr.HTTPGet.Path, pr.HTTPGet.Port, got, err, want)
				}
			}
		}
	}
	for _, o := range b.objects {
		if o.Kind != "Service" {
			continue
		}
		var s service
		if err := o.decode(&s); err != nil {
			p.add("%v", err)
			continue
		}
		for _, w := range ws {
			if !selects(s.Spec.Selector, w.Spec.Template.Metadata.Labels) {
				continue
			}
			for _, sp := range s.Spec.Ports {
				for _, c := range w.Spec.Template.Spec.Containers {
					if got, err := c.resolve(sp.TargetPort); err != nil || got != want {
						p.add("%s: port %d targets %v, which is %d in %s (%v), want %d", o, sp.Port, sp.TargetPort, got, w.object, err, want)
					}
				}
			}
		}
	}
	return p
}

// checkProbes: every container has HTTP readiness and liveness probes; every
// probe path is an API route answering 200 on a running server; liveness
// and startup paths still answer 200 with the database gone (else an outage
// restarts every pod), and the readiness path then does not.
func checkProbes(b *bundle, f *facts) []string {
	var p probs
	expect := func(w wl, kind, pathname, base string, ok bool) {
		code, api, err := f.get(base, pathname)
		if err != nil || !api || (code == 200) != ok {
			state := "running server"
			if base == f.down {
				state = "server whose database is down"
			}
			p.add("%s: %s probe GET %s on a %s: %d (API JSON: %t) %v", w.object, kind, pathname, state, code, api, err)
		}
	}
	for _, w := range b.workloads(&p) {
		for _, c := range w.Spec.Template.Spec.Containers {
			for _, pr := range []struct {
				kind      string
				probe     *probe
				required  bool
				okWhenDBs bool // 200 expected when the database is down
			}{
				{"readiness", c.ReadinessProbe, true, false},
				{"liveness", c.LivenessProbe, true, true},
				{"startup", c.StartupProbe, false, true},
			} {
				if pr.probe == nil || pr.probe.HTTPGet == nil {
					if pr.required {
						p.add("%s: container %s has no HTTP %s probe", w.object, c.Name, pr.kind)
					}
					continue
				}
				path := pr.probe.HTTPGet.Path
				expect(w, pr.kind, path, f.up, true)
				expect(w, pr.kind, path, f.down, pr.okWhenDBs)
			}
		}
	}
	return p
}

var docImage = regexp.MustCompile("(?m)^Image: `([^`]+)`")

// checkImage: every container runs the image docs/deploy.md names, and the
// kustomization rewrites that same name.
func checkImage(b *bundle, _ *facts) []string {
	var p probs
	m := docImage.FindStringSubmatch(b.files[deployDoc])
	if m == nil {
		return []string{deployDoc + ": no line \"Image: `NAME`\""}
	}
	want := m[1]
	for _, w := range b.workloads(&p) {
		for _, c := range w.Spec.Template.Spec.Containers {
			if repo := imageRepo(c.Image); repo != want {
				p.add("%s: image %s, %s documents %s", w.object, c.Image, deployDoc, want)
			}
		}
	}
	if b.kust != nil {
		for _, im := range b.kust.Images {
			if im.Name != want {
				p.add("%s: images entry %s, %s documents %s", b.kust.file, im.Name, deployDoc, want)
			}
		}
		if len(b.kust.Images) == 0 {
			p.add("%s: no images entry to set the tag", b.kust.file)
		}
	}
	return p
}

// imageRepo strips the tag and digest from an image reference.
func imageRepo(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}
