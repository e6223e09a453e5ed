package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// results is everything a run measured.
type results struct {
	Concurrency     int          `json:"concurrency"`
	Batch           int          `json:"instances_per_request"`
	PerStudy        int          `json:"instances_per_study"`
	Paths           []string     `json:"paths"`
	OrthancVersion  string       `json:"orthanc_version,omitempty"`
	OrthancPlugin   string       `json:"orthanc_dicomweb_plugin,omitempty"`
	OrthancSameDisk *bool        `json:"orthanc_same_disk_as_minio,omitempty"`
	GOMAXPROCS      int          `json:"gomaxprocs"`
	NumCPU          int          `json:"num_cpu"`
	GoVersion       string       `json:"go_version"`
	Sizes           []sizeResult `json:"sizes"`
}

// sizeResult is one instance size's phases and ratios.
type sizeResult struct {
	Name          string        `json:"name"`
	Instances     int           `json:"instances"`
	InstanceBytes int           `json:"instance_bytes"`
	PixelKB       int           `json:"pixel_kib"`
	Image         string        `json:"image"`
	Studies       int           `json:"studies"`
	Requests      int           `json:"stow_requests"`
	Batch         int           `json:"instances_per_request"`
	TotalBytes    int64         `json:"total_bytes"`
	Phases        []phaseResult `json:"phases"`
	// Ratios of instances/s (equal to those of MB/s: same bytes).
	TelereadOverRaw     *float64 `json:"teleread_over_raw,omitempty"`
	TelereadOverOrthanc *float64 `json:"teleread_over_orthanc,omitempty"`
}

// phaseResult is one path at one size.
type phaseResult struct {
	Path            string  `json:"path"`
	Requests        int     `json:"requests"`
	Seconds         float64 `json:"seconds"`
	InstancesPerSec float64 `json:"instances_per_sec"`
	MBPerSec        float64 `json:"mb_per_sec"`
	Verified        string  `json:"verified"`
	CPU             cpuUse  `json:"cpu"`
}

// finish computes the ratios.
func (s *sizeResult) finish() {
	by := map[string]float64{}
	for _, p := range s.Phases {
		by[p.Path] = p.InstancesPerSec
	}
	ratio := func(a, b string) *float64 {
		x, okA := by[a]
		y, okB := by[b]
		if !okA || !okB || y == 0 {
			return nil
		}
		r := x / y
		return &r
	}
	s.TelereadOverRaw = ratio(pathTeleread, pathRaw)
	s.TelereadOverOrthanc = ratio(pathTeleread, pathOrthanc)
}

func writeJSON(w io.Writer, r *results) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func writeTable(w io.Writer, r *results) {
	fmt.Fprintf(w, "STOW-RS: concurrency %d, %d instances per multipart/related request (raw: one PutObject per instance), %d instances per study\n",
		r.Concurrency, r.Batch, r.PerStudy)
	if r.OrthancVersion != "" {
		disk := "unknown"
		if r.OrthancSameDisk != nil {
			disk = fmt.Sprint(*r.OrthancSameDisk)
		}
		fmt.Fprintf(w, "orthanc %s, DICOMweb plugin %s, SQLite index and storage on MinIO's disk: %s\n", r.OrthancVersion, r.OrthancPlugin, disk)
	}
	fmt.Fprintf(w, "%s, GOMAXPROCS %d, %d CPUs\n", r.GoVersion, r.GOMAXPROCS, r.NumCPU)
	for _, s := range r.Sizes {
		fmt.Fprintf(w, "\n%s: %d instances of %d bytes (%s), %.1f MB, %d studies, %d STOW requests of up to %d\n",
			s.Name, s.Instances, s.InstanceBytes, s.Image, float64(s.TotalBytes)/1e6, s.Studies, s.Requests, s.Batch)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "path\trequests\tseconds\tinstances/s\tMB/s\tbusy %\tteleread s\torthanc s\tminio s\tpostgres s\tclient s\tother s\t")
		for _, p := range s.Phases {
			fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.1f\t%.1f\t%.0f\t%s\t%s\t%s\t%s\t%.1f\t%.1f\t\n", p.Path, p.Requests, p.Seconds,
				p.InstancesPerSec, p.MBPerSec, p.CPU.MachineBusyPct, secs(p.CPU.ServerSec), secs(p.CPU.OrthancSec),
				secs(p.CPU.MinIOSec), secs(p.CPU.PostgresSec), p.CPU.ClientSec, p.CPU.OtherSec)
		}
		tw.Flush()
		var ratios []string
		if s.TelereadOverRaw != nil {
			ratios = append(ratios, fmt.Sprintf("teleread/raw %.2f", *s.TelereadOverRaw))
		}
		if s.TelereadOverOrthanc != nil {
			ratios = append(ratios, fmt.Sprintf("teleread/orthanc %.2f", *s.TelereadOverOrthanc))
		}
		if len(ratios) > 0 {
			fmt.Fprintf(w, "ratios (instances/s, = MB/s): %s\n", strings.Join(ratios, ", "))
		}
		for _, p := range s.Phases {
			fmt.Fprintf(w, "verified %s: %s\n", p.Path, p.Verified)
		}
	}
}

func secs(p *float64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f", *p)
}
