package api

import "net/http"

// UpgradeBackend is what the API needs from a node for this family.
type UpgradeBackend interface{}

// upgradeRoutes registers this family's routes.
func (s *server) upgradeRoutes(mux *http.ServeMux) {}
