package api

import "net/http"

// SnapshotBackend is what the API needs from a node for this family.
type SnapshotBackend interface{}

// snapshotRoutes registers this family's routes.
func (s *server) snapshotRoutes(mux *http.ServeMux) {}
