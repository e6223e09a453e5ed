package photo

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
)

// maxPNGInspect bounds the bytes of a metadata chunk read into memory to be
// inspected; larger chunks are dropped without being read.
const maxPNGInspect = 1 << 20

// pngKeep lists the chunks copied to the stored copy: the critical chunks
// and the ancillary chunks that describe how to render the pixels. Every
// other chunk is dropped: text (tEXt, zTXt, iTXt, which also carry XMP),
// eXIf, tIME, APNG animation and private chunks.
var pngKeep = map[string]bool{
	"IHDR": true, "PLTE": true, "IDAT": true, "IEND": true,
	"tRNS": true, "cHRM": true, "gAMA": true, "sBIT": true, "sRGB": true,
	"cICP": true, "mDCV": true, "cLLI": true, "mDCv": true, "cLLi": true,
	"bKGD": true, "hIST": true, "pHYs": true, "sPLT": true,
}

// pngColour lists the chunks put back into a re-encoded PNG, right after
// IHDR, so colours look the same.
var pngColour = map[string]bool{"iCCP": true, "sRGB": true, "gAMA": true, "cHRM": true, "cICP": true}

// pngInfo is what stripPNG learns about a PNG.
type pngInfo struct {
	exif     exifInfo
	stripped nameSet
	hadGPS   bool
	// colour holds the colour chunks (length, type, data and CRC) for a
	// re-encoded copy.
	colour      [][]byte
	colourBytes int
	// iccSpace is the colour space of the iCCP profile ("RGB ", "GRAY"), or "".
	iccSpace string
}

// stripPNG copies the PNG in src to dst keeping only the chunks in pngKeep
// (and iCCP if keepICC), stops after IEND, and reports what it found. An
// eXIf chunk counts for orientation only before the first IDAT, as browsers
// do. Chunk data is copied unchanged; CRCs are checked by the decoder, not
// here. Pass io.Discard as dst to only inspect the file.
func stripPNG(dst io.Writer, src io.Reader, keepICC bool) (*pngInfo, error) {
	info := &pngInfo{}
	r := bufio.NewReaderSize(src, 64<<10)
	w := bufio.NewWriterSize(dst, 64<<10)
	var magic [8]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, unexpectedEOF(err)
	}
	if !bytes.Equal(magic[:], pngMagic) {
		return nil, invalidf("not a PNG image")
	}
	w.Write(magic[:])
	seenIDAT := false
	var hdr [8]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, unexpectedEOF(err)
		}
		n := int64(binary.BigEndian.Uint32(hdr[:4]))
		typ := string(hdr[4:8])
		if n > 1<<31-1 {
			return nil, invalidf("damaged PNG image (chunk length)")
		}
		keep := pngKeep[typ] || (typ == "iCCP" && keepICC)
		var data []byte // read when it must be inspected
		if (pngColour[typ] || !keep) && n <= maxPNGInspect {
			data = make([]byte, n+4)
			if _, err := io.ReadFull(r, data); err != nil {
				return nil, unexpectedEOF(err)
			}
			data = data[:n]
		}
		switch {
		case typ == "IDAT":
			seenIDAT = true
		case pngColour[typ] && data != nil && (typ != "iCCP" || keepICC) &&
			info.colourBytes+len(data) <= maxICCBytes:
			info.colourBytes += len(data)
			info.colour = append(info.colour, slices.Concat(hdr[:], data[:n+4]))
			if typ == "iCCP" {
				info.iccSpace = pngICCSpace(data)
			}
		}
		if !keep {
			info.note(typ, data, seenIDAT)
		}
		switch {
		case keep && data != nil:
			w.Write(hdr[:])
			w.Write(data[:n+4])
		case keep:
			w.Write(hdr[:])
			if _, err := io.CopyN(w, r, n+4); err != nil {
				return nil, unexpectedEOF(err)
			}
		case data == nil:
			if _, err := io.CopyN(io.Discard, r, n+4); err != nil {
				return nil, unexpectedEOF(err)
			}
		}
		if typ == "IEND" {
			if _, err := r.Peek(1); err == nil {
				info.stripped.add("trailing-data")
			}
			return info, w.Flush()
		}
	}
}

// note records a dropped chunk; data is its content, or nil when too large
// to inspect.
func (info *pngInfo) note(typ string, data []byte, afterIDAT bool) {
	switch typ {
	case "eXIf":
		info.stripped.add("exif")
		e := parseEXIF(data)
		if e.hasGPS {
			info.hadGPS = true
			info.stripped.add("gps")
		}
		if !afterIDAT && info.exif.orientation == 0 {
			info.exif.orientation = e.orientation
		}
	case "tEXt", "zTXt", "iTXt":
		if typ == "iTXt" && bytes.HasPrefix(data, []byte("XML:com.adobe.xmp\x00")) {
			info.stripped.add("xmp")
		} else {
			info.stripped.add("text")
		}
		// ImageMagick and others write EXIF fields such as
		// "exif:GPSLatitude" as text; compressed text is not inspected.
		if xmpHasGPS(data) {
			info.hadGPS = true
			info.stripped.add("gps")
		}
	case "tIME":
		info.stripped.add("time")
	case "iCCP":
		info.stripped.add("icc")
	case "acTL", "fcTL", "fdAT":
		info.stripped.add("animation")
	default:
		info.stripped.add("chunk:" + typ)
	}
}

// pngICCSpace returns the colour space of the profile in an iCCP chunk, or
// "" when it cannot be read.
func pngICCSpace(data []byte) string {
	i := bytes.IndexByte(data, 0)
	if i < 0 || i+2 > len(data) || data[i+1] != 0 {
		return ""
	}
	zr, err := zlib.NewReader(bytes.NewReader(data[i+2:]))
	if err != nil {
		return ""
	}
	defer zr.Close()
	var head [40]byte
	if _, err := io.ReadFull(zr, head[:]); err != nil {
		return ""
	}
	return iccSpace(head[:])
}

// iccSpace returns the data colour space of an ICC profile from its header
// ("RGB ", "GRAY", "CMYK", ...), or "" if the header is not an ICC header.
func iccSpace(profile []byte) string {
	if len(profile) < 40 || string(profile[36:40]) != "acsp" {
		return ""
	}
	return string(profile[16:20])
}

// pngChunk returns a complete PNG chunk: length, type, data and CRC.
func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

// iccpChunk returns an iCCP chunk holding profile.
func iccpChunk(profile []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("ICC profile\x00\x00")
	zw := zlib.NewWriter(&buf)
	if _, err := zw.Write(profile); err != nil {
		return nil, fmt.Errorf("compress ICC profile: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress ICC profile: %w", err)
	}
	return pngChunk("iCCP", buf.Bytes()), nil
}

// nameSet is an ordered list of names without duplicates.
type nameSet []string

func (s *nameSet) add(name string) {
	if !slices.Contains(*s, name) {
		*s = append(*s, name)
	}
}
