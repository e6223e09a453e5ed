package dicomfile

import (
	"strings"
	"unicode"
)

// BodySite is a body site coded in SNOMED CT (coding scheme "SCT"), with
// its laterality when the site's text gave one.
type BodySite struct {
	// Code and Meaning are the SNOMED CT concept and the Code Meaning the
	// DICOM context group lists for it.
	Code, Meaning string
	// Laterality is "L" or "R" (the values of Laterality (0020,0060)), or
	// "" when the text gave none or said both sides.
	Laterality string
	// LateralityCode and LateralityMeaning are the laterality as a SNOMED
	// CT code of CID 244 "Laterality" (Left, Right or Bilateral), or ""
	// when the text gave none.
	LateralityCode, LateralityMeaning string
}

// siteCode is one concept of the vocabulary.
type siteCode struct{ code, meaning string }

// The concepts, with the Code Meaning of the DICOM context group they come
// from (PS3.16), read from the FHIR rendering of the context groups in
// github.com/bvdh/dicom-terminology-in-fhir (input/fsh/ValueSet-dicom-cid-*.fsh):
// CID 4031 "Common Anatomic Regions" version 20250709, CID 4 "Anatomic
// Region" 20250401, CID 4029 "Dermatology Anatomic Site" 20240913, CID 244
// "Laterality" with CID 247. The CID 4031 codes are also in the tables
// compiled into DCMTK 3.6.7's libcmr (PS3.16 2021a), except Trunk, Upper
// trunk and Lower trunk, added to CID 4031 since; every code passes the
// SNOMED CT check digit (bodysite_test.go). CID 4031 is preferred; CID 4
// and then the skin sites of CID 4029 fill in what it lacks. Sites no
// context group codes with SNOMED CT (the sole of the foot as a whole, for
// one) are left out rather than guessed.
var (
	// CID 4031.
	siteHead       = siteCode{"69536005", "Head"}
	siteNeck       = siteCode{"45048000", "Neck"}
	siteChest      = siteCode{"816094009", "Chest"}
	siteAbdomen    = siteCode{"818981001", "Abdomen"}
	sitePelvis     = siteCode{"816092008", "Pelvis"}
	siteBreast     = siteCode{"76752008", "Breast"}
	siteTrunk      = siteCode{"22943007", "Trunk"}
	siteUpperTrunk = siteCode{"67734004", "Upper trunk"}
	siteLowerTrunk = siteCode{"63337009", "Lower trunk"}
	siteShoulder   = siteCode{"16982005", "Shoulder"}
	siteUpperArm   = siteCode{"40983000", "Upper arm"}
	siteElbow      = siteCode{"16953009", "Elbow joint"}
	siteForearm    = siteCode{"14975008", "Forearm"}
	siteWrist      = siteCode{"74670003", "Wrist joint"}
	siteHand       = siteCode{"85562004", "Hand"}
	siteFinger     = siteCode{"7569003", "Finger"}
	siteThumb      = siteCode{"76505004", "Thumb"}
	siteHip        = siteCode{"29836001", "Hip"}
	siteThigh      = siteCode{"68367000", "Thigh"}
	siteKnee       = siteCode{"72696002", "Knee"}
	siteLowerLeg   = siteCode{"30021000", "Lower leg"}
	siteAnkle      = siteCode{"70258002", "Ankle joint"}
	siteFoot       = siteCode{"56459004", "Foot"}
	siteToe        = siteCode{"29707007", "Toe"}
	siteUpperLimb  = siteCode{"53120007", "Upper limb"}
	siteLowerLimb  = siteCode{"61685007", "Lower limb"}
	siteEntireBody = siteCode{"38266002", "Entire body"}
	// CID 4.
	siteScalp     = siteCode{"41695006", "Scalp"}
	siteFace      = siteCode{"89545001", "Face"}
	siteCheek     = siteCode{"60819002", "Cheek"}
	siteNose      = siteCode{"45206002", "Nose"}
	siteEar       = siteCode{"117590005", "Ear"}
	siteEyelid    = siteCode{"80243003", "Eyelid"}
	siteMouth     = siteCode{"123851003", "Mouth"}
	siteTongue    = siteCode{"21974007", "Tongue"}
	siteBack      = siteCode{"77568009", "Back"}
	siteLumbar    = siteCode{"52612000", "Lumbar region"}
	siteButtock   = siteCode{"46862004", "Buttock"}
	siteAxilla    = siteCode{"91470000", "Axilla"}
	siteFlank     = siteCode{"58602004", "Flank"}
	siteUmbilical = siteCode{"90290004", "Umbilical region"}
	sitePerineum  = siteCode{"38864007", "Perineum"}
	sitePenis     = siteCode{"18911002", "Penis"}
	siteScrotum   = siteCode{"20233005", "Scrotum"}
	siteVulva     = siteCode{"45292006", "Vulva"}
	sitePopliteal = siteCode{"32361000", "Popliteal fossa"}
	// CID 4029.
	siteForehead   = siteCode{"68698007", "Skin of forehead"}
	siteTemple     = siteCode{"16621002", "Skin of temporal region"}
	siteEyebrow    = siteCode{"367577003", "Skin of eyebrow"}
	siteChin       = siteCode{"23747009", "Skin of chin"}
	siteLip        = siteCode{"88089004", "Skin of lip"}
	siteUpperLip   = siteCode{"16251004", "Skin of upper lip"}
	siteLowerLip   = siteCode{"66934001", "Skin of lower lip"}
	siteEarLobe    = siteCode{"2059009", "Skin of ear lobule"}
	siteNipple     = siteCode{"54468004", "Skin of nipple"}
	siteUpperBack  = siteCode{"699893008", "Skin of back of upper thoracic region"}
	siteGroin      = siteCode{"39687006", "Skin of inguinal region"}
	siteGenital    = siteCode{"60944009", "Skin of external genitalia"}
	sitePalm       = siteCode{"70887009", "Skin of palm of hand"}
	siteAntecubit  = siteCode{"17957002", "Skin of antecubital fossa"}
	siteShin       = siteCode{"25763004", "Skin of anterior surface of lower leg"}
	siteCalf       = siteCode{"47224004", "Skin of posterior surface of lower leg"}
	siteHeel       = siteCode{"84607009", "Skin of heel"}
	siteFingernail = siteCode{"770809003", "Nail unit of finger"}
	siteToenail    = siteCode{"770805009", "Nail unit of toe"}
)

// unpairedSites are the sites of the vocabulary that have no left and
// right, so no Laterality (0020,0060): those dicom3tools' dciodvfy
// (2022-06-18) knows to be unpaired (it takes them from PS3.16 Annex L,
// the correspondence of anatomic regions and Body Part Examined) and
// refuses a Laterality for. Every other site, unpaired ones such as the
// face included, gets one, empty when the side is unknown: dciodvfy
// refuses its absence there.
var unpairedSites = map[siteCode]bool{
	siteHead:       true,
	siteNeck:       true,
	siteAbdomen:    true,
	sitePelvis:     true,
	siteEntireBody: true,
	siteScalp:      true,
	siteNose:       true,
	siteTongue:     true,
	siteBack:       true,
	siteUmbilical:  true,
	sitePerineum:   true,
	sitePenis:      true,
	siteVulva:      true,
}

// bodySites maps a normalised site name (lower case, single spaces, no
// laterality) to its concept.
var bodySites = map[string]siteCode{
	"head":               siteHead,
	"neck":               siteNeck,
	"chest":              siteChest,
	"thorax":             siteChest,
	"abdomen":            siteAbdomen,
	"belly":              siteAbdomen,
	"pelvis":             sitePelvis,
	"breast":             siteBreast,
	"trunk":              siteTrunk,
	"torso":              siteTrunk,
	"upper trunk":        siteUpperTrunk,
	"lower trunk":        siteLowerTrunk,
	"shoulder":           siteShoulder,
	"upper arm":          siteUpperArm,
	"elbow":              siteElbow,
	"forearm":            siteForearm,
	"lower arm":          siteForearm,
	"wrist":              siteWrist,
	"hand":               siteHand,
	"back of hand":       siteHand,
	"dorsum of hand":     siteHand,
	"finger":             siteFinger,
	"fingers":            siteFinger,
	"thumb":              siteThumb,
	"hip":                siteHip,
	"thigh":              siteThigh,
	"knee":               siteKnee,
	"lower leg":          siteLowerLeg,
	"ankle":              siteAnkle,
	"foot":               siteFoot,
	"feet":               siteFoot,
	"dorsum of foot":     siteFoot,
	"top of foot":        siteFoot,
	"toe":                siteToe,
	"toes":               siteToe,
	"upper limb":         siteUpperLimb,
	"arm":                siteUpperLimb,
	"upper extremity":    siteUpperLimb,
	"lower limb":         siteLowerLimb,
	"leg":                siteLowerLimb,
	"lower extremity":    siteLowerLimb,
	"entire body":        siteEntireBody,
	"whole body":         siteEntireBody,
	"full body":          siteEntireBody,
	"scalp":              siteScalp,
	"face":               siteFace,
	"cheek":              siteCheek,
	"nose":               siteNose,
	"ear":                siteEar,
	"eyelid":             siteEyelid,
	"mouth":              siteMouth,
	"tongue":             siteTongue,
	"back":               siteBack,
	"lower back":         siteLumbar,
	"lumbar region":      siteLumbar,
	"buttock":            siteButtock,
	"buttocks":           siteButtock,
	"gluteal region":     siteButtock,
	"axilla":             siteAxilla,
	"armpit":             siteAxilla,
	"flank":              siteFlank,
	"umbilicus":          siteUmbilical,
	"navel":              siteUmbilical,
	"umbilical region":   siteUmbilical,
	"perineum":           sitePerineum,
	"penis":              sitePenis,
	"scrotum":            siteScrotum,
	"vulva":              siteVulva,
	"popliteal fossa":    sitePopliteal,
	"back of knee":       sitePopliteal,
	"forehead":           siteForehead,
	"temple":             siteTemple,
	"eyebrow":            siteEyebrow,
	"chin":               siteChin,
	"lip":                siteLip,
	"lips":               siteLip,
	"upper lip":          siteUpperLip,
	"lower lip":          siteLowerLip,
	"earlobe":            siteEarLobe,
	"ear lobe":           siteEarLobe,
	"nipple":             siteNipple,
	"upper back":         siteUpperBack,
	"groin":              siteGroin,
	"inguinal region":    siteGroin,
	"genital":            siteGenital,
	"genitals":           siteGenital,
	"genitalia":          siteGenital,
	"external genitalia": siteGenital,
	"genital area":       siteGenital,
	"palm":               sitePalm,
	"palm of hand":       sitePalm,
	"antecubital fossa":  siteAntecubit,
	"inner elbow":        siteAntecubit,
	"shin":               siteShin,
	"calf":               siteCalf,
	"heel":               siteHeel,
	"fingernail":         siteFingernail,
	"finger nail":        siteFingernail,
	"nail":               siteFingernail,
	"toenail":            siteToenail,
	"toe nail":           siteToenail,
}

// The laterality codes of CID 244 "Laterality" (Left and Right from the
// CID 247 it includes), with their DICOM Code Meanings.
const (
	lateralityLeft  = "7771000"
	lateralityRight = "24028007"
	lateralityBoth  = "51440002"
)

// lateralityWords maps a word that says a side to the laterality.
var lateralityWords = map[string]string{
	"left": "L", "l": "L", "lt": "L",
	"right": "R", "r": "R", "rt": "R",
	"bilateral": "B", "both": "B",
}

// BodySiteCode maps a site's free-text body site, such as "Left forearm",
// "forearm (right)" or "scalp", to a SNOMED CT code of the DICOM context
// groups for anatomic regions and dermatology sites, with the laterality
// when the text starts or ends with left, right or bilateral. Case,
// punctuation and spacing do not matter. It reports false when the site is
// not in its vocabulary.
func BodySiteCode(text string) (BodySite, bool) {
	bs, _, ok := lookupBodySite(text)
	return bs, ok
}

// lookupBodySite is BodySiteCode, also returning the vocabulary entry.
func lookupBodySite(text string) (BodySite, siteCode, bool) {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	side := ""
	for len(words) > 1 {
		first, last := words[0], words[len(words)-1]
		switch {
		case first == "the" || first == "of" || last == "side":
			// "the left forearm", "forearm, left side"
			if last == "side" {
				words = words[:len(words)-1]
			} else {
				words = words[1:]
			}
			continue
		case side == "" && lateralityWords[first] != "":
			side, words = lateralityWords[first], words[1:]
			continue
		case side == "" && lateralityWords[last] != "":
			side, words = lateralityWords[last], words[:len(words)-1]
			continue
		}
		break
	}
	c, ok := bodySites[strings.Join(words, " ")]
	if !ok {
		return BodySite{}, siteCode{}, false
	}
	bs := BodySite{Code: c.code, Meaning: c.meaning}
	switch side {
	case "L":
		bs.Laterality, bs.LateralityCode, bs.LateralityMeaning = "L", lateralityLeft, "Left"
	case "R":
		bs.Laterality, bs.LateralityCode, bs.LateralityMeaning = "R", lateralityRight, "Right"
	case "B":
		bs.LateralityCode, bs.LateralityMeaning = lateralityBoth, "Bilateral"
	}
	return bs, c, true
}
