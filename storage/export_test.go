package storage

// FormatKeyForTest is the metadata key holding the storage format version.
var FormatKeyForTest = metaKey(metaFormat)
