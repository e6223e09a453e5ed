package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// results is the whole report; -json prints it as is.
type results struct {
	N             int           `json:"n"`
	Concurrency   int           `json:"concurrency"`
	SizeKB        int           `json:"size_kb"`
	Order         string        `json:"order"`
	Multipart     int           `json:"multipart_files_per_request"`
	Workers       bool          `json:"server_workers"`
	InstanceBytes int           `json:"instance_bytes"`
	Image         string        `json:"image"`
	Studies       int           `json:"studies"`
	TotalBytes    int64         `json:"total_bytes"`
	GOMAXPROCS    int           `json:"gomaxprocs"`
	NumCPU        int           `json:"num_cpu"`
	GoVersion     string        `json:"go_version"`
	Phases        []phaseResult `json:"phases"`
	// RatioAPIRaw is the API's throughput over the raw floor's, when both ran.
	RatioAPIRaw *float64 `json:"ratio_api_raw,omitempty"`
	// RatioPresignedMultipart is the presigned path's throughput over
	// minio-go's own multipart upload of the same bytes, when both ran.
	RatioPresignedMultipart *float64 `json:"ratio_presigned_multipart,omitempty"`
	// RatioUploaderRaw is teleread upload's throughput over the raw floor's.
	RatioUploaderRaw *float64    `json:"ratio_uploader_raw,omitempty"`
	Server           serverStats `json:"server"`
}

type phaseResult struct {
	Path            string    `json:"path"`
	Instances       int       `json:"instances"`
	Requests        int       `json:"requests"`
	Bytes           int64     `json:"bytes"`
	Seconds         float64   `json:"seconds"`
	InstancesPerSec float64   `json:"instances_per_sec"`
	MBPerSec        float64   `json:"mb_per_sec"`
	LatencyMS       latencyMS `json:"latency_ms"`
	CPU             cpuUse    `json:"cpu"`
}

type latencyMS struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// cpuUse is the CPU a phase used.
type cpuUse struct {
	MachineBusyPct float64  `json:"machine_busy_pct"`
	MachineCores   float64  `json:"machine_cores_busy"`
	ClientSec      float64  `json:"client_sec"`
	ServerSec      *float64 `json:"server_sec,omitempty"`
	MinIOSec       *float64 `json:"minio_sec,omitempty"`
	PostgresSec    *float64 `json:"postgres_sec,omitempty"`
	OtherSec       float64  `json:"other_sec"`
}

// serverStats is the server's memory around phase A and what it stored.
type serverStats struct {
	RSSBeforeKB    int64 `json:"rss_before_kb"`
	HWMBeforeKB    int64 `json:"peak_rss_before_kb"`
	RSSAfterKB     int64 `json:"rss_after_kb"`
	PeakRSSKB      int64 `json:"peak_rss_kb"`
	Files          int   `json:"files"`
	DICOMInstances int   `json:"dicom_instances"`
	ExpectedFiles  int   `json:"expected_files"`
	Jobs           int   `json:"river_jobs"`
	Objects        int   `json:"bucket_objects"`
}

// finish computes the ratio.
func (r *results) finish() {
	by := map[string]*phaseResult{}
	for i := range r.Phases {
		by[r.Phases[i].Path] = &r.Phases[i]
	}
	ratio := func(ours, floor string) *float64 {
		a, b := by[ours], by[floor]
		if a == nil || b == nil || b.InstancesPerSec <= 0 {
			return nil
		}
		v := a.InstancesPerSec / b.InstancesPerSec
		return &v
	}
	r.RatioAPIRaw = ratio("api", "raw")
	r.RatioPresignedMultipart = ratio("presigned", "multipart")
	r.RatioUploaderRaw = ratio("uploader", "raw")
}

func writeJSON(w io.Writer, r *results) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func writeTable(w io.Writer, r *results) {
	mode := "one raw application/dicom body per request"
	if r.Multipart > 0 {
		mode = fmt.Sprintf("multipart, up to %d files per request", r.Multipart)
	}
	fmt.Fprintf(w, "%d instances of %d bytes (%s, %d studies), %.1f MB; concurrency %d; order %s; %s; server workers %t\n\n",
		r.N, r.InstanceBytes, r.Image, r.Studies, float64(r.TotalBytes)/1e6, r.Concurrency, r.Order, mode, r.Workers)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tinstances\tseconds\tinstances/s\tMB/s\tp50 ms\tp95 ms\tp99 ms\tmax ms\tmachine busy\tserver CPU s\tMinIO CPU s\tPostgreSQL CPU s\tclient CPU s\tother CPU s\t")
	for _, p := range r.Phases {
		opt := func(v *float64) string {
			if v == nil {
				return "-"
			}
			return fmt.Sprintf("%.1f", *v)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t%.0f%%\t%s\t%s\t%s\t%.1f\t%.1f\t\n",
			p.Path, p.Instances, p.Seconds, p.InstancesPerSec, p.MBPerSec,
			p.LatencyMS.P50, p.LatencyMS.P95, p.LatencyMS.P99, p.LatencyMS.Max,
			p.CPU.MachineBusyPct, opt(p.CPU.ServerSec), opt(p.CPU.MinIOSec), opt(p.CPU.PostgresSec), p.CPU.ClientSec, p.CPU.OtherSec)
	}
	tw.Flush()
	fmt.Fprintln(w)
	if r.RatioAPIRaw != nil {
		fmt.Fprintf(w, "throughput ratio api/raw: %.2f (the API reaches %.0f%% of the raw floor)\n", *r.RatioAPIRaw, 100**r.RatioAPIRaw)
	}
	if r.RatioUploaderRaw != nil {
		fmt.Fprintf(w, "throughput ratio uploader/raw: %.2f (teleread upload, folder by folder, reaches %.0f%% of the raw floor)\n",
			*r.RatioUploaderRaw, 100**r.RatioUploaderRaw)
	}
	if r.RatioPresignedMultipart != nil {
		fmt.Fprintf(w, "throughput ratio presigned/multipart: %.2f (the presigned path, create to complete, reaches %.0f%% of minio-go's multipart upload)\n",
			*r.RatioPresignedMultipart, 100**r.RatioPresignedMultipart)
	}
	if s := r.Server; s.PeakRSSKB > 0 {
		fmt.Fprintf(w, "server RSS: %.1f MiB before the server's phase (peak so far %.1f MiB), %.1f MiB after; peak (VmHWM) %.1f MiB = %.2f%% of the %.1f MiB uploaded\n",
			mib(s.RSSBeforeKB), mib(s.HWMBeforeKB), mib(s.RSSAfterKB), mib(s.PeakRSSKB),
			100*float64(s.PeakRSSKB)*1024/float64(r.TotalBytes), float64(r.TotalBytes)/(1<<20))
		fmt.Fprintf(w, "server stored: %d files, %d DICOM instances (expected %d with warm-up), %d objects in its bucket, %d River jobs queued\n",
			s.Files, s.DICOMInstances, s.ExpectedFiles, s.Objects, s.Jobs)
		if s.Files != s.ExpectedFiles || s.DICOMInstances != s.ExpectedFiles {
			fmt.Fprintln(w, "WARNING: the server's index does not hold every accepted instance")
		}
	}
}

func mib(kb int64) float64 { return float64(kb) / 1024 }
