variable "name" {
  description = "Name of the IAM policy (for example the cluster name)."
  type        = string
}

variable "zone_id" {
  description = "Route 53 hosted zone holding the service records."
  type        = string
}

variable "service_names" {
  description = "Fully qualified names of the service records that follow the primary site (for example app.example.com)."
  type        = list(string)

  validation {
    condition     = length(var.service_names) > 0
    error_message = "service_names: at least one record."
  }
}

variable "record_type" {
  description = "Type of the service records: A for IPv4 targets, CNAME for one host name."
  type        = string
  default     = "A"

  validation {
    condition     = contains(["A", "AAAA", "CNAME"], var.record_type)
    error_message = "record_type: A, AAAA or CNAME."
  }
}

variable "initial_targets" {
  description = "Where the service records point at creation: the primary region's dns_targets. drnode moves them on failover; Terraform does not move them back."
  type        = list(string)

  validation {
    condition     = length(var.initial_targets) > 0
    error_message = "initial_targets: at least one target."
  }
}

variable "epoch_record_name" {
  description = "Fully qualified name of the TXT record that holds the fencing epoch of the primary site."
  type        = string
}

variable "ttl" {
  description = "TTL in seconds of the service and epoch records; bounds how long clients keep resolving the old site after a failover."
  type        = number
  default     = 60
}

variable "tags" {
  description = "Tags added to the IAM policy."
  type        = map(string)
  default     = {}
}
