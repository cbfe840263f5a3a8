package api

import "net/http"

// ReleaseBackend is what the API needs from a node for this family.
type ReleaseBackend interface{}

// releaseRoutes registers this family's routes.
func (s *server) releaseRoutes(mux *http.ServeMux) {}
