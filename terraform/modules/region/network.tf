# The coordinators' VPC (unless existing_network brings one): one public
# subnet per availability zone. Instances
# reach apt, S3 and Route 53 through the internet gateway; nothing reaches
# them except what the security group allows. Other regions' coordinators
# are reached through VPC peering (see modules/peering), over private
# addresses.

resource "aws_vpc" "this" {
  count = local.own_network ? 1 : 0

  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true

  tags = merge(local.tags, { Name = local.name })

}

resource "aws_internet_gateway" "this" {
  count = local.own_network ? 1 : 0

  vpc_id = local.vpc_id

  tags = merge(local.tags, { Name = local.name })
}

resource "aws_subnet" "this" {
  count = local.own_network ? length(var.subnet_cidrs) : 0

  vpc_id     = local.vpc_id
  cidr_block = var.subnet_cidrs[count.index]
  # try: a zone list shorter than subnet_cidrs is refused by the security
  # group's precondition, with a message, not by an index error here.
  availability_zone       = try(var.availability_zones[count.index], null)
  map_public_ip_on_launch = false

  tags = merge(local.tags, { Name = "${local.name}-${try(var.availability_zones[count.index], count.index)}" })
}

resource "aws_route_table" "this" {
  count = local.own_network ? 1 : 0

  vpc_id = local.vpc_id

  tags = merge(local.tags, { Name = local.name })
}

resource "aws_route" "internet" {
  count = local.own_network ? 1 : 0

  route_table_id         = local.route_table_id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this[0].id
}

resource "aws_route_table_association" "this" {
  count = local.own_network ? length(var.subnet_cidrs) : 0

  subnet_id      = local.subnet_ids[count.index]
  route_table_id = local.route_table_id
}

# S3 traffic stays on AWS's network and is free of data processing charges.
resource "aws_vpc_endpoint" "s3" {
  count = local.own_network ? 1 : 0

  vpc_id            = local.vpc_id
  service_name      = "com.amazonaws.${data.aws_region.current.name}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [local.route_table_id]

  tags = merge(local.tags, { Name = "${local.name}-s3" })
}

locals {
  own_network    = var.existing_network == null
  vpc_id         = local.own_network ? aws_vpc.this[0].id : var.existing_network.vpc_id
  subnet_ids     = local.own_network ? aws_subnet.this[*].id : var.existing_network.subnet_ids
  route_table_id = local.own_network ? aws_route_table.this[0].id : var.existing_network.route_table_id
}

# Releases before existing_network built these without count.
moved {
  from = aws_vpc.this
  to   = aws_vpc.this[0]
}

moved {
  from = aws_internet_gateway.this
  to   = aws_internet_gateway.this[0]
}

moved {
  from = aws_route_table.this
  to   = aws_route_table.this[0]
}

moved {
  from = aws_route.internet
  to   = aws_route.internet[0]
}

moved {
  from = aws_vpc_endpoint.s3
  to   = aws_vpc_endpoint.s3[0]
}
