package httpapi

import "github.com/gin-gonic/gin"

// deliveryRoutes registers the delivery routes.
func (a *API) deliveryRoutes(g *gin.RouterGroup) {}
