package secret

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

// SSMTTL is how long a value read from AWS SSM Parameter Store is reused
// before it is read again (so a rotated secret is picked up).
var SSMTTL = 5 * time.Minute

// ssmCache holds resolved parameters; values never leave this package
// except to the caller of Resolve.
var ssmCache = struct {
	sync.Mutex
	client *ssm.Client
	vals   map[string]cachedValue
}{vals: map[string]cachedValue{}}

type cachedValue struct {
	val []byte
	at  time.Time
}

// resolveSSM reads a SecureString (decrypted) or String parameter. The
// AWS configuration comes from the usual AWS_* variables and files;
// SYNDICATE_SSM_ENDPOINT points it at another endpoint (e.g. a local one).
func resolveSSM(ref, name string) ([]byte, error) {
	ssmCache.Lock()
	defer ssmCache.Unlock()
	if c, ok := ssmCache.vals[name]; ok && time.Since(c.at) < SSMTTL {
		return c.val, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if ssmCache.client == nil {
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("secret %s: aws config: %w", ref, err)
		}
		ssmCache.client = ssm.NewFromConfig(cfg, func(o *ssm.Options) {
			if ep := os.Getenv("SYNDICATE_SSM_ENDPOINT"); ep != "" {
				o.BaseEndpoint = aws.String(ep)
			}
		})
	}
	out, err := ssmCache.client.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
	var nf *types.ParameterNotFound
	if errors.As(err, &nf) {
		return nil, fmt.Errorf("secret %s: %w", ref, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("secret %s: ssm: %w", ref, err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return nil, fmt.Errorf("secret %s: ssm returned no value: %w", ref, ErrNotFound)
	}
	v := []byte(*out.Parameter.Value)
	ssmCache.vals[name] = cachedValue{val: v, at: time.Now()}
	return v, nil
}
