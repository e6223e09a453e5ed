package web

// referrerPages are the pages of referring physicians: the inbox, the
// report, where each of their cases is.
var referrerPages = pageSet{}
