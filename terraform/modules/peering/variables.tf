variable "name" {
  description = "Name tag of the peering connection."
  type        = string
}

variable "requester_vpc_id" {
  description = "VPC on the requester provider's side."
  type        = string
}

variable "requester_cidr" {
  description = "CIDR of the requester VPC."
  type        = string
}

variable "requester_route_table_id" {
  description = "Route table on the requester side that gets a route to the accepter."
  type        = string
}

variable "accepter_vpc_id" {
  description = "VPC on the accepter provider's side."
  type        = string
}

variable "accepter_cidr" {
  description = "CIDR of the accepter VPC."
  type        = string
}

variable "accepter_route_table_id" {
  description = "Route table on the accepter side that gets a route to the requester."
  type        = string
}

variable "tags" {
  description = "Tags added to the peering connection."
  type        = map(string)
  default     = {}
}
