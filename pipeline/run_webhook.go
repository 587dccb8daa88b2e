package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// FailureEvent is the JSON body POSTed to schedule.webhook when a run fails.
type FailureEvent struct {
	Event string    `json:"event"` // always "run_failed"
	RunID string    `json:"run_id"`
	AsOf  string    `json:"as_of"`
	Kind  string    `json:"kind"`
	Stage string    `json:"stage"`
	Error string    `json:"error"`
	Host  string    `json:"host"`
	At    time.Time `json:"at"`
}

// postFailure POSTs ev to url with a 10 s timeout; a non-2xx answer is an error.
func postFailure(ctx context.Context, url string, ev FailureEvent) error {
	ev.Event = "run_failed"
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding failure event: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "retain/"+BuildVersion())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", url, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s answered %s", url, resp.Status)
	}
	return nil
}
