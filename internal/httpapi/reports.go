package httpapi

import "github.com/gin-gonic/gin"

// reportRoutes registers the report routes.
func (a *API) reportRoutes(g *gin.RouterGroup) {}
