output "policy_arn" {
  description = "IAM policy allowing exactly the DR record changes; attach it to the coordinators' role."
  value       = aws_iam_policy.records.arn
}

output "service_records" {
  description = "The service record names."
  value       = [for r in aws_route53_record.service : r.fqdn]
}

output "epoch_record" {
  description = "The epoch TXT record name."
  value       = aws_route53_record.epoch.fqdn
}
