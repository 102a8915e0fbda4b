output "vpc_id" {
  description = "The coordinators' VPC."
  value       = local.vpc_id
}

output "vpc_cidr" {
  description = "CIDR of the coordinators' VPC."
  value       = var.vpc_cidr
}

output "route_table_id" {
  description = "Route table of the coordinators' subnets (peering routes go here)."
  value       = local.route_table_id
}

output "security_group_id" {
  description = "Security group of the coordinators."
  value       = aws_security_group.coordinator.id
}

output "bucket" {
  description = "This region's backup bucket."
  value       = aws_s3_bucket.backups.bucket
}

output "role_name" {
  description = "IAM role of this region's coordinators."
  value       = aws_iam_role.coordinator.name
}

output "instance_ids" {
  description = "Coordinator instance ids by raft id."
  value       = { for id, i in aws_instance.coordinator : id => i.id }
}

output "private_ips" {
  description = "Coordinator private addresses by raft id."
  value       = { for id, i in aws_instance.coordinator : id => i.private_ip }
}

output "public_ips" {
  description = "Coordinator public addresses by raft id (empty strings without associate_public_ip)."
  value       = { for id, i in aws_instance.coordinator : id => i.public_ip }
}

output "api_endpoints" {
  description = "drnode API URL of each coordinator of this region, by raft id."
  value       = { for id, i in aws_instance.coordinator : id => "http://${i.private_ip}:${var.api_port}" }
}

output "cloud_init" {
  description = "The user data of each coordinator of this region, by raft id (no secrets: the token comes from SSM)."
  value       = local.cloud_init
}

output "token_parameter" {
  description = "SSM parameter (SecureString) holding the cluster token in this region."
  value       = local.token_parameter
}

output "node_configs" {
  description = "drnode.ini of each coordinator of this region, by raft id (no secrets: the token is a separate file)."
  value       = local.drnode_ini
}

output "api_ingress" {
  description = "Who reaches the API port: every member, the admin, monitoring and app CIDRs (port and CIDR of each rule)."
  value = concat(
    [for r in aws_vpc_security_group_ingress_rule.api_member : { port = r.from_port, cidr = r.cidr_ipv4, from = "member" }],
    [for r in aws_vpc_security_group_ingress_rule.api_admin : { port = r.from_port, cidr = r.cidr_ipv4, from = "admin" }],
    [for r in aws_vpc_security_group_ingress_rule.api_monitoring : { port = r.from_port, cidr = r.cidr_ipv4, from = "monitoring" }],
    [for r in aws_vpc_security_group_ingress_rule.api_app : { port = r.from_port, cidr = r.cidr_ipv4, from = "app" }],
  )
}

output "raft_ingress" {
  description = "Who reaches the raft port (port and CIDR of each rule): the members only."
  value       = [for r in aws_vpc_security_group_ingress_rule.raft : { port = r.from_port, cidr = r.cidr_ipv4 }]
}

output "tls_key_parameters" {
  description = "The SSM parameter holding each coordinator's TLS key, by raft id (names only: the keys never leave SSM)."
  value       = { for id, p in aws_ssm_parameter.tls_key : id => p.name }
}
