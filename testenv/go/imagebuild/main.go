// Command imagebuild writes the meshes-operator container image without a container engine:
// one layer holding a statically linked binary, a CA bundle and passwd/group entries for a
// non-root user, an image config with that user and the binary as entrypoint, written as an
// OCI image layout (a directory) and as a `docker load`-able tarball. Builds are reproducible:
// every file time is --created, owners are root, modes fixed.
//
// It uses go-containerregistry (the library behind crane), pinned in go.mod, and is built by
// testenv/scripts/build.sh like the control-plane binaries.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type file struct {
	path string
	mode int64
	data []byte
}

func main() {
	binary := flag.String("binary", "", "statically linked meshes-operator binary")
	caBundle := flag.String("ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "PEM CA bundle to install")
	tag := flag.String("tag", "", "image reference, e.g. ghcr.io/meshes-operator/meshes-operator:0.1.0")
	outLayout := flag.String("layout", "", "OCI image layout directory to write (replaced)")
	outTar := flag.String("tarball", "", "docker-load tarball to write (optional)")
	uid := flag.Int("uid", 65532, "user and group id of the non-root user")
	created := flag.Int64("created", 0, "creation time (Unix seconds) of the image and its files")
	flag.Parse()
	if *binary == "" || *tag == "" || *outLayout == "" {
		fail(fmt.Errorf("--binary, --tag and --layout are required"))
	}
	if err := build(*binary, *caBundle, *tag, *outLayout, *outTar, *uid, time.Unix(*created, 0).UTC()); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "imagebuild:", err)
	os.Exit(1)
}

func build(binary, caBundle, tag, outLayout, outTar string, uid int, created time.Time) error {
	ref, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("tag %q: %w", tag, err)
	}
	bin, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(caBundle)
	if err != nil {
		return err
	}
	user := fmt.Sprintf("nonroot:x:%d:%d:nonroot:/nonexistent:/sbin/nologin\n", uid, uid)
	group := fmt.Sprintf("nonroot:x:%d:\n", uid)
	files := []file{
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\n" + user)},
		{"etc/group", 0o644, []byte("root:x:0:\n" + group)},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, ca},
		{"usr/local/bin/meshes-operator", 0o755, bin},
	}
	layerTar, err := tarOf(files, created)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.Architecture = "amd64"
	cfg.OS = "linux"
	cfg.Created = v1.Time{Time: created}
	cfg.Config.User = fmt.Sprintf("%d:%d", uid, uid)
	cfg.Config.Entrypoint = []string{"/usr/local/bin/meshes-operator"}
	cfg.Config.Cmd = []string{"run"}
	cfg.Config.WorkingDir = "/"
	cfg.Config.Env = []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
	cfg.Config.Labels = map[string]string{
		"org.opencontainers.image.title":   "meshes-operator",
		"org.opencontainers.image.source":  "https://github.com/meshes-operator/meshes-operator",
		"org.opencontainers.image.version": ref.TagStr(),
		"org.opencontainers.image.licenses": "Apache-2.0",
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if err := os.RemoveAll(outLayout); err != nil {
		return err
	}
	p, err := layout.Write(outLayout, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": ref.TagStr(),
		"io.containerd.image.name":          ref.Name(),
	})); err != nil {
		return err
	}
	if outTar != "" {
		if err := tarball.WriteToFile(outTar, ref, img); err != nil {
			return err
		}
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s@%s\n", ref.Name(), digest)
	return nil
}

// tarOf is a layer tarball of files with their parent directories, in a fixed order.
func tarOf(files []file, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	for _, f := range files {
		var dirs []string
		for d := path.Dir(f.path); d != "." && !seen[d]; d = path.Dir(d) {
			dirs = append([]string{d}, dirs...)
			seen[d] = true
		}
		for _, d := range dirs {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: mtime, Format: tar.FormatPAX}); err != nil {
				return nil, err
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.path, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
