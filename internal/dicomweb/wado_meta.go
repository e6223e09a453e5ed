package dicomweb

// wadoMetaRoutes are WADO-RS metadata, bulk data, frames and rendered
// images (PS3.18 10.4).
var wadoMetaRoutes = routeSet{}
