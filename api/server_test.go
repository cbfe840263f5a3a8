package api

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeBackend answers Ready, Status and GetData; the tests call nothing else.
type fakeBackend struct{ Backend }

func (fakeBackend) Ready() bool { return true }
func (fakeBackend) Status(context.Context) (*Status, error) {
	return &Status{NetworkName: "t", Epoch: 3, StateDigest: "ab"}, nil
}
func (fakeBackend) GetData(_ context.Context, ns, key string) (*DataValue, error) {
	return &DataValue{Namespace: ns, Key: key, Value: []byte("v")}, nil
}

func startServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(NewHandler(fakeBackend{}, "secret", prometheus.NewRegistry(), slog.New(slog.NewTextHandler(io.Discard, nil))))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestTokenRequired(t *testing.T) {
	addr := startServer(t)
	ctx := context.Background()
	if s, err := NewClient(addr, "secret").Status(ctx); err != nil || s.Epoch != 3 {
		t.Fatalf("right token: %+v %v", s, err)
	}
	_, err := NewClient(addr, "wrong").Status(ctx)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != http.StatusUnauthorized || !strings.Contains(ae.Message, "api.token") {
		t.Fatalf("wrong token: %v", err)
	}
	// Health, readiness and metrics need no token.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get("http://" + addr + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
}

func TestUnreachableNode(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := NewClient(addr, "x").Status(context.Background()); !errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
}

func TestBadRequestBody(t *testing.T) {
	addr := startServer(t)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/cache/set", strings.NewReader(`{"key": 1, "extra": true}`))
	req.Header.Set("Authorization", "Bearer secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
}
