output "vpc_id" {
  description = "The coordinators' VPC."
  value       = aws_vpc.this.id
}

output "vpc_cidr" {
  description = "CIDR of the coordinators' VPC."
  value       = aws_vpc.this.cidr_block
}

output "route_table_id" {
  description = "Route table of the coordinators' subnets (peering routes go here)."
  value       = aws_route_table.this.id
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
