package deploytest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// root is the repository root, seen from this package's folder (go test
// runs a package's tests in its own folder).
const root = "../.."

const (
	manifestDir = "deploy/kubernetes"
	dockerfile  = "Dockerfile"
	deployDoc   = "docs/deploy.md"
)

// bundle is every deployment artifact, parsed.
type bundle struct {
	files   map[string]string // path from the root → content
	objects []object          // every Kubernetes document under manifestDir
	kust    *kustomization
	docker  dockerFile
}

// readFiles reads the artifacts the checks look at.
func readFiles() (map[string]string, error) {
	files := map[string]string{}
	for _, p := range []string{dockerfile, deployDoc} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			return nil, err
		}
		files[p] = string(b)
	}
	err := filepath.WalkDir(filepath.Join(root, manifestDir), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	return files, err
}

// parse parses files into a bundle; any document that does not parse is an
// error, so a broken manifest cannot pass by being skipped.
func parse(files map[string]string) (*bundle, error) {
	b := &bundle{files: files}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !strings.HasPrefix(name, manifestDir+"/") {
			continue
		}
		dec := yaml.NewDecoder(strings.NewReader(files[name]))
		for {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if len(n.Content) == 0 {
				continue // an empty document (a lone ---)
			}
			o := object{file: name, line: n.Content[0].Line, node: &n}
			if err := n.Decode(&o.header); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, o.line, err)
			}
			if o.APIVersion == "" || o.Kind == "" {
				return nil, fmt.Errorf("%s:%d: document without apiVersion or kind", name, o.line)
			}
			if o.Kind == "Kustomization" {
				if b.kust != nil {
					return nil, fmt.Errorf("%s: a second Kustomization", name)
				}
				b.kust = &kustomization{file: name}
				if err := n.Decode(b.kust); err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
				continue
			}
			b.objects = append(b.objects, o)
		}
	}
	var err error
	b.docker, err = parseDockerfile(files[dockerfile])
	return b, err
}

// object is one Kubernetes document.
type object struct {
	file string
	line int
	node *yaml.Node
	header
}

type header struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   meta   `yaml:"metadata"`
}

type meta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

func (o object) String() string {
	return fmt.Sprintf("%s:%d %s %s", o.file, o.line, o.Kind, o.Metadata.Name)
}

// decode decodes the whole document into v; a manifest that does not fit
// the shape the checks expect is reported, not ignored.
func (o object) decode(v any) error {
	if err := o.node.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", o, err)
	}
	return nil
}

type kustomization struct {
	file      string
	Namespace string   `yaml:"namespace"`
	Resources []string `yaml:"resources"`
	Images    []struct {
		Name string `yaml:"name"`
	} `yaml:"images"`
}

// workload is a Deployment or a StatefulSet.
type workload struct {
	Spec struct {
		Replicas    *int     `yaml:"replicas"`
		ServiceName string   `yaml:"serviceName"`
		Selector    selector `yaml:"selector"`
		Template    struct {
			Metadata meta    `yaml:"metadata"`
			Spec     podSpec `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type selector struct {
	MatchLabels      map[string]string `yaml:"matchLabels"`
	MatchExpressions []any             `yaml:"matchExpressions"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int        `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               security    `yaml:"securityContext"`
	Containers                    []container `yaml:"containers"`
	Volumes                       []volume    `yaml:"volumes"`
}

type volume struct {
	Name string `yaml:"name"`
}

type mount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly"`
}

type security struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	RunAsUser                *int  `yaml:"runAsUser"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env            []envVar `yaml:"env"`
	ReadinessProbe *probe   `yaml:"readinessProbe"`
	LivenessProbe  *probe   `yaml:"livenessProbe"`
	StartupProbe   *probe   `yaml:"startupProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext security `yaml:"securityContext"`
	VolumeMounts    []mount  `yaml:"volumeMounts"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		FieldRef *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
		SecretKeyRef *struct {
			Name string `yaml:"name"`
			Key  string `yaml:"key"`
		} `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"` // a number or a port name
	} `yaml:"httpGet"`
}

type service struct {
	Spec struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Port       int `yaml:"port"`
			TargetPort any `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type pdb struct {
	Spec struct {
		Selector       selector `yaml:"selector"`
		MinAvailable   any      `yaml:"minAvailable"`
		MaxUnavailable any      `yaml:"maxUnavailable"`
	} `yaml:"spec"`
}

type secretObject struct {
	StringData map[string]string `yaml:"stringData"`
	Data       map[string]string `yaml:"data"`
}

type networkPolicy struct {
	Spec struct {
		PodSelector selector `yaml:"podSelector"`
	} `yaml:"spec"`
}

// dockerFile is what the checks need from the Dockerfile: every RUN, and
// the final stage's base, user, ports, volumes, copies, entrypoint and cmd.
type dockerFile struct {
	runs                  []string
	from, user            string
	expose, volumes       []string
	copies                []string
	entrypoint, cmd       []string
	hasEntrypoint, hasCmd bool
}

func parseDockerfile(text string) (dockerFile, error) {
	var d dockerFile
	// Join continuation lines, drop comments and blank lines.
	var lines []string
	var cur strings.Builder
	for _, l := range strings.Split(text, "\n") {
		t := strings.TrimSpace(l)
		if cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if s, ok := strings.CutSuffix(t, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(t)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM": // a new stage: only the last one's settings count
			fields := strings.Fields(rest)
			for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
				fields = fields[1:]
			}
			if len(fields) == 0 {
				return d, fmt.Errorf("Dockerfile: FROM without an image")
			}
			d = dockerFile{runs: d.runs, from: fields[0]}
		case "RUN":
			d.runs = append(d.runs, rest)
		case "USER":
			d.user = rest
		case "EXPOSE":
			d.expose = append(d.expose, strings.Fields(rest)...)
		case "VOLUME":
			var v []string
			if json.Unmarshal([]byte(rest), &v) != nil {
				v = strings.Fields(rest)
			}
			d.volumes = append(d.volumes, v...)
		case "COPY":
			d.copies = append(d.copies, rest)
		case "ENTRYPOINT", "CMD":
			var v []string
			// Exec form only: the shell form needs a shell, which distroless lacks.
			dec := json.NewDecoder(bytes.NewReader([]byte(rest)))
			if err := dec.Decode(&v); err != nil {
				return d, fmt.Errorf("Dockerfile: %s must be a JSON array (exec form): %s", instr, rest)
			}
			if strings.EqualFold(instr, "CMD") {
				d.cmd, d.hasCmd = v, true
			} else {
				d.entrypoint, d.hasEntrypoint = v, true
			}
		}
	}
	if d.from == "" {
		return d, fmt.Errorf("Dockerfile: no FROM")
	}
	return d, nil
}
