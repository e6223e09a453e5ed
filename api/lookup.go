package api

import "github.com/google/uuid"

// MaxLookup is the most SHA-256 values one POST
// /api/v1/cases/{id}/files/lookup may ask about.
const MaxLookup = 1000

// LookupRequest is the body of POST /api/v1/cases/{id}/files/lookup: the
// SHA-256 values (hex, of the bytes as they would be sent) to look for.
type LookupRequest struct {
	SHA256 []string `json:"sha256"`
}

// HeldFile is a file a case already holds (schema HeldFile).
type HeldFile struct {
	SHA256 string    `json:"sha256"`
	FileID uuid.UUID `json:"file_id"`
}

// LookupAnswer is the 200 answer of POST /api/v1/cases/{id}/files/lookup
// (schema LookupAnswer): which of the values asked about the case holds,
// and which it does not.
type LookupAnswer struct {
	Held    []HeldFile `json:"held"`
	Missing []string   `json:"missing"`
}
