package builtin

// The built-in model knows COCO's 80 classes and nothing broader: a search for "animal"
// or "vehicle" would find nothing. Each class gets the broader words a user searches
// with, as Rekognition's labels come with their parents: COCO's own supercategory
// (https://cocodataset.org, instances annotations), then a few curated words. Names are
// the model's (labels.txt, from the human package), with COCO's and darknet's spellings
// of the same class beside them.
var cocoParents = map[string][]string{
	"person": {"people"},

	"bicycle":    {"vehicle", "cycle"},
	"car":        {"vehicle"},
	"motorcycle": {"vehicle", "cycle"},
	"motorbike":  {"vehicle", "cycle"},
	"airplane":   {"vehicle", "aircraft"},
	"aeroplane":  {"vehicle", "aircraft"},
	"bus":        {"vehicle"},
	"train":      {"vehicle"},
	"truck":      {"vehicle"},
	"boat":       {"vehicle", "watercraft"},

	"traffic light": {"outdoor", "street"},
	"fire hydrant":  {"outdoor", "street"},
	"stop sign":     {"outdoor", "street", "sign"},
	"parking meter": {"outdoor", "street"},
	"bench":         {"outdoor", "furniture"},

	"bird":     {"animal"},
	"cat":      {"animal", "pet", "mammal"},
	"dog":      {"animal", "pet", "mammal"},
	"horse":    {"animal", "mammal"},
	"sheep":    {"animal", "mammal"},
	"cow":      {"animal", "mammal"},
	"elephant": {"animal", "mammal", "wildlife"},
	"bear":     {"animal", "mammal", "wildlife"},
	"zebra":    {"animal", "mammal", "wildlife"},
	"giraffe":  {"animal", "mammal", "wildlife"},

	"backpack": {"accessory", "bag"},
	"umbrella": {"accessory"},
	"handbag":  {"accessory", "bag"},
	"tie":      {"accessory", "clothing"},
	"suitcase": {"accessory", "bag", "luggage"},

	"frisbee":        {"sports"},
	"skis":           {"sports", "winter sports"},
	"snowboard":      {"sports", "winter sports"},
	"sports ball":    {"sports", "ball"},
	"kite":           {"sports"},
	"baseball bat":   {"sports", "baseball"},
	"baseball glove": {"sports", "baseball"},
	"skateboard":     {"sports"},
	"surfboard":      {"sports", "water sports"},
	"tennis racket":  {"sports", "tennis"},

	"bottle":     {"kitchen", "tableware"},
	"wine glass": {"kitchen", "tableware", "glass"},
	"cup":        {"kitchen", "tableware"},
	"fork":       {"kitchen", "cutlery"},
	"knife":      {"kitchen", "cutlery"},
	"spoon":      {"kitchen", "cutlery"},
	"bowl":       {"kitchen", "tableware"},

	"banana":   {"food", "fruit"},
	"apple":    {"food", "fruit"},
	"sandwich": {"food", "meal"},
	"orange":   {"food", "fruit"},
	"broccoli": {"food", "vegetable"},
	"carrot":   {"food", "vegetable"},
	"hot dog":  {"food", "meal"},
	"pizza":    {"food", "meal"},
	"donut":    {"food", "dessert"},
	"cake":     {"food", "dessert"},

	"chair":        {"furniture"},
	"couch":        {"furniture"},
	"sofa":         {"furniture"},
	"potted plant": {"furniture", "plant"},
	"pottedplant":  {"furniture", "plant"},
	"bed":          {"furniture"},
	"dining table": {"furniture", "table"},
	"diningtable":  {"furniture", "table"},
	"toilet":       {"furniture", "bathroom"},

	"tv":         {"electronic", "screen"},
	"tvmonitor":  {"electronic", "screen"},
	"laptop":     {"electronic", "computer"},
	"mouse":      {"electronic", "computer"},
	"remote":     {"electronic"},
	"keyboard":   {"electronic", "computer"},
	"cell phone": {"electronic", "phone"},

	"microwave":    {"appliance", "kitchen"},
	"oven":         {"appliance", "kitchen"},
	"toaster":      {"appliance", "kitchen"},
	"sink":         {"appliance", "kitchen"},
	"refrigerator": {"appliance", "kitchen"},

	"book":       {"indoor"},
	"clock":      {"indoor"},
	"vase":       {"indoor", "decoration"},
	"scissors":   {"indoor", "tool"},
	"teddy bear": {"indoor", "toy"},
	"hair drier": {"indoor", "bathroom"},
	"toothbrush": {"indoor", "bathroom"},
}

// Parents are the broader words of one of the model's labels, nil for a label outside
// COCO (a custom model's).
func Parents(label string) []string {
	p := cocoParents[label]
	if p == nil {
		return nil
	}
	return append([]string(nil), p...)
}
