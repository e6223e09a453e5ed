package dicomweb

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Attr is one attribute of a data set in the DICOM JSON model (PS3.18
// F.2): a value representation and its values, or for a sequence (SQ) its
// items. BulkDataURI stands for a large binary value served elsewhere.
type Attr struct {
	VR          string    `json:"vr"`
	Value       []any     `json:"Value,omitempty"`
	BulkDataURI string    `json:"BulkDataURI,omitempty"`
	Items       []Dataset `json:"-"`
}

// Dataset is a DICOM data set keyed by tag as eight upper-case hex digits
// ("0020000D"); encoding/json writes map keys sorted, which is tag order.
type Dataset map[string]Attr

// MarshalJSON writes a sequence's items as its Value.
func (a Attr) MarshalJSON() ([]byte, error) {
	type plain Attr
	p := plain(a)
	if a.VR == "SQ" {
		p.Value = make([]any, len(a.Items))
		for i, it := range a.Items {
			p.Value[i] = it
		}
	}
	return json.Marshal(p)
}

// str is an attribute of one or more string values; an empty value is
// left out, as the JSON model allows.
func str(vr string, vs ...string) Attr {
	a := Attr{VR: vr}
	for _, v := range vs {
		if v != "" {
			a.Value = append(a.Value, v)
		}
	}
	return a
}

// pn is a person name in the JSON model's object form.
func pn(v string) Attr {
	if v == "" {
		return Attr{VR: "PN"}
	}
	return Attr{VR: "PN", Value: []any{map[string]string{"Alphabetic": v}}}
}

// num is an attribute of one integer value (US, UL, IS, SL…).
func num(vr string, v int64) Attr { return Attr{VR: vr, Value: []any{v}} }

// seq is a sequence of items.
func seq(items ...Dataset) Attr { return Attr{VR: "SQ", Items: items} }

// Media types of the DICOM models.
const (
	mediaDICOMJSON = "application/dicom+json"
	mediaDICOMXML  = "application/dicom+xml"
)

// writeJSON writes data sets as a DICOM JSON array.
func writeJSON(w io.Writer, sets []Dataset) error {
	if sets == nil {
		sets = []Dataset{}
	}
	return json.NewEncoder(w).Encode(sets)
}

// writeJSONObject writes one data set as a DICOM JSON object (the Store
// Instances Response is one data set, not an array).
func writeJSONObject(w io.Writer, ds Dataset) error { return json.NewEncoder(w).Encode(ds) }

// writeXML writes one data set in the Native DICOM Model (PS3.19 A.1).
func writeXML(w io.Writer, ds Dataset) error {
	if _, err := io.WriteString(w, xml.Header+`<NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM">`); err != nil {
		return err
	}
	if err := writeXMLAttrs(w, ds); err != nil {
		return err
	}
	_, err := io.WriteString(w, "</NativeDicomModel>\n")
	return err
}

func writeXMLAttrs(w io.Writer, ds Dataset) error {
	tags := make([]string, 0, len(ds))
	for t := range ds {
		tags = append(tags, t)
	}
	slices.Sort(tags)
	esc := func(s string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	for _, t := range tags {
		a := ds[t]
		kw := ""
		if k, ok := keywords[t]; ok {
			kw = fmt.Sprintf(` keyword="%s"`, k)
		}
		if _, err := fmt.Fprintf(w, `<DicomAttribute tag="%s" vr="%s"%s>`, t, a.VR, kw); err != nil {
			return err
		}
		switch {
		case a.VR == "SQ":
			for i, it := range a.Items {
				if _, err := fmt.Fprintf(w, `<Item number="%d">`, i+1); err != nil {
					return err
				}
				if err := writeXMLAttrs(w, it); err != nil {
					return err
				}
				if _, err := io.WriteString(w, "</Item>"); err != nil {
					return err
				}
			}
		case a.BulkDataURI != "":
			if _, err := fmt.Fprintf(w, `<BulkData uri="%s"/>`, esc(a.BulkDataURI)); err != nil {
				return err
			}
		default:
			for i, v := range a.Value {
				if m, ok := v.(map[string]string); ok {
					if _, err := fmt.Fprintf(w, `<PersonName number="%d"><Alphabetic>%s</Alphabetic></PersonName>`,
						i+1, personNameXML(m["Alphabetic"], esc)); err != nil {
						return err
					}
					continue
				}
				if _, err := fmt.Fprintf(w, `<Value number="%d">%s</Value>`, i+1, esc(fmt.Sprint(v))); err != nil {
					return err
				}
			}
		}
		if _, err := io.WriteString(w, "</DicomAttribute>"); err != nil {
			return err
		}
	}
	return nil
}

// personNameXML is an alphabetic person name (Family^Given^Middle^Prefix^Suffix)
// as the XML model's component elements.
func personNameXML(v string, esc func(string) string) string {
	names := []string{"FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix"}
	var b strings.Builder
	for i, part := range strings.SplitN(v, "^", len(names)) {
		if part != "" {
			fmt.Fprintf(&b, "<%s>%s</%s>", names[i], esc(part), names[i])
		}
	}
	return b.String()
}

// keywords name the tags this package writes, for the XML model.
var keywords = map[string]string{
	tagRetrieveURL:              "RetrieveURL",
	tagFailedSOPSequence:        "FailedSOPSequence",
	tagReferencedSOPSequence:    "ReferencedSOPSequence",
	tagReferencedSOPClassUID:    "ReferencedSOPClassUID",
	tagReferencedSOPInstanceUID: "ReferencedSOPInstanceUID",
	tagFailureReason:            "FailureReason",
	tagWarningReason:            "WarningReason",
	tagOtherFailuresSequence:    "OtherFailuresSequence",
}

// Tags of the Store Instances Response (PS3.18 10.5.3).
const (
	tagRetrieveURL              = "00081190"
	tagFailedSOPSequence        = "00081198"
	tagReferencedSOPSequence    = "00081199"
	tagReferencedSOPClassUID    = "00081150"
	tagReferencedSOPInstanceUID = "00081155"
	tagFailureReason            = "00081197"
	tagWarningReason            = "00081196"
	tagOtherFailuresSequence    = "0008119A"
)
