locals {
  api_endpoints = merge(
    module.region_a.api_endpoints,
    module.region_b.api_endpoints,
    module.region_c.api_endpoints,
  )
}

output "api_endpoints" {
  description = "drnode API URL of every coordinator, by raft id (private addresses: reach them from the admin CIDRs)."
  value       = local.api_endpoints
}

output "drctl_endpoints" {
  description = "Value for DRCTL_ENDPOINTS (or drctl --endpoints)."
  value       = join(",", [for id in sort(keys(local.api_endpoints)) : local.api_endpoints[id]])
}

output "public_ips" {
  description = "Public addresses of the coordinators (outbound traffic only unless admin_cidrs allow more), by raft id."
  value = merge(
    module.region_a.public_ips,
    module.region_b.public_ips,
    module.region_c.public_ips,
  )
}

output "backup_buckets" {
  description = "Backup bucket of each region."
  value = {
    (var.region_a.name) = module.region_a.bucket
    (var.region_b.name) = module.region_b.bucket
    (var.region_c.name) = module.region_c.bucket
  }
}

output "dns_records" {
  description = "The service records and the epoch TXT record drnode manages."
  value = {
    service = module.dns.service_records
    epoch   = module.dns.epoch_record
  }
}

output "node_configs" {
  description = "drnode.ini of every coordinator, by raft id (no secrets: check one with drnode --check-config before an apply)."
  value = merge(
    module.region_a.node_configs,
    module.region_b.node_configs,
    module.region_c.node_configs,
  )
}
