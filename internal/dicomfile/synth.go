package dicomfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// maxResampleBytes bounds the pixel data Resample holds in memory, read and
// written.
const maxResampleBytes = 256 << 20

// Resample copies the single-frame DICOM file src, whose pixel data is
// native (uncompressed, not deflated), to dst with its image resampled to
// rows x columns by nearest neighbour. Rows, Columns and Pixel Data change;
// every other element, UIDs included, is copied unchanged (so attributes such
// as Pixel Spacing still describe the original grid). It makes real-sized
// test instances from small real ones; combine it with RewriteUIDs to make
// them distinct.
func Resample(dst io.Writer, src io.Reader, rows, columns int) error {
	if rows <= 0 || columns <= 0 || rows > 0xFFFF || columns > 0xFFFF {
		return fmt.Errorf("resample: invalid size %dx%d", rows, columns)
	}
	s, fs, err := openFile(src, -1)
	if err != nil {
		return fmt.Errorf("resample: %w", err)
	}
	switch fs.transferSyntax {
	case tsImplicitLE, tsExplicitLE, tsExplicitBE:
	default:
		return fmt.Errorf("resample: %w", invalidf("transfer syntax %s is not native", fs.transferSyntax))
	}
	bw := bufio.NewWriter(dst)
	if fs.preamble != nil {
		bw.Write(fs.preamble)
		bw.WriteString("DICM")
	}
	if fs.hasMeta {
		var inst string
		for _, m := range fs.meta {
			if m.tag == tagMediaSOPInst {
				inst = trimValue(m.value)
			}
		}
		bw.Write(encodeMeta(fs.meta, inst))
	}
	// The image pixel module precedes Pixel Data (tags are ascending).
	dims := map[dtag]int{tagSamplesPerPixel: 1, tagBitsAllocated: 0, tagRows: 0, tagColumns: 0, tagPlanarConfig: 0}
	frames := 1
	var wrote bool
	for {
		e, err := s.readElementHeader(s.enc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("resample: %w", err)
		}
		if e.tag.group() == 0xFFFE {
			return fmt.Errorf("resample: %w", invalidf("unexpected %s at the top level of the dataset", e.tag))
		}
		_, isDim := dims[e.tag]
		switch {
		case isDim && e.length == 2:
			v, err := s.readValue(e, -1)
			if err != nil {
				return fmt.Errorf("resample: %w", err)
			}
			dims[e.tag] = int(s.enc.bo.Uint16(v))
			switch e.tag {
			case tagRows:
				s.enc.bo.PutUint16(v, uint16(rows))
			case tagColumns:
				s.enc.bo.PutUint16(v, uint16(columns))
			}
			bw.Write(encodeElement(s.enc, e.tag, "US", v))
			continue
		case e.tag == tagNumberOfFrames && e.length <= 16:
			v, err := s.readValue(e, -1)
			if err != nil {
				return fmt.Errorf("resample: %w", err)
			}
			if frames, err = strconv.Atoi(trimValue(v)); err != nil {
				return fmt.Errorf("resample: %w", invalidf("Number of Frames %q is not an integer", trimValue(v)))
			}
			bw.Write(e.header())
			bw.Write(v)
			continue
		case e.tag == tagPixelData:
			out, err := resamplePixels(s, e, dims, frames, rows, columns)
			if err != nil {
				return fmt.Errorf("resample: %w", err)
			}
			bw.Write(encodeElement(s.enc, e.tag, e.vr, out))
			wrote = true
			continue
		}
		if err := emit(bw, e); err != nil {
			return fmt.Errorf("resample: %w", err)
		}
		if err := s.consume(e, s.enc, -1, bw, 0); err != nil {
			return fmt.Errorf("resample: %w", err)
		}
	}
	if !wrote {
		return fmt.Errorf("resample: %w", invalidf("no top-level Pixel Data"))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("resample: write: %w", err)
	}
	return nil
}

// resamplePixels reads the native pixel data e and returns it resampled.
func resamplePixels(s *scanner, e element, dims map[dtag]int, frames, rows, columns int) ([]byte, error) {
	if e.length == undefinedLength {
		return nil, invalidf("pixel data is encapsulated")
	}
	if frames != 1 {
		return nil, invalidf("%d frames; only single-frame images are resampled", frames)
	}
	spp, bits, srcRows, srcCols := dims[tagSamplesPerPixel], dims[tagBitsAllocated], dims[tagRows], dims[tagColumns]
	if bits == 0 || bits%8 != 0 || srcRows == 0 || srcCols == 0 || spp == 0 {
		return nil, invalidf("image pixel module is missing or has %d bits allocated", bits)
	}
	if spp > 1 && dims[tagPlanarConfig] != 0 {
		return nil, invalidf("planar configuration %d is not resampled", dims[tagPlanarConfig])
	}
	px := spp * bits / 8
	if int64(srcRows)*int64(srcCols)*int64(px) > int64(e.length) {
		return nil, invalidf("pixel data holds %d bytes, less than %dx%d pixels of %d bytes", e.length, srcRows, srcCols, px)
	}
	size := rows * columns * px
	if int64(e.length) > maxResampleBytes || size > maxResampleBytes {
		return nil, invalidf("pixel data larger than %d bytes", maxResampleBytes)
	}
	in, err := s.readValue(e, -1)
	if err != nil {
		return nil, err
	}
	out := make([]byte, size, size+1)
	for r := range rows {
		sr := r * srcRows / rows
		for c := range columns {
			sc := c * srcCols / columns
			o, i := (r*columns+c)*px, (sr*srcCols+sc)*px
			copy(out[o:o+px], in[i:i+px])
		}
	}
	if len(out)%2 == 1 {
		out = append(out, 0)
	}
	return out, nil
}
