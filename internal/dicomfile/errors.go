package dicomfile

import (
	"fmt"
)

// InvalidError reports that the input is not acceptable DICOM. Reason is a
// short sentence suitable to show the uploader; it never contains patient
// data.
type InvalidError struct {
	Reason string
	// cause is the underlying parser error, if any; it is for logs only.
	cause error
}

// Error implements error.
func (e *InvalidError) Error() string {
	if e.cause != nil {
		return "invalid DICOM: " + e.Reason + ": " + e.cause.Error()
	}
	return "invalid DICOM: " + e.Reason
}

// Unwrap returns the underlying parser error, if any.
func (e *InvalidError) Unwrap() error { return e.cause }

// invalidf returns an *InvalidError with a formatted reason.
func invalidf(format string, args ...any) error {
	return &InvalidError{Reason: fmt.Sprintf(format, args...)}
}

// UnsupportedError reports that a file is valid DICOM but its pixel data is
// encoded with a transfer syntax this package cannot decode.
type UnsupportedError struct {
	// TransferSyntax is the transfer syntax UID of the file.
	TransferSyntax string
	// Name is the human name of the transfer syntax (or of the encoding
	// that is not supported, such as "12-bit JPEG").
	Name string
}

// Error implements error.
func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("preview not available: %s (%s) is not decoded by this server", e.Name, e.TransferSyntax)
}
