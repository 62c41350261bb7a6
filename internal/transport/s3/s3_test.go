package s3_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/syndicate-media/syndicate/internal/transport"
	_ "github.com/syndicate-media/syndicate/internal/transport/s3" // registers s3://
	"github.com/syndicate-media/syndicate/internal/transport/transporttest"
)

const (
	part      = 8 << 20 // the transport's part size
	accessKey = "AKIDTEST"
	secretKey = "s3cr3t/with+chars"
)

// server is an S3 endpoint to test against and a bucket on it the tests
// may fill; each test writes below its own prefix.
type server struct {
	endpoint, access, secret, bucket string
	prefix                           string // for this run, "" or "run/"
}

func (s server) credentials() []byte { return []byte(s.access + ":" + s.secret + "\n") }

var prefixes atomic.Int64

// dir is a fresh prefix for one test.
func (s server) dir(t testing.TB) string {
	return fmt.Sprintf("%s%s-%d", s.prefix, strings.ReplaceAll(t.Name(), "/", "-"), prefixes.Add(1))
}

func (s server) open(t testing.TB, dir, tag string) transport.Transport {
	t.Helper()
	tr, err := transport.Open(context.Background(), "s3://"+s.bucket+"/"+dir, transport.Options{
		Endpoint: s.endpoint, Secret: s.credentials(), UploadTag: tag, Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

// raw is a plain SDK client, to look at what the transport left on the server.
func (s server) raw() *awss3.Client {
	return awss3.New(awss3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(s.endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.access, s.secret, ""),
	})
}

// openUploads counts the multipart uploads open for exactly key.
func (s server) openUploads(t *testing.T, key string) int {
	t.Helper()
	out, err := s.raw().ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: &s.bucket, Prefix: &key})
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload" {
		return 0 // gofakes3, for a bucket that never had an upload
	}
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	n := 0
	for _, u := range out.Uploads {
		if aws.ToString(u.Key) == key {
			n++
		}
	}
	return n
}

// fake starts gofakes3 in process. It keeps everything in memory, which is
// fine for the few tens of MiB these tests write.
func fake(t *testing.T) server {
	t.Helper()
	backend := s3mem.New()
	ts := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(ts.Close)
	if err := backend.CreateBucket("deliveries"); err != nil {
		t.Fatal(err)
	}
	return server{endpoint: ts.URL, access: accessKey, secret: secretKey, bucket: "deliveries"}
}

// versity reads where scripts/versitygw.sh's server is. The full suite
// (SYNDICATE_FULL=1) fails without it.
func versity(t testing.TB) server {
	t.Helper()
	env := map[string]string{}
	for _, k := range []string{"ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "BUCKET"} {
		env[k] = os.Getenv("SYNDICATE_TEST_S3_" + k)
		if env[k] == "" {
			msg := "SYNDICATE_TEST_S3_" + k + " not set; run scripts/versitygw.sh as root and source the env file it writes"
			if os.Getenv("SYNDICATE_FULL") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	return server{endpoint: env["ENDPOINT"], access: env["ACCESS_KEY"], secret: env["SECRET_KEY"], bucket: env["BUCKET"],
		prefix: "run-" + time.Now().Format("20060102-150405.000000") + "/"}
}

// each runs fn against the in-process server and against versitygw.
func each(t *testing.T, fn func(t *testing.T, s server)) {
	t.Run("gofakes3", func(t *testing.T) { fn(t, fake(t)) })
	t.Run("versitygw", func(t *testing.T) { fn(t, versity(t)) })
}

func TestConformance(t *testing.T) {
	each(t, func(t *testing.T, s server) {
		transporttest.Run(t, func(t *testing.T) transport.Transport {
			return s.open(t, s.dir(t), "delivery1")
		})
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func content(t *testing.T, tr transport.Transport, name string) []byte {
	t.Helper()
	rc, err := tr.(transport.Opener).Open(context.Background(), name)
	if err != nil {
		t.Fatalf("Open %s: %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return b
}

// TestResume breaks a multipart upload inside its fourth part, and continues
// it from another Client of the same delivery, as the delivery step's retry
// would.
func TestResume(t *testing.T) {
	each(t, func(t *testing.T, s server) {
		ctx := context.Background()
		dir := s.dir(t)
		name, key := "pkg/media.mxf", dir+"/pkg/media.mxf"
		data := randomBytes(3*part + 1<<20 + 123)
		boom := errors.New("source broke")
		broken := io.MultiReader(bytes.NewReader(data[:3*part+4096]), errReader{boom})

		tr := s.open(t, dir, "delivery1")
		err := tr.Put(ctx, name, broken, int64(len(data)))
		if !errors.Is(err, boom) || transport.IsPermanent(err) {
			t.Fatalf("Put with a failing source: err = %v, want a retryable error wrapping %v", err, boom)
		}
		if _, err := tr.Stat(ctx, name); !errors.Is(err, transport.ErrNotFound) {
			t.Fatalf("Stat of an unfinished upload: err = %v, want ErrNotFound", err)
		}
		if n := s.openUploads(t, key); n != 1 {
			t.Fatalf("%d uploads open after the failure, want 1 kept for resuming", n)
		}

		retry := s.open(t, dir, "delivery1").(transport.Resumer)
		off, err := retry.Committed(ctx, name)
		if err != nil || off != 3*part {
			t.Fatalf("Committed = %d, %v; want %d (three whole parts)", off, err, 3*part)
		}
		if n, err := s.open(t, dir, "delivery2").(transport.Resumer).Committed(ctx, name); err != nil || n != 0 {
			t.Fatalf("Committed for another delivery = %d, %v; want 0", n, err)
		}
		if err := retry.PutFrom(ctx, name, off, bytes.NewReader(data[off:]), int64(len(data))); err != nil {
			t.Fatalf("PutFrom %d: %v", off, err)
		}
		if got := content(t, tr, name); !bytes.Equal(got, data) {
			t.Fatalf("object has %d bytes and differs from the %d-byte source", len(got), len(data))
		}
		if n, err := retry.Committed(ctx, name); err != nil || n != 0 {
			t.Fatalf("Committed after completion = %d, %v; want 0", n, err)
		}
		if _, err := tr.Stat(ctx, name+".syndicate-upload-delivery1"); !errors.Is(err, transport.ErrNotFound) {
			t.Fatalf("upload marker still there after completion: %v", err)
		}
		if n := s.openUploads(t, key); n != 0 {
			t.Fatalf("%d uploads open after completion, want 0", n)
		}
	})
}

// TestPutStartsOver checks that Put aborts the upload its own delivery left
// for the same name, and leaves another delivery's alone.
func TestPutStartsOver(t *testing.T) {
	each(t, func(t *testing.T, s server) {
		ctx := context.Background()
		dir := s.dir(t)
		name, key := "media.mxf", dir+"/media.mxf"
		data := randomBytes(2*part + 77)
		broken := func() io.Reader {
			return io.MultiReader(bytes.NewReader(data[:part+1]), errReader{errors.New("source broke")})
		}
		mine, theirs := s.open(t, dir, "delivery1"), s.open(t, dir, "delivery2")
		for _, tr := range []transport.Transport{mine, theirs, mine} {
			if err := tr.Put(ctx, name, broken(), int64(len(data))); err == nil {
				t.Fatal("Put with a failing source succeeded")
			}
		}
		if n := s.openUploads(t, key); n != 2 {
			t.Fatalf("%d uploads open, want 2: one per delivery", n)
		}
		if err := mine.Put(ctx, name, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		if n := s.openUploads(t, key); n != 1 {
			t.Fatalf("%d uploads open after delivery1 completed, want delivery2's only", n)
		}
		if n, err := theirs.(transport.Resumer).Committed(ctx, name); err != nil || n != part {
			t.Fatalf("delivery2's Committed = %d, %v; want %d", n, err, part)
		}
	})
}

// TestPutFromForeignObject: with no upload of its own to continue, PutFrom
// must not keep the head of an object another delivery wrote.
func TestPutFromForeignObject(t *testing.T) {
	each(t, func(t *testing.T, s server) {
		ctx := context.Background()
		dir := s.dir(t)
		old := []byte("an older version of the file")
		if err := s.open(t, dir, "delivery1").Put(ctx, "f.txt", bytes.NewReader(old), int64(len(old))); err != nil {
			t.Fatal(err)
		}
		tr := s.open(t, dir, "delivery2")
		err := tr.(transport.Resumer).PutFrom(ctx, "f.txt", 5, strings.NewReader("new tail"), 13)
		if err == nil {
			t.Fatal("PutFrom over another delivery's object succeeded")
		}
		if got := content(t, tr, "f.txt"); !bytes.Equal(got, old) {
			t.Fatalf("object = %q, want it unchanged", got)
		}
	})
}

// TestSizeMismatch: with no rename after the upload, a source that is not
// the size declared must not replace the object.
func TestSizeMismatch(t *testing.T) {
	each(t, func(t *testing.T, s server) {
		ctx := context.Background()
		dir := s.dir(t)
		tr := s.open(t, dir, "delivery1")
		cases := []struct {
			name     string
			data     []byte
			declared int64
		}{
			{"short-small.bin", []byte("12345"), 10},
			{"long-small.bin", []byte("1234567890"), 5},
			{"short-large.bin", randomBytes(part + 100), 2*part + 5},
			{"long-large.bin", randomBytes(2*part + 100), part + 5},
		}
		for _, c := range cases {
			err := tr.Put(ctx, c.name, bytes.NewReader(c.data), c.declared)
			if !transport.IsPermanent(err) {
				t.Errorf("%s: err = %v, want permanent", c.name, err)
			}
			if _, err := tr.Stat(ctx, c.name); !errors.Is(err, transport.ErrNotFound) {
				t.Errorf("%s: object written anyway (%v)", c.name, err)
			}
			if n := s.openUploads(t, dir+"/"+c.name); n != 0 {
				t.Errorf("%s: %d uploads left open", c.name, n)
			}
		}
	})
}

// cancelAfter yields random bytes and cancels its context once it has
// yielded n: a delivery cancelled in the middle of a multipart upload.
type cancelAfter struct {
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
	}
	m, _ := rand.Read(p)
	c.n -= m
	return m, nil
}

func TestCancelMidUpload(t *testing.T) {
	each(t, func(t *testing.T, s server) {
		dir := s.dir(t)
		tr := s.open(t, dir, "delivery1")
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		err := tr.Put(ctx, "endless.bin", &cancelAfter{n: 2*part + 10, cancel: cancel}, -1)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if n := s.openUploads(t, dir+"/endless.bin"); n != 0 {
			t.Fatalf("%d uploads left open after a cancel, want it aborted", n)
		}
		if n, err := tr.(transport.Resumer).Committed(context.Background(), "endless.bin"); err != nil || n != 0 {
			t.Fatalf("Committed after a cancel = %d, %v; want 0", n, err)
		}
	})
}

func TestMissingBucket(t *testing.T) {
	each(t, func(t *testing.T, s server) {
		s.bucket = "no-such-bucket-here"
		tr := s.open(t, s.dir(t), "delivery1")
		err := tr.Put(context.Background(), "a.txt", strings.NewReader("x"), 1)
		if !transport.IsPermanent(err) || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("err = %v, want a permanent missing bucket error", err)
		}
	})
}

// TestWrongCredentials needs a server that checks signatures; gofakes3
// does not.
func TestWrongCredentials(t *testing.T) {
	s := versity(t)
	for name, c := range map[string]struct{ access, secret, want string }{
		"wrong secret": {s.access, "not-the-secret-key", "secret access key does not match"},
		"unknown key":  {"NOSUCHKEY0000", "not-the-secret-key", "does not know the access key id"},
	} {
		t.Run(name, func(t *testing.T) {
			bad := s
			bad.access, bad.secret = c.access, c.secret
			tr := bad.open(t, s.dir(t), "delivery1")
			err := tr.Put(context.Background(), "a.txt", strings.NewReader("x"), 1)
			if !transport.IsPermanent(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Put: err = %v, want permanent %q", err, c.want)
			}
			if strings.Contains(err.Error(), c.secret) || strings.Contains(err.Error(), c.access) {
				t.Fatal("error contains the credentials")
			}
			// versitygw answers an unknown key with 404, which a HEAD
			// cannot tell from a missing object; AWS answers 403.
			if _, err := tr.Stat(context.Background(), "a.txt"); c.access == s.access && !transport.IsPermanent(err) {
				t.Fatalf("Stat: err = %v, want permanent", err)
			}
		})
	}
}

func TestConnectionRefusedIsRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := server{endpoint: "http://" + addr, access: accessKey, secret: secretKey, bucket: "deliveries"}
	err = s.open(t, "in", "delivery1").Put(context.Background(), "a.txt", strings.NewReader("x"), 1)
	if err == nil || transport.IsPermanent(err) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
}

func TestBadConfiguration(t *testing.T) {
	cases := map[string]struct {
		url  string
		opts transport.Options
	}{
		"secret without a colon": {"s3://b/in", transport.Options{Secret: []byte("justonesecretvalue"), Endpoint: "http://127.0.0.1:1"}},
		"user in url":            {"s3://someone@b/in", transport.Options{Secret: []byte("k:s")}},
		"port in url":            {"s3://b:9000/in", transport.Options{Secret: []byte("k:s")}},
		"endpoint without host":  {"s3://b/in", transport.Options{Secret: []byte("k:s"), Endpoint: "127.0.0.1:7070"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := transport.Open(context.Background(), c.url, c.opts)
			if !transport.IsPermanent(err) {
				t.Fatalf("err = %v, want permanent", err)
			}
			if strings.Contains(err.Error(), "justonesecretvalue") {
				t.Fatal("error contains the secret")
			}
		})
	}
}

func TestURLLayout(t *testing.T) {
	s := fake(t)
	tr := s.open(t, "/a//b/", "delivery1")
	if err := tr.Put(context.Background(), "c/d.txt", strings.NewReader("hi"), 2); err != nil {
		t.Fatal(err)
	}
	out, err := s.raw().HeadObject(context.Background(), &awss3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String("a/b/c/d.txt")})
	if err != nil {
		t.Fatalf("object not at a/b/c/d.txt: %v", err)
	}
	if got := out.Metadata["syndicate-tag"]; got != "delivery1" {
		t.Fatalf("metadata = %v, want syndicate-tag: delivery1", out.Metadata)
	}
	root := s.open(t, "", "delivery1")
	if err := root.Put(context.Background(), "top.txt", strings.NewReader("hi"), 2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.raw().HeadObject(context.Background(), &awss3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String("top.txt")}); err != nil {
		t.Fatalf("object not at the bucket root: %v", err)
	}
}

// pattern yields n bytes of a repeating random block, as a stream of
// unknown size, cheaply enough not to be what a benchmark measures.
type pattern struct {
	block []byte
	n     int64
}

func (p *pattern) Read(buf []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(buf)) > p.n {
		buf = buf[:p.n]
	}
	m := 0
	for m < len(buf) {
		m += copy(buf[m:], p.block)
	}
	p.n -= int64(m)
	return m, nil
}

// peakRSS is this process's high-water resident set, from /proc.
func peakRSS() (mib float64) {
	b, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			_, _ = fmt.Sscan(rest, &kb)
			return kb / 1024
		}
	}
	return 0
}

// BenchmarkPutVersity streams SYNDICATE_TEST_S3_BENCH_MIB MiB (default 512)
// of unknown size to versitygw and reports the process's peak RSS:
//
//	go test -run '^$' -bench PutVersity -benchtime 1x ./internal/transport/s3/
func BenchmarkPutVersity(b *testing.B) {
	s := versity(b)
	size := int64(512)
	if v := os.Getenv("SYNDICATE_TEST_S3_BENCH_MIB"); v != "" {
		if _, err := fmt.Sscan(v, &size); err != nil {
			b.Fatal(err)
		}
	}
	size <<= 20
	dir := s.dir(b)
	tr := s.open(b, dir, "bench")
	block := randomBytes(1 << 20)
	b.SetBytes(size)
	b.ResetTimer()
	for i := range b.N {
		name := fmt.Sprintf("big-%d.bin", i)
		if err := tr.Put(context.Background(), name, &pattern{block: block, n: size}, -1); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := tr.Remove(context.Background(), name); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(peakRSS(), "peak-RSS-MiB")
}

// TestSizeHint: a stream of unknown size whose hint is beyond 10,000
// parts of 8 MiB (a 200 GiB archive) goes in parts large enough for it,
// and a resumed upload keeps them.
func TestSizeHint(t *testing.T) {
	each(t, func(t *testing.T, s server) {
		dir := s.dir(t)
		name := "pkg/big.tar"
		const hinted = 200 << 30
		ctx := transport.WithSizeHint(context.Background(), hinted)
		ps := int64(21 << 20) // 200 GiB / 10,000 parts = 20.48 MiB, rounded up to a whole MiB
		data := randomBytes(int(3*ps + 5000))
		boom := errors.New("source broke")
		tr := s.open(t, dir, "delivery1")
		err := tr.Put(ctx, name, io.MultiReader(bytes.NewReader(data[:3*ps+4096]), errReader{boom}), -1)
		if !errors.Is(err, boom) {
			t.Fatalf("Put: %v, want %v", err, boom)
		}
		retry := s.open(t, dir, "delivery1").(transport.Resumer)
		off, err := retry.Committed(ctx, name)
		if err != nil || off != 3*ps {
			t.Fatalf("Committed = %d, %v; want %d (three parts of %d)", off, err, 3*ps, ps)
		}
		if err := retry.PutFrom(ctx, name, off, bytes.NewReader(data[off:]), -1); err != nil {
			t.Fatal(err)
		}
		if got := content(t, tr, name); !bytes.Equal(got, data) {
			t.Fatalf("object has %d bytes and differs from the %d sent", len(got), len(data))
		}
	})
}

// TestServerSHA256 checks, on a server that keeps checksums (versitygw),
// that an object of up to one part reports the sha256 it was sent with,
// and that a multipart object, which has no full-object sha256, reports
// none rather than a wrong one.
func TestServerSHA256(t *testing.T) {
	s := versity(t)
	tr := s.open(t, s.dir(t), "delivery1")
	cs := tr.(transport.Checksummer)
	ctx := context.Background()
	small, large := make([]byte, 1<<20+5), make([]byte, part+7)
	rand.Read(small)
	rand.Read(large)
	if err := tr.Put(ctx, "small.bin", bytes.NewReader(small), int64(len(small))); err != nil {
		t.Fatal(err)
	}
	sum, ok, err := cs.ServerSHA256(ctx, "small.bin")
	if want := sha256.Sum256(small); err != nil || !ok || !bytes.Equal(sum, want[:]) {
		t.Fatalf("ServerSHA256 of a single-part object = %x, %v, %v; want %x", sum, ok, err, want)
	}
	if err := tr.Put(ctx, "small.bin", bytes.NewReader(large), int64(len(large))); err != nil {
		t.Fatal(err)
	}
	if sum, ok, err := cs.ServerSHA256(ctx, "small.bin"); err != nil || ok {
		t.Fatalf("ServerSHA256 of a multipart object = %x, %v, %v; want none", sum, ok, err)
	}
}
