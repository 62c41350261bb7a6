// Package s3 delivers to an Amazon S3 bucket or an S3-compatible object
// store (s3://bucket/prefix), signing with the partner's access key, given
// as the secret "ACCESS_KEY_ID:SECRET_ACCESS_KEY", or with the default AWS
// credential chain when the secret is empty.
//
// An object appears only once its upload completes, so the transport has no
// Rename and the delivery step writes straight to the final key. Files up to
// one part (8 MiB) go up in one PutObject; larger ones, or streams of
// unknown size, as a multipart upload run here rather than by the SDK's
// transfer managers, which cannot continue an upload an earlier attempt
// left behind. Parts are read in order into a few reusable buffers with up
// to four in flight, so memory stays near 40 MiB whatever the file size.
//
// A failed upload stays on the server for the next attempt of the same
// delivery (Options.UploadTag) to continue. S3 does not list an upload's
// metadata, so a small marker object "<key>.syndicate-upload-<tag>" holds
// the upload ID while the upload is open; it is removed on completion.
package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/syndicate-media/syndicate/internal/transport"
)

const (
	partSize = 8 << 20
	// memBudget bounds the part buffers of one upload: part size ×
	// (parts in flight + the one being read).
	memBudget      = 5 * partSize
	maxInflight    = 4
	maxParts       = 10000 // S3's limit
	defaultRegion  = "us-east-1"
	defaultTimeout = 30 * time.Second
	// tagKey is the user metadata naming the delivery that wrote an object.
	tagKey      = "syndicate-tag"
	markerInfix = ".syndicate-upload-"
)

func init() {
	transport.Register("s3", func(ctx context.Context, u *url.URL, opts transport.Options) (transport.Transport, error) {
		return New(ctx, u, opts)
	})
}

// Client writes objects below Prefix in Bucket.
type Client struct {
	Bucket string
	// Prefix is joined to every name with a slash; "" is the bucket root.
	Prefix string

	region   string
	tag      string
	timeout  time.Duration
	checksum types.ChecksumAlgorithm // per-part checksum; "" when only required ones are sent
	api      *s3.Client
	hc       *http.Client
}

// New returns a Client for u. It does not contact the server: a partner may
// grant PutObject without ListBucket, so there is nothing to probe that
// every working destination allows. Failures of configuration (a malformed
// secret or endpoint, a user or port in the URL) are transport.Permanent.
func New(ctx context.Context, u *url.URL, opts transport.Options) (*Client, error) {
	if u.User != nil {
		return nil, transport.Permanent(errors.New("s3: the url must not name a user: s3://bucket/prefix, with credentials KEY:SECRET"))
	}
	if u.Port() != "" {
		return nil, transport.Permanent(fmt.Errorf("s3: the url host is the bucket, got %q; name an S3-compatible server with endpoint", u.Host))
	}
	c := &Client{
		Bucket:   u.Hostname(),
		Prefix:   strings.Trim(path.Clean("/"+u.Path), "/"),
		region:   opts.Region,
		tag:      opts.UploadTag,
		timeout:  opts.Timeout,
		checksum: types.ChecksumAlgorithmCrc32,
	}
	if c.region == "" {
		c.region = defaultRegion
	}
	if c.timeout <= 0 {
		c.timeout = defaultTimeout
	}
	c.hc = httpClient(c.timeout)

	cfg := aws.Config{Region: c.region, HTTPClient: c.hc}
	if secret := strings.TrimSpace(string(opts.Secret)); secret == "" {
		var err error
		cfg, err = config.LoadDefaultConfig(ctx, config.WithRegion(c.region), config.WithHTTPClient(c.hc))
		if err != nil {
			return nil, transport.Permanent(fmt.Errorf("s3: default AWS configuration: %w", err))
		}
	} else {
		id, key, ok := strings.Cut(secret, ":")
		if !ok || id == "" || key == "" {
			return nil, transport.Permanent(errors.New("s3: the credentials must read ACCESS_KEY_ID:SECRET_ACCESS_KEY"))
		}
		cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, key, ""))
	}
	var optFns []func(*s3.Options)
	if opts.Endpoint != "" {
		e, err := url.Parse(opts.Endpoint)
		if err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return nil, transport.Permanent(fmt.Errorf("s3: endpoint %q: want http://host:port or https://host", opts.Endpoint))
		}
		optFns = append(optFns, func(o *s3.Options) {
			o.BaseEndpoint = aws.String(opts.Endpoint)
			o.UsePathStyle = true // S3-compatible servers rarely have per-bucket DNS names
		})
		if e.Scheme == "http" {
			// Without TLS the SDK signs a SHA-256 of every body and adds
			// CRC32s: both cost more CPU than the copy itself. Plain http is
			// for a server on the local network, where the TCP checksum
			// and the size check after the upload are what the SFTP and
			// FTP transports have too.
			c.checksum = ""
			optFns = append(optFns, func(o *s3.Options) {
				o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
				o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
				o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
			})
		}
	}
	c.api = s3.NewFromConfig(cfg, optFns...)
	return c, nil
}

// httpClient is the SDK's default transport with the connect timeout
// applied, in a client this package owns so that Close can drop its idle
// connections. Redirects are not followed: S3 answers a wrong region with
// one, and the error says so.
func httpClient(timeout time.Duration) *http.Client {
	tr := awshttp.NewBuildableClient().GetTransport()
	tr.DialContext = (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// key maps a validated name below Prefix.
func (c *Client) key(name string) (string, error) {
	if err := transport.ValidateName(name); err != nil {
		return "", transport.Permanent(fmt.Errorf("s3: %w", err))
	}
	if c.Prefix == "" {
		return name, nil
	}
	return c.Prefix + "/" + name, nil
}

// fail wraps err from op on name. Refusals retrying cannot fix become
// transport.Permanent with a message an operator can act on; throttling,
// 5xx and network errors stay retryable.
func (c *Client) fail(ctx context.Context, op, name string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w (%w)", cerr, err)
	}
	if why := c.permanentReason(apiCode(err)); why != "" {
		return transport.Permanent(fmt.Errorf("s3: %s %s: %s: %w", op, name, why, err))
	}
	return fmt.Errorf("s3: %s %s: %w", op, name, err)
}

func (c *Client) permanentReason(code string) string {
	switch code {
	case "AccessDenied", "Forbidden", "AllAccessDisabled", "AccountProblem":
		return fmt.Sprintf("access denied to bucket %q; check the credentials and the bucket's policy", c.Bucket)
	case "InvalidAccessKeyId", "XAdminUserNotFound": // the latter from versitygw 1.8 (404)
		return "the server does not know the access key id; check the credentials"
	case "SignatureDoesNotMatch":
		return "the secret access key does not match the access key id; check the credentials"
	case "NoSuchBucket":
		return fmt.Sprintf("bucket %q does not exist", c.Bucket)
	case "InvalidBucketName":
		return fmt.Sprintf("%q is not a valid bucket name", c.Bucket)
	case "PermanentRedirect", "MovedPermanently", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException":
		return fmt.Sprintf("bucket %q is not in region %q; set region on the destination", c.Bucket, c.region)
	}
	return ""
}

// apiCode is the S3 error code in err, or "". A HEAD has no body, so its
// errors carry only the status text: "NotFound", "Forbidden".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func notFound(err error) bool {
	code := apiCode(err)
	return code == "NoSuchKey" || code == "NotFound"
}

// metadata marks an object or upload with the delivery that writes it.
func (c *Client) metadata() map[string]string {
	if c.tag == "" {
		return nil
	}
	return map[string]string{tagKey: c.tag}
}

// Put writes r to name, replacing the object only once all of it is
// stored. A known size is checked before the upload completes: with no
// rename to come, a short source must not land under the final name. An
// upload this delivery left for name is aborted first; Put starts over.
func (c *Client) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	key, err := c.key(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3: put %s: %w", name, err)
	}
	c.forget(ctx, key)
	ps := partSizeFor(size)
	if size < 0 {
		ps = partSizeFor(transport.SizeHint(ctx)) // the same on a resumed upload: same sources, same hint
	}
	// A declared small file gets a buffer of its size, plus one byte to
	// notice a source longer than declared.
	buf := make([]byte, ps)
	if size >= 0 && size < ps {
		buf = make([]byte, size+1)
	}
	src := transport.ContextReader(ctx, r)
	n, eof, err := transport.Fill(src, buf)
	switch {
	case err != nil:
		return fmt.Errorf("s3: put %s: %w", name, err)
	case eof && size >= 0 && int64(n) != size:
		return sizeMismatch(name, int64(n), size)
	case eof:
		return c.putObject(ctx, name, key, buf[:n])
	case len(buf) < int(ps): // declared small, and goes on
		return sizeMismatch(name, int64(n), size)
	}
	up, err := c.api.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: &c.Bucket, Key: &key, Metadata: c.metadata(), ChecksumAlgorithm: c.checksum,
	})
	if err != nil {
		return c.fail(ctx, "start upload of", name, err)
	}
	u := &upload{id: aws.ToString(up.UploadId), partSize: ps}
	resumable := c.tag != "" && c.mark(ctx, key, u.id) == nil
	err = c.send(ctx, name, key, u, src, buf, size)
	return c.settle(ctx, key, u.id, resumable, err)
}

// putObject stores a body of at most one part with one PutObject. It
// sends the body's sha256 (cheap at this size, whatever the endpoint's
// checksum setting): the server checks it, and reports it back as the
// object's full sha256 (ServerSHA256), the delivery's proof that the
// partner holds the file.
func (c *Client) putObject(ctx context.Context, name, key string, body []byte) error {
	sum := sha256.Sum256(body)
	_, err := c.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &c.Bucket, Key: &key, Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), Metadata: c.metadata(),
		ChecksumSHA256: aws.String(base64.StdEncoding.EncodeToString(sum[:])),
	})
	if err != nil {
		return c.fail(ctx, "put", name, err)
	}
	return nil
}

func sizeMismatch(name string, got, want int64) error {
	if got > want {
		return transport.Permanent(fmt.Errorf("s3: put %s: the source has more than the %d bytes declared", name, want))
	}
	return transport.Permanent(fmt.Errorf("s3: put %s: the source has %d bytes, %d declared", name, got, want))
}

// partSizeFor is 8 MiB, or for a size (known, or hinted for a stream)
// beyond 10,000 such parts the smallest whole MiB that fits it in 10,000.
// Parts in flight shrink to fit memBudget, down to one.
func partSizeFor(size int64) int64 {
	if size <= partSize*maxParts {
		return partSize
	}
	const mib = 1 << 20
	ps := (size + maxParts - 1) / maxParts
	return (ps + mib - 1) / mib * mib
}

// upload is an open multipart upload and its leading parts kept so far,
// all partSize long.
type upload struct {
	id       string
	partSize int64
	parts    []types.CompletedPart
}

// send uploads what src yields as the parts after u.parts, first being the
// content of the next part when already read, then completes the upload.
func (c *Client) send(ctx context.Context, name, key string, u *upload, src io.Reader, first []byte, size int64) error {
	inflight := min(max(int(memBudget/u.partSize)-1, 1), maxInflight)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(inflight)
	free := make(chan []byte, inflight+1)
	var mu sync.Mutex
	done := map[int32]types.CompletedPart{}
	next := int32(len(u.parts)) + 1
	num := next
	total := int64(len(u.parts)) * u.partSize
	var readErr error
	for gctx.Err() == nil {
		buf, n, eof := first, len(first), false
		if first == nil {
			select {
			case buf = <-free:
			default:
				buf = make([]byte, u.partSize)
			}
			if n, eof, readErr = transport.Fill(src, buf); readErr != nil {
				break
			}
		}
		first = nil
		if n > 0 {
			if num > maxParts {
				readErr = transport.Permanent(fmt.Errorf("more than %d parts of %d bytes; declare the size, or a larger size hint", maxParts, u.partSize))
				break
			}
			part, body := num, buf[:n]
			g.Go(func() error {
				defer func() { free <- buf }()
				out, err := c.api.UploadPart(gctx, &s3.UploadPartInput{
					Bucket: &c.Bucket, Key: &key, UploadId: &u.id, PartNumber: aws.Int32(part),
					Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))), ChecksumAlgorithm: c.checksum,
				})
				if err != nil {
					return c.fail(gctx, fmt.Sprintf("upload part %d of", part), name, err)
				}
				mu.Lock()
				done[part] = types.CompletedPart{PartNumber: aws.Int32(part), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32}
				mu.Unlock()
				return nil
			})
			num++
			total += int64(n)
		}
		if eof {
			break
		}
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if readErr != nil {
		return fmt.Errorf("s3: put %s: %w", name, readErr)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3: put %s: %w", name, err)
	}
	if size >= 0 && total != size {
		return sizeMismatch(name, total, size)
	}
	for p := next; p < num; p++ {
		u.parts = append(u.parts, done[p])
	}
	_, err := c.api.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &c.Bucket, Key: &key, UploadId: &u.id,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: u.parts},
	})
	if err != nil {
		return c.fail(ctx, "complete upload of", name, err)
	}
	return nil
}

// settle tidies up after send: on success it removes the marker; on a
// failure another attempt can continue from, it keeps the upload; otherwise
// (cancelled, permanent, or not findable again) it aborts it.
func (c *Client) settle(ctx context.Context, key, id string, resumable bool, err error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	if err == nil {
		// Best effort: the object is complete, and a left-over marker is
		// only clutter (a partner may not grant DeleteObject).
		c.unmark(cctx, key)
		return nil
	}
	if resumable && ctx.Err() == nil && !transport.IsPermanent(err) {
		return err
	}
	_, _ = c.api.AbortMultipartUpload(cctx, &s3.AbortMultipartUploadInput{Bucket: &c.Bucket, Key: &key, UploadId: &id})
	if resumable {
		c.unmark(cctx, key)
	}
	return err
}

// Committed reports how much of name this delivery's open upload holds: its
// leading run of full parts. Without such an upload it is 0.
func (c *Client) Committed(ctx context.Context, name string) (int64, error) {
	key, err := c.key(name)
	if err != nil {
		return 0, err
	}
	u, err := c.pending(ctx, name, key)
	if err != nil || u == nil {
		return 0, err
	}
	return int64(len(u.parts)) * u.partSize, nil
}

// PutFrom continues this delivery's open upload of name at offset, a
// multiple of its part size no greater than Committed, and completes it.
// With no such upload left (it completed, say) it rewrites the object,
// copying the first offset bytes back, when this delivery wrote it;
// otherwise it fails, and the caller starts again from 0.
func (c *Client) PutFrom(ctx context.Context, name string, offset int64, r io.Reader, size int64) error {
	if offset == 0 {
		return c.Put(ctx, name, r, size)
	}
	key, err := c.key(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3: put %s: %w", name, err)
	}
	u, err := c.pending(ctx, name, key)
	if err != nil {
		return err
	}
	if u == nil || offset%u.partSize != 0 || offset/u.partSize > int64(len(u.parts)) {
		return c.rewrite(ctx, name, key, offset, r, size)
	}
	u.parts = u.parts[:offset/u.partSize]
	err = c.send(ctx, name, key, u, transport.ContextReader(ctx, r), nil, size)
	return c.settle(ctx, key, u.id, true, err)
}

// rewrite writes name again, its first offset bytes read back from the
// object this delivery stored there.
func (c *Client) rewrite(ctx context.Context, name, key string, offset int64, r io.Reader, size int64) error {
	head, err := c.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &c.Bucket, Key: &key})
	if err != nil && !notFound(err) {
		return c.fail(ctx, "resume", name, err)
	}
	if err != nil || c.tag == "" || tagOf(head.Metadata) != c.tag || aws.ToInt64(head.ContentLength) < offset {
		return fmt.Errorf("s3: resume %s at %d: this delivery has no upload or object there to continue from", name, offset)
	}
	got, err := c.api.GetObject(ctx, &s3.GetObjectInput{
		Bucket: &c.Bucket, Key: &key, IfMatch: head.ETag, Range: aws.String(fmt.Sprintf("bytes=0-%d", offset-1)),
	})
	if err != nil {
		return c.fail(ctx, "resume: read back", name, err)
	}
	defer got.Body.Close()
	if n := aws.ToInt64(got.ContentLength); n != offset {
		return fmt.Errorf("s3: resume %s: read back %d bytes, want %d", name, n, offset)
	}
	return c.Put(ctx, name, io.MultiReader(got.Body, r), size)
}

// tagOf finds the tag in user metadata, whose keys servers differ in casing.
func tagOf(meta map[string]string) string {
	for k, v := range meta {
		if strings.EqualFold(k, tagKey) {
			return v
		}
	}
	return ""
}

// pending finds this delivery's open upload of key through its marker, with
// the leading run of full-size parts it holds. nil means none.
func (c *Client) pending(ctx context.Context, name, key string) (*upload, error) {
	if c.tag == "" {
		return nil, nil
	}
	id, err := c.marker(ctx, name, key)
	if err != nil || id == "" {
		return nil, err
	}
	var parts []types.Part
	pages := s3.NewListPartsPaginator(c.api, &s3.ListPartsInput{Bucket: &c.Bucket, Key: &key, UploadId: &id})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if apiCode(err) == "NoSuchUpload" {
			return nil, nil // completed or aborted since; the marker is stale
		}
		if err != nil {
			return nil, c.fail(ctx, "list parts of", name, err)
		}
		parts = append(parts, page.Parts...)
	}
	slices.SortFunc(parts, func(a, b types.Part) int { return int(aws.ToInt32(a.PartNumber) - aws.ToInt32(b.PartNumber)) })
	u := &upload{id: id}
	for i, p := range parts {
		if i == 0 {
			u.partSize = aws.ToInt64(p.Size)
		}
		if aws.ToInt32(p.PartNumber) != int32(i+1) || aws.ToInt64(p.Size) != u.partSize || u.partSize == 0 {
			break
		}
		u.parts = append(u.parts, types.CompletedPart{PartNumber: p.PartNumber, ETag: p.ETag, ChecksumCRC32: p.ChecksumCRC32})
	}
	if len(u.parts) == 0 {
		u.partSize = partSize
	}
	return u, nil
}

func (c *Client) markerKey(key string) string { return key + markerInfix + c.tag }

// marker reads the upload ID this delivery recorded for key, or "".
func (c *Client) marker(ctx context.Context, name, key string) (string, error) {
	out, err := c.api.GetObject(ctx, &s3.GetObjectInput{Bucket: &c.Bucket, Key: aws.String(c.markerKey(key))})
	if notFound(err) {
		return "", nil
	}
	if err != nil {
		return "", c.fail(ctx, "find upload of", name, err)
	}
	defer out.Body.Close()
	id, err := io.ReadAll(io.LimitReader(out.Body, 4<<10))
	if err != nil {
		return "", c.fail(ctx, "find upload of", name, err)
	}
	return strings.TrimSpace(string(id)), nil
}

func (c *Client) mark(ctx context.Context, key, id string) error {
	_, err := c.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &c.Bucket, Key: aws.String(c.markerKey(key)), Body: strings.NewReader(id),
		ContentLength: aws.Int64(int64(len(id))), Metadata: c.metadata(),
	})
	return err
}

func (c *Client) unmark(ctx context.Context, key string) {
	_, _ = c.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &c.Bucket, Key: aws.String(c.markerKey(key))})
}

// forget aborts the upload this delivery left open for key, if any. Uploads
// of other deliveries are left alone: they may still be running.
func (c *Client) forget(ctx context.Context, key string) {
	if c.tag == "" {
		return
	}
	id, err := c.marker(ctx, key, key)
	if err != nil || id == "" {
		return
	}
	_, _ = c.api.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &c.Bucket, Key: &key, UploadId: &id})
	c.unmark(ctx, key)
}

// Stat reports name's size and modification time.
func (c *Client) Stat(ctx context.Context, name string) (transport.FileInfo, error) {
	key, err := c.key(name)
	if err != nil {
		return transport.FileInfo{}, err
	}
	out, err := c.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &c.Bucket, Key: &key})
	if notFound(err) {
		return transport.FileInfo{}, fmt.Errorf("s3: %s: %w", name, transport.ErrNotFound)
	}
	if err != nil {
		return transport.FileInfo{}, c.fail(ctx, "stat", name, err)
	}
	return transport.FileInfo{Name: name, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// Remove deletes name; a missing object is not an error.
func (c *Client) Remove(ctx context.Context, name string) error {
	key, err := c.key(name)
	if err != nil {
		return err
	}
	_, err = c.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &c.Bucket, Key: &key})
	if err != nil && !notFound(err) {
		return c.fail(ctx, "remove", name, err)
	}
	return nil
}

// Open reads name back.
func (c *Client) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	key, err := c.key(name)
	if err != nil {
		return nil, err
	}
	out, err := c.api.GetObject(ctx, &s3.GetObjectInput{Bucket: &c.Bucket, Key: &key})
	if notFound(err) {
		return nil, fmt.Errorf("s3: %s: %w", name, transport.ErrNotFound)
	}
	if err != nil {
		return nil, c.fail(ctx, "open", name, err)
	}
	return out.Body, nil
}

// ServerSHA256 is the sha256 the server holds for the whole object
// (checksum type FULL_OBJECT): that of an object stored with one
// PutObject that sent it (objects up to one part, see putObject). S3 has
// no full-object sha256 for a multipart upload (only CRCs can be full
// object; a sha256 is composite, of the parts' sha256s), and this client
// sends none: ok is false, and the delivery step verifies it otherwise.
func (c *Client) ServerSHA256(ctx context.Context, name string) ([]byte, bool, error) {
	key, err := c.key(name)
	if err != nil {
		return nil, false, err
	}
	out, err := c.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &c.Bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
	if notFound(err) {
		return nil, false, fmt.Errorf("s3: %s: %w", name, transport.ErrNotFound)
	}
	if err != nil {
		return nil, false, c.fail(ctx, "head", name, err)
	}
	// Only a sha256 the server calls the whole object's: a composite one
	// ("sum-N") is not, and a server that names no type may report a
	// stale one (gofakes3 keeps a replaced object's).
	v := aws.ToString(out.ChecksumSHA256)
	if v == "" || out.ChecksumType != types.ChecksumTypeFullObject {
		return nil, false, nil
	}
	sum, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(sum) != sha256.Size {
		return nil, false, fmt.Errorf("s3: %s: the server's sha256 %q is not a sha256", name, v)
	}
	return sum, true, nil
}

// OpenRange reads length bytes of name from offset (fewer at its end)
// with a ranged GetObject.
func (c *Client) OpenRange(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	key, err := c.key(name)
	if err != nil {
		return nil, err
	}
	if length <= 0 {
		return io.NopCloser(strings.NewReader("")), nil
	}
	out, err := c.api.GetObject(ctx, &s3.GetObjectInput{Bucket: &c.Bucket, Key: &key,
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", offset, offset+length-1))})
	switch {
	case notFound(err):
		return nil, fmt.Errorf("s3: %s: %w", name, transport.ErrNotFound)
	case apiCode(err) == "InvalidRange": // offset at or past the end
		return io.NopCloser(strings.NewReader("")), nil
	case err != nil:
		return nil, c.fail(ctx, "open range of", name, err)
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(out.Body, length), out.Body}, nil
}

// Close drops idle connections; S3 holds no session to end.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

var (
	_ transport.Transport   = (*Client)(nil)
	_ transport.Opener      = (*Client)(nil)
	_ transport.Resumer     = (*Client)(nil)
	_ transport.Checksummer = (*Client)(nil)
	_ transport.RangeOpener = (*Client)(nil)
)
