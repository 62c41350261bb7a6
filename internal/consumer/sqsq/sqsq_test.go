package sqsq_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/syndicate-media/syndicate/internal/consumer"
	"github.com/syndicate-media/syndicate/internal/consumer/consumertest"
	"github.com/syndicate-media/syndicate/internal/consumer/sqsq"
	"github.com/syndicate-media/syndicate/internal/secret"
)

const (
	childURL = "SYNDICATE_SQSQ_TEST_URL"
	keysEnv  = "SYN_SQSQ_TEST_KEYS"
)

func TestMain(m *testing.M) {
	os.Setenv(keysEnv, "test-key-id:test-secret") // what goaws accepts; the child inherits it
	consumertest.Child(func(ctx context.Context, sink consumer.Sink) (*consumer.Runner, error) {
		cfg, err := sqsq.ParseURL(os.Getenv(childURL))
		if err != nil {
			return nil, err
		}
		return sqsq.Open(ctx, cfg, sink, slog.New(slog.NewTextHandler(os.Stderr, nil)), nil)
	})
	os.Exit(m.Run())
}

func client(endpoint string) *sqs.Client {
	return sqs.NewFromConfig(aws.Config{Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("test-key-id", "test-secret", "")},
		func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoint) })
}

type queue struct {
	endpoint, url, dead string
	api                 *sqs.Client
	params              url.Values // extra consumer settings

	mu      sync.Mutex
	letters []consumertest.DeadLetter
}

// newQueue creates a queue with a lease of one second and its dead-letter
// queue; maxReceives > 0 gives it a redrive policy.
func newQueue(t *testing.T, maxReceives int) *queue {
	t.Helper()
	endpoint := startGoaws(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "syntest-" + hex.EncodeToString(b)
	q := &queue{endpoint: endpoint, api: client(endpoint), params: url.Values{}}
	ctx := context.Background()
	dead, err := q.api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dead")})
	if err != nil {
		t.Fatal(err)
	}
	q.dead = aws.ToString(dead.QueueUrl)
	attrs := map[string]string{"VisibilityTimeout": "1"}
	if maxReceives > 0 {
		attrs["RedrivePolicy"] = fmt.Sprintf(`{"maxReceiveCount":"%d","deadLetterTargetArn":"arn:aws:sqs::100010001000:%s-dead"}`, maxReceives, name)
	}
	main, err := q.api.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatal(err)
	}
	q.url = aws.ToString(main.QueueUrl)
	t.Cleanup(func() {
		for _, u := range []string{q.url, q.dead} {
			_, _ = q.api.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(u)})
		}
	})
	return q
}

func (q *queue) configURL() string {
	v := url.Values{"dead_letter": {q.dead}, "endpoint": {q.endpoint}, "credentials": {"env:" + keysEnv},
		"region": {"us-east-1"}, "wait": {"1s"}, "visibility": {q.Lease().String()}, "retry_base": {"50ms"}}
	for k, vs := range q.params {
		v[k] = vs
	}
	return q.url + "?" + v.Encode()
}

func (q *queue) Publish(t *testing.T, body []byte) string {
	t.Helper()
	out, err := q.api.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: &q.url, MessageBody: aws.String(string(body))})
	if err != nil {
		t.Fatal(err)
	}
	return "sqs:" + aws.ToString(out.MessageId)
}

func (q *queue) Runner(t *testing.T, sink consumer.Sink, o consumertest.Options) *consumer.Runner {
	t.Helper()
	cfg, err := sqsq.ParseURL(q.configURL())
	if err != nil {
		t.Fatal(err)
	}
	if o.MaxAttempts > 0 {
		cfg.MaxReceives = o.MaxAttempts
	}
	if o.Concurrency > 0 {
		cfg.Batch = o.Concurrency
	}
	cfg.StopGrace = o.StopGrace
	r, err := sqsq.Open(context.Background(), cfg, sink, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// DeadLetters drains the dead-letter queue into what it returns (a
// received message is hidden from the next receive, so each is read and
// deleted once and kept here).
func (q *queue) DeadLetters(t *testing.T) []consumertest.DeadLetter {
	t.Helper()
	q.mu.Lock()
	defer q.mu.Unlock()
	ctx := context.Background()
	for {
		out, err := q.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &q.dead, MaxNumberOfMessages: 10,
			MessageAttributeNames: []string{"All"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return append([]consumertest.DeadLetter(nil), q.letters...)
		}
		for _, m := range out.Messages {
			attr := func(k string) string { return aws.ToString(m.MessageAttributes[k].StringValue) }
			n, _ := strconv.Atoi(attr(sqsq.AttrReceiveCount))
			if attr(sqsq.AttrReason) != "" && attr(sqsq.AttrQueue) != q.url {
				t.Errorf("dead letter: original queue %q, want %q", attr(sqsq.AttrQueue), q.url)
			}
			q.letters = append(q.letters, consumertest.DeadLetter{Body: []byte(aws.ToString(m.Body)), Reason: attr(sqsq.AttrReason), Deliveries: n})
			if _, err := q.api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &q.dead, ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Pending is goaws's ApproximateNumberOfMessages, which counts leased
// messages too.
func (q *queue) Pending(t *testing.T) int {
	t.Helper()
	out, err := q.api.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: &q.url,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (q *queue) Lease() time.Duration { return time.Second }

func (q *queue) ChildEnv(*testing.T) []string { return []string{childURL + "=" + q.configURL()} }

// TestSuite runs the consumer suite against goaws. Transient failures that
// never end are the redrive policy's (TestRedrivePolicy), so the queues
// have one with room for the suite's retries.
func TestSuite(t *testing.T) {
	consumertest.Run(t, consumertest.Features{}, func(t *testing.T) consumertest.Queue { return newQueue(t, 50) })
}

// TestRedrivePolicy: with max_receives unset, a message that keeps failing
// transiently is moved to the dead-letter queue by the queue's redrive
// policy, not retried forever, and the consumer never deletes it.
func TestRedrivePolicy(t *testing.T) {
	q := newQueue(t, 2)
	var mu sync.Mutex
	calls := 0
	sink := consumer.SinkFunc(func(context.Context, []byte) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return errors.New("database is down")
	})
	body := consumertest.Notification("a-down", "k-down")
	q.Publish(t, body)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Runner(t, sink, consumertest.Options{}).Run(runCtx) }()
	consumertest.WaitFor(t, "the redrive policy to move the message", func() bool { return len(q.DeadLetters(t)) == 1 && q.Pending(t) == 0 })
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	d := q.DeadLetters(t)[0]
	if string(d.Body) != string(body) || d.Reason != "" {
		t.Errorf("dead letter %q reason %q: want the body, moved by the queue (no consumer reason)", d.Body, d.Reason)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls < 2 {
		t.Errorf("submitted %d times, want at least the policy's 2 receives", calls)
	}
}

// TestMaxReceives: with max_receives set the consumer dead-letters a
// message itself, with the last error as the reason.
func TestMaxReceives(t *testing.T) {
	q := newQueue(t, 0)
	q.params.Set("max_receives", "1")
	sink := consumer.SinkFunc(func(context.Context, []byte) error { return errors.New("backlog full") })
	q.Publish(t, consumertest.Notification("a-full", "k-full"))
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Runner(t, sink, consumertest.Options{}).Run(runCtx) }()
	consumertest.WaitFor(t, "the consumer to dead-letter the message", func() bool { return len(q.DeadLetters(t)) == 1 && q.Pending(t) == 0 })
	stop()
	<-done
	d := q.DeadLetters(t)[0]
	if !strings.Contains(d.Reason, "gave up after 1 deliveries: backlog full") || d.Deliveries != 1 {
		t.Errorf("dead letter reason %q, receives %d", d.Reason, d.Deliveries)
	}
}

// TestOpenChecks: Open refuses a queue without a redrive policy (unless
// max_receives is set), missing queues, and bad or missing credentials,
// with errors that name the problem and not the secret.
func TestOpenChecks(t *testing.T) {
	q := newQueue(t, 0)
	sink := consumer.SinkFunc(func(context.Context, []byte) error { return nil })
	open := func(raw string) error {
		cfg, err := sqsq.ParseURL(raw)
		if err != nil {
			return err
		}
		_, err = sqsq.Open(context.Background(), cfg, sink, nil, nil)
		return err
	}
	if err := open(q.configURL()); err == nil || !strings.Contains(err.Error(), "no redrive policy") {
		t.Errorf("no redrive policy: %v", err)
	}
	q.params.Set("max_receives", "3")
	if err := open(q.configURL()); err != nil {
		t.Errorf("max_receives instead of a policy: %v", err)
	}
	missing := strings.Replace(q.configURL(), "/syntest-", "/nosuch-", 1)
	if err := open(missing); err == nil || !strings.Contains(err.Error(), "queue ") || !strings.Contains(err.Error(), "NonExistentQueue") {
		t.Errorf("missing queue: %v", err)
	}
	noDead := strings.Replace(q.configURL(), url.QueryEscape(q.dead), url.QueryEscape(q.dead+"-gone"), 1)
	if err := open(noDead); err == nil || !strings.Contains(err.Error(), "dead-letter queue") {
		t.Errorf("missing dead-letter queue: %v", err)
	}
	unset := strings.Replace(q.configURL(), keysEnv, "SYN_SQSQ_UNSET_XYZ", 1)
	if err := open(unset); !errors.Is(err, secret.ErrNotFound) {
		t.Errorf("unset credentials: %v, want secret.ErrNotFound", err)
	}
	t.Setenv("SYN_SQSQ_BADKEYS", "only-one-part")
	bad := strings.Replace(q.configURL(), keysEnv, "SYN_SQSQ_BADKEYS", 1)
	if err := open(bad); err == nil || !strings.Contains(err.Error(), "ACCESS_KEY_ID:SECRET_ACCESS_KEY") || strings.Contains(err.Error(), "only-one-part") {
		t.Errorf("malformed credentials: %v", err)
	}
}

// TestParseURL: settings and their errors.
func TestParseURL(t *testing.T) {
	c, err := sqsq.ParseURL("https://sqs.eu-west-1.amazonaws.com/123/notify?dead_letter=https://sqs.eu-west-1.amazonaws.com/123/dead&batch=5&wait=10s&visibility=2m&max_receives=4&credentials=env:K")
	if err != nil {
		t.Fatal(err)
	}
	want := sqsq.Config{QueueURL: "https://sqs.eu-west-1.amazonaws.com/123/notify", DeadLetterQueueURL: "https://sqs.eu-west-1.amazonaws.com/123/dead",
		Region: "eu-west-1", Credentials: "env:K", Batch: 5, WaitTime: 10 * time.Second, Visibility: 2 * time.Minute, MaxReceives: 4, RetryBase: time.Second}
	if c != want {
		t.Errorf("ParseURL = %+v\nwant %+v", c, want)
	}
	const base = "http://127.0.0.1:4100/100010001000/q?dead_letter=http://127.0.0.1:4100/100010001000/d"
	c, err = sqsq.ParseURL(base + "&endpoint=http://127.0.0.1:4100")
	if err != nil || c.Region != "us-east-1" || c.Batch != 10 || c.WaitTime != 20*time.Second || c.Visibility != time.Minute {
		t.Errorf("defaults: %+v, %v", c, err)
	}
	for raw, wantErr := range map[string]string{
		"":                               "url is required",
		"sqs://q?dead_letter=http://h/d": "want https://host",
		"http://127.0.0.1:4100/1/q":      "dead_letter: the dead-letter queue URL is required",
		"http://127.0.0.1:4100/1/q?dead_letter=http://127.0.0.1:4100/1/q": "another queue",
		"https://u:p@sqs.example/1/q?dead_letter=http://h/d":              "must not contain credentials",
		base + "&endpoint=ftp://x":                                        "endpoint",
		base + "&batch=11":                                                "want 1-10",
		base + "&wait=30s":                                                "want 1s-20s",
		base + "&visibility=100ms":                                        "want 1s-12h",
		base + "&max_receives=-1":                                         "max_receives -1",
		base + "&batch=many":                                              "want a number",
		base + "&credentials=hunter2":                                     "secret reference",
		base + "&colour=blue":                                             "unknown parameter",
		"https://sqs.eu-west-1.amazonaws.com/1/q.fifo?dead_letter=https://sqs.eu-west-1.amazonaws.com/1/d.fifo": "FIFO queues are not supported",
	} {
		_, err := sqsq.ParseURL(raw)
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("ParseURL(%q) = %v, want an error containing %q", raw, err, wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("ParseURL(%q): the error repeats the secret: %v", raw, err)
		}
	}
}
