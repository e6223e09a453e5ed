package intake

import (
	"bytes"
	"encoding/binary"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/teleread/teleread/internal/photo"
)

// sniffLen is how many leading bytes identify a file.
const sniffLen = 132

// sniffKind identifies a file from its first bytes, never from its name or
// declared type: "dicom", "photo" (with its format) or "" with a reason.
func sniffKind(head []byte) (kind string, format photo.Format, reason string) {
	if f, ok := photo.Sniff(head); ok {
		return KindPhoto, f, ""
	}
	if looksDICOM(head) {
		return KindDICOM, "", ""
	}
	return "", "", describe(head)
}

// looksDICOM accepts what dicomfile.ReadHeader can read: a Part 10 file
// ("DICM" after the 128-byte preamble, or without the preamble), file meta
// information without either, or a bare dataset that starts with a group
// 0008 element in implicit or explicit VR. ReadHeader has the last word.
func looksDICOM(head []byte) bool {
	switch {
	case len(head) >= 132 && string(head[128:132]) == "DICM":
		return true
	case len(head) >= 4 && string(head[:4]) == "DICM":
		return true
	case len(head) < 8:
		return false
	}
	le, be := binary.LittleEndian.Uint16(head), binary.BigEndian.Uint16(head)
	elem := binary.LittleEndian.Uint16(head[2:])
	explicit := isUpper(head[4]) && isUpper(head[5])
	switch {
	case le == 0x0002 && explicit:
		return true // file meta information without preamble
	case le == 0x0008 && elem <= 0x00FF:
		if explicit {
			return true
		}
		// Implicit VR: a 4-byte length that fits in what follows a
		// typical first element (Specific Character Set, Image Type...).
		return binary.LittleEndian.Uint32(head[4:]) < 1<<16
	case be == 0x0008 && explicit:
		return true
	}
	return false
}

func isUpper(b byte) bool { return b >= 'A' && b <= 'Z' }

// describe names what an unsupported file is, for the rejection.
func describe(head []byte) string {
	const want = "only DICOM, JPEG, PNG and WebP files are accepted"
	switch {
	case len(head) == 0:
		return "the file is empty"
	case bytes.HasPrefix(head, []byte("%PDF")):
		return "the file is a PDF document; " + want
	case bytes.HasPrefix(head, []byte("GIF8")):
		return "the file is a GIF image; " + want
	case bytes.HasPrefix(head, []byte("II*\x00")), bytes.HasPrefix(head, []byte("MM\x00*")):
		return "the file is a TIFF image; " + want
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		switch string(head[8:12]) {
		case "heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1":
			return "the file is a HEIC/HEIF image; export it as JPEG (most phones can) — " + want
		}
		return "the file is a video or ISO media file; " + want
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return "the file is a ZIP archive; unpack it and send the files themselves — " + want
	}
	return "the file is neither DICOM nor a JPEG, PNG or WebP image (checked from its content, not its name)"
}

// maxFilenameBytes bounds a stored file name.
const maxFilenameBytes = 255

// SanitizeFilename keeps the base name of an uploaded file name, without
// directories (either slash), control and formatting characters (NUL,
// newlines, bidirectional overrides) or invalid UTF-8, at most 255 bytes.
// It never returns "", "." or "..".
func SanitizeFilename(name string) string {
	name = strings.ToValidUTF8(name, "")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	for len(name) > maxFilenameBytes {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || strings.Trim(name, ".") == "" {
		return "upload"
	}
	return name
}
