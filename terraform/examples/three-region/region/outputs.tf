output "api_endpoints" {
  description = "drnode API URL of this region's coordinators, by raft id (private addresses: reach them from the admin CIDRs)."
  value       = module.region.api_endpoints
}

output "drctl_endpoints" {
  description = "Value for DRCTL_ENDPOINTS (or drctl --endpoints): every coordinator of every region, from the fixed addresses."
  value       = local.drctl_endpoints
}

output "public_ips" {
  description = "Public addresses of this region's coordinators (outbound traffic only unless admin_cidrs allow more), by raft id."
  value       = module.region.public_ips
}

output "backup_bucket" {
  description = "This region's backup bucket."
  value       = module.region.bucket
}

output "vpc_id" {
  description = "The coordinators' VPC (the peering states find it by its drnode:cluster and drnode:region tags)."
  value       = module.region.vpc_id
}

output "node_configs" {
  description = "drnode.ini of this region's coordinators, by raft id (no secrets: check one with drnode --check-config before an apply)."
  value       = module.region.node_configs
}
