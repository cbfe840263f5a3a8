package api

import "net/http"

// ArtifactBackend is what the API needs from a node for artifact blocks.
type ArtifactBackend interface{}

// artifactRoutes registers this family's routes.
func (s *server) artifactRoutes(mux *http.ServeMux) {}
