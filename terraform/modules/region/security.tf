# Inbound: raft only from the coordinators' own addresses; the API port from
# the other coordinators (followers report probes, claim and finish jobs and
# relay breaker events through the leader's API), the admin CIDRs, the
# monitoring CIDRs and the app's CIDRs. drnode serves /api/health and
# /metrics on the API listener (it has no separate one), so the monitoring
# CIDRs can reach the read-only API too; every write needs the bearer token.
# Outbound: raft and the API to the coordinators, the app's services
# (service_ports to app_cidrs) to back them up and probe them, HTTP(S) for
# apt, S3 and Route 53. The VPC resolver, the time service and instance
# metadata are not filtered by security groups.

resource "aws_security_group" "coordinator" {
  name        = "${local.name}-coordinator"
  description = "drnode coordinators of ${var.cluster_name} in ${var.region}"
  vpc_id      = local.vpc_id

  tags = merge(local.tags, { Name = "${local.name}-coordinator" })

  # The inputs are checked here, on a resource every region has: errors
  # that stop the plan, not warnings.
  lifecycle {
    precondition {
      condition     = local.own_network || length(try(var.existing_network.subnet_ids, [])) == length(var.subnet_cidrs)
      error_message = "existing_network.subnet_ids must name one subnet per entry of subnet_cidrs, in the same order."
    }
    precondition {
      condition     = length([for r in var.regions : r if r.name == var.region]) == 1
      error_message = "var.regions must hold exactly one entry named ${var.region}."
    }
    precondition {
      condition     = length(var.availability_zones) == length(var.subnet_cidrs) && length(distinct(var.availability_zones)) == length(var.availability_zones)
      error_message = "availability_zones must name one distinct zone per subnet of subnet_cidrs."
    }
    precondition {
      condition = alltrue([for m in values(local.nodes) :
        m.subnet < length(var.subnet_cidrs) &&
      cidrhost(var.subnet_cidrs[m.subnet], 0) == cidrhost("${m.private_ip}/${split("/", var.subnet_cidrs[m.subnet])[1]}", 0)])
      error_message = "Every member of ${var.region} must name one of subnet_cidrs and have its private_ip inside it."
    }
    # A module call that lost its providers map falls back to the default
    # provider and would build this region somewhere else.
    precondition {
      condition     = data.aws_region.current.name == local.own_region.aws_region
      error_message = "Region ${var.region} is set to AWS region ${local.own_region.aws_region}, but this module's provider is in ${data.aws_region.current.name}: pass the region's provider (providers = { aws = aws.X })."
    }
  }
}

resource "aws_vpc_security_group_ingress_rule" "raft" {
  for_each = local.members

  security_group_id = aws_security_group.coordinator.id
  description       = "raft from member ${each.key} (${each.value.region})"
  ip_protocol       = "tcp"
  from_port         = var.raft_port
  to_port           = var.raft_port
  cidr_ipv4         = "${each.value.private_ip}/32"
}

resource "aws_vpc_security_group_ingress_rule" "api_member" {
  for_each = local.members

  security_group_id = aws_security_group.coordinator.id
  description       = "drnode API from member ${each.key} (${each.value.region})"
  ip_protocol       = "tcp"
  from_port         = var.api_port
  to_port           = var.api_port
  cidr_ipv4         = "${each.value.private_ip}/32"
}

resource "aws_vpc_security_group_ingress_rule" "api_app" {
  for_each = toset([for c in var.app_cidrs : c if !contains(concat(var.admin_cidrs, var.monitoring_cidrs), c)])

  security_group_id = aws_security_group.coordinator.id
  description       = "drnode API from the app (breakers, LLM route, health)"
  ip_protocol       = "tcp"
  from_port         = var.api_port
  to_port           = var.api_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "api_admin" {
  for_each = toset(var.admin_cidrs)

  security_group_id = aws_security_group.coordinator.id
  description       = "drnode API from admins"
  ip_protocol       = "tcp"
  from_port         = var.api_port
  to_port           = var.api_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "api_monitoring" {
  for_each = toset([for c in var.monitoring_cidrs : c if !contains(var.admin_cidrs, c)])

  security_group_id = aws_security_group.coordinator.id
  description       = "drnode health and metrics from monitoring"
  ip_protocol       = "tcp"
  from_port         = var.api_port
  to_port           = var.api_port
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "raft" {
  for_each = local.members

  security_group_id = aws_security_group.coordinator.id
  description       = "raft to member ${each.key} (${each.value.region})"
  ip_protocol       = "tcp"
  from_port         = var.raft_port
  to_port           = var.raft_port
  cidr_ipv4         = "${each.value.private_ip}/32"
}

resource "aws_vpc_security_group_egress_rule" "api" {
  for_each = local.members

  security_group_id = aws_security_group.coordinator.id
  description       = "drnode API of member ${each.key} (${each.value.region})"
  ip_protocol       = "tcp"
  from_port         = var.api_port
  to_port           = var.api_port
  cidr_ipv4         = "${each.value.private_ip}/32"
}

resource "aws_vpc_security_group_egress_rule" "services" {
  for_each = { for p in setproduct(var.app_cidrs, var.service_ports) : "${p[0]} ${p[1]}" => { cidr = p[0], port = p[1] } }

  security_group_id = aws_security_group.coordinator.id
  description       = "the app's services (backups, probes): port ${each.value.port}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr
}

resource "aws_vpc_security_group_egress_rule" "web" {
  for_each = toset(["80", "443"])

  security_group_id = aws_security_group.coordinator.id
  description       = "apt, S3 and Route 53 (port ${each.key})"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.key)
  to_port           = tonumber(each.key)
  cidr_ipv4         = "0.0.0.0/0"
}
