variable "region" {
  description = "The drnode region this state builds: the name of region_a, region_b or region_c."
  type        = string

  validation {
    condition     = contains([var.region_a.name, var.region_b.name, var.region_c.name], var.region)
    error_message = "region must name one of region_a, region_b and region_c (this state builds that one region)."
  }
}
