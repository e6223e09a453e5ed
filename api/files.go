package api

import (
	"time"

	"github.com/google/uuid"
)

// The kinds of file (File.Kind).
const (
	FileDICOM = "dicom"
	FilePhoto = "photo"
)

// The states of a file's preview (Preview.Status).
const (
	PreviewPending     = "pending"
	PreviewDeferred    = "deferred"
	PreviewReady       = "ready"
	PreviewUnavailable = "unavailable"
	PreviewFailed      = "failed"
)

// Warning is a doubt about an accepted file (schema FileWarning): a photo
// too small, blurred, under- or over-exposed, or a DICOM file whose patient
// differs from the case's.
type Warning struct {
	// Code is too_small, blurred, under_exposed, over_exposed or
	// patient_mismatch.
	Code    string `json:"code"`
	Message string `json:"message"`
	// Value is the measured value behind a quality warning.
	Value *float64 `json:"value,omitempty"`
	// Fields names what differs, for patient_mismatch.
	Fields []string `json:"fields,omitempty"`
}

// Preview says whether a file's rendered preview and thumbnail exist, and
// where, once Status is PreviewReady.
type Preview struct {
	Status       string `json:"status"`
	Note         string `json:"note,omitempty"`
	PreviewURL   string `json:"preview_url,omitempty"`
	ThumbnailURL string `json:"thumbnail_url,omitempty"`
}

// DICOMRef places a DICOM file in its study and series; it is in the
// answer of GET /api/v1/files/{id} only.
type DICOMRef struct {
	StudyInstanceUID  string `json:"study_instance_uid"`
	SeriesInstanceUID string `json:"series_instance_uid"`
	SOPInstanceUID    string `json:"sop_instance_uid"`
	SOPClassUID       string `json:"sop_class_uid"`
	Modality          string `json:"modality"`
	SeriesNumber      *int32 `json:"series_number,omitempty"`
	InstanceNumber    *int32 `json:"instance_number,omitempty"`
	Frames            int32  `json:"frames"`
	TransferSyntax    string `json:"transfer_syntax"`
}

// File is a file of a case (schema File).
type File struct {
	ID     uuid.UUID `json:"id"`
	CaseID uuid.UUID `json:"case_id"`
	// Kind is FileDICOM or FilePhoto.
	Kind        string `json:"kind"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	// SHA256 and Size are of the bytes as uploaded; StoredSHA256 and
	// StoredSize of what is kept (the cleaned copy of a photo).
	SHA256       string `json:"sha256"`
	Size         int64  `json:"size"`
	StoredSHA256 string `json:"stored_sha256"`
	StoredSize   int64  `json:"stored_size"`
	// Duplicate, in upload answers only, is true when the file was
	// already in the case.
	Duplicate       *bool          `json:"duplicate,omitempty"`
	Width           *int32         `json:"width,omitempty"`
	Height          *int32         `json:"height,omitempty"`
	BodySite        *string        `json:"body_site,omitempty"`
	Dermoscopic     *bool          `json:"dermoscopic,omitempty"`
	Warnings        []Warning      `json:"warnings"`
	PatientMismatch bool           `json:"patient_mismatch"`
	Metadata        map[string]any `json:"metadata"`
	Preview         Preview        `json:"preview"`
	// ContentURL downloads the stored bytes.
	ContentURL string    `json:"content_url"`
	DICOM      *DICOMRef `json:"dicom,omitempty"`
	UploadedBy uuid.UUID `json:"uploaded_by"`
	CreatedAt  time.Time `json:"created_at"`
}

// Series is one DICOM series of a Study.
type Series struct {
	SeriesInstanceUID string `json:"series_instance_uid"`
	Modality          string `json:"modality"`
	BodyPart          string `json:"body_part,omitempty"`
	Description       string `json:"description"`
	SeriesNumber      *int32 `json:"series_number,omitempty"`
	Instances         int32  `json:"instances"`
	Frames            int32  `json:"frames"`
}

// Study is one DICOM study of a case, GET /api/v1/cases/{id}/studies
// (schema Study).
type Study struct {
	StudyInstanceUID string `json:"study_instance_uid"`
	Description      string `json:"description"`
	StudyDate        string `json:"study_date,omitempty"`
	StudyTime        string `json:"study_time,omitempty"`
	AccessionNumber  string `json:"accession_number,omitempty"`
	PatientName      string `json:"patient_name"`
	PatientID        string `json:"patient_id"`
	PatientBirthDate string `json:"patient_birth_date,omitempty"`
	PatientSex       string `json:"patient_sex,omitempty"`
	// Modalities lists the series' modalities, each once.
	Modalities []string `json:"modalities"`
	Series     []Series `json:"series"`
	// Instances counts the instances of every series.
	Instances int32 `json:"instances"`
}
