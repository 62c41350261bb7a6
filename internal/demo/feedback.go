package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/syndicate-media/syndicate/client"
	"github.com/syndicate-media/syndicate/internal/api"
	"github.com/syndicate-media/syndicate/internal/domain"
	"github.com/syndicate-media/syndicate/internal/feedback"
)

// feedbackRoundTrip closes the loop the way partners do: streamco calls
// the feedback API with its own key; archive drops a status.json receipt
// next to each package, which the server's sweeper picks up. It waits
// until every verified delivery is acknowledged as processed, and marks
// the ones that are not as failures.
func feedbackRoundTrip(ctx context.Context, c *client.Client, ds []domain.Delivery, partners []domain.Partner, failures map[string]string) ([]domain.Delivery, error) {
	var key api.KeyResponse
	if err := c.Do(ctx, "POST", "/v1/partners/streamco/keys", "", api.KeyRequest{ExpiresIn: "1h"}, &key); err != nil {
		return nil, fmt.Errorf("partner key: %w", err)
	}
	partnerClient := client.New(c.BaseURL, key.Key)
	archiveRoot := strings.TrimPrefix(partners[1].Destination.URL, "file://")
	for _, d := range ds {
		if _, bad := failures[d.ID]; bad {
			continue
		}
		switch d.PartnerID {
		case "streamco":
			rep := feedback.Report{Status: domain.AckProcessed, Reference: "SC-" + d.AssetID}
			if err := partnerClient.Do(ctx, "POST", "/v1/partner/deliveries/"+d.ID+"/feedback", "", rep, nil); err != nil {
				return nil, fmt.Errorf("streamco feedback: %w", err)
			}
		case "archive":
			receipt := fmt.Sprintf(`{"status":"processed","reference":"ARC-%s"}`, d.AssetID)
			if err := os.WriteFile(filepath.Join(archiveRoot, d.AssetID, "status.json"), []byte(receipt), 0o644); err != nil {
				return nil, err
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for i := range ds {
		for {
			d, err := c.Delivery(ctx, ds[i].ID)
			if err != nil {
				return nil, err
			}
			ds[i] = d
			if _, bad := failures[d.ID]; bad || d.Ack == domain.AckProcessed {
				break
			}
			if time.Now().After(deadline) {
				failures[d.ID] = "no partner feedback recorded"
				break
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return ds, nil
}

func ackText(d domain.Delivery) string {
	if d.Ack == domain.AckNone {
		return "-"
	}
	return fmt.Sprintf("%s (%s)", d.Ack, d.PartnerRef)
}
