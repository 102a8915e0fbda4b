# The coordinators' VPC: one public subnet per availability zone. Instances
# reach apt, S3 and Route 53 through the internet gateway; nothing reaches
# them except what the security group allows. Other regions' coordinators
# are reached through VPC peering (see modules/peering), over private
# addresses.

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(local.tags, { Name = local.name })

  # The inputs are checked here, before the first resource of the region:
  # errors that stop the plan, not warnings.
  lifecycle {
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

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(local.tags, { Name = local.name })
}

resource "aws_subnet" "this" {
  count = length(var.subnet_cidrs)

  vpc_id                  = aws_vpc.this.id
  cidr_block              = var.subnet_cidrs[count.index]
  availability_zone       = var.availability_zones[count.index]
  map_public_ip_on_launch = false

  tags = merge(local.tags, { Name = "${local.name}-${var.availability_zones[count.index]}" })
}

resource "aws_route_table" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(local.tags, { Name = local.name })
}

resource "aws_route" "internet" {
  route_table_id         = aws_route_table.this.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "this" {
  count = length(var.subnet_cidrs)

  subnet_id      = aws_subnet.this[count.index].id
  route_table_id = aws_route_table.this.id
}

# S3 traffic stays on AWS's network and is free of data processing charges.
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.this.id]

  tags = merge(local.tags, { Name = "${local.name}-s3" })
}
