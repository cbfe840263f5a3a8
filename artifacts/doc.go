// Package artifacts stores and moves release artifacts as IPFS UnixFS
// content. (Full design notes follow in a later commit.)
package artifacts
