package api

import (
	"time"

	"github.com/google/uuid"
)

// IncomingStudy is a study a site pushed to /dicomweb/studies without
// naming a case, waiting to be made a case or attached to a draft (schema
// IncomingStudy; docs/dicomweb.md). Dates and times are as DICOM writes
// them (YYYYMMDD, HHMMSS).
type IncomingStudy struct {
	ID               uuid.UUID `json:"id"`
	StudyInstanceUID string    `json:"study_instance_uid"`
	PatientName      string    `json:"patient_name"`
	PatientID        string    `json:"patient_id"`
	PatientBirthDate string    `json:"patient_birth_date"`
	PatientSex       string    `json:"patient_sex"`
	StudyDate        string    `json:"study_date"`
	StudyTime        string    `json:"study_time"`
	Description      string    `json:"description"`
	AccessionNumber  string    `json:"accession_number"`
	// Modalities are the modalities of its series.
	Modalities      []string  `json:"modalities"`
	Instances       int64     `json:"instances"`
	FirstReceivedAt time.Time `json:"first_received_at"`
	LastReceivedAt  time.Time `json:"last_received_at"`
}

// AttachIncomingRequest is the body of POST
// /api/v1/cases/{id}/incoming-studies, which makes incoming studies files
// of a draft case; it answers an UploadAnswer.
type AttachIncomingRequest struct {
	IncomingStudyIDs []uuid.UUID `json:"incoming_study_ids"`
}
