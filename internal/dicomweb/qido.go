package dicomweb

// qidoRoutes are the QIDO-RS searches (PS3.18 10.6).
var qidoRoutes = routeSet{}
