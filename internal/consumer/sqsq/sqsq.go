// Package sqsq consumes notifications from an AWS SQS queue (or an
// SQS-compatible server through an endpoint override). It long-polls
// ReceiveMessage and deletes a message only after the Sink committed it;
// while a submit runs it extends the message's visibility timeout. A
// transient failure makes the message visible again after a backoff.
//
// Where failures end: poison (input that can never be accepted) is moved
// by the consumer itself to the dead-letter queue, with the reason as a
// message attribute, and deleted from the source queue. A message that
// keeps failing transiently is left to the queue's redrive policy
// (maxReceiveCount → its dead-letter queue), which Open requires — unless
// MaxReceives is set, in which case the consumer moves it itself after
// that many receives (by ApproximateReceiveCount).
package sqsq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/syndicate-media/syndicate/internal/consumer"
	"github.com/syndicate-media/syndicate/internal/secret"
)

// Message attributes on a dead letter.
const (
	AttrReason       = "Syndicate-Dead-Letter-Reason"
	AttrQueue        = "Syndicate-Original-Queue"
	AttrReceiveCount = "Syndicate-Receive-Count"
	AttrMessageID    = "Syndicate-Original-Message-Id"
)

const (
	defaultBatch      = 10
	defaultWait       = 20 * time.Second
	defaultVisibility = 60 * time.Second
	defaultRegion     = "us-east-1"
	maxReason         = 1024
)

// Config is an SQS consumer.
type Config struct {
	// QueueURL is the queue's URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME).
	QueueURL string
	// DeadLetterQueueURL receives poison messages (required).
	DeadLetterQueueURL string
	// Region defaults to the one in an AWS queue URL's host, else us-east-1.
	Region string
	// Endpoint overrides the SQS endpoint (an SQS-compatible server,
	// http://127.0.0.1:4100); empty: AWS.
	Endpoint string
	// Credentials is a secret reference holding ACCESS_KEY_ID:SECRET_ACCESS_KEY;
	// empty: the default AWS chain (environment, shared files, IAM role).
	Credentials string
	// Batch is the most messages received and submitted at once (1-10,
	// default 10).
	Batch int
	// WaitTime is the long poll (1s-20s, default 20s).
	WaitTime time.Duration
	// Visibility is the lease taken on a received message and renewed
	// every Visibility/3 while it is submitted (default 60s, whole seconds).
	Visibility time.Duration
	// MaxReceives, if set, dead-letters a message that failed transiently
	// on its MaxReceives-th receive; 0 leaves that to the queue's redrive
	// policy, which must then exist.
	MaxReceives int
	// RetryBase is the first retry delay, doubled per receive (default
	// 1s; SQS counts whole seconds).
	RetryBase time.Duration
	// StopGrace is how long in-flight submits may finish at a stop
	// (default 10s); the rest are made visible again.
	StopGrace time.Duration
}

// ParseURL reads the one-line form `syndicate serve --sqs-consumer` takes:
// the queue URL with the consumer's settings as query parameters,
//
//	https://sqs.eu-west-1.amazonaws.com/123456789012/notify
//	    ?dead_letter=https://sqs.eu-west-1.amazonaws.com/123456789012/notify-dead
//	    &region=eu-west-1&endpoint=http://127.0.0.1:4100&credentials=env:SQS_KEYS
//	    &batch=10&wait=20s&visibility=60s&max_receives=0&retry_base=1s
//
// Unknown parameters are refused; the result is validated.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Config{}, fmt.Errorf("sqs consumer: %w", err)
	}
	q := u.Query()
	u.RawQuery, u.Fragment = "", ""
	c := Config{QueueURL: u.String()}
	for k, vs := range q {
		v := vs[len(vs)-1]
		var err error
		switch k {
		case "dead_letter":
			c.DeadLetterQueueURL = v
		case "region":
			c.Region = v
		case "endpoint":
			c.Endpoint = v
		case "credentials":
			c.Credentials = v
		case "batch":
			c.Batch, err = strconv.Atoi(v)
		case "max_receives":
			c.MaxReceives, err = strconv.Atoi(v)
		case "wait":
			c.WaitTime, err = time.ParseDuration(v)
		case "visibility":
			c.Visibility, err = time.ParseDuration(v)
		case "retry_base":
			c.RetryBase, err = time.ParseDuration(v)
		default:
			return Config{}, fmt.Errorf("sqs consumer: unknown parameter %q (have dead_letter, region, endpoint, credentials, batch, wait, visibility, max_receives, retry_base)", k)
		}
		if err != nil {
			return Config{}, fmt.Errorf("sqs consumer: %s=%q: want a number or a duration like 20s", k, v)
		}
	}
	return c, c.Validate()
}

// Validate checks the configuration without connecting and fills in the
// defaults.
func (c *Config) Validate() error {
	if err := checkURL("url", c.QueueURL); err != nil {
		return err
	}
	if c.DeadLetterQueueURL == "" {
		return errors.New("sqs consumer: dead_letter: the dead-letter queue URL is required (poison messages are moved there)")
	}
	if err := checkURL("dead_letter", c.DeadLetterQueueURL); err != nil {
		return err
	}
	if strings.HasSuffix(c.QueueURL, ".fifo") || strings.HasSuffix(c.DeadLetterQueueURL, ".fifo") {
		return errors.New("sqs consumer: FIFO queues are not supported yet (message groups, deduplication ids); use standard queues")
	}
	if c.DeadLetterQueueURL == c.QueueURL {
		return errors.New("sqs consumer: dead_letter must be another queue than the one consumed")
	}
	if c.Endpoint != "" {
		if err := checkURL("endpoint", c.Endpoint); err != nil {
			return err
		}
	}
	if c.Credentials != "" && !strings.Contains(c.Credentials, ":") {
		return errors.New("sqs consumer: credentials must be a secret reference (env:NAME, file:/path or aws-ssm:/path) to ACCESS_KEY_ID:SECRET_ACCESS_KEY, not the secret itself")
	}
	switch {
	case c.Batch < 0 || c.Batch > 10:
		return fmt.Errorf("sqs consumer: batch %d: want 1-10 (the SQS maximum per receive)", c.Batch)
	case c.WaitTime < 0 || c.WaitTime > 20*time.Second || (c.WaitTime > 0 && c.WaitTime < time.Second):
		return fmt.Errorf("sqs consumer: wait %s: want 1s-20s", c.WaitTime)
	case c.Visibility < 0 || (c.Visibility > 0 && c.Visibility < time.Second) || c.Visibility > 12*time.Hour:
		return fmt.Errorf("sqs consumer: visibility %s: want 1s-12h", c.Visibility)
	case c.MaxReceives < 0:
		return fmt.Errorf("sqs consumer: max_receives %d: want 0 (the queue's redrive policy) or more", c.MaxReceives)
	}
	if c.Batch == 0 {
		c.Batch = defaultBatch
	}
	if c.WaitTime == 0 {
		c.WaitTime = defaultWait
	}
	if c.Visibility == 0 {
		c.Visibility = defaultVisibility
	}
	if c.RetryBase <= 0 {
		c.RetryBase = time.Second
	}
	if c.Region == "" {
		c.Region = regionOf(c.QueueURL)
	}
	return nil
}

func checkURL(field, raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return fmt.Errorf("sqs consumer: %s is required", field)
	case err != nil:
		return fmt.Errorf("sqs consumer: %s: %w", field, err)
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "":
		return fmt.Errorf("sqs consumer: %s %q: want https://host/… (or http:// for a local server)", field, raw)
	case u.User != nil:
		return fmt.Errorf("sqs consumer: %s must not contain credentials; set credentials to a reference", field)
	}
	return nil
}

// regionOf reads REGION from sqs.REGION.amazonaws.com.
func regionOf(queueURL string) string {
	u, err := url.Parse(queueURL)
	if err == nil {
		parts := strings.Split(u.Hostname(), ".")
		if len(parts) >= 4 && parts[0] == "sqs" && parts[2] == "amazonaws" {
			return parts[1]
		}
	}
	return defaultRegion
}

// Open validates cfg, checks that both queues exist and that transient
// failures end somewhere (a redrive policy or MaxReceives), and returns a
// Runner ready to Run.
func Open(ctx context.Context, cfg Config, sink consumer.Sink, log *slog.Logger, m *consumer.Metrics) (*consumer.Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	api, err := client(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s := &source{api: api, cfg: cfg}
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	return &consumer.Runner{Name: "sqs:" + queueName(cfg.QueueURL), Source: s, Sink: sink,
		Concurrency: cfg.Batch, Batch: cfg.Batch, MaxAttempts: cfg.MaxReceives, RetryBase: cfg.RetryBase,
		ExtendEvery: cfg.Visibility / 3, StopGrace: cfg.StopGrace, Log: log, Metrics: m}, nil
}

func client(ctx context.Context, c Config) (*sqs.Client, error) {
	var cfg aws.Config
	if c.Credentials == "" {
		var err error
		if cfg, err = config.LoadDefaultConfig(ctx, config.WithRegion(c.Region)); err != nil {
			return nil, fmt.Errorf("sqs consumer: default AWS configuration: %w", err)
		}
	} else {
		b, err := secret.Resolve(c.Credentials)
		if err != nil {
			return nil, fmt.Errorf("sqs consumer: credentials: %w", err)
		}
		id, key, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
		if !ok || id == "" || key == "" {
			return nil, fmt.Errorf("sqs consumer: credentials %s must hold ACCESS_KEY_ID:SECRET_ACCESS_KEY", c.Credentials)
		}
		cfg = aws.Config{Region: c.Region, Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, key, ""))}
	}
	return sqs.NewFromConfig(cfg, func(o *sqs.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	}), nil
}

func queueName(u string) string { return u[strings.LastIndex(u, "/")+1:] }

type source struct {
	api *sqs.Client
	cfg Config
}

// check reads both queues' attributes: it fails on a missing queue or
// refused credentials, and when nothing would ever stop a message that
// keeps failing.
func (s *source) check(ctx context.Context) error {
	out, err := s.api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &s.cfg.QueueURL,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameRedrivePolicy}})
	if err != nil {
		return fmt.Errorf("sqs consumer: queue %s: %w", s.cfg.QueueURL, err)
	}
	if _, err := s.api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &s.cfg.DeadLetterQueueURL,
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}}); err != nil {
		return fmt.Errorf("sqs consumer: dead-letter queue %s: %w", s.cfg.DeadLetterQueueURL, err)
	}
	if s.cfg.MaxReceives == 0 && maxReceiveCount(out.Attributes[string(types.QueueAttributeNameRedrivePolicy)]) == 0 {
		return fmt.Errorf("sqs consumer: queue %s has no redrive policy: a message that keeps failing would be retried until it expires; "+
			"give the queue a RedrivePolicy (maxReceiveCount, deadLetterTargetArn) or set max_receives", s.cfg.QueueURL)
	}
	return nil
}

// maxReceiveCount reads a RedrivePolicy; SQS writes the count as a string,
// some servers as a number.
func maxReceiveCount(policy string) int {
	var p struct {
		MaxReceiveCount json.RawMessage `json:"maxReceiveCount"`
		Target          string          `json:"deadLetterTargetArn"`
	}
	if policy == "" || json.Unmarshal([]byte(policy), &p) != nil || p.Target == "" {
		return 0
	}
	n, _ := strconv.Atoi(strings.Trim(string(p.MaxReceiveCount), `"`))
	return n
}

func (s *source) Fetch(ctx context.Context, n int) ([]consumer.Message, error) {
	out, err := s.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl: &s.cfg.QueueURL, MaxNumberOfMessages: int32(min(n, 10)),
		WaitTimeSeconds: int32(s.cfg.WaitTime / time.Second), VisibilityTimeout: seconds(s.cfg.Visibility),
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameApproximateReceiveCount},
		MessageAttributeNames:       []string{"All"},
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("sqs consumer: receive: %w", err)
	}
	msgs := make([]consumer.Message, 0, len(out.Messages))
	for _, m := range out.Messages {
		msgs = append(msgs, &message{m: m, src: s})
	}
	return msgs, nil
}

// Close has nothing to release: the client holds no connection state that
// outlives a request.
func (s *source) Close() error { return nil }

type message struct {
	m   types.Message
	src *source
}

func (m *message) Body() []byte { return []byte(aws.ToString(m.m.Body)) }

// ID is the SQS message id: the same on every receive of the message.
func (m *message) ID() string { return "sqs:" + aws.ToString(m.m.MessageId) }

func (m *message) Attempt() int {
	n, err := strconv.Atoi(m.m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

func (m *message) Ack(ctx context.Context) error {
	_, err := m.src.api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &m.src.cfg.QueueURL, ReceiptHandle: m.m.ReceiptHandle})
	if err != nil {
		return fmt.Errorf("sqs consumer: delete: %w", err)
	}
	return nil
}

func (m *message) Retry(ctx context.Context, delay time.Duration) error {
	return m.visibility(ctx, delay)
}

func (m *message) Extend(ctx context.Context) error {
	return m.visibility(ctx, m.src.cfg.Visibility)
}

func (m *message) visibility(ctx context.Context, d time.Duration) error {
	_, err := m.src.api.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &m.src.cfg.QueueURL,
		ReceiptHandle: m.m.ReceiptHandle, VisibilityTimeout: seconds(d)})
	if err != nil {
		return fmt.Errorf("sqs consumer: change visibility: %w", err)
	}
	return nil
}

// DeadLetter sends the body to the dead-letter queue with the reason, the
// source queue, the receive count and the original id as attributes, then
// deletes the original. A crash between the two leaves the original in
// the queue: it is moved again, so the dead-letter queue may hold a copy
// twice, never none.
func (m *message) DeadLetter(ctx context.Context, reason string) error {
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	str := func(v string) types.MessageAttributeValue {
		return types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	attrs := map[string]types.MessageAttributeValue{
		AttrReason:       str(reason),
		AttrQueue:        str(m.src.cfg.QueueURL),
		AttrReceiveCount: {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(m.Attempt()))},
		AttrMessageID:    str(aws.ToString(m.m.MessageId)),
	}
	if _, err := m.src.api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &m.src.cfg.DeadLetterQueueURL,
		MessageBody: m.m.Body, MessageAttributes: attrs}); err != nil {
		return fmt.Errorf("sqs consumer: send to dead-letter queue: %w", err)
	}
	return m.Ack(ctx)
}

// seconds rounds d up to whole seconds, as SQS counts.
func seconds(d time.Duration) int32 {
	return int32(math.Ceil(d.Seconds()))
}

var (
	_ consumer.Source  = (*source)(nil)
	_ consumer.Message = (*message)(nil)
)
