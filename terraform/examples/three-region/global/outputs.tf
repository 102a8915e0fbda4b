output "dns_policy_arn" {
  description = "IAM policy allowing exactly the DR record changes; every region's state attaches it to its role by name."
  value       = module.dns.policy_arn
}

output "dns_records" {
  description = "The service records and the epoch TXT record drnode manages."
  value = {
    service = module.dns.service_records
    epoch   = module.dns.epoch_record
  }
}

output "drctl_endpoints" {
  description = "Value for DRCTL_ENDPOINTS (or drctl --endpoints): every coordinator's API, from the fixed addresses."
  value       = local.drctl_endpoints
}
