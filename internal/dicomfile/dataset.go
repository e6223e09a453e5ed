package dicomfile

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom/pkg/charset"
	textenc "golang.org/x/text/encoding"
)

// BulkThreshold is the size above which a binary value (OB, OD, OF, OL, OV,
// OW, UN) of the top level of a data set is given as a BulkDataURI rather
// than inline. Pixel Data always is.
const BulkThreshold = 1024

// maxDatasetBytes bounds the values a data set keeps in memory while it
// is written as JSON (everything but bulk data).
const maxDatasetBytes = 64 << 20

// maxInlineNested bounds an inline binary value inside a sequence (nested
// values have no BulkDataURI); a larger one is given without a value.
const maxInlineNested = 1 << 20

// jsonAttr is one attribute of the DICOM JSON model (PS3.18 F.2.2).
type jsonAttr struct {
	VR           string `json:"vr"`
	Value        []any  `json:"Value,omitempty"`
	BulkDataURI  string `json:"BulkDataURI,omitempty"`
	InlineBinary string `json:"InlineBinary,omitempty"`
}

// DatasetJSON reads the DICOM file in r (size bytes in all, -1 if unknown)
// and returns its data set, without the file meta information, as one
// object of the DICOM JSON model (PS3.18 F.2), keys in tag order. Every
// element is there with the JSON type of its VR: PN as objects with
// Alphabetic, Ideographic and Phonetic groups, numbers for US, UL, SS, SL,
// SV, UV, FL, FD, IS and DS, strings for text, AT as "GGGGEEEE", nested
// data sets for SQ, InlineBinary for small binary values. Pixel Data and
// top-level binary values larger than BulkThreshold are given as
// bulkURI(tag) (tag as eight upper-case hex digits) and never read into
// memory; when bulkURI is nil they are given without a value. Text is
// decoded from the file's Specific Character Set, which is then given as
// "ISO_IR 192" (UTF-8). The scan stops at Pixel Data when it ends the
// file, so the pixel bytes are not even read.
func DatasetJSON(r io.Reader, size int64, bulkURI func(tag string) string) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("read DICOM data set: %w", invalidf("unreadable DICOM structure"))
		}
	}()
	s, _, err := openFile(r, size)
	if err != nil {
		return nil, fmt.Errorf("read DICOM data set: %w", err)
	}
	d := &dsReader{s: s, bulk: bulkURI}
	ds, err := d.top()
	if err != nil {
		return nil, fmt.Errorf("read DICOM data set: %w", err)
	}
	b, err := json.Marshal(ds)
	if err != nil {
		return nil, fmt.Errorf("encode DICOM JSON: %w", err)
	}
	return b, nil
}

// dsReader reads a whole data set into the JSON model.
type dsReader struct {
	s    *scanner
	bulk func(string) string
	cs   charset.CodingSystem
	held int64
}

// top reads the top-level data set.
func (d *dsReader) top() (map[string]jsonAttr, error) {
	s := d.s
	ds := map[string]jsonAttr{}
	for {
		e, err := s.readElementHeader(s.enc)
		if errors.Is(err, io.EOF) {
			return ds, nil
		}
		if err != nil {
			return nil, err
		}
		if e.tag.group() == 0xFFFE {
			return nil, invalidf("unexpected %s at the top level of the dataset", e.tag)
		}
		if e.tag.group() == 0x0002 {
			// File meta elements repeated in the data set are not part of it.
			if err := s.consume(e, s.enc, -1, nil, 0); err != nil {
				return nil, err
			}
			continue
		}
		key := jsonKey(e.tag)
		if e.tag == tagPixelData {
			vr := e.vr
			if vr == "" || e.length == undefinedLength {
				vr = map[bool]string{true: "OB", false: "OW"}[e.length == undefinedLength]
			}
			ds[key] = d.bulkAttr(vr, key)
			if e.length != undefinedLength && s.size >= 0 && s.pos+int64(e.length) == s.size {
				return ds, nil // nothing follows the pixel data
			}
			if err := s.consume(e, s.enc, -1, nil, 0); err != nil {
				return nil, err
			}
			continue
		}
		a, err := d.element(e, -1, 0, true)
		if err != nil {
			return nil, err
		}
		if e.tag == tagCharset {
			d.setCharset(a)
			if len(a.Value) > 0 {
				a.Value = []any{"ISO_IR 192"}
			}
		}
		ds[key] = a
	}
}

// bulkAttr is a value given by reference.
func (d *dsReader) bulkAttr(vr, key string) jsonAttr {
	a := jsonAttr{VR: vr}
	if d.bulk != nil {
		a.BulkDataURI = d.bulk(key)
	}
	return a
}

// setCharset sets the decoders of the Specific Character Set a; an unknown
// one leaves the text as read.
func (d *dsReader) setCharset(a jsonAttr) {
	var names []string
	for _, v := range a.Value {
		s, _ := v.(string)
		names = append(names, s)
	}
	if cs, err := charset.ParseSpecificCharacterSet(names); err == nil {
		d.cs = cs
	}
}

// element reads the value of e (whose header has been read) as an
// attribute; limit is the end of the enclosing defined-length item.
func (d *dsReader) element(e element, limit int64, depth int, top bool) (jsonAttr, error) {
	s := d.s
	vr := e.vr
	if vr == "" {
		vr = "UN"
	}
	if e.length == undefinedLength {
		switch kindOfUndefined(e) {
		case undefinedSequence:
			enc := s.enc
			if vr == "UN" {
				enc = implicitLE() // PS3.5 6.2.2
			}
			items, err := d.sequence(e, enc, -1, limit, depth+1)
			return jsonAttr{VR: "SQ", Value: items}, err
		case undefinedFragments:
			// Encapsulated data outside Pixel Data: by reference only.
			if err := s.fragments(e, s.enc, limit, nil, nil); err != nil {
				return jsonAttr{}, err
			}
			if top {
				return d.bulkAttr(vr, jsonKey(e.tag)), nil
			}
			return jsonAttr{VR: vr}, nil
		default:
			return jsonAttr{}, invalidf("element %s declares an impossible length %d", e.tag, e.length)
		}
	}
	if err := s.checkFits(e, limit); err != nil {
		return jsonAttr{}, err
	}
	if vr == "SQ" {
		end := s.pos + int64(e.length)
		items, err := d.sequence(e, s.enc, end, end, depth+1)
		return jsonAttr{VR: "SQ", Value: items}, err
	}
	binary := isBinaryVR(vr)
	tooBig := d.held+int64(e.length) > maxDatasetBytes
	if binary && (top && int64(e.length) > BulkThreshold || !top && int64(e.length) > maxInlineNested || tooBig) {
		if n, err := s.copyN(nil, int64(e.length)); err != nil {
			return jsonAttr{}, readErr(e, n, err)
		}
		if top {
			return d.bulkAttr(vr, jsonKey(e.tag)), nil
		}
		return jsonAttr{VR: vr}, nil
	}
	if tooBig {
		return jsonAttr{}, invalidf("the data set holds more than %d bytes of attribute values", maxDatasetBytes)
	}
	v, err := s.readValue(e, limit)
	if err != nil {
		return jsonAttr{}, err
	}
	d.held += int64(len(v))
	return d.decode(vr, v), nil
}

// sequence reads the items of a sequence; end is its own end (-1 for an
// undefined length) and limit the nearest enclosing defined end.
func (d *dsReader) sequence(seq element, enc encoding, end, limit int64, depth int) ([]any, error) {
	if depth > maxDepth {
		return nil, invalidf("sequences nested deeper than %d levels", maxDepth)
	}
	s := d.s
	items := []any{}
	for {
		if end >= 0 && s.pos == end {
			return items, nil
		}
		it, err := s.readElementHeader(enc)
		if errors.Is(err, io.EOF) {
			return nil, invalidf("truncated: file ends inside sequence %s", seq.tag)
		}
		if err != nil {
			return nil, err
		}
		if limit >= 0 && s.pos > limit {
			return nil, invalidf("sequence %s overruns its declared length", seq.tag)
		}
		switch {
		case it.tag == tagSeqDelim && end < 0:
			return items, nil
		case it.tag == tagItem && it.length == undefinedLength:
			ds, err := d.item(enc, -1, limit, depth)
			if err != nil {
				return nil, err
			}
			items = append(items, ds)
		case it.tag == tagItem:
			if err := s.checkFits(it, limit); err != nil {
				return nil, err
			}
			itemEnd := s.pos + int64(it.length)
			ds, err := d.item(enc, itemEnd, itemEnd, depth)
			if err != nil {
				return nil, err
			}
			items = append(items, ds)
		default:
			return nil, invalidf("sequence %s holds %s where an item was expected", seq.tag, it.tag)
		}
	}
}

// item reads the elements of one sequence item.
func (d *dsReader) item(enc encoding, end, limit int64, depth int) (map[string]jsonAttr, error) {
	s := d.s
	saved := s.enc
	s.enc = enc
	defer func() { s.enc = saved }()
	ds := map[string]jsonAttr{}
	for {
		if end >= 0 && s.pos == end {
			return ds, nil
		}
		e, err := s.readElementHeader(enc)
		if errors.Is(err, io.EOF) {
			return nil, invalidf("truncated: file ends inside a sequence item")
		}
		if err != nil {
			return nil, err
		}
		if limit >= 0 && s.pos > limit {
			return nil, invalidf("element %s crosses the end of its sequence item", e.tag)
		}
		if e.tag == tagItemDelim && end < 0 {
			return ds, nil
		}
		if e.tag.group() == 0xFFFE {
			return nil, invalidf("unexpected %s inside a sequence item", e.tag)
		}
		a, err := d.element(e, limit, depth, false)
		if err != nil {
			return nil, err
		}
		ds[jsonKey(e.tag)] = a
	}
}

// isBinaryVR reports the VRs whose values are bytes in the JSON model.
func isBinaryVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "UN":
		return true
	}
	return false
}

// decode turns the value v of an element of VR vr into the JSON model.
func (d *dsReader) decode(vr string, v []byte) jsonAttr {
	a := jsonAttr{VR: vr}
	bo := d.s.enc.bo
	if len(v) == 0 {
		return a
	}
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "UN":
		a.InlineBinary = base64.StdEncoding.EncodeToString(v)
	case "US":
		for i := 0; i+2 <= len(v); i += 2 {
			a.Value = append(a.Value, int64(bo.Uint16(v[i:])))
		}
	case "SS":
		for i := 0; i+2 <= len(v); i += 2 {
			a.Value = append(a.Value, int64(int16(bo.Uint16(v[i:]))))
		}
	case "UL":
		for i := 0; i+4 <= len(v); i += 4 {
			a.Value = append(a.Value, int64(bo.Uint32(v[i:])))
		}
	case "SL":
		for i := 0; i+4 <= len(v); i += 4 {
			a.Value = append(a.Value, int64(int32(bo.Uint32(v[i:]))))
		}
	case "UV":
		for i := 0; i+8 <= len(v); i += 8 {
			a.Value = append(a.Value, bo.Uint64(v[i:]))
		}
	case "SV":
		for i := 0; i+8 <= len(v); i += 8 {
			a.Value = append(a.Value, int64(bo.Uint64(v[i:])))
		}
	case "FL":
		for i := 0; i+4 <= len(v); i += 4 {
			a.Value = append(a.Value, finite(float64(math.Float32frombits(bo.Uint32(v[i:]))), 32))
		}
	case "FD":
		for i := 0; i+8 <= len(v); i += 8 {
			a.Value = append(a.Value, finite(math.Float64frombits(bo.Uint64(v[i:])), 64))
		}
	case "AT":
		for i := 0; i+4 <= len(v); i += 4 {
			a.Value = append(a.Value, fmt.Sprintf("%04X%04X", bo.Uint16(v[i:]), bo.Uint16(v[i+2:])))
		}
	case "PN":
		for _, one := range splitValues(v) {
			a.Value = append(a.Value, d.personName(one))
		}
	case "IS":
		for _, one := range splitValues(v) {
			t := strings.TrimSpace(string(one))
			n, err := strconv.ParseInt(t, 10, 64)
			if t == "" || err != nil {
				a.Value = append(a.Value, nil)
				continue
			}
			a.Value = append(a.Value, n)
		}
	case "DS":
		for _, one := range splitValues(v) {
			t := strings.TrimSpace(string(one))
			f, err := strconv.ParseFloat(t, 64)
			if t == "" || err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				a.Value = append(a.Value, nil)
				continue
			}
			a.Value = append(a.Value, json.Number(strconv.FormatFloat(f, 'g', -1, 64)))
		}
	case "LT", "ST", "UT", "UR":
		// Single-valued: a backslash is text.
		t := strings.TrimRight(d.text(v, vr), " \x00")
		if vr == "UR" {
			t = strings.TrimSpace(t)
		}
		if t != "" {
			a.Value = []any{t}
		}
	default:
		for _, one := range splitValues(v) {
			t := strings.Trim(d.text(one, vr), " \x00")
			if t == "" {
				a.Value = append(a.Value, nil)
				continue
			}
			a.Value = append(a.Value, t)
		}
	}
	if allNil(a.Value) {
		a.Value = nil
	}
	return a
}

// finite returns f, or nil for a NaN or infinity (JSON has none); bits is
// the precision it was stored with, so that a FL prints as written.
func finite(f float64, bits int) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, bits))
}

func allNil(vs []any) bool {
	for _, v := range vs {
		if v != nil {
			return false
		}
	}
	return true
}

// splitValues splits a multi-valued string value at its backslashes.
func splitValues(v []byte) [][]byte { return bytes.Split(v, []byte{'\\'}) }

// textVRs are decoded from the Specific Character Set; the others are
// ASCII by definition (PS3.5 6.1.2.3).
func isCharsetVR(vr string) bool {
	switch vr {
	case "SH", "LO", "ST", "LT", "UC", "UT", "PN":
		return true
	}
	return false
}

// text decodes v, of VR vr, to valid UTF-8.
func (d *dsReader) text(v []byte, vr string) string {
	if isCharsetVR(vr) {
		return decodeWith(v, d.cs.Ideographic)
	}
	return strings.ToValidUTF8(string(v), "\uFFFD")
}

func decodeWith(v []byte, dec *textenc.Decoder) string {
	if dec != nil {
		if out, err := dec.Bytes(v); err == nil {
			v = out
		}
	}
	return strings.ToValidUTF8(string(v), "\uFFFD")
}

// personName is a PN value in the JSON model's object form; each
// component group is decoded with its own character set.
func (d *dsReader) personName(v []byte) any {
	groups := bytes.SplitN(v, []byte{'='}, 3)
	decs := []*textenc.Decoder{d.cs.Alphabetic, d.cs.Ideographic, d.cs.Phonetic}
	var out [3]string
	for i, g := range groups {
		dec := decs[i]
		if bytes.IndexByte(g, 0x1B) >= 0 {
			// ISO 2022 escapes: the code extensions' decoder (as the
			// library uses for every text value).
			dec = d.cs.Ideographic
		}
		out[i] = strings.TrimRight(decodeWith(bytes.Trim(g, " \x00"), dec), " ")
	}
	pn := PersonName{Alphabetic: out[0], Ideographic: out[1], Phonetic: out[2]}
	if pn == (PersonName{}) {
		return nil
	}
	return pn
}
