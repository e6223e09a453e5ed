package intake_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/teleread/teleread/internal/cases"
	"github.com/teleread/teleread/internal/identity"
	"github.com/teleread/teleread/internal/intake"
	"github.com/teleread/teleread/internal/jobs"
	"github.com/teleread/teleread/internal/testenv"
)

type testBundle struct {
	env    *testenv.Env
	svc    *intake.Service
	cases  *cases.Service
	siteA  *testenv.Tenant
	siteB  *testenv.Tenant
	staffA *identity.Principal
	gpA    *identity.Principal
	staffB *identity.Principal
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	env := testenv.New(t)
	river, err := jobs.NewClient(env.Pool, testenv.Logger(t), jobs.Options{})
	require.NoError(t, err)
	fx := testenv.NewFixtures(t, env)
	cs := cases.NewService(env.Pool, river)
	b := &testBundle{env: env, cases: cs,
		svc: intake.New(env.Pool, env.Blob, cs, river, intake.Options{Logger: testenv.Logger(t), TempDir: t.TempDir()})}
	b.siteA = fx.Tenant(t, identity.OrgSite, "site-a", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician)
	b.siteB = fx.Tenant(t, identity.OrgSite, "site-b", nil, identity.RoleSiteStaff, identity.RoleReferringPhysician)
	b.staffA = b.siteA.Principals[identity.RoleSiteStaff]
	b.gpA = b.siteA.Principals[identity.RoleReferringPhysician]
	b.staffB = b.siteB.Principals[identity.RoleSiteStaff]
	return b
}

// newCase opens a radiology draft for the patient of the dicomdir test
// files (Doe^Archibald, ID 77654033) at site A.
func (b *testBundle) newCase(t *testing.T) cases.Case {
	t.Helper()
	return b.newCaseFor(t, b.staffA, b.gpA)
}

func (b *testBundle) newCaseFor(t *testing.T, staff, gp *identity.Principal) cases.Case {
	t.Helper()
	c, err := b.cases.Create(context.Background(), staff, cases.NewCase{
		ReferringPhysicianID: gp.UserID, Specialty: "radiology", Priority: "routine",
		PatientName: "Archibald Doe", PatientBirthDate: "1950-01-01", PatientSex: "M", PatientMRN: "77654033",
		ClinicalQuestion: "Fracture?",
	})
	require.NoError(t, err)
	return c
}

// add ingests one file into c as staff A.
func (b *testBundle) add(t *testing.T, c cases.Case, name string, body []byte) intake.Result {
	t.Helper()
	return b.svc.Add(context.Background(), b.staffA, c, intake.Input{Filename: name, Body: bytes.NewReader(body)})
}

// objects lists the keys of site A under a prefix ("tmp/", "blobs/"...).
func (b *testBundle) objects(t *testing.T, org identity.Org, prefix string) []string {
	t.Helper()
	keys, err := b.env.Blob.List(context.Background(), "orgs/"+org.ID.String()+"/"+prefix)
	require.NoError(t, err)
	return keys
}

func (b *testBundle) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, b.env.Pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(name)))
	require.NoError(t, err)
	return raw
}

// dicomdirFiles are the seven instances of patient 77654033: a CR study of
// three series and a CT study of one series of four.
var dicomdirFiles = []string{
	"dicomdir/77654033/CR1/6154", "dicomdir/77654033/CR2/6247", "dicomdir/77654033/CR3/6278",
	"dicomdir/77654033/CT2/17106", "dicomdir/77654033/CT2/17136", "dicomdir/77654033/CT2/17166", "dicomdir/77654033/CT2/17196",
}

// gpsMarker is the GPS latitude written by withGPS; no stored copy may
// contain it.
var gpsMarker = []byte{0x01, 0x01, 0x5A, 0x5A}

// withGPS returns a JPEG with an EXIF APP1 segment carrying a GPS position
// inserted after its SOI marker.
func withGPS(t testing.TB, jpg []byte) []byte {
	t.Helper()
	require.Equal(t, []byte{0xFF, 0xD8}, jpg[:2])
	le := binary.LittleEndian
	var tiff []byte
	tiff = append(tiff, 'I', 'I', 42, 0)
	tiff = le.AppendUint32(tiff, 8)
	// IFD0: one entry, the GPS IFD pointer.
	tiff = le.AppendUint16(tiff, 1)
	tiff = append(le.AppendUint16(le.AppendUint16(tiff, 0x8825), 4), 1, 0, 0, 0)
	tiff = le.AppendUint32(tiff, 26)
	tiff = le.AppendUint32(tiff, 0)
	// GPS IFD at 26: GPSLatitudeRef "N", GPSLatitude (3 rationals at 56).
	tiff = le.AppendUint16(tiff, 2)
	tiff = append(le.AppendUint16(le.AppendUint16(tiff, 0x0001), 2), 2, 0, 0, 0, 'N', 0, 0, 0)
	tiff = append(le.AppendUint16(le.AppendUint16(tiff, 0x0002), 5), 3, 0, 0, 0)
	tiff = le.AppendUint32(tiff, 56)
	tiff = le.AppendUint32(tiff, 0)
	for i := range 3 {
		tiff = append(tiff, gpsMarker...)
		tiff[len(tiff)-4] = byte(i + 1)
		tiff = le.AppendUint32(tiff, 1)
	}
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	seg = append(seg, payload...)
	out := append([]byte{0xFF, 0xD8}, seg...)
	return append(out, jpg[2:]...)
}

// hugePNG is the start of a 20,000 x 20,000 PNG: enough to be refused from
// its header, before any pixel is decoded.
func hugePNG() []byte {
	out := []byte("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		out = binary.BigEndian.AppendUint32(out, uint32(len(data)))
		body := append([]byte(typ), data...)
		out = append(out, body...)
		out = binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(body))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, 20000)
	ihdr = binary.BigEndian.AppendUint32(ihdr, 20000)
	chunk("IHDR", append(ihdr, 8, 2, 0, 0, 0))
	chunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})
	chunk("IEND", nil)
	return out
}

// dicomHeader builds the start of an Explicit VR Little Endian DICOM file
// up to and including the header of its Pixel Data element, which declares
// pixelLen bytes: 8-bit monochrome frames of rows x cols.
func dicomHeader(sop string, rows, cols, frames int, pixelLen uint32) []byte {
	le := binary.LittleEndian
	elem := func(out []byte, group, el uint16, vr, val string) []byte {
		if len(val)%2 == 1 {
			if vr == "UI" {
				val += "\x00"
			} else {
				val += " "
			}
		}
		out = le.AppendUint16(le.AppendUint16(out, group), el)
		out = append(out, vr...)
		if vr == "OB" {
			out = le.AppendUint32(append(out, 0, 0), uint32(len(val)))
		} else {
			out = le.AppendUint16(out, uint16(len(val)))
		}
		return append(out, val...)
	}
	us := func(v int) string { return string(le.AppendUint16(nil, uint16(v))) }
	const sc = "1.2.840.10008.5.1.4.1.1.7"
	var meta []byte
	meta = elem(meta, 2, 1, "OB", "\x00\x01")
	meta = elem(meta, 2, 2, "UI", sc)
	meta = elem(meta, 2, 3, "UI", sop)
	meta = elem(meta, 2, 0x10, "UI", "1.2.840.10008.1.2.1")
	out := append(make([]byte, 128), "DICM"...)
	out = elem(out, 2, 0, "UL", string(le.AppendUint32(nil, uint32(len(meta)))))
	out = append(out, meta...)
	out = elem(out, 8, 0x16, "UI", sc)
	out = elem(out, 8, 0x18, "UI", sop)
	out = elem(out, 8, 0x60, "CS", "OT")
	out = elem(out, 0x10, 0x10, "PN", "Doe^Archibald")
	out = elem(out, 0x10, 0x20, "LO", "77654033")
	out = elem(out, 0x20, 0x0D, "UI", sop+".1")
	out = elem(out, 0x20, 0x0E, "UI", sop+".2")
	out = elem(out, 0x28, 0x02, "US", us(1))
	out = elem(out, 0x28, 0x04, "CS", "MONOCHROME2")
	out = elem(out, 0x28, 0x08, "IS", strconv.Itoa(frames))
	out = elem(out, 0x28, 0x10, "US", us(rows))
	out = elem(out, 0x28, 0x11, "US", us(cols))
	out = elem(out, 0x28, 0x100, "US", us(8))
	out = elem(out, 0x28, 0x101, "US", us(8))
	out = elem(out, 0x28, 0x102, "US", us(7))
	out = elem(out, 0x28, 0x103, "US", us(0))
	out = le.AppendUint16(le.AppendUint16(out, 0x7FE0), 0x10)
	out = append(out, 'O', 'B', 0, 0)
	return le.AppendUint32(out, pixelLen)
}

// flatPNG is a uniform grey 100x100 PNG.
func flatPNG(t testing.TB) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 100, 100))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	var buf bytes.Buffer
	require.NoError(t, png.Encode(&buf, img))
	return buf.Bytes()
}
