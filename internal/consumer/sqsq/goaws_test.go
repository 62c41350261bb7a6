package sqsq_test

// goaws (github.com/Admiral-Piett/goaws v0.4.5, the release the module
// proxy serves) runs in this test process. It speaks the SQS query
// protocol (form posts, XML answers) only, while aws-sdk-go-v2's SQS
// client has spoken the AWS JSON 1.0 protocol since v1.28, so queryBridge
// rewrites each JSON request into the form goaws reads and its XML answer
// into the JSON the SDK reads. The bridge only transcodes: every queue
// behaviour under test (leases, visibility, deletes, redrive to the
// dead-letter queue) is goaws's own.

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Admiral-Piett/goaws/app"
	"github.com/Admiral-Piett/goaws/app/gosqs"
	"github.com/Admiral-Piett/goaws/app/router"
	"github.com/sirupsen/logrus"
)

var goaws struct {
	once sync.Once
	url  string
}

// startGoaws starts the process's one goaws (its queues are package
// globals) and returns its endpoint; tests use queues of unique names.
func startGoaws(t *testing.T) string {
	t.Helper()
	goaws.once.Do(func() {
		logrus.SetOutput(io.Discard)
		srv := httptest.NewServer(queryBridge(router.New()))
		u, _ := url.Parse(srv.URL)
		app.CurrentEnvironment = app.Environment{Host: u.Hostname(), Port: u.Port(), AccountID: "100010001000",
			QueueAttributeDefaults: app.EnvQueueAttributes{VisibilityTimeout: 30, MaximumMessageSize: 262144}}
		go gosqs.PeriodicTasks(time.Second, nil) // expires leases, applies redrive policies
		goaws.url = srv.URL
	})
	return goaws.url
}

// queryBridge translates AWS JSON 1.0 SQS calls to the query protocol.
func queryBridge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AmazonSQS.")
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		var in map[string]any
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		form := url.Values{"Action": {op}, "Version": {"2012-11-05"}}
		toForm(in, form)
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, "/", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, req)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		if rec.Code >= 300 {
			var e struct {
				Error struct{ Code, Message string } `xml:"Error"`
			}
			_ = xml.Unmarshal(rec.Body.Bytes(), &e)
			w.Header().Set("X-Amzn-Query-Error", e.Error.Code+";Sender")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"__type": "com.amazonaws.sqs#" + e.Error.Code, "message": e.Error.Message})
			return
		}
		out, err := fromXML(op, rec.Body.Bytes())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(out)
	})
}

// toForm flattens the JSON members the consumer and tests send.
func toForm(in map[string]any, form url.Values) {
	for k, v := range in {
		switch k {
		case "Attributes": // queue attributes
			keys := sortedKeys(v.(map[string]any))
			for i, name := range keys {
				form.Set(fmt.Sprintf("Attribute.%d.Name", i+1), name)
				form.Set(fmt.Sprintf("Attribute.%d.Value", i+1), fmt.Sprint(v.(map[string]any)[name]))
			}
		case "AttributeNames":
			for i, name := range v.([]any) {
				form.Set(fmt.Sprintf("AttributeName.%d", i+1), fmt.Sprint(name))
			}
		case "MessageAttributes":
			attrs := v.(map[string]any)
			for i, name := range sortedKeys(attrs) {
				a := attrs[name].(map[string]any)
				p := fmt.Sprintf("MessageAttribute.%d.", i+1)
				form.Set(p+"Name", name)
				form.Set(p+"Value.DataType", fmt.Sprint(a["DataType"]))
				if s, ok := a["StringValue"]; ok {
					form.Set(p+"Value.StringValue", fmt.Sprint(s))
				}
			}
		case "MessageAttributeNames", "MessageSystemAttributeNames":
			// goaws returns every attribute.
		default:
			switch x := v.(type) {
			case string:
				form.Set(k, x)
			case float64:
				form.Set(k, strconv.FormatInt(int64(x), 10))
			}
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

type xmlAttr struct{ Name, Value string }

type xmlMessage struct {
	MessageId, ReceiptHandle, MD5OfBody, Body, MD5OfMessageAttributes string
	Attribute                                                         []xmlAttr
	MessageAttribute                                                  []struct {
		Name  string
		Value struct{ DataType, StringValue string }
	}
}

// fromXML converts goaws's answer for op to the JSON shape of the SDK.
func fromXML(op string, body []byte) (map[string]any, error) {
	var resp struct {
		Result struct {
			QueueUrl               string
			MessageId              string
			MD5OfMessageBody       string
			MD5OfMessageAttributes string
			Attribute              []xmlAttr
			Message                []xmlMessage
		} `xml:",any"`
	}
	if err := xml.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("goaws %s answer: %w", op, err)
	}
	r := resp.Result
	switch op {
	case "CreateQueue", "GetQueueUrl":
		return map[string]any{"QueueUrl": r.QueueUrl}, nil
	case "GetQueueAttributes":
		attrs := map[string]string{}
		for _, a := range r.Attribute {
			attrs[a.Name] = a.Value
		}
		return map[string]any{"Attributes": attrs}, nil
	case "SendMessage":
		out := map[string]any{"MessageId": r.MessageId, "MD5OfMessageBody": r.MD5OfMessageBody}
		if r.MD5OfMessageAttributes != "" {
			out["MD5OfMessageAttributes"] = r.MD5OfMessageAttributes
		}
		return out, nil
	case "ReceiveMessage":
		msgs := []map[string]any{}
		for _, m := range r.Message {
			attrs := map[string]string{}
			for _, a := range m.Attribute {
				attrs[a.Name] = a.Value
			}
			out := map[string]any{"MessageId": m.MessageId, "ReceiptHandle": m.ReceiptHandle, "MD5OfBody": m.MD5OfBody,
				"Body": m.Body, "Attributes": attrs}
			if len(m.MessageAttribute) > 0 {
				mattrs := map[string]any{}
				for _, a := range m.MessageAttribute {
					mattrs[a.Name] = map[string]string{"DataType": a.Value.DataType, "StringValue": a.Value.StringValue}
				}
				out["MessageAttributes"] = mattrs
				out["MD5OfMessageAttributes"] = m.MD5OfMessageAttributes
			}
			msgs = append(msgs, out)
		}
		return map[string]any{"Messages": msgs}, nil
	default: // DeleteMessage, ChangeMessageVisibility, SetQueueAttributes, DeleteQueue, PurgeQueue
		return map[string]any{}, nil
	}
}
