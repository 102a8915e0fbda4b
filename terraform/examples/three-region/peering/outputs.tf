output "peering_connection_id" {
  description = "The peering connection between the pair's VPCs."
  value       = module.peering.id
}

output "routes" {
  description = "What each side routes through the peering: route table => destination CIDR."
  value = {
    (local.requester_route_table_id) = local.side[1].vpc_cidr
    (local.accepter_route_table_id)  = local.side[0].vpc_cidr
  }
}
