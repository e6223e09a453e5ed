package dicomfile

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
)

// Level is a DICOM query/retrieve level.
type Level int

// The query/retrieve levels of Header attributes.
const (
	LevelStudy Level = iota + 1
	LevelSeries
	LevelInstance
)

// Attribute is one attribute of the DICOM JSON model (PS3.18 F.2.2). Value
// is absent when the attribute is empty.
type Attribute struct {
	VR    string `json:"vr"`
	Value []any  `json:"Value,omitempty"`
}

// PersonName is a PN value of the DICOM JSON model (PS3.18 F.2.2).
type PersonName struct {
	Alphabetic  string `json:"Alphabetic,omitempty"`
	Ideographic string `json:"Ideographic,omitempty"`
	Phonetic    string `json:"Phonetic,omitempty"`
}

// Attributes returns the attributes of h that belong to level (PS3.18
// 10.6.3.3: the study, series or instance attributes QIDO-RS returns), keyed
// by tag as eight uppercase hex digits. Empty attributes are present without
// a Value. Strings are UTF-8, so Specific Character Set, when the file had
// one, is given as "ISO_IR 192".
func (h *Header) Attributes(level Level) map[string]Attribute {
	m := map[string]Attribute{}
	str := func(t dtag, vr, v string) { m[jsonKey(t)] = strAttr(vr, v) }
	num := func(t dtag, vr string, v *int) {
		a := Attribute{VR: vr}
		if v != nil {
			a.Value = []any{*v}
		}
		m[jsonKey(t)] = a
	}
	pixelNum := func(t dtag, v int) {
		var p *int
		if h.HasPixelData {
			p = &v
		}
		num(t, "US", p)
	}
	switch level {
	case LevelStudy:
		if h.SpecificCharacterSet != "" {
			str(tagCharset, "CS", "ISO_IR 192")
		}
		str(tagStudyDate, "DA", h.StudyDate)
		str(tagStudyTime, "TM", h.StudyTime)
		str(tagAccession, "SH", h.AccessionNumber)
		m[jsonKey(tagReferringPhysician)] = pnAttr(h.ReferringPhysicianName)
		str(tagStudyDescription, "LO", h.StudyDescription)
		m[jsonKey(tagPatientName)] = pnAttr(h.PatientName)
		str(tagPatientID, "LO", h.PatientID)
		str(tagPatientBirthDate, "DA", h.PatientBirthDate)
		str(tagPatientSex, "CS", h.PatientSex)
		str(tagStudyUID, "UI", h.StudyInstanceUID)
		str(tagStudyID, "SH", h.StudyID)
	case LevelSeries:
		str(tagModality, "CS", h.Modality)
		str(tagSeriesDescription, "LO", h.SeriesDescription)
		str(tagBodyPart, "CS", h.BodyPartExamined)
		str(tagSeriesUID, "UI", h.SeriesInstanceUID)
		num(tagSeriesNumber, "IS", h.SeriesNumber)
	case LevelInstance:
		str(tagSOPClassUID, "UI", h.SOPClassUID)
		str(tagSOPInstanceUID, "UI", h.SOPInstanceUID)
		str(tagAvailableTS, "UI", h.TransferSyntaxUID)
		num(tagInstanceNumber, "IS", h.InstanceNumber)
		str(tagPhotometric, "CS", h.PhotometricInterpretation)
		pixelNum(tagRows, h.Rows)
		pixelNum(tagColumns, h.Columns)
		pixelNum(tagBitsAllocated, h.BitsAllocated)
		var frames *int
		if h.HasPixelData {
			frames = &h.NumberOfFrames
		}
		num(tagNumberOfFrames, "IS", frames)
	}
	return m
}

// tagAvailableTS is Available Transfer Syntax UID (0008,3002).
const tagAvailableTS dtag = 0x00083002

// JSON returns the study, series and instance attributes of h as one DICOM
// JSON object (PS3.18 F.2), in tag order.
func (h *Header) JSON() ([]byte, error) {
	m := h.Attributes(LevelStudy)
	maps.Copy(m, h.Attributes(LevelSeries))
	maps.Copy(m, h.Attributes(LevelInstance))
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode DICOM JSON: %w", err)
	}
	return b, nil
}

func jsonKey(t dtag) string { return fmt.Sprintf("%08X", uint32(t)) }

func strAttr(vr, v string) Attribute {
	if v == "" {
		return Attribute{VR: vr}
	}
	return Attribute{VR: vr, Value: []any{v}}
}

// pnAttr splits a PN value into its component groups.
func pnAttr(v string) Attribute {
	groups := strings.SplitN(v, "=", 3)
	for i := range groups {
		groups[i] = strings.TrimRight(groups[i], "^ ")
	}
	for len(groups) < 3 {
		groups = append(groups, "")
	}
	pn := PersonName{Alphabetic: groups[0], Ideographic: groups[1], Phonetic: groups[2]}
	if pn == (PersonName{}) {
		return Attribute{VR: "PN"}
	}
	return Attribute{VR: "PN", Value: []any{pn}}
}
