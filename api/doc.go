// Package api is the node's local admin API: the JSON types, the HTTP
// server that exposes a Backend on loopback, and the client the CLI uses.
//
// Every /v1 route requires "Authorization: Bearer <token>", where the
// token is the content of the node's api.token file (mode 0600). /healthz,
// /readyz and /metrics need no token; the listener is bound to loopback
// only, so none of them is reachable from the network.
//
// Routes:
//
//	GET  /healthz                     200 "ok" while the node runs
//	GET  /readyz                      200 once the node has a genesis and a host
//	GET  /metrics                     Prometheus text format
//	GET  /v1/status                   Status
//	GET  /v1/facts?kind=&author=&epoch=&since=&limit=&newest=   FactList
//	GET  /v1/facts/{cid}              FactDetail
//	PUT  /v1/data/{namespace}/{key}   body = raw value -> WriteResult
//	GET  /v1/data/{namespace}/{key}   DataValue (404 if absent)
//	POST /v1/cache/set                CacheSetRequest -> CacheEntry
//	GET  /v1/cache/get?key=           CacheEntry (valid=false on miss)
//	GET  /v1/cache/check?key=&epoch=  CacheCheck
//	GET  /v1/cache/query?prefix=      CacheQuery
//	POST /v1/cache/invalidate         InvalidateRequest -> WriteResult
//	POST /v1/admin/replace            ReplaceAdminRequest -> WriteResult
//	POST /v1/admin/roster             RosterRequest -> WriteResult (admin only)
//	POST /v1/admin/approve            ApproveRequest -> WriteResult
//	GET  /v1/admin/status             AdminStatus
//	POST /v1/sync                     SyncRequest -> SyncReport (anti-entropy now)
//	POST /v1/peers/block              BlockRequest -> BlockList (partition drills)
//	GET  /v1/releases                 ReleaseList (the release catalogue)
//	GET  /v1/releases/{id}            Release
//
// Errors are JSON {"error": "..."} with a 4xx or 5xx status; the message
// says what was wrong and, where it can, what to do.
package api
